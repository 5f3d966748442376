/*
 * mm/mm_env.h - everything mm/ needs from its surroundings, in one place.
 *
 * mm/ is portable C: the kernel builds it for i386 over its own page tables,
 * and the host build (ARENA386_HOST) builds the same sources for x86_64 Linux
 * over mmap, so that they run under sanitizers and fuzzers.  This header is
 * mm/'s only door out: no other file in mm/ includes anything outside mm/.
 *
 * Each world provides, in its env.h (arch/i386/env.h, arch/host/env.h):
 *   - paddr_t, a physical address (never a bare integer type);
 *   - PAGE_SIZE, PAGE_SHIFT, SLOT_SIZE, SLOT_SHIFT, PDE_COUNT and the layout of
 *     the address space as offsets from its base (the KERNEL_SPACE_END,
 *     ARENA_DEFAULT_BASE, MMIO_WINDOW_*, PT_WINDOW_* of arch/i386/layout.h);
 *   - mm_irq_save() / mm_irq_restore(), around the allocator's short
 *     critical sections;
 * and, linked in, the two machine operations of mm/vm_backend.h.
 *
 * From lib/, the freestanding library below every layer: ALIGN_UP,
 * ALIGN_DOWN, IS_ALIGNED (lib/align.h); memcpy, memset and their kin
 * (lib/string.h); ksnprintf (lib/format.h); kprintf and panic
 * (lib/console.h: the world registers where output goes and what a panic
 * does); kprintf_ratelimited (lib/ratelimit.h), for diagnostics that a
 * caller's loop may repeat.
 *
 * To lift mm/ into another kernel, take lib/ along (or map its few names
 * onto yours), write one env.h and the backend of mm/vm_backend.h.
 */
#ifndef MM_MM_ENV_H
#define MM_MM_ENV_H

#ifdef ARENA386_HOST
#include "arch/host/env.h"
#else
#include "arch/i386/env.h"
#endif

#include "lib/align.h"
#include "lib/console.h"
#include "lib/format.h"
#include "lib/ratelimit.h"
#include "lib/string.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_ALIGN_UP(x) ALIGN_UP(x, PAGE_SIZE)

/* A precondition: panics on target, aborts on the host, naming the values. */
#define MM_ASSERT(cond, ...)                                               \
	do {                                                               \
		if (__builtin_expect(!(cond), 0))                          \
			panic("assertion " #cond " failed: " __VA_ARGS__); \
	} while (0)

#endif
