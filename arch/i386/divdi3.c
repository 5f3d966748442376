/*
 * arch/i386/divdi3.c - 64-bit division for the kernel.
 *
 * i386 has no 64-by-64 divide, so the compiler turns a '/' or '%' on 64-bit
 * operands into calls to these helpers.  libgcc has them, but built for the
 * stack convention, and the kernel is built with -mregparm=3 (linkage.h),
 * which the compiler applies to these calls too; so the kernel carries its
 * own, and does not link libgcc.  Only slow paths divide 64-bit numbers
 * (statistics, benchmark reports), so plain shift-and-subtract will do.
 */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t num, uint64_t den, uint64_t *rem);
uint64_t __udivdi3(uint64_t num, uint64_t den);
uint64_t __umoddi3(uint64_t num, uint64_t den);
int64_t __divdi3(int64_t num, int64_t den);
int64_t __moddi3(int64_t num, int64_t den);

uint64_t __udivmoddi4(uint64_t num, uint64_t den, uint64_t *rem)
{
	uint64_t quotient = 0;
	if (den == 0) {
		/* As the divide instruction would: a divide error. */
		__asm__ volatile("xorl %%eax, %%eax\n\tcltd\n\tdivl %%eax" : : : "eax", "edx");
		__builtin_unreachable();
	}
	if (den <= num) {
		int shift = __builtin_clzll(den) - __builtin_clzll(num);
		for (uint64_t d = den << shift; shift >= 0; shift--, d >>= 1) {
			quotient <<= 1;
			if (num >= d) {
				num -= d;
				quotient |= 1;
			}
		}
	}
	if (rem)
		*rem = num;
	return quotient;
}

uint64_t __udivdi3(uint64_t num, uint64_t den)
{
	return __udivmoddi4(num, den, 0);
}

uint64_t __umoddi3(uint64_t num, uint64_t den)
{
	uint64_t rem;
	__udivmoddi4(num, den, &rem);
	return rem;
}

/* Signed forms: C truncates toward zero, and the remainder takes the
 * dividend's sign. */
static uint64_t magnitude(int64_t x)
{
	return x < 0 ? -(uint64_t)x : (uint64_t)x;
}

int64_t __divdi3(int64_t num, int64_t den)
{
	uint64_t q = __udivmoddi4(magnitude(num), magnitude(den), 0);
	return (int64_t)((num < 0) != (den < 0) ? -q : q);
}

int64_t __moddi3(int64_t num, int64_t den)
{
	uint64_t rem;
	__udivmoddi4(magnitude(num), magnitude(den), &rem);
	return (int64_t)(num < 0 ? -rem : rem);
}
