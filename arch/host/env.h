/*
 * arch/host/env.h - the host (x86_64 Linux) side of mm/mm_env.h.
 *
 * The host build mirrors the i386 layout inside a 4 GiB window of its own
 * address space (arch/host/vm_host.c), so every layout constant below is an
 * offset from the window's base, as on target they are offsets from 0.
 */
#ifndef ARCH_HOST_ENV_H
#define ARCH_HOST_ENV_H

#include <stdint.h>
#include <string.h>

typedef uint32_t paddr_t; /* frames are only numbers here */

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1 << PAGE_SHIFT)
#define PDE_SHIFT  22
#define PDE_SPAN   (1 << PDE_SHIFT)
#define PDE_COUNT  1024
#define PTE_COUNT  1024

#define KERNEL_SPACE_END   0x00800000
#define ARENA_DEFAULT_BASE 0x10000000
#define MMIO_WINDOW_BASE   0xFF800000
#define MMIO_WINDOW_END    0xFFC00000
#define PT_WINDOW_BASE     0xFFC00000

/* Single-threaded host tests: nothing to mask. */
typedef int mm_irq_flags_t;
#define mm_irq_save()         0
#define mm_irq_restore(flags) ((void)(flags))

/* Power-of-two alignment of addresses and sizes. */
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define ALIGN_UP(x, a)   ALIGN_DOWN((x) + ((__typeof__(x))(a)-1), a)
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define PAGE_ALIGN_UP(x) ALIGN_UP(x, PAGE_SIZE)

#endif
