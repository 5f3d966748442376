/*
 * tests/target/format_test.c - suite "format": the printf engine of
 * lib/format.h, on target and on the host, where it is also compared with
 * the C library's snprintf over every conversion, flag, width and length.
 */
#include "lib/format.h"
#include "tests/ktest.h"

#define EXPECT_FORMAT(t, expected, ...)                                 \
	do {                                                            \
		char buf_[96];                                          \
		size_t n_ = ksnprintf(buf_, sizeof(buf_), __VA_ARGS__); \
		EXPECT_STREQ(t, buf_, expected);                        \
		EXPECT_EQ(t, n_, __builtin_strlen(expected));           \
	} while (0)

static void signed_decimal(struct ktest *t)
{
	EXPECT_FORMAT(t, "0 -1 2147483647 -2147483648", "%d %i %d %d", 0, -1, 2147483647,
	              (int)-2147483647 - 1);
}

static void unsigned_and_hex(struct ktest *t)
{
	EXPECT_FORMAT(t, "4294967295 ffffffff FFFFFFFF 0", "%u %x %X %x", 0xffffffffu, 0xffffffffu,
	              0xffffffffu, 0u);
}

static void length_modifiers(struct ktest *t)
{
	EXPECT_FORMAT(t, "-9223372036854775808 18446744073709551615 123456789abcdef0",
	              "%lld %llu %llx", (long long)(-9223372036854775807LL - 1),
	              18446744073709551615ULL, 0x123456789abcdef0ULL);
	EXPECT_FORMAT(t, "-5 4000000000 4096", "%ld %lu %zu", -5L, 4000000000UL, (size_t)4096);
	/* %hhx of an int keeps the low byte; unchecked, as compilers warn. */
	size_t (*volatile unchecked)(char *, size_t, const char *, ...) = ksnprintf;
	char buf[16];
	unchecked(buf, sizeof(buf), "%hhx %hd", 0x1ff, 0x12345);
	EXPECT_STREQ(t, buf, "ff 9029");
}

static void width_and_padding(struct ktest *t)
{
	EXPECT_FORMAT(t, "[   42][00042][42   ][-0042]", "[%5d][%05d][%-5d][%05d]", 42, 42, 42,
	              -42);
	EXPECT_FORMAT(t, "[0000beef][    beef][  ab]", "[%08x][%8x][%*x]", 0xbeef, 0xbeef, 4, 0xab);
}

static void pointers(struct ktest *t)
{
	/* Every hex digit of the pointer. */
	if (sizeof(void *) == 4)
		EXPECT_FORMAT(t, "0x00000000 0xdeadbeef", "%p %p", (void *)0, (void *)0xdeadbeef);
	else
		EXPECT_FORMAT(t, "0x0000000000000000 0x00000000deadbeef", "%p %p", (void *)0,
		              (void *)0xdeadbeef);
}

static const char *volatile null_string;

static void strings_and_chars(struct ktest *t)
{
	EXPECT_FORMAT(t, "[abc][  abc][abc  ][ab][(null)]", "[%s][%5s][%-5s][%.2s][%s]", "abc",
	              "abc", "abc", "abc", null_string);
	EXPECT_FORMAT(t, "x% [  y]", "%c%%%c[%3c]", 'x', ' ', 'y');
}

static void truncation(struct ktest *t)
{
	char buf[8];
	size_t n = ksnprintf(buf, sizeof(buf), "%s", "0123456789");
	EXPECT_EQ(t, n, 10);
	EXPECT_STREQ(t, buf, "0123456");
	EXPECT_EQ(t, ksnprintf(buf, 0, "%d", 12345), 5);
}

static void unknown_conversion_is_visible(struct ktest *t)
{
	/* Called through a pointer, so that the compiler's format check does not
	 * refuse the deliberately bad format. */
	size_t (*volatile unchecked)(char *, size_t, const char *, ...) = ksnprintf;
	char buf[16];
	EXPECT_EQ(t, unchecked(buf, sizeof(buf), "a%qb%"), 5);
	EXPECT_STREQ(t, buf, "a%qb%");
}

