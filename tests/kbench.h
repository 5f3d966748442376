/*
 * tests/kbench.h - on-target benchmarks.  Run with bench=<names|all> on the
 * kernel command line (make bench does it under QEMU -icount shift=0, where
 * rdtsc counts guest instructions, so figures are deterministic).
 *
 * A benchmark prints one line per figure with kbench_report():
 *   bench <name> <value> <unit>
 * Benchmarks are figures, never pass/fail: targets are compared by people
 * and by tests/run_bench.py, not asserted here.
 */
#ifndef TESTS_KBENCH_H
#define TESTS_KBENCH_H

#include <stdbool.h>
#include <stdint.h>

struct kbench {
	const char *name;
	void (*run)(void);
};

#define KBENCH(bench_name)                                                                         \
	static void kbench_fn_##bench_name(void);                                                  \
	static const struct kbench kbench_##bench_name                                             \
	        __attribute__((used, section("kbench"), aligned(8))) = { #bench_name,              \
		                                                         kbench_fn_##bench_name }; \
	static void kbench_fn_##bench_name(void)

/* Instructions an empty loop of n iterations takes, to subtract from a
 * measured loop of the same shape. */
static inline uint64_t kbench_empty_loop(unsigned n)
{
	uint64_t t0 = __builtin_ia32_rdtsc();
	for (unsigned i = 0; i < n; i++)
		__asm__ volatile("" : : "r"(i) : "memory");
	return __builtin_ia32_rdtsc() - t0;
}

/* A deterministic xorshift generator: the same workload on every run. */
static inline uint32_t kbench_rng(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

/* Prints "bench <name> <value with two decimals> <unit>". */
void kbench_report(const char *name, uint64_t numerator, uint64_t denominator, const char *unit);

/* Runs the benchmarks 'filter' selects (tests/select.h: names or prefixes,
 * comma-separated; "all"); returns how many ran.  kbench_check_filter says
 * beforehand whether the filter can run: it selects something, and the CPU
 * has a time-stamp counter. */
bool kbench_check_filter(const char *filter);
unsigned kbench_run(const char *filter);

#endif
