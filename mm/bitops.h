/*
 * mm/bitops.h - single bits of a bitmap of any length, in one instruction
 * on x86 (bts/btr take the bit number from a register and address the
 * whole bitmap).  Setting and clearing are atomic (a lock prefix: the same
 * instruction count), because the bitmaps they serve are shared by every
 * CPU: the live bitmap, where two CPUs free neighbouring objects (or the
 * same object twice: exactly one test-and-clear wins), and the frame
 * bitmap, behind the per-CPU frame caches.  Elsewhere than x86, the
 * compiler's atomic builtins.  The live bitmap's operations (the _at ones)
 * take their prefix from the world, which may take it out while a single
 * thread uses the heap (arch/host/lock_elision.h).
 */
#ifndef MM_BITOPS_H
#define MM_BITOPS_H

#include "mm/mm_env.h"
#include <stdbool.h>
#include <stdint.h>

/* The lock prefix of the bit operations indexed from an origin (the live
 * bitmap's): the world may say where each one is kept, to take them out
 * while one thread uses the heap (arch/host/env.h, for libmm_malloc.so). */
#ifndef MM_BIT_LOCK_PREFIX
#define MM_BIT_LOCK_PREFIX "lock; "
#endif

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
	__asm__ volatile("lock btsl %1, %0" : "+m"(*bits) : "r"(n) : "memory", "cc");
#else
	__atomic_fetch_or(&bits[n / 32], 1u << (n % 32), __ATOMIC_SEQ_CST);
#endif
}

static inline void mm_bit_clear(uint32_t *bits, uint32_t n)
{
#if defined(__i386__) || defined(__x86_64__)
	__asm__ volatile("lock btrl %1, %0" : "+m"(*bits) : "r"(n) : "memory", "cc");
#else
	__atomic_fetch_and(&bits[n / 32], ~(1u << (n % 32)), __ATOMIC_SEQ_CST);
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
	__asm__ volatile(MM_BIT_LOCK_PREFIX "bts %1, (%0)"
	                 :
	                 : "r"(origin), "r"(n)
	                 : "memory", "cc");
#else
	__atomic_fetch_or((uint32_t *)(origin + n / 32 * 4), 1u << (n % 32), __ATOMIC_SEQ_CST);
#endif
}

/* Clears bit n of a bitmap indexed from 'origin' (as mm_bit_set_at) and
 * returns whether it was set. */
static inline bool mm_bit_test_clear_at(uintptr_t origin, uintptr_t n)
{
#if defined(__i386__) || defined(__x86_64__)
	bool was;
	__asm__ volatile(MM_BIT_LOCK_PREFIX "btr %2, (%1)"
	                 : "=@ccc"(was)
	                 : "r"(origin), "r"(n)
	                 : "memory");
	return was;
#else
	uint32_t bit = 1u << (n % 32);
	return __atomic_fetch_and((uint32_t *)(origin + n / 32 * 4), ~bit, __ATOMIC_SEQ_CST) & bit;
#endif
}

/* Clears bit n and returns whether it was set. */
static inline bool mm_bit_test_clear(uint32_t *bits, uint32_t n)
{
#if defined(__i386__) || defined(__x86_64__)
	bool was;
	__asm__ volatile("lock btrl %2, %1" : "=@ccc"(was), "+m"(*bits) : "r"(n) : "memory");
	return was;
#else
	uint32_t bit = 1u << (n % 32);
	return __atomic_fetch_and(&bits[n / 32], ~bit, __ATOMIC_SEQ_CST) & bit;
#endif
}

#endif
