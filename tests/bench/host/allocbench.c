/*
 * tests/bench/host/allocbench.c - the host benchmark's workloads, driven
 * against one allocator: libmm.a (built with -DUSE_LIBMM) or malloc (glibc,
 * or mimalloc, jemalloc, tcmalloc put in its place with LD_PRELOAD).
 *
 * Usage: allocbench WORKLOAD MODE
 *   WORKLOAD  churn32 | mixed | large | grow256 | realloc
 *   MODE      count  - the loop only, between callgrind's start and stop
 *                      instrumentation requests (instructions per call)
 *             time   - the loop, timed with CLOCK_MONOTONIC
 *             memory - the loop with every block written in full, for the
 *                      resident set: (peak RSS - RSS before) / peak live
 * Prints one line of key=value figures.  Every workload is deterministic:
 * the same calls, in the same order, for every allocator.  A malloc, a free
 * or a realloc each count as one call.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#ifdef USE_LIBMM
#include "kmalloc.h"
#define A_MALLOC  kmalloc
#define A_FREE    kfree
#define A_REALLOC krealloc
#else
#define A_MALLOC  malloc
#define A_FREE    free
#define A_REALLOC realloc
#endif

static int touch; /* memory mode: write every block in full */
static uint64_t live, peak_live, calls;
static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void *do_malloc(size_t n)
{
	void *p = A_MALLOC(n);
	calls++;
	if (!p) {
		fprintf(stderr, "allocbench: allocation of %zu bytes failed\n", n);
		exit(2);
	}
	if (touch)
		memset(p, 0x5a, n);
	live += n;
	if (live > peak_live)
		peak_live = live;
	return p;
}

static void do_free(void *p, size_t n)
{
	A_FREE(p);
	calls++;
	live -= n;
}

static void *do_realloc(void *p, size_t old, size_t n)
{
	void *q = A_REALLOC(p, n);
	calls++;
	if (!q) {
		fprintf(stderr, "allocbench: realloc to %zu bytes failed\n", n);
		exit(2);
	}
	if (touch && n > old)
		memset((char *)q + old, 0x5a, n - old);
	live += n - old;
	if (live > peak_live)
		peak_live = live;
	return q;
}

struct cell {
	void *p;
	size_t n;
};

/* A pool of 'cells' blocks; each step frees a random occupied cell or
 * fills a random empty one with a block of size_fn() bytes. */
static void random_lifetimes(unsigned cells, unsigned steps, size_t (*size_fn)(void))
{
	struct cell *s = calloc(cells, sizeof(*s));
	for (unsigned i = 0; i < steps; i++) {
		struct cell *x = &s[rng() % cells];
		if (x->p) {
			do_free(x->p, x->n);
			x->p = NULL;
		} else {
			x->n = size_fn();
			x->p = do_malloc(x->n);
		}
	}
	for (unsigned i = 0; i < cells; i++)
		if (s[i].p)
			do_free(s[i].p, s[i].n);
	free(s);
}

static size_t size_32(void)
{
	return 32;
}

static size_t size_mixed(void)
{
	return 8 + rng() % (4096 - 8 + 1);
}

static size_t size_large(void)
{
	return 4096 + rng() % ((1u << 20) - 4096 + 1);
}

static void workload_churn32(void)
{
	random_lifetimes(1024, 2000000, size_32);
}

static void workload_mixed(void)
{
	/* fill to about half the 100,000 cells, then churn */
	random_lifetimes(100000, 2000000, size_mixed);
}

static void workload_large(void)
{
	random_lifetimes(256, 20000, size_large);
}

static void workload_grow256(void)
{
	enum { MAX_BLOCKS = 8192 };
	static struct cell b[MAX_BLOCKS];
	for (int round = 0; round < 3; round++) {
		unsigned n = 0;
		uint64_t total = 0;
		while (total < (256u << 20) && n < MAX_BLOCKS) {
			size_t size = (64u << 10) + rng() % ((4u << 20) - (64u << 10) + 1);
			b[n].p = do_malloc(size);
			b[n].n = size;
			total += size;
			n++;
		}
		while (n)
			do_free(b[n - 1].p, b[n - 1].n), n--;
	}
}

static void workload_realloc(void)
{
	for (int chain = 0; chain < 64; chain++) {
		size_t n = 16;
		void *p = do_malloc(n);
		while (n < (64u << 10)) {
			size_t next = n + 16 + rng() % 64;
			if (next > (64u << 10))
				next = 64u << 10;
			p = do_realloc(p, n, next);
			n = next;
		}
		do_free(p, n);
	}
}

static long rss_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	size_t len = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0)
			kib = strtol(line + len, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} workloads[] = {
		{ "churn32", workload_churn32 }, { "mixed", workload_mixed },
		{ "large", workload_large },     { "grow256", workload_grow256 },
		{ "realloc", workload_realloc },
	};
	if (argc != 3) {
		fprintf(stderr, "usage: allocbench WORKLOAD count|time|memory\n");
		return 1;
	}
	touch = strcmp(argv[2], "memory") == 0;
	for (unsigned i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		if (strcmp(argv[1], workloads[i].name) != 0)
			continue;
		/* Let the allocator set itself up outside the measurement. */
		A_FREE(A_MALLOC(1));
		long before = rss_kib("VmRSS:");
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CALLGRIND_START_INSTRUMENTATION;
		workloads[i].run();
		CALLGRIND_STOP_INSTRUMENTATION;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long peak = rss_kib("VmHWM:");
		double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
		printf("workload=%s calls=%llu ns=%.0f peak_live=%llu rss_before_kib=%ld "
		       "peak_rss_kib=%ld\n",
		       argv[1], (unsigned long long)calls, ns, (unsigned long long)peak_live,
		       before, peak);
		return 0;
	}
	fprintf(stderr, "allocbench: unknown workload %s\n", argv[1]);
	return 1;
}
