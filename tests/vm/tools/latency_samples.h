/*
 * latency_samples.h: the edge latencies one reader saw (kernel timestamp to the moment the
 * reader had the event in userspace), kept as exact nanosecond samples in memory reserved
 * up front, and the percentiles the VM bench prints (tests/vm/scenarios/bench_vm_readers.sh).
 * Shared by bare_reader.c and read_latency.c (the LD_PRELOAD shim put under gpiomon).
 *
 * Percentiles are nearest-rank (the smallest sample with at least q of the samples at or
 * below it), the rank gpioirqd's own histogram uses; theirs is then rounded up to its
 * bucket's upper bound (at most 6.25 % above), these are exact.
 */
#ifndef GPIOIRQ_VM_LATENCY_SAMPLES_H
#define GPIOIRQ_VM_LATENCY_SAMPLES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

struct latency_samples {
	int64_t *values;   /* capacity entries, mapped (and touched) before the first edge */
	size_t capacity;
	size_t count;      /* samples kept */
	uint64_t overflow; /* samples beyond capacity: counted, not kept (then the figures say so) */
	int64_t max;       /* over every sample, kept or not */
	uint64_t negative; /* timestamps after the reader's clock: clock mismatch, reported */
};

/* Reserves room for capacity samples; 0 on success. The pages are written once so that no
 * page fault lands between a read and the next one. */
static inline int latency_samples_init(struct latency_samples *s, size_t capacity)
{
	s->count = 0;
	s->overflow = 0;
	s->max = 0;
	s->negative = 0;
	s->capacity = capacity;
	s->values = mmap(NULL, capacity * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->values == MAP_FAILED) {
		s->values = NULL;
		return -1;
	}
	for (size_t i = 0; i < capacity; i += 4096 / sizeof(int64_t))
		s->values[i] = 0;
	return 0;
}

static inline void latency_samples_add(struct latency_samples *s, int64_t now_ns, uint64_t event_ns)
{
	int64_t latency = now_ns - (int64_t)event_ns;
	if (latency < 0) {
		++s->negative;
		latency = 0;
	}
	if (latency > s->max)
		s->max = latency;
	if (s->count < s->capacity)
		s->values[s->count++] = latency;
	else
		++s->overflow;
}

static int latency_cmp(const void *a, const void *b)
{
	const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank over the kept samples at per_mille/1000 (500 = p50, 990 = p99); call
 * latency_samples_sort first. -1 when empty. */
static inline int64_t latency_samples_quantile(const struct latency_samples *s, unsigned per_mille)
{
	if (s->count == 0)
		return -1;
	size_t rank = (per_mille * s->count + 999) / 1000;
	if (rank == 0)
		rank = 1;
	if (rank > s->count)
		rank = s->count;
	return s->values[rank - 1];
}

static inline void latency_samples_sort(struct latency_samples *s)
{
	qsort(s->values, s->count, sizeof(int64_t), latency_cmp);
}

/* "samples=N p50_ns=.. p99_ns=.. max_ns=.. overflow=.. negative=.." (sorts the samples). */
static inline void latency_samples_print(FILE *out, struct latency_samples *s)
{
	latency_samples_sort(s);
	fprintf(out, "samples=%zu p50_ns=%lld p99_ns=%lld max_ns=%lld overflow=%llu negative=%llu", s->count,
		(long long)latency_samples_quantile(s, 500), (long long)latency_samples_quantile(s, 990),
		(long long)s->max, (unsigned long long)s->overflow, (unsigned long long)s->negative);
}

#endif
