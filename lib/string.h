/*
 * lib/string.h - the C library's memory and string functions that a
 * freestanding build must still provide (GCC and Clang emit calls to
 * memcpy, memmove, memset and memcmp for structure copies and clears).
 * On the host build the C library provides them instead.
 */
#ifndef LIB_STRING_H
#define LIB_STRING_H

#include <stddef.h>

#ifdef ARENA386_HOST
#include <string.h> /* the C library's, on the host */
#else

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif

#endif
