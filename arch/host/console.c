/*
 * arch/host/console.c - kernel/console.h on the host: kprintf goes to
 * stdout through the C library, and panic aborts so that sanitizers and
 * debuggers see where.
 */
#include "kernel/console.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long lines;

size_t kvprintf(const char *fmt, va_list ap)
{
	char small[512];
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	char *buf = small;
	if (n >= (int)sizeof(small) && (buf = malloc((size_t)n + 1)) != NULL)
		vsnprintf(buf, (size_t)n + 1, fmt, again);
	va_end(again);
	if (n < 0 || !buf)
		return 0;
	fputs(buf, stdout);
	for (const char *c = buf; *c; c++)
		lines += *c == '\n';
	if (buf != small)
		free(buf);
	return (size_t)n;
}

unsigned long console_lines(void)
{
	return lines;
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
