/*
 * proc_cputime: prints the CPU time a running process has used so far, all its threads
 * together, in nanoseconds, for the VM bench (tests/vm/scenarios/bench_vm_readers.sh) to
 * take before and after a trial of a long-running reader (gpioirqd).
 *
 *   proc_cputime PID      prints "cpu_ns=N"
 *
 * Why not utime + stime of /proc/PID/stat: those are printed in clock ticks (USER_HZ, 10 ms),
 * too coarse for a trial that costs gpioirqd some 10 to 100 ms. The process CPU clock
 * (clock_getcpuclockid) reads the scheduler's own count, to the nanosecond; utime + stime
 * are that same count split and rounded. Exit 1 if the process is gone, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	char *end = NULL;
	long pid = argc == 2 ? strtol(argv[1], &end, 10) : 0;
	if (argc != 2 || *end != '\0' || pid <= 0) {
		fprintf(stderr, "usage: proc_cputime PID\n");
		return 2;
	}
	clockid_t clock;
	int err = clock_getcpuclockid((pid_t)pid, &clock);
	struct timespec ts;
	if (err == 0 && clock_gettime(clock, &ts) != 0)
		err = errno;
	if (err != 0) {
		fprintf(stderr, "proc_cputime: process %ld: %s\n", pid, strerror(err));
		return 1;
	}
	printf("cpu_ns=%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
