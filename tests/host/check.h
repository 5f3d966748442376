/*
 * tests/host/check.h - a minimal harness for the host unit tests (x86_64,
 * built with ASan and UBSan).  Each test is a function registered in a
 * table; CHECK* print file:line and both values on failure.  main() ends
 * with "N passed, N failed", counting tests.
 */
#ifndef TESTS_HOST_CHECK_H
#define TESTS_HOST_CHECK_H

#include <stdio.h>
#include <string.h>

extern int check_failures; /* failures in the running test */

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			check_failures++;                                                 \
		}                                                                         \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		if (check_a_ != check_b_) {                                                        \
			printf("  %s:%d: expected %s == %s: %lld (0x%llx) vs %lld (0x%llx)\n",     \
			       __FILE__, __LINE__, #a, #b, check_a_, (unsigned long long)check_a_, \
			       check_b_, (unsigned long long)check_b_);                            \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_STREQ(a, b)                                                                        \
	do {                                                                                     \
		const char *check_a_ = (a), *check_b_ = (b);                                     \
		if (strcmp(check_a_, check_b_) != 0) {                                           \
			printf("  %s:%d: expected %s equal to %s: \"%s\" vs \"%s\"\n", __FILE__, \
			       __LINE__, #a, #b, check_a_, check_b_);                            \
			check_failures++;                                                        \
		}                                                                                \
	} while (0)

struct check_test {
	const char *name;
	void (*fn)(void);
};

#define CHECK_TEST(fn)  \
	{               \
#fn, fn \
	}

/* Runs every test, prints one line per test and the summary; returns the
 * process exit status. */
int check_run(const char *suite, const struct check_test *tests, size_t count);

#define CHECK_MAIN(suite, table)                                                    \
	int main(void)                                                              \
	{                                                                           \
		return check_run(suite, table, sizeof(table) / sizeof((table)[0])); \
	}

#endif
