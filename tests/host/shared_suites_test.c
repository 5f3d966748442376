/*
 * tests/host/shared_suites_test.c - runs the on-target KTAP suites that are
 * portable (tests/target/arena_test.c and the like) on the host, over the
 * mmap backend, under ASan and UBSan: the same scenarios, the same code.
 * Usage: shared_suites_test [filter [seed]]; prints KTAP, then
 * "N passed, N failed".
 */
#include "arch/host/setup.h"
#include "tests/ktest.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	host_heap_init();
	const char *filter = argc > 1 ? argv[1] : "all";
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
	struct ktest_totals totals = ktest_run_all(filter, seed);
	if (totals.skipped)
		printf("%u passed, %u failed, %u skipped\n", totals.passed, totals.failed,
		       totals.skipped);
	else
		printf("%u passed, %u failed\n", totals.passed, totals.failed);
	return totals.failed ? 1 : 0;
}
