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
 *   - mm_irq_save() / mm_irq_restore(), around the per-CPU slow paths, and
 *     mm_irqs_off(), true when interrupts are masked (for checks);
 *   - the fast paths' two steps on a CPU stack (struct mm_cpu_stack, below,
 *     at 'word' in MM_CPU_LOCAL space), each atomic with respect to this
 *     CPU's interrupt handlers, which may use the same stack, without
 *     masking interrupts (arch/i386: restartable sequences), and to the
 *     other CPUs' bit operations:
 *       MM_CPU_STACK_TAKE(word, shift, obj, empty): pops the top into obj
 *         and sets bit obj >> shift of the live bitmap; goto empty, with
 *         nothing changed, when the stack is empty;
 *       MM_CPU_STACK_GIVE(word, obj, shift, full, was_clear): clears bit
 *         obj >> shift and pushes obj; goto full, with nothing changed,
 *         when the stack is full (a zero word is always full), or goto
 *         was_clear, with the stack unchanged, when the bit was clear;
 *     and mm_set_bit_origin(origin): where bit 0 of that bitmap lies
 *     (set once, before the first allocation and before other CPUs run);
 *   - mm_lock_t, MM_LOCK_INIT, mm_lock(&l) (returns the interrupt flags,
 *     interrupts off) and mm_unlock(&l, flags): a spinlock that masks
 *     interrupts (a ticket lock on target; on the host, where threads play
 *     the CPUs, a test-and-set lock that yields); mm_lock_irqs_off / mm_unlock_irqs_off take and
 *     drop it where interrupts are off already.  Its wait must answer
 *     other CPUs' calls (below),
 *     or a CPU that holds one lock and calls the others could wait forever
 *     for one spinning on that lock;
 *   - the per-CPU area: MM_MAX_CPUS, MM_CPU_AREA_BYTES reserved for mm/ in
 *     each CPU's data, mm_cpu_index() (0 .. MM_MAX_CPUS - 1) and
 *     mm_cpu_area(i) (CPU i's area as a plain pointer); MM_CPU_LOCAL, an
 *     address-space qualifier under which MM_CPU_LOCAL_BASE() + offset
 *     reaches the running CPU's area at that offset (%fs-relative on
 *     target, so that the fast paths pay nothing for being per CPU, with a
 *     base of 0; empty on the host, where the base is the running thread's
 *     area, from a thread-local word); the offsets are what the arena's
 *     page words hold, the same on every CPU;
 *   - mm_call_other_cpus(fn, arg): fn(arg) on every other CPU online,
 *     waiting for all (0 on the host); fn runs wherever that CPU stands, so
 *     it takes no lock;
 *   - mm_stop_other_cpus() / mm_resume_other_cpus(): hold every other CPU
 *     still (arch/i386/ipi.h), for the checker;
 *   - mm_read_shared(p): *p, a word other CPUs change under a lock, read
 *     without it where any value it has held will do, and
 *     mm_write_shared(p, v), the lock holder's writes of it (plain on
 *     target; on the host, relaxed atomic writes, and reads that are
 *     relaxed atomics under ThreadSanitizer and plain otherwise);
 *   - mm_set_cpu_hooks(init, exit): kmalloc_init hands the world the
 *     calls a CPU makes when it starts using the heap and when it leaves,
 *     for worlds whose CPUs come and go (host threads); the kernel's CPUs
 *     call kmalloc_cpu_init themselves, and its hook setter does nothing;
 *   - mm_heap_first_use(call): called by a slow path of 'call' that finds
 *     the heap not set up yet.  A world that sets its heap up on demand
 *     (the host's malloc shim) calls kmalloc_init, or waits for the thread
 *     doing so, and returns true once the heap is ready, or false when it
 *     cannot be set up (the call then fails: NULL); a world that sets it up
 *     explicitly (the kernel, at boot) panics, naming the call.  A world
 *     of the first kind defines MM_SET_UP_ON_DEMAND;
 *   - mm_note_no_memory(): an allocation is about to return NULL (the
 *     host sets errno to ENOMEM, as malloc does; nothing on target);
 *   - optionally MM_SECOND_NAMES(kmalloc, kfree): declarations that give
 *     the two calls second names (the host's malloc shim: malloc, free);
 *   - optionally MM_SPARSE, where mm/'s large, sparsely touched arrays go
 *     (below);
 *   - mm_entropy(): a word that differs from boot to boot as far as the
 *     machine allows, for the secret that free-list links are stored
 *     under (kmalloc): not a cryptographic source, and it need not be one.
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

/* Marks mm/'s large zero-initialized arrays that are touched sparsely or
 * rarely (the vm map's page bitmap, the CPU lists a drain takes), so that a
 * world may keep them apart from the small statics every call uses: the
 * host's malloc shim links them after .bss, so that a process starting up
 * faults in fewer pages of the library.  Nothing by default. */
#ifndef MM_SPARSE
#define MM_SPARSE
#endif

/* A CPU stack of free objects: the slots [bottom, top) hold them, up to
 * end.  All zero is an empty stack that is also full. */
struct mm_cpu_stack {
	void **top, **bottom, **end;
};

/* A precondition: panics on target, aborts on the host, naming the values. */
#define MM_ASSERT(cond, ...)                                               \
	do {                                                               \
		if (__builtin_expect(!(cond), 0))                          \
			panic("assertion " #cond " failed: " __VA_ARGS__); \
	} while (0)

#endif
