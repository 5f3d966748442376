/*
 * arch/host/console.c - kernel/console.h on the host: kprintf goes to
 * stdout through the C library, and panic aborts so that sanitizers and
 * debuggers see where.
 */
#include "kernel/console.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
