/*
 * tests/target/divdi3_test.c - suite "divdi3": the kernel's own 64-bit
 * division helpers (arch/i386/divdi3.c), which every '/' and '%' on 64-bit
 * operands calls.  Operands pass through volatiles so that the compiler
 * cannot fold the divisions away.
 */
#include "arch/i386/trap.h"
#include "tests/ktest.h"

static volatile uint64_t vu_num, vu_den;
static volatile int64_t vs_num, vs_den;

static uint64_t udiv(uint64_t n, uint64_t d)
{
	vu_num = n, vu_den = d;
	return vu_num / vu_den;
}

static uint64_t umod(uint64_t n, uint64_t d)
{
	vu_num = n, vu_den = d;
	return vu_num % vu_den;
}

static int64_t sdiv(int64_t n, int64_t d)
{
	vs_num = n, vs_den = d;
	return vs_num / vs_den;
}

static int64_t smod(int64_t n, int64_t d)
{
	vs_num = n, vs_den = d;
	return vs_num % vs_den;
}

static void known_unsigned_results(struct ktest *t)
{
	EXPECT_EQ(t, udiv(1000000000000000000ull, 7), 142857142857142857ull);
	EXPECT_EQ(t, umod(1000000000000000000ull, 7), 1);
	EXPECT_EQ(t, udiv(UINT64_MAX, 1), UINT64_MAX);
	EXPECT_EQ(t, udiv(UINT64_MAX, UINT64_MAX), 1);
	EXPECT_EQ(t, umod(UINT64_MAX, UINT64_MAX), 0);
	EXPECT_EQ(t, udiv(5, 10), 0);
	EXPECT_EQ(t, umod(5, 10), 5);
	EXPECT_EQ(t, udiv(1ull << 63, 3), 3074457345618258602ull);
	EXPECT_EQ(t, umod(1ull << 63, 3), 2);
	/* A divisor wider than 32 bits. */
	EXPECT_EQ(t, udiv(0xFFFFFFFFFFFFull, 0x100000001ull), 0xFFFFull);
	EXPECT_EQ(t, umod(0xFFFFFFFFFFFFull, 0x100000001ull), 0xFFFF0000ull);
}

/* For pseudo-random operands of every width: n == q * d + r, r < d. */
static void quotient_and_remainder_agree(struct ktest *t)
{
	uint64_t x = 0x9E3779B97F4A7C15ull ^ t->seed;
	unsigned bad = 0;
	for (unsigned i = 0; i < 2000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t n = x >> (i % 64);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t d = (x >> (i * 7 % 64)) | 1;
		uint64_t q = udiv(n, d), r = umod(n, d);
		if (q * d + r != n || r >= d)
			bad++;
	}
	EXPECT_EQ(t, bad, 0);
}

static void signed_results_truncate_toward_zero(struct ktest *t)
{
	EXPECT_EQ(t, sdiv(-7, 2), -3);
	EXPECT_EQ(t, smod(-7, 2), -1);
	EXPECT_EQ(t, sdiv(7, -2), -3);
	EXPECT_EQ(t, smod(7, -2), 1);
	EXPECT_EQ(t, sdiv(-7, -2), 3);
	EXPECT_EQ(t, smod(-7, -2), -1);
	EXPECT_EQ(t, sdiv(INT64_MIN, 1), INT64_MIN);
	EXPECT_EQ(t, sdiv(INT64_MIN, INT64_MAX), -1);
	EXPECT_EQ(t, smod(INT64_MIN, INT64_MAX), -1);
}

static volatile uint64_t quotient;

static void divide_by_zero(void *arg)
{
	(void)arg;
	quotient = udiv(1, 0);
}

/* As the divide instruction does: a divide error, not a made-up result. */
static void zero_divisor_raises_divide_error(struct ktest *t)
{
	ktest_expect_fault(t, TRAP_DIVIDE, KTEST_ANY_ADDR, divide_by_zero, NULL);
}

static const struct ktest_case divdi3_cases[] = {
	KTEST_CASE(known_unsigned_results),
	KTEST_CASE(quotient_and_remainder_agree),
	KTEST_CASE(signed_results_truncate_toward_zero),
	KTEST_CASE(zero_divisor_raises_divide_error),
};
KTEST_SUITE(divdi3, divdi3_cases, NULL, NULL);
