/*
 * bare_reader: the least a libgpiod v2 program can do with a GPIO line's edges, as the
 * floor the VM bench (tests/vm/scenarios/bench_vm_readers.sh, docs/VM-BENCH.md) measures
 * gpioirqd and gpiomon against. It requests one line for both edges and only reads: one
 * blocking read(2) per wake-up (no poll, no decoding, no output), then stamps the batch with
 * CLOCK_MONOTONIC (the kernel's default event clock) and keeps, per event, that time minus
 * the event's kernel timestamp. Losses are the gaps in the kernel's line_seqno.
 *
 *   bare_reader -c CHIP -l OFFSET [-n COUNT] [-b EVENT_BUFFER] [-p RT_PRIORITY] [-m] [-C CPU]
 *
 *   -n COUNT         exit once COUNT edges were read or counted lost (default: until SIGTERM)
 *   -b EVENT_BUFFER  the kernel's event FIFO for the line, in events (default 1024, as gpioirqd)
 *   -p RT_PRIORITY   run as SCHED_FIFO at this priority (gpioirqd's RT thread runs at 80)
 *   -m               mlockall, as gpioirqd does
 *   -C CPU           pin to this CPU
 *
 * Once the line is requested it prints "bare_reader ready" (the caller's start handshake);
 * at the end one line
 *   bare_reader events=N lost=L reads=R cpu_ns=C samples=.. p50_ns=.. p99_ns=.. max_ns=..
 * with cpu_ns the process CPU time (CLOCK_PROCESS_CPUTIME_ID, exact to the scheduler's ns)
 * from just before the first read to the end. SIGTERM or SIGINT end it early: it takes
 * the events the kernel still holds, without waiting for more, and prints the figures.
 * Exit 0, 1 on an error, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <gpiod.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "latency_samples.h"

/* Events taken per read(2): as many as gpiod_edge_event_buffer allows in one go. */
#define READ_BATCH 64

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t clock_now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: bare_reader -c CHIP -l OFFSET [-n COUNT] [-b EVENT_BUFFER] [-p RT_PRIORITY] [-m] [-C CPU]\n");
}

/* Parses a whole decimal number in [min, max] into *out; 0 on success. */
static int parse_number(const char *text, long long min, long long max, long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

struct options {
	const char *chip;
	long long offset, count, event_buffer, rt_priority, cpu;
	int lock_memory;
};

static int parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .chip = NULL, .offset = -1, .count = 0, .event_buffer = 1024, .rt_priority = 0, .cpu = -1 };
	int opt;
	while ((opt = getopt(argc, argv, "c:l:n:b:p:mC:h")) != -1) {
		long long *target = NULL, min = 0, max = 0;
		const char *what = NULL;
		switch (opt) {
		case 'c': o->chip = optarg; continue;
		case 'm': o->lock_memory = 1; continue;
		case 'l': target = &o->offset, max = 511, what = "-l OFFSET: a line offset from 0 to 511"; break;
		case 'n': target = &o->count, max = 100000000, what = "-n COUNT: from 0 to 100000000"; break;
		case 'b': target = &o->event_buffer, min = 1, max = 65536, what = "-b EVENT_BUFFER: from 1 to 65536 events"; break;
		case 'p': target = &o->rt_priority, max = 99, what = "-p RT_PRIORITY: from 0 to 99"; break;
		case 'C': target = &o->cpu, max = CPU_SETSIZE - 1, what = "-C CPU: a CPU number"; break;
		default: usage(); return -1;
		}
		if (parse_number(optarg, min, max, target)) {
			fprintf(stderr, "bare_reader: bad %s (got '%s')\n", what, optarg);
			return -1;
		}
	}
	if (!o->chip || o->offset < 0 || optind != argc) {
		usage();
		return -1;
	}
	return 0;
}

