/*
 * tests/host/host_env.c - what the kernel's portable code expects from its
 * surroundings, provided on the host: the console (kprintf to stdout), panic
 * (abort, so that sanitizers and debuggers see it), and the test harness.
 */
#include "kernel/console.h"
#include "tests/host/check.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int check_failures;

size_t kvprintf(const char *fmt, va_list ap)
{
	int n = vprintf(fmt, ap);
	return n < 0 ? 0 : (size_t)n;
}

size_t kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
	fflush(stdout);
	fprintf(stderr, "KERNEL PANIC at %s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

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
