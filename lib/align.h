/*
 * lib/align.h - power-of-two alignment of addresses and sizes, for any
 * unsigned integer type ('a' must be a power of two).
 */
#ifndef LIB_ALIGN_H
#define LIB_ALIGN_H

#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define ALIGN_UP(x, a)   ALIGN_DOWN((x) + ((__typeof__(x))(a)-1), a)
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)

#endif
