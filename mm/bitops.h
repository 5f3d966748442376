/*
 * mm/bitops.h - single bits of a bitmap of any length, in one instruction
 * on x86 (bts/btr take the bit number from a register and address the
 * whole bitmap), in plain C elsewhere.  Not atomic: callers serialize.
 */
#ifndef MM_BITOPS_H
#define MM_BITOPS_H

#include <stdbool.h>
#include <stdint.h>

/* Set bits of a word, in a dozen instructions whatever the CPU (no libgcc
 * call, no popcnt). */
static inline uint32_t mm_bit_count(uint32_t x)
{
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0fu;
	return (x * 0x01010101u) >> 24;
}

static inline bool mm_bit_test(const uint32_t *bits, uint32_t n)
{
	return bits[n / 32] >> (n % 32) & 1;
}

static inline void mm_bit_set(uint32_t *bits, uint32_t n)
{
#if defined(__i386__) || defined(__x86_64__)
	__asm__ volatile("btsl %1, %0" : "+m"(*bits) : "r"(n) : "memory", "cc");
#else
	bits[n / 32] |= 1u << (n % 32);
#endif
}

static inline void mm_bit_clear(uint32_t *bits, uint32_t n)
{
#if defined(__i386__) || defined(__x86_64__)
	__asm__ volatile("btrl %1, %0" : "+m"(*bits) : "r"(n) : "memory", "cc");
#else
	bits[n / 32] &= ~(1u << (n % 32));
#endif
}

/* Sets bit n of a bitmap indexed from an origin other than its start: bit
 * n lives in the 32-bit word at byte origin + n / 32 * 4.  For bitmaps
 * indexed by an absolute quantity (an address shifted right), with the
 * origin placed so that the indexes in use fall inside the bitmap: the
 * caller saves subtracting the bitmap's first index. */
static inline void mm_bit_set_at(uintptr_t origin, uintptr_t n)
{
#if defined(__i386__) || defined(__x86_64__)
	__asm__ volatile("bts %1, (%0)" : : "r"(origin), "r"(n) : "memory", "cc");
#else
	*(uint32_t *)(origin + n / 32 * 4) |= 1u << (n % 32);
#endif
}

/* Clears bit n and returns whether it was set. */
static inline bool mm_bit_test_clear(uint32_t *bits, uint32_t n)
{
#if defined(__i386__) || defined(__x86_64__)
	bool was;
	__asm__ volatile("btrl %2, %1" : "=@ccc"(was), "+m"(*bits) : "r"(n) : "memory");
	return was;
#else
	bool was = mm_bit_test(bits, n);
	bits[n / 32] &= ~(1u << (n % 32));
	return was;
#endif
}

#endif
