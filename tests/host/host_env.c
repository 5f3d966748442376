/*
 * tests/host/host_env.c - the host unit tests' harness (check.h).
 */
#include "tests/host/check.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int check_failures;

int check_run(const char *suite, const struct check_test *tests, size_t count)
{
	unsigned passed = 0, failed = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("suite %s: %zu tests\n", suite, count);
	for (size_t i = 0; i < count; i++) {
		check_failures = 0;
		tests[i].fn();
		printf("%s %zu %s\n", check_failures ? "not ok" : "ok", i + 1, tests[i].name);
		if (check_failures)
			failed++;
		else
			passed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
