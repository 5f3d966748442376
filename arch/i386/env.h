/* arch/i386/env.h - the i386 kernel's side of mm/mm_env.h. */
#ifndef ARCH_I386_ENV_H
#define ARCH_I386_ENV_H

#include "arch/i386/cpu.h"
#include "arch/i386/layout.h"
#include <stdint.h>

/* Non-PAE i386: physical addresses are 32 bits wide. */
typedef uint32_t paddr_t;

typedef uint32_t mm_irq_flags_t;
#define mm_irq_save()         irq_save()
#define mm_irq_restore(flags) irq_restore(flags)

#endif
