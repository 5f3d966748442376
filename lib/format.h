/*
 * lib/format.h - printf-style formatting without a C library.
 *
 * Conversions: %d %i %u %x %X %p %s %c %%, length modifiers hh h l ll z,
 * flags '-' (left-justify), '0' (zero padding) and '#' (0x before hex), a field width (digits or
 * '*') and, for %s, a precision.  %p prints "0x" and every hex digit of the
 * pointer.  An unknown conversion is printed as it stands, so a bad format is
 * visible rather than silently mis-read.  Portable: also built for the host
 * tests, which compare it with the C library's snprintf.
 */
#ifndef LIB_FORMAT_H
#define LIB_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

struct format_sink {
	void (*put)(struct format_sink *sink, char c);
};

/* Formats into 'sink'; returns the number of characters produced. */
size_t kvformat(struct format_sink *sink, const char *fmt, va_list ap);

/* snprintf semantics: writes at most size-1 characters and a NUL (when size
 * > 0) and returns the length the whole output would have had. */
size_t ksnprintf(char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
size_t kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

#endif
