/*
 * tests/target/ktest_test.c - suite "ktest": the framework checks itself.
 *
 * Also suite "ktest_must_fail" (run only when named in full): every case
 * fails on purpose, so that the host runner's tests can check that failures
 * are reported as "not ok" with both values.
 */
#include "arch/i386/trap.h"
#include "tests/ktest.h"

static void expectations_that_hold_pass(struct ktest *t)
{
	unsigned before = t->failures;
	EXPECT_EQ(t, 2 + 2, 4);
	EXPECT_NE(t, 1, 2);
	EXPECT_LT(t, -1, 0);
	EXPECT_STREQ(t, "abc", "abc");
	EXPECT_EQ(t, t->failures, before);
}

static void failed_expectation_is_counted(struct ktest *t)
{
	struct ktest inner = { .name = "inner" };
	EXPECT_EQ(&inner, 1, 2); /* prints a diagnostic; counted on 'inner' only */
	EXPECT_EQ(t, inner.failures, 1);
}

static void inner_assert(struct ktest *inner)
{
	ASSERT_EQ(inner, 3, 4);
	inner->failures += 100; /* must not run */
}

static void failed_assertion_abandons_the_case(struct ktest *t)
{
	struct ktest inner = { .name = "inner" };
	if (ktest_setjmp(inner.abort) == 0)
		inner_assert(&inner);
	EXPECT_EQ(t, inner.failures, 1);
}

static void expected_page_fault_is_caught(struct ktest *t)
{
	struct fault_record r =
	        ktest_expect_fault(t, TRAP_PAGE_FAULT, 0x10, ktest_write_byte, (void *)0x10);
	EXPECT_EQ(t, r.error & (PF_PROTECTION | PF_WRITE | PF_USER), PF_WRITE);
}

static void no_op(void *arg)
{
	(void)arg;
}

static void missing_fault_is_a_failure(struct ktest *t)
{
	struct ktest inner = { .name = "inner" };
	ktest_expect_fault(&inner, TRAP_PAGE_FAULT, KTEST_ANY_ADDR, no_op, NULL);
	EXPECT_EQ(t, inner.failures, 1);
}

static void wrong_fault_address_is_a_failure(struct ktest *t)
{
	struct ktest inner = { .name = "inner" };
	ktest_expect_fault(&inner, TRAP_PAGE_FAULT, 0x20, ktest_read_byte, (void *)0x30);
	EXPECT_EQ(t, inner.failures, 1);
}

static void divide(void *arg)
{
	/* Both operands volatile: gcc folds 1 / x into a comparison. */
	volatile unsigned dividend = 1000, divisor = (unsigned)(uintptr_t)arg;
	volatile unsigned quotient = dividend / divisor;
	(void)quotient;
}

static void other_exceptions_are_caught(struct ktest *t)
{
	ktest_expect_fault(t, TRAP_DIVIDE, KTEST_ANY_ADDR, divide, (void *)0);
}

static void page_fault_bits_are_decoded(struct ktest *t)
{
	char buf[64];
	fault_describe_page_error(0, buf, sizeof(buf));
	EXPECT_STREQ(t, buf, "not-present read, kernel mode");
	fault_describe_page_error(PF_PROTECTION | PF_WRITE | PF_USER, buf, sizeof(buf));
	EXPECT_STREQ(t, buf, "protection write, user mode");
}

static const struct ktest_case ktest_cases[] = {
	KTEST_CASE(expectations_that_hold_pass),
	KTEST_CASE(failed_expectation_is_counted),
	KTEST_CASE(failed_assertion_abandons_the_case),
	KTEST_CASE(expected_page_fault_is_caught),
	KTEST_CASE(missing_fault_is_a_failure),
	KTEST_CASE(wrong_fault_address_is_a_failure),
	KTEST_CASE(other_exceptions_are_caught),
	KTEST_CASE(page_fault_bits_are_decoded),
};
KTEST_SUITE(ktest, ktest_cases, NULL, NULL);

static void fails_expect_eq(struct ktest *t)
{
	int answer = 41;
	EXPECT_EQ(t, answer, 42);
}

static void fails_streq(struct ktest *t)
{
	EXPECT_STREQ(t, "left", "right");
}

static void passes(struct ktest *t)
{
	EXPECT_TRUE(t, 1);
}

/* Deferred actions and the suite's per-case tear-down run however a case
 * ends: after a skip and after an ASSERT's abandon. */
static unsigned deferred_order[4], deferred_count, case_exits;

static void record_deferred(void *arg)
{
	if (deferred_count < 4)
		deferred_order[deferred_count] = (unsigned)(uintptr_t)arg;
	deferred_count++;
}

static void skipped_case_defers_two_actions(struct ktest *t)
{
	deferred_count = 0;
	case_exits = 0;
	ktest_defer(t, record_deferred, (void *)1);
	ktest_defer(t, record_deferred, (void *)2);
	ktest_skip(t, "deliberately, after deferring two actions");
}

static void the_skipped_case_was_torn_down(struct ktest *t)
{
	EXPECT_EQ(t, deferred_count, 2);
	EXPECT_EQ(t, deferred_order[0], 2); /* the last deferred runs first */
	EXPECT_EQ(t, deferred_order[1], 1);
	EXPECT_EQ(t, case_exits, 1);
}

static void ktest_case_exit(void)
{
	case_exits++;
}

static bool released;

static void release(void *arg)
{
	*(bool *)arg = true;
}

static void assert_fails_holding_something(struct ktest *t)
{
	released = false;
	ktest_defer(t, release, &released);
	ASSERT_EQ(t, 1, 2);
	released = false; /* never reached */
}

static void what_the_failed_case_held_came_back(struct ktest *t)
{
	EXPECT_TRUE(t, released);
}

static const struct ktest_case must_fail_cases[] = {
	KTEST_CASE(fails_expect_eq),
	KTEST_CASE(fails_streq),
	KTEST_CASE(passes),
	KTEST_CASE(assert_fails_holding_something),
	KTEST_CASE(what_the_failed_case_held_came_back),
	KTEST_CASE(skipped_case_defers_two_actions),
	KTEST_CASE(the_skipped_case_was_torn_down),
};
KTEST_SUITE_CASE_EXIT(ktest_must_fail, must_fail_cases, NULL, NULL, KTEST_EXPLICIT,
                      ktest_case_exit);