#ifdef ARENA386_HOST
#include <limits.h>
#include <stdio.h>

/* Truncation is what one case checks on purpose. */
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define SAME_AS_LIBC(t, ...)                                              \
	do {                                                              \
		char ours_[256], libc_[256];                              \
		size_t n_ = ksnprintf(ours_, sizeof(ours_), __VA_ARGS__); \
		int m_ = snprintf(libc_, sizeof(libc_), __VA_ARGS__);     \
		EXPECT_STREQ(t, ours_, libc_);                            \
		EXPECT_EQ(t, n_, m_);                                     \
	} while (0)

static void integers_match_libc(struct ktest *t)
{
	int ints[] = { 0, 1, -1, 42, -42, 1000000, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		SAME_AS_LIBC(t, "%d|%i|%u|%x|%X", ints[i], ints[i], (unsigned)ints[i],
		             (unsigned)ints[i], (unsigned)ints[i]);
		SAME_AS_LIBC(t, "[%8d][%-8d][%08d][%1d]", ints[i], ints[i], ints[i], ints[i]);
		SAME_AS_LIBC(t, "[%12x][%-12X][%012x]", (unsigned)ints[i], (unsigned)ints[i],
		             (unsigned)ints[i]);
		SAME_AS_LIBC(t, "[%*d][%-*d]", 7, ints[i], 7, ints[i]);
		SAME_AS_LIBC(t, "[%#x][%#10x][%#010X][%#-10x]", (unsigned)ints[i],
		             (unsigned)ints[i], (unsigned)ints[i], (unsigned)ints[i]);
	}
}

static void lengths_match_libc(struct ktest *t)
{
	long long lls[] = { 0, -1, LLONG_MAX, LLONG_MIN, 1ll << 40 };
	for (size_t i = 0; i < sizeof(lls) / sizeof(lls[0]); i++) {
		SAME_AS_LIBC(t, "%lld %llu %llx %llX", lls[i], (unsigned long long)lls[i],
		             (unsigned long long)lls[i], (unsigned long long)lls[i]);
		SAME_AS_LIBC(t, "%ld %lu %lx", (long)lls[i], (unsigned long)lls[i],
		             (unsigned long)lls[i]);
		SAME_AS_LIBC(t, "%zu %zx", (size_t)lls[i], (size_t)lls[i]);
		SAME_AS_LIBC(t, "%hhd %hhu %hd %hu", (signed char)lls[i], (unsigned char)lls[i],
		             (short)lls[i], (unsigned short)lls[i]);
		SAME_AS_LIBC(t, "[%24lld][%-24llx][%020llu]", lls[i], (unsigned long long)lls[i],
		             (unsigned long long)lls[i]);
	}
}

static void strings_chars_and_truncation_match_libc(struct ktest *t)
{
	SAME_AS_LIBC(t, "[%s][%10s][%-10s][%.3s][%10.2s]", "hello", "hello", "hello", "hello",
	             "hello");
	SAME_AS_LIBC(t, "[%c][%3c][%-3c]%%", 'a', 'b', 'c');
	SAME_AS_LIBC(t, "%s", "");
	char ours[6], libc[6];
	size_t n = ksnprintf(ours, sizeof(ours), "%s-%d", "abcdef", 123);
	int m = snprintf(libc, sizeof(libc), "%s-%d", "abcdef", 123);
	EXPECT_STREQ(t, ours, libc);
	EXPECT_EQ(t, n, m);
}
#endif

static const struct ktest_case format_cases[] = {
	KTEST_CASE(signed_decimal),
	KTEST_CASE(unsigned_and_hex),
	KTEST_CASE(length_modifiers),
	KTEST_CASE(width_and_padding),
	KTEST_CASE(pointers),
	KTEST_CASE(strings_and_chars),
	KTEST_CASE(truncation),
	KTEST_CASE(unknown_conversion_is_visible),
#ifdef ARENA386_HOST
	KTEST_CASE(integers_match_libc),
	KTEST_CASE(lengths_match_libc),
	KTEST_CASE(strings_chars_and_truncation_match_libc),
#endif
};
KTEST_SUITE(format, format_cases, NULL, NULL);