/* Scheduling as asked (what gpioirqd's RT thread does), before the line is requested. */
static int apply_scheduling(const struct options *o)
{
	if (o->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((int)o->cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set)) {
			fprintf(stderr, "bare_reader: cannot pin to CPU %lld: %s\n", o->cpu, strerror(errno));
			return -1;
		}
	}
	if (o->rt_priority > 0) {
		struct sched_param p = { .sched_priority = (int)o->rt_priority };
		if (sched_setscheduler(0, SCHED_FIFO, &p)) {
			fprintf(stderr, "bare_reader: cannot run as SCHED_FIFO %lld: %s\n", o->rt_priority, strerror(errno));
			return -1;
		}
	}
	if (o->lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE)) {
		fprintf(stderr, "bare_reader: mlockall: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static struct gpiod_line_request *request_line(const struct options *o)
{
	struct gpiod_line_request *request = NULL;
	struct gpiod_chip *chip = gpiod_chip_open(o->chip);
	struct gpiod_line_settings *settings = gpiod_line_settings_new();
	struct gpiod_line_config *line_config = gpiod_line_config_new();
	struct gpiod_request_config *request_config = gpiod_request_config_new();
	const unsigned int offset = (unsigned int)o->offset;
	if (!chip) {
		fprintf(stderr, "bare_reader: cannot open %s: %s\n", o->chip, strerror(errno));
		goto out;
	}
	if (!settings || !line_config || !request_config ||
	    gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT) ||
	    gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH) ||
	    gpiod_line_config_add_line_settings(line_config, &offset, 1, settings)) {
		fprintf(stderr, "bare_reader: cannot build the line request: %s\n", strerror(errno));
		goto out;
	}
	gpiod_request_config_set_consumer(request_config, "bare_reader");
	gpiod_request_config_set_event_buffer_size(request_config, (size_t)o->event_buffer);
	request = gpiod_chip_request_lines(chip, request_config, line_config);
	if (!request)
		fprintf(stderr, "bare_reader: cannot request line %u of %s: %s\n", offset, o->chip, strerror(errno));
out:
	/* The request keeps its own fd; the chip and the configs are not needed after it. */
	gpiod_request_config_free(request_config);
	gpiod_line_config_free(line_config);
	gpiod_line_settings_free(settings);
	if (chip)
		gpiod_chip_close(chip);
	return request;
}

struct tally {
	unsigned long long seen, lost, reads;
	unsigned long next_line_seqno;
};

/* One blocking read of up to READ_BATCH events, stamped as soon as it returns; the number
 * read, or -1 (errno set). */
static int read_batch(struct gpiod_line_request *request, struct gpiod_edge_event_buffer *events,
		      struct latency_samples *samples, struct tally *t)
{
	const int n = gpiod_line_request_read_edge_events(request, events, READ_BATCH);
	if (n < 0)
		return -1;
	const int64_t now = clock_now_ns(CLOCK_MONOTONIC);
	++t->reads;
	for (int i = 0; i < n; ++i) {
		struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(events, (unsigned long)i);
		const unsigned long line_seqno = gpiod_edge_event_get_line_seqno(ev);
		if (line_seqno > t->next_line_seqno)
			t->lost += line_seqno - t->next_line_seqno;
		t->next_line_seqno = line_seqno + 1;
		latency_samples_add(samples, now, gpiod_edge_event_get_timestamp_ns(ev));
		++t->seen;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct options o;
	if (parse_options(argc, argv, &o))
		return 2;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal; /* no SA_RESTART: the blocking read returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL)) {
		fprintf(stderr, "bare_reader: sigaction: %s\n", strerror(errno));
		return 1;
	}

	/* Room for every edge of the run (or a generous default when it runs until SIGTERM). */
	struct latency_samples samples;
	if (latency_samples_init(&samples, o.count > 0 ? (size_t)o.count : 1u << 20)) {
		fprintf(stderr, "bare_reader: cannot reserve the sample memory: %s\n", strerror(errno));
		return 1;
	}
	struct gpiod_edge_event_buffer *events = gpiod_edge_event_buffer_new(READ_BATCH);
	if (!events) {
		fprintf(stderr, "bare_reader: cannot make the event buffer: %s\n", strerror(errno));
		return 1;
	}
	if (apply_scheduling(&o))
		return 1;
	struct gpiod_line_request *request = request_line(&o);
	if (!request)
		return 1;
	printf("bare_reader ready\n");
	fflush(stdout);

	struct tally tally = { .next_line_seqno = 1 }; /* the kernel numbers a request's events from 1 */
	int rc = 0;
	const int64_t cpu_start = clock_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	while (!stop_requested && (o.count == 0 || tally.seen + tally.lost < (unsigned long long)o.count)) {
		const int n = read_batch(request, events, &samples, &tally);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "bare_reader: read: %s\n", strerror(errno));
			rc = 1;
			break;
		}
	}
	/* Stopped by a signal: what the kernel still holds was delivered before it, take it too. */
	while (stop_requested && rc == 0 && gpiod_line_request_wait_edge_events(request, 0) > 0)
		if (read_batch(request, events, &samples, &tally) <= 0)
			break;
	const int64_t cpu_ns = clock_now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;

	printf("bare_reader events=%llu lost=%llu reads=%llu cpu_ns=%lld ", tally.seen, tally.lost, tally.reads,
	       (long long)cpu_ns);
	latency_samples_print(stdout, &samples);
	printf("\n");
	gpiod_line_request_release(request);
	gpiod_edge_event_buffer_free(events);
	return rc;
}
