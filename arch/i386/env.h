/* arch/i386/env.h - the i386 kernel's side of mm/mm_env.h. */
#ifndef ARCH_I386_ENV_H
#define ARCH_I386_ENV_H

#include "arch/i386/cpu.h"
#include "arch/i386/layout.h"
#include "kernel/string.h"
#include <stdint.h>

/* Non-PAE i386: physical addresses are 32 bits wide. */
typedef uint32_t paddr_t;

typedef uint32_t mm_irq_flags_t;
#define mm_irq_save()         irq_save()
#define mm_irq_restore(flags) irq_restore(flags)

/* Power-of-two alignment of addresses and sizes. */
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define ALIGN_UP(x, a)   ALIGN_DOWN((x) + ((__typeof__(x))(a)-1), a)
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define PAGE_ALIGN_UP(x) ALIGN_UP(x, PAGE_SIZE)

#endif
