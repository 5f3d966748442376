/* lib/string.c - memcpy and friends for the freestanding kernel. */
#include "lib/string.h"
#include <stdint.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	/* Words, then the odd bytes: a fourth of the iterations of a byte copy. */
	void *ret = dst;
	size_t words = n / 4, bytes = n % 4;
	__asm__ volatile("rep movsl" : "+D"(dst), "+S"(src), "+c"(words) : : "memory");
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(bytes) : : "memory");
	return ret;
}

void *memmove(void *dst, const void *src, size_t n)
{
	if ((uintptr_t)dst - (uintptr_t)src >= n)
		return memcpy(dst, src, n); /* no harmful overlap: copy forward */
	/* dst lies inside [src, src + n): copy backward. */
	unsigned char *d = (unsigned char *)dst + n;
	const unsigned char *s = (const unsigned char *)src + n;
	while (n--)
		*--d = *--s;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *ret = dst;
	if (((uintptr_t)dst | n) % 4 == 0) {
		uint32_t word = (uint8_t)c * 0x01010101u;
		size_t words = n / 4;
		__asm__ volatile("rep stosl" : "+D"(dst), "+c"(words) : "a"(word) : "memory");
	} else {
		__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
	}
	return ret;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}
