/*
 * read_latency.so: an LD_PRELOAD shim that measures, inside a program we cannot change
 * (Debian's gpiomon), what tests/vm/tools/bare_reader.c measures in itself: per edge event,
 * the time from the kernel's timestamp to the moment the program has it in userspace, i.e.
 * right after read(2) returns it. It wraps read(); on a GPIO line request fd (the anonymous
 * inode "gpio-line", one check per fd) it stamps CLOCK_MONOTONIC as soon as the real read
 * returns, then parses the struct gpio_v2_line_event records the kernel wrote (the same
 * bytes the program is about to decode) for their timestamp_ns and line_seqno. Nothing the
 * program sees changes: same bytes, same return value, same errno.
 *
 * It also counts what the program itself never reports: the gaps in line_seqno, i.e. edges
 * the kernel's event FIFO dropped before the program read them.
 *
 * Environment:
 *   READ_LATENCY_OUT  file the one result line is appended to at exit (default: stderr)
 *   READ_LATENCY_MAX  samples kept (default 1048576; more are counted, not kept)
 * Result line:
 *   read_latency events=N lost=L reads=R cpu_ns=C samples=.. p50_ns=.. p99_ns=.. max_ns=..
 * cpu_ns is the process CPU time (CLOCK_PROCESS_CPUTIME_ID) from the first read of a line
 * request (after the program's start-up) to its exit.
 *
 * Assumes the program asked for the monotonic event clock (gpiomon's default).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "latency_samples.h"

typedef ssize_t (*read_fn)(int, void *, size_t);

/* What is known about an fd: not looked at yet, a GPIO line request, or anything else. */
enum fd_kind { FD_UNKNOWN = 0, FD_GPIO_LINE, FD_OTHER };
#define MAX_TRACKED_FD 1024

static read_fn real_read;
static unsigned char fd_kinds[MAX_TRACKED_FD];
static struct latency_samples samples;
static int samples_ready;
static unsigned long long events_seen, events_lost, line_reads;
static uint32_t next_line_seqno = 1; /* the kernel numbers a request's events from 1 */
static int64_t cpu_at_first_read = -1;

/* dlsym returns an object pointer; ISO C has no cast to a function pointer, a copy is fine. */
static void next_symbol(const char *name, void *fn_out, size_t fn_size)
{
	void *sym = dlsym(RTLD_NEXT, name);
	memcpy(fn_out, &sym, fn_size);
}

static int64_t clock_now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((constructor)) static void read_latency_start(void)
{
	next_symbol("read", &real_read, sizeof real_read);
	size_t capacity = 1u << 20;
	const char *max = getenv("READ_LATENCY_MAX");
	if (max && *max) {
		char *end = NULL;
		unsigned long long v = strtoull(max, &end, 10);
		if (*end != '\0' || v == 0 || v > (1ull << 26)) {
			fprintf(stderr, "read_latency: READ_LATENCY_MAX must be a count from 1 to %llu (got '%s')\n",
				1ull << 26, max);
			_exit(2);
		}
		capacity = (size_t)v;
	}
	/* Reserved (and touched) now, so a read never waits for it. */
	samples_ready = latency_samples_init(&samples, capacity) == 0;
	if (!samples_ready)
		fprintf(stderr, "read_latency: cannot reserve %zu samples: %s\n", capacity, strerror(errno));
}

static enum fd_kind classify(int fd)
{
	char proc[64], target[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	const ssize_t n = readlink(proc, target, sizeof target - 1);
	if (n < 0)
		return FD_OTHER;
	target[n] = '\0';
	return strcmp(target, "anon_inode:gpio-line") == 0 ? FD_GPIO_LINE : FD_OTHER;
}

ssize_t read(int fd, void *buf, size_t count)
{
	if (!real_read) {
		errno = ENOSYS;
		return -1;
	}
	enum fd_kind kind = FD_OTHER;
	if (fd >= 0 && fd < MAX_TRACKED_FD) {
		if (fd_kinds[fd] == FD_UNKNOWN)
			fd_kinds[fd] = (unsigned char)classify(fd);
		kind = (enum fd_kind)fd_kinds[fd];
	}
	if (kind != FD_GPIO_LINE || !samples_ready)
		return real_read(fd, buf, count);

	if (cpu_at_first_read < 0)
		cpu_at_first_read = clock_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	const ssize_t n = real_read(fd, buf, count);
	if (n <= 0)
		return n;
	const int saved_errno = errno;
	const int64_t now = clock_now_ns(CLOCK_MONOTONIC);
	++line_reads;
	const size_t records = (size_t)n / sizeof(struct gpio_v2_line_event);
	for (size_t i = 0; i < records; ++i) {
		struct gpio_v2_line_event ev;
		memcpy(&ev, (const char *)buf + i * sizeof ev, sizeof ev);
		if (ev.line_seqno > next_line_seqno)
			events_lost += ev.line_seqno - next_line_seqno;
		next_line_seqno = ev.line_seqno + 1;
		latency_samples_add(&samples, now, ev.timestamp_ns);
		++events_seen;
	}
	errno = saved_errno;
	return n;
}

/* A descriptor number is reused after close: forget what it was. */
int close(int fd)
{
	static int (*real_close)(int);
	if (!real_close)
		next_symbol("close", &real_close, sizeof real_close);
	if (fd >= 0 && fd < MAX_TRACKED_FD)
		fd_kinds[fd] = FD_UNKNOWN;
	return real_close ? real_close(fd) : (errno = ENOSYS, -1);
}

__attribute__((destructor)) static void read_latency_report(void)
{
	if (!samples_ready)
		return;
	const int64_t cpu_ns = cpu_at_first_read < 0 ? 0 : clock_now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_at_first_read;
	const char *path = getenv("READ_LATENCY_OUT");
	FILE *out = path && *path ? fopen(path, "a") : stderr;
	if (!out) {
		fprintf(stderr, "read_latency: cannot open %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(out, "read_latency events=%llu lost=%llu reads=%llu cpu_ns=%lld ", events_seen, events_lost, line_reads,
		(long long)cpu_ns);
	latency_samples_print(out, &samples);
	fprintf(out, "\n");
	if (out != stderr)
		fclose(out);
}
