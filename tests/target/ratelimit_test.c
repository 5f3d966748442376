/*
 * tests/target/ratelimit_test.c - suite "ratelimit": repeated diagnostics
 * print a burst, then counted summaries (lib/ratelimit.h), and a flood
 * of bad calls into mm/ prints a few lines however long it lasts.  Portable:
 * runs on target and on the host.
 */
#include "lib/console.h"
#include "lib/ratelimit.h"
#include "mm/kmalloc.h"
#include "tests/ktest.h"

static void a_burst_prints_then_counts(struct ktest *t)
{
	static struct ratelimit rl = RATELIMIT_INIT("ratelimit test");
	unsigned allowed = 0;
	unsigned long lines = console_lines();
	for (unsigned i = 0; i < 100000; i++)
		allowed += ratelimit_allow(&rl);
	EXPECT_EQ(t, allowed, RATELIMIT_BURST);
	EXPECT_EQ(t, rl.suppressed, 100000 - RATELIMIT_BURST);
	/* Summaries at 100, 1,000 and 10,000 suppressed. */
	EXPECT_EQ(t, console_lines() - lines, 3);
	ratelimit_flush(); /* one more summary: the count so far */
	EXPECT_EQ(t, console_lines() - lines, 4);
	EXPECT_EQ(t, rl.suppressed, 0);
	/* A new burst after the flush. */
	EXPECT_TRUE(t, ratelimit_allow(&rl));
	EXPECT_EQ(t, rl.printed, 1);
}

static void a_flood_of_double_frees_prints_a_few_lines(struct ktest *t)
{
	struct kmalloc_stats before, after;
	void *p = kmalloc(40);
	ASSERT_NE(t, (uintptr_t)p, 0);
	kfree(p);
	kmalloc_stats(&before);
	unsigned long lines = console_lines();
	for (unsigned i = 0; i < 100000; i++)
		kfree(p); /* a double free, every time */
	kmalloc_stats(&after);
	EXPECT_EQ(t, after.bad_frees, before.bad_frees + 100000); /* each one counted */
	EXPECT_LE(t, console_lines() - lines, RATELIMIT_BURST + 3);
	EXPECT_GE(t, console_lines() - lines, 1);
}

static const struct ktest_case ratelimit_cases[] = {
	KTEST_CASE(a_burst_prints_then_counts),
	KTEST_CASE(a_flood_of_double_frees_prints_a_few_lines),
};
KTEST_SUITE(ratelimit, ratelimit_cases, NULL, NULL);
