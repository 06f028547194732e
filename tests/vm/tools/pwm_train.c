/*
 * pwm_train: a PWM pulse train on one gpio-sim line, from inside the test VM, by writing the
 * line's sysfs `pull` attribute ("pull-up" rises, "pull-down" falls), which makes gpio-sim
 * raise a real edge interrupt. Like edge_train, the pull file is kept open and the rises are
 * paced against absolute CLOCK_MONOTONIC deadlines, so a late write does not shift the ones
 * after it.
 *
 *   pwm_train -p PERIOD_US -h HIGH_US[,HIGH_US...] -n CYCLES [-o FILE] PULL_FILE
 *
 *   Cycle i rises at start + i * PERIOD_US and falls HIGH_US after that write began (a late
 *   rise does not shorten the pulse), the high times taken in turn from the list
 *   (1000,1500,2000: 1000, 1500, 2000, 1000, ...). The last 3 ms before each write
 *   is spent polling the clock rather than sleeping (a sleeper wakes late under TCG). The line is put low
 *   first (no edge counted if it already is). Each high time must be shorter than the
 *   period.
 *   -o FILE  writes one line per write: "<before_ns> <after_ns> <1|0>", the CLOCK_MONOTONIC
 *            time just before and just after the write, and the level written; a test
 *            compares the kernel's edge timestamps with these.
 *
 * Prints one line: "pwm_train cycles=C edges=E elapsed_ns=T max_late_ns=L" (L: the latest
 * any write started after its deadline). Exit 0 on success, 2 on usage error, 1 on I/O
 * error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_HIGHS 64

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = deadline_ns / 1000000000LL, .tv_nsec = deadline_ns % 1000000000LL };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

/* A sleeping thread wakes up late by up to a few hundred microseconds under TCG; the last
 * SPIN_NS (3 ms: every fall, and the end of each period) are spent polling the clock, so that a write starts within
 * microseconds of it unless the vCPU itself was away. */
#define SPIN_NS 3000000LL

static void wait_until(int64_t deadline_ns)
{
	if (deadline_ns - now_ns() > SPIN_NS)
		sleep_until(deadline_ns - SPIN_NS);
	while (now_ns() < deadline_ns) {
	}
}

static const char *pull_path;
static int pull_fd = -1;
static FILE *times_out;
static long long edges;
static int64_t max_late;

/* Waits for the deadline, writes the level, records the write's time; *started: when the
 * write began. */
static int write_level_at(int64_t deadline, int level, int64_t *started)
{
	static const char up[] = "pull-up";
	static const char down[] = "pull-down";
	const char *s = level ? up : down;
	const size_t len = level ? sizeof(up) - 1 : sizeof(down) - 1;
	wait_until(deadline);
	const int64_t before = now_ns();
	*started = before;
	if (before - deadline > max_late)
		max_late = before - deadline;
	if (pwrite(pull_fd, s, len, 0) != (ssize_t)len) {
		fprintf(stderr, "pwm_train: write %s to %s: %s\n", s, pull_path, strerror(errno));
		return -1;
	}
	const int64_t after = now_ns();
	if (times_out)
		fprintf(times_out, "%lld %lld %d\n", (long long)before, (long long)after, level);
	++edges;
	return 0;
}

static int read_level(const char *path)
{
	char buf[32] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	return strncmp(buf, "pull-up", 7) == 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: pwm_train -p PERIOD_US -h HIGH_US[,HIGH_US...] -n CYCLES [-o FILE] PULL_FILE\n");
}

int main(int argc, char **argv)
{
	long long period_us = 0, cycles = -1;
	long long highs[MAX_HIGHS];
	int nhighs = 0;
	const char *times_path = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "p:h:n:o:")) != -1) {
		switch (opt) {
		case 'p': period_us = strtoll(optarg, NULL, 10); break;
		case 'n': cycles = strtoll(optarg, NULL, 10); break;
		case 'o': times_path = optarg; break;
		case 'h': {
			char *p = optarg;
			while (*p && nhighs < MAX_HIGHS) {
				char *end;
				highs[nhighs++] = strtoll(p, &end, 10);
				if (end == p)
					break;
				p = *end == ',' ? end + 1 : end;
			}
			break;
		}
		default: usage(); return 2;
		}
	}
	int ok = period_us > 0 && cycles >= 0 && nhighs > 0 && argc - optind == 1;
	for (int i = 0; ok && i < nhighs; ++i)
		ok = highs[i] > 0 && highs[i] < period_us;
	if (!ok) {
		usage();
		return 2;
	}
	pull_path = argv[optind];
	const int level = read_level(pull_path);
	pull_fd = open(pull_path, O_WRONLY | O_CLOEXEC);
	if (pull_fd < 0 || level < 0) {
		fprintf(stderr, "pwm_train: cannot use %s: %s\n", pull_path, strerror(errno));
		return 1;
	}
	if (times_path && !(times_out = fopen(times_path, "w"))) {
		fprintf(stderr, "pwm_train: cannot write %s: %s\n", times_path, strerror(errno));
		return 1;
	}
	if (level == 1) {
		/* Low first, not counted, and a period's rest before the first cycle. */
		if (pwrite(pull_fd, "pull-down", 9, 0) != 9) {
			fprintf(stderr, "pwm_train: write pull-down to %s: %s\n", pull_path, strerror(errno));
			return 1;
		}
		sleep_until(now_ns() + period_us * 1000);
	}

	const int64_t start = now_ns();
	for (long long i = 0; i < cycles; ++i) {
		/* Rises on the period's grid; each fall HIGH_US after its rise actually began, so
		 * that a late rise (the vCPU was away) does not shorten the pulse. */
		int64_t rose = 0, fell = 0;
		if (write_level_at(start + i * period_us * 1000, 1, &rose) ||
		    write_level_at(rose + highs[i % nhighs] * 1000, 0, &fell))
			return 1;
	}
	const int64_t elapsed = now_ns() - start;
	printf("pwm_train cycles=%lld edges=%lld elapsed_ns=%lld max_late_ns=%lld\n", cycles, edges,
	       (long long)elapsed, (long long)max_late);
	if (times_out && fclose(times_out) != 0) {
		fprintf(stderr, "pwm_train: writing %s: %s\n", times_path, strerror(errno));
		return 1;
	}
	close(pull_fd);
	return 0;
}
