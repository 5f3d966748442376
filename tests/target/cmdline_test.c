/* tests/target/cmdline_test.c - suite "cmdline": key=value parsing. */
#include "kernel/cmdline.h"
#include "tests/ktest.h"

static struct {
	char name[32];
	uint64_t size;
	unsigned name_calls;
} seen;

static bool set_name(const char *v, size_t len)
{
	if (len >= sizeof(seen.name))
		return false;
	__builtin_memcpy(seen.name, v, len);
	seen.name[len] = '\0';
	seen.name_calls++;
	return true;
}

static bool set_size(const char *v, size_t len)
{
	return cmdline_parse_size(v, len, &seen.size);
}

static const struct cmdline_option opts[] = { { "name", set_name }, { "size", set_size } };

static unsigned parse(const char *line)
{
	seen = (typeof(seen)){ .size = 7 };
	return cmdline_parse(line, opts, 2);
}

static void known_keys_are_applied(struct ktest *t)
{
	EXPECT_EQ(t, parse("/boot/kernel.elf name=abc size=16"), 0);
	EXPECT_STREQ(t, seen.name, "abc");
	EXPECT_EQ(t, seen.size, 16);
}

static void unknown_key_is_reported_and_ignored(struct ktest *t)
{
	EXPECT_EQ(t, parse("kernel bogus=1 name=x"), 1);
	EXPECT_STREQ(t, seen.name, "x");
}

static void bad_value_keeps_default(struct ktest *t)
{
	EXPECT_EQ(t, parse("kernel size=12Q"), 1);
	EXPECT_EQ(t, seen.size, 7);
	EXPECT_EQ(t, parse("kernel size="), 1);
	EXPECT_EQ(t, seen.size, 7);
}

static void bare_words_after_the_first_are_reported(struct ktest *t)
{
	EXPECT_EQ(t, parse("kernel stray =x name=y"), 2);
	EXPECT_STREQ(t, seen.name, "y");
}

static void empty_and_spaces(struct ktest *t)
{
	EXPECT_EQ(t, parse(""), 0);
	EXPECT_EQ(t, parse("   \t  "), 0);
	EXPECT_EQ(t, parse("  name=a   name=b  "), 0);
	EXPECT_STREQ(t, seen.name, "b");
	EXPECT_EQ(t, seen.name_calls, 2);
}

static void size_suffixes(struct ktest *t)
{
	uint64_t v = 0;
	EXPECT_TRUE(t, cmdline_parse_size("4K", 2, &v));
	EXPECT_EQ(t, v, 4096);
	EXPECT_TRUE(t, cmdline_parse_size("256M", 4, &v));
	EXPECT_EQ(t, v, 256ull << 20);
	EXPECT_TRUE(t, cmdline_parse_size("3584M", 5, &v));
	EXPECT_EQ(t, v, 3584ull << 20);
	EXPECT_TRUE(t, cmdline_parse_size("2G", 2, &v));
	EXPECT_EQ(t, v, 2ull << 30);
	EXPECT_TRUE(t, cmdline_parse_size("0x400000", 8, &v));
	EXPECT_EQ(t, v, 0x400000);
	EXPECT_FALSE(t, cmdline_parse_size("G", 1, &v));
	EXPECT_FALSE(t, cmdline_parse_size("99999999999999999999", 20, &v));
	EXPECT_FALSE(t, cmdline_parse_size("17179869184G", 12, &v));
	EXPECT_FALSE(t, cmdline_parse_size("0x", 2, &v));
}

static const struct ktest_case cmdline_cases[] = {
	KTEST_CASE(known_keys_are_applied),  KTEST_CASE(unknown_key_is_reported_and_ignored),
	KTEST_CASE(bad_value_keeps_default), KTEST_CASE(bare_words_after_the_first_are_reported),
	KTEST_CASE(empty_and_spaces),        KTEST_CASE(size_suffixes),
};
KTEST_SUITE(cmdline, cmdline_cases, NULL, NULL);
