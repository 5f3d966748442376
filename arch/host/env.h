/*
 * arch/host/env.h - the host (x86_64 Linux) side of mm/mm_env.h.
 *
 * The host build mirrors the i386 layout inside a 4 GiB window of its own
 * address space (arch/host/vm_host.c): the layout constants are i386's own
 * (arch/i386/layout.h), read as offsets from the window's base, as on
 * target they are offsets from 0.
 */
#ifndef ARCH_HOST_ENV_H
#define ARCH_HOST_ENV_H

#include "arch/i386/layout.h"
#include <stdint.h>

typedef uint32_t paddr_t; /* frames are only numbers here */

/* Single-threaded host tests: nothing to mask. */
typedef int mm_irq_flags_t;
#define mm_irq_save()         0
#define mm_irq_restore(flags) ((void)(flags))

#endif
