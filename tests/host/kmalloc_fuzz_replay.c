/*
 * tests/host/kmalloc_fuzz_replay.c - suite "kmalloc_fuzz" (host only): the
 * kmalloc fuzz harness (tests/fuzz/kmalloc_fuzz.c) fed pseudo-random inputs,
 * under ASan and UBSan: what `make fuzz` explores with coverage guidance,
 * replayed from fixed seeds by `make test`.
 */
#include "tests/fuzz/kmalloc_fuzz.h"
#include "tests/ktest.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t state;

static uint8_t random_byte(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (uint8_t)(state >> 24);
}

/* 'inputs' inputs of up to 'longest' bytes from 'seed'. */
static unsigned replay(uint64_t seed, unsigned inputs, size_t longest)
{
	static uint8_t buf[1 << 16];
	unsigned problems = 0;
	state = seed;
	/* The heap's reports of the bad frees go to stdout: not wanted here
	 * (problems are printed on stderr). */
	fflush(stdout);
	int saved = dup(1), null = open("/dev/null", O_WRONLY);
	if (saved >= 0 && null >= 0)
		dup2(null, 1);
	for (unsigned i = 0; i < inputs; i++) {
		size_t lo = random_byte(), hi = random_byte();
		size_t n = 1 + (lo | hi << 8) % longest;
		for (size_t j = 0; j < n; j++)
			buf[j] = random_byte();
		problems += kmalloc_fuzz_one(buf, n);
	}
	fflush(stdout);
	if (saved >= 0 && null >= 0)
		dup2(saved, 1);
	if (saved >= 0)
		close(saved);
	if (null >= 0)
		close(null);
	return problems;
}

static void short_inputs(struct ktest *t)
{
	EXPECT_EQ(t, replay(1, 3000, 64), 0);
}

static void long_inputs(struct ktest *t)
{
	EXPECT_EQ(t, replay(2, 60, 4096), 0);
}

static void an_empty_input(struct ktest *t)
{
	EXPECT_EQ(t, kmalloc_fuzz_one(NULL, 0), 0);
}

static const struct ktest_case kmalloc_fuzz_cases[] = {
	KTEST_CASE(short_inputs),
	KTEST_CASE(long_inputs),
	KTEST_CASE(an_empty_input),
};
KTEST_SUITE(kmalloc_fuzz, kmalloc_fuzz_cases, NULL, NULL);
