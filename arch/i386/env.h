/* arch/i386/env.h - the i386 kernel's side of mm/mm_env.h. */
#ifndef ARCH_I386_ENV_H
#define ARCH_I386_ENV_H

#include "arch/i386/cpu.h"
#include "arch/i386/cpuid.h"
#include "arch/i386/ipi.h"
#include "arch/i386/layout.h"
#include "arch/i386/percpu.h"
#include "arch/i386/restart.h"
#include "arch/i386/spinlock.h"
#include <stddef.h>
#include <stdint.h>

/* Non-PAE i386: physical addresses are 32 bits wide. */
typedef uint32_t paddr_t;

typedef uint32_t mm_irq_flags_t;
#define mm_irq_save()         irq_save()
#define mm_irq_restore(flags) irq_restore(flags)
#define mm_irqs_off()         (!(read_eflags() & EFLAGS_IF))

/* Ticket spinlocks that mask interrupts (arch/i386/spinlock.h), each
 * acquisition counted in this CPU's mm_locks (one instruction). */
typedef spinlock_t mm_lock_t;
#define MM_LOCK_INIT SPINLOCK_INIT

static inline void mm_count_lock(void)
{
	__asm__ volatile("incl %%fs:%c0" : : "i"(offsetof(struct percpu, mm_locks)) : "cc");
}

static inline mm_irq_flags_t mm_lock(mm_lock_t *lock)
{
	mm_count_lock();
	return spin_lock_irqsave(lock);
}

static inline void mm_lock_irqs_off(mm_lock_t *lock)
{
	mm_count_lock();
	spin_lock(lock);
}

#define mm_unlock(lock, flags)   spin_unlock_irqrestore(lock, flags)
#define mm_unlock_irqs_off(lock) spin_unlock(lock)

/* mm/'s per-CPU data lies in each struct percpu, reached through %fs: an
 * access through a pointer in MM_CPU_LOCAL space costs no instruction
 * beyond the access itself. */
#define MM_MAX_CPUS         MAX_CPUS
#define MM_CPU_AREA_BYTES   PERCPU_MM_BYTES
#define MM_CPU_LOCAL        __seg_fs
#define MM_CPU_LOCAL_BASE() ((uintptr_t)0) /* struct percpu begins with mm[] */

static inline unsigned mm_cpu_index(void)
{
	unsigned index;
	__asm__("movl %%fs:%c1, %0" : "=r"(index) : "i"(offsetof(struct percpu, index)));
	return index;
}

static inline void *mm_cpu_area(unsigned cpu)
{
	return percpu_areas[cpu].mm;
}

/* Runs fn(arg) on every other CPU online and waits; fn takes no lock. */
static inline unsigned mm_call_other_cpus(void (*fn)(void *arg), void *arg)
{
	return ipi_call_others(fn, arg);
}

#define mm_stop_other_cpus()   ipi_stop_others()
#define mm_resume_other_cpus() ipi_resume_others()

/*
 * The fast paths' two steps on a CPU stack (mm/mm_env.h), as restartable
 * sequences (arch/i386/restart.h): no interrupt masking; an interrupt
 * inside one sends it back to its start.  The stack's header lies at
 * %fs:'word'; the object travels in %eax, where the rewind finds it; the
 * live bitmap is reached through %gs, whose base is its origin
 * (mm_set_bit_origin), so that the bit needs no base register.
 */
static inline void mm_set_bit_origin(uintptr_t origin)
{
	gdt_set_gs_base(origin);
}

/* The time-stamp counter since reset, spread over the word (under
 * -icount the same every run, which keeps the tests repeatable).  A CPU
 * without one (an i486) gets a fixed word: links are still checked, but
 * the secret is one that can be known. */
static inline uintptr_t mm_entropy(void)
{
	uint64_t tsc = cpu_has(CPUID_TSC) ? rdtsc() : 0x6a09e667u;
	return (uintptr_t)((tsc ^ (tsc >> 32)) * 0x9e3779b1u);
}

#define MM_CPU_STACK_TAKE(word, shift, obj, empty)                                             \
	do {                                                                                   \
		uintptr_t scratch_;                                                            \
		__asm__ volatile goto(                                                         \
		        "1:\tmovl %%fs:(%[w]), %[t]\n\t"                                       \
		        "cmpl %%fs:%c[bottom](%[w]), %[t]\n\t"                                 \
		        "je %l[" #empty "]\n\t"                                                \
		        "movl -%c[ptr](%[t]), %[o]\n\t"                                        \
		        "movl %[o], %[t]\n\t"                                                  \
		        "shrl $%c[s], %[t]\n\t"                                                \
		        "lock btsl %[t], %%gs:0\n"                                             \
		        "2:\tsubl $%c[ptr], %%fs:(%[w])\n"                                     \
		        "3:\n\t" RESTART_ENTRY("1b", "2b", "3b", RESTART_STRING(RESTART_TAKE), \
		                               "%c[s]")                                        \
		        : [t] "=&r"(scratch_), [o] "=&a"(obj)                                  \
		        : [w] "r"(word), [bottom] "i"(offsetof(struct mm_cpu_stack, bottom)),  \
		          [ptr] "i"(sizeof(void *)), [s] "i"(shift)                            \
		        : "cc", "memory"                                                       \
		        : empty);                                                              \
	} while (0)

#define MM_CPU_STACK_GIVE(word, obj, shift, full, was_clear)                               \
	do {                                                                               \
		uintptr_t scratch_;                                                        \
		__asm__ volatile goto("1:\tmovl %%fs:(%[w]), %[t]\n\t"                     \
		                      "cmpl %%fs:%c[end](%[w]), %[t]\n\t"                  \
		                      "je %l[" #full "]\n\t"                               \
		                      "movl %[o], (%[t])\n\t"                              \
		                      "movl %[o], %[t]\n\t"                                \
		                      "shrl $%c[s], %[t]\n\t"                              \
		                      "lock btrl %[t], %%gs:0\n"                           \
		                      "2:\tjnc %l[" #was_clear "]\n\t"                     \
		                      "addl $%c[ptr], %%fs:(%[w])\n"                       \
		                      "3:\n\t" RESTART_ENTRY("1b", "2b", "3b",             \
		                                             RESTART_STRING(RESTART_GIVE), \
		                                             "%c[s]")                      \
		                      : [t] "=&r"(scratch_)                                \
		                      : [w] "r"(word), [o] "a"(obj),                       \
		                        [end] "i"(offsetof(struct mm_cpu_stack, end)),     \
		                        [ptr] "i"(sizeof(void *)), [s] "i"(shift)          \
		                      : "cc", "memory"                                     \
		                      : full, was_clear);                                  \
	} while (0)

/* CPUs start once and never leave: each calls kmalloc_cpu_init itself
 * (kernel/smp.c), so the heap's hooks are not needed. */
#define mm_set_cpu_hooks(init, exit) ((void)(init), (void)(exit))

/* The kernel sets its heap up at boot: a call before that is a bug. */
#define mm_heap_first_use(call) \
	(panic("%s: the heap is used before kmalloc_init set it up", (call)), false)
#define mm_note_no_memory() ((void)0)

/* A word other CPUs change under a lock, read without it where any value
 * it held will do (and its writes, whole) (the arena's end, a class's first
 * span): an aligned word read is whole on x86, and a plain read lets the
 * compiler fold it into the instruction that uses it. */
#define mm_read_shared(p)     (*(p))
#define mm_write_shared(p, v) (*(p) = (v))

#endif
