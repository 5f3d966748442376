/*
 * tests/host/format_test.c - the kernel's formatter against the C library's
 * snprintf, over every conversion, flag, width and length it supports.
 */
#include "lib/format.h"
#include "tests/host/check.h"
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

/* Truncation is what one test checks on purpose. */
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define SAME(...)                                                         \
	do {                                                              \
		char ours_[256], libc_[256];                              \
		size_t n_ = ksnprintf(ours_, sizeof(ours_), __VA_ARGS__); \
		int m_ = snprintf(libc_, sizeof(libc_), __VA_ARGS__);     \
		CHECK_STREQ(ours_, libc_);                                \
		CHECK_EQ(n_, m_);                                         \
	} while (0)

static void integers_match_libc(void)
{
	int ints[] = { 0, 1, -1, 42, -42, 1000000, INT_MAX, INT_MIN };
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		SAME("%d|%i|%u|%x|%X", ints[i], ints[i], (unsigned)ints[i], (unsigned)ints[i],
		     (unsigned)ints[i]);
		SAME("[%8d][%-8d][%08d][%1d]", ints[i], ints[i], ints[i], ints[i]);
		SAME("[%12x][%-12X][%012x]", (unsigned)ints[i], (unsigned)ints[i],
		     (unsigned)ints[i]);
		SAME("[%*d][%-*d]", 7, ints[i], 7, ints[i]);
		SAME("[%#x][%#10x][%#010X][%#-10x]", (unsigned)ints[i], (unsigned)ints[i],
		     (unsigned)ints[i], (unsigned)ints[i]);
	}
}

static void lengths_match_libc(void)
{
	long long lls[] = { 0, -1, LLONG_MAX, LLONG_MIN, 1ll << 40 };
	for (size_t i = 0; i < sizeof(lls) / sizeof(lls[0]); i++) {
		SAME("%lld %llu %llx %llX", lls[i], (unsigned long long)lls[i],
		     (unsigned long long)lls[i], (unsigned long long)lls[i]);
		SAME("%ld %lu %lx", (long)lls[i], (unsigned long)lls[i], (unsigned long)lls[i]);
		SAME("%zu %zx", (size_t)lls[i], (size_t)lls[i]);
		SAME("%hhd %hhu %hd %hu", (signed char)lls[i], (unsigned char)lls[i], (short)lls[i],
		     (unsigned short)lls[i]);
		SAME("[%24lld][%-24llx][%020llu]", lls[i], (unsigned long long)lls[i],
		     (unsigned long long)lls[i]);
	}
}

static void strings_and_chars_match_libc(void)
{
	SAME("[%s][%10s][%-10s][%.3s][%10.2s]", "hello", "hello", "hello", "hello", "hello");
	SAME("[%c][%3c][%-3c]%%", 'a', 'b', 'c');
	SAME("%s", "");
}

static void pointer_is_full_width_hex(void)
{
	char buf[64];
	ksnprintf(buf, sizeof(buf), "%p", (void *)0x1234);
	CHECK_STREQ(buf, sizeof(void *) == 8 ? "0x0000000000001234" : "0x00001234");
}

static void truncation_matches_libc(void)
{
	char ours[6], libc[6];
	size_t n = ksnprintf(ours, sizeof(ours), "%s-%d", "abcdef", 123);
	int m = snprintf(libc, sizeof(libc), "%s-%d", "abcdef", 123);
	CHECK_STREQ(ours, libc);
	CHECK_EQ(n, m);
}

static const struct check_test tests[] = {
	CHECK_TEST(integers_match_libc),          CHECK_TEST(lengths_match_libc),
	CHECK_TEST(strings_and_chars_match_libc), CHECK_TEST(pointer_is_full_width_hex),
	CHECK_TEST(truncation_matches_libc),
};
CHECK_MAIN("format", tests)
