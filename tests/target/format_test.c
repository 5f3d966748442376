/* tests/target/format_test.c - suite "kprintf": the formatting engine. */
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
	EXPECT_FORMAT(t, "0x00000000 0xdeadbeef", "%p %p", (void *)0, (void *)0xdeadbeef);
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

static const struct ktest_case format_cases[] = {
	KTEST_CASE(signed_decimal),   KTEST_CASE(unsigned_and_hex),
	KTEST_CASE(length_modifiers), KTEST_CASE(width_and_padding),
	KTEST_CASE(pointers),         KTEST_CASE(strings_and_chars),
	KTEST_CASE(truncation),       KTEST_CASE(unknown_conversion_is_visible),
};
KTEST_SUITE(kprintf, format_cases, NULL, NULL);
