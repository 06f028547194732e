/*
 * edge_train: drives gpio-sim lines from inside the test VM by writing their sysfs `pull`
 * attribute ("pull-up" / "pull-down"), which makes gpio-sim raise a real edge interrupt.
 * A shell loop manages a few hundred writes per second under TCG; this keeps each pull
 * file open and paces writes against absolute CLOCK_MONOTONIC deadlines, so the rate holds
 * on average even when single writes are late.
 *
 *   edge_train [-r RATE] [-n COUNT] [-b BOUNCE] [-q] [-R] PULL_FILE...
 *
 *   default      every step toggles each PULL_FILE once (COUNT edges on every line).
 *   -q           quadrature: exactly two files, A then B; COUNT steps of the Gray sequence
 *                (each step is one edge on one line; 4 steps = one full period).
 *   -R           quadrature in reverse (B leads A).
 *   -r RATE      steps per second (0 = as fast as possible).
 *   -b BOUNCE    before each wanted edge emit BOUNCE extra pulses on that line (edge+back),
 *                so each step writes 1 + 2*BOUNCE edges; the level still ends as wanted.
 *   -s up|down   state every line is put in first (no edge is counted for this).
 *
 * Prints one line: "edge_train steps=S edges=E elapsed_ns=T rate=R max_late_ns=L".
 * Exit 0 on success, 2 on usage error, 1 on I/O error.
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

#define MAX_LINES 64

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

struct line {
	const char *path;
	int fd;
	int level;
};

static long long edges;

static int set_level(struct line *l, int level)
{
	static const char up[] = "pull-up";
	static const char down[] = "pull-down";
	const char *s = level ? up : down;
	size_t len = level ? sizeof(up) - 1 : sizeof(down) - 1;
	if (pwrite(l->fd, s, len, 0) != (ssize_t)len) {
		fprintf(stderr, "edge_train: write %s to %s: %s\n", s, l->path, strerror(errno));
		return -1;
	}
	l->level = level;
	return 0;
}

/* One wanted edge on l, preceded by `bounce` pulses against it. */
static int toggle(struct line *l, int bounce)
{
	int target = !l->level;
	for (int i = 0; i < bounce; ++i) {
		if (set_level(l, target) || set_level(l, !target))
			return -1;
		edges += 2;
	}
	if (set_level(l, target))
		return -1;
	edges += 1;
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
	fprintf(stderr, "usage: edge_train [-r RATE] [-n COUNT] [-b BOUNCE] [-q [-R]] [-s up|down] PULL_FILE...\n");
}

int main(int argc, char **argv)
{
	double rate = 1000.0;
	long long count = 100;
	int bounce = 0, quadrature = 0, reverse = 0, initial = -1;
	int opt;
	while ((opt = getopt(argc, argv, "r:n:b:qRs:h")) != -1) {
		switch (opt) {
		case 'r': rate = strtod(optarg, NULL); break;
		case 'n': count = strtoll(optarg, NULL, 10); break;
		case 'b': bounce = atoi(optarg); break;
		case 'q': quadrature = 1; break;
		case 'R': reverse = 1; break;
		case 's':
			if (strcmp(optarg, "up") == 0)
				initial = 1;
			else if (strcmp(optarg, "down") == 0)
				initial = 0;
			else {
				usage();
				return 2;
			}
			break;
		default: usage(); return 2;
		}
	}
	int nlines = argc - optind;
	if (nlines < 1 || nlines > MAX_LINES || count < 0 || bounce < 0 || rate < 0 ||
	    (quadrature && nlines != 2) || (reverse && !quadrature)) {
		usage();
		return 2;
	}

	struct line lines[MAX_LINES];
	for (int i = 0; i < nlines; ++i) {
		lines[i].path = argv[optind + i];
		lines[i].level = read_level(lines[i].path);
		lines[i].fd = open(lines[i].path, O_WRONLY | O_CLOEXEC);
		if (lines[i].fd < 0 || lines[i].level < 0) {
			fprintf(stderr, "edge_train: cannot use %s: %s\n", lines[i].path, strerror(errno));
			return 1;
		}
		if (initial >= 0 && lines[i].level != initial && set_level(&lines[i], initial))
			return 1;
	}

	const int64_t period = rate > 0 ? (int64_t)(1e9 / rate) : 0;
	const int64_t start = now_ns();
	int64_t max_late = 0;
	for (long long step = 0; step < count; ++step) {
		if (period > 0) {
			int64_t deadline = start + step * period;
			int64_t t = now_ns();
			if (t < deadline)
				sleep_until(deadline);
			else if (t - deadline > max_late)
				max_late = t - deadline;
		}
		if (quadrature) {
			/* Forward Gray sequence 00 -> 10 -> 11 -> 01 -> 00 (A leads): the line to move
			 * is A when A == B, else B. Reverse swaps the roles. */
			struct line *a = &lines[reverse ? 1 : 0];
			struct line *b = &lines[reverse ? 0 : 1];
			if (toggle(a->level == b->level ? a : b, bounce))
				return 1;
		} else {
			for (int i = 0; i < nlines; ++i)
				if (toggle(&lines[i], bounce))
					return 1;
		}
	}
	const int64_t elapsed = now_ns() - start;
	printf("edge_train steps=%lld edges=%lld elapsed_ns=%lld rate=%.1f max_late_ns=%lld\n", count, edges,
	       (long long)elapsed, elapsed > 0 ? (double)count * 1e9 / (double)elapsed : 0.0, (long long)max_late);
	for (int i = 0; i < nlines; ++i)
		close(lines[i].fd);
	return 0;
}
