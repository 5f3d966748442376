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
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint32_t paddr_t; /* frames are only numbers here */

/*
 * Threads play the CPUs.  There are no interrupts: the "interrupt" masking
 * is empty, and a thread's lists are touched by that thread alone.  The
 * locks are real (arch/host/threads.c): a test-and-set lock that spins a
 * little, then yields the processor, since a thread holding one may be
 * descheduled, which a CPU holding a spinlock never is.
 */
typedef int mm_irq_flags_t;
#define mm_irq_save()         0
#define mm_irq_restore(flags) ((void)(flags))
#define mm_irqs_off()         1

typedef struct {
	uint32_t held;
} mm_lock_t;
#define MM_LOCK_INIT \
	{            \
		0    \
	}
void host_lock_wait(mm_lock_t *lock);

static inline void mm_lock_irqs_off(mm_lock_t *lock)
{
	if (__builtin_expect(__atomic_exchange_n(&lock->held, 1, __ATOMIC_ACQUIRE) != 0, 0))
		host_lock_wait(lock);
}

static inline void mm_unlock_irqs_off(mm_lock_t *lock)
{
	__atomic_store_n(&lock->held, 0, __ATOMIC_RELEASE);
}

static inline mm_irq_flags_t mm_lock(mm_lock_t *lock)
{
	mm_lock_irqs_off(lock);
	return 0;
}

#define mm_unlock(lock, flags) ((void)(flags), mm_unlock_irqs_off(lock))

/*
 * The "CPUs" are slots: a thread takes a free one at its first slow path
 * (host_cpu_attach, through mm_cpu_index) and gives it back when it exits,
 * its lists emptied into the shared layers first (kmalloc_cpu_exit).  Its
 * slot and its area's address are thread-local: local-exec where mm/ is
 * linked into the program (one %fs-relative load, as on target), and
 * initial-exec in libmm_malloc.so (a load of the offset first: a shared
 * object's thread-local words lie where the loader puts them).  Until it
 * has a slot, its base is an area whose lists are all zero (empty, and
 * full, and never written), so that its fast paths leave for the slow
 * paths, which attach it: the fast paths test nothing.  At most
 * MM_MAX_CPUS threads use the heap at once; one more waits for a slot to
 * be given back.
 */
#define MM_MAX_CPUS       64
#define MM_CPU_AREA_BYTES 8192
#define MM_CPU_LOCAL
/* mm/'s large, sparsely touched arrays (mm/mm_env.h), and the CPU areas:
 * in a section of their own, which libmm_malloc.so links after .bss
 * (arch/host/malloc_shim.ld), so that the small statics every call uses
 * share a few pages; elsewhere it is part of .bss. */
#define MM_SPARSE __attribute__((section(".bss.sparse")))
#ifdef ARENA386_SHIM
#define HOST_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define HOST_TLS __thread __attribute__((tls_model("local-exec")))
#endif
extern HOST_TLS uintptr_t host_cpu_base;
extern HOST_TLS int host_cpu_slot;
extern unsigned char host_cpu_areas[MM_MAX_CPUS][MM_CPU_AREA_BYTES];
unsigned host_cpu_attach(void);
/* What a thread taking a slot, and one leaving, calls into the heap (set
 * by kmalloc_init: the world calls up only through these). */
void mm_set_cpu_hooks(bool (*init)(void), void (*exit)(void));

/* A program sets the heap up before its first call (libmm.a's constructor,
 * the tests' host_heap_init), and a call before that panics
 * (arch/host/setup.c), except under the malloc shim, whose definition of
 * this sets the heap up at the first call. */
bool host_heap_first_use(const char *call);
#define mm_heap_first_use(call) host_heap_first_use(call)
#define MM_SET_UP_ON_DEMAND
/* As malloc: a failed allocation sets errno. */
#define mm_note_no_memory() (errno = ENOMEM)

/* In libmm_malloc.so, malloc and free are kmalloc and kfree themselves:
 * second names for the same code (arch/host/malloc_shim.c), no call
 * between. */
#ifdef ARENA386_SHIM
#define MM_SECOND_NAMES(alloc, release)                                             \
	__attribute__((visibility("default"), alias(#alloc))) void *malloc(size_t); \
	__attribute__((visibility("default"), alias(#release))) void free(void *);
#endif

#define MM_CPU_LOCAL_BASE() (host_cpu_base)

static inline unsigned mm_cpu_index(void)
{
	int slot = host_cpu_slot;
	if (__builtin_expect(slot < 0, 0))
		return host_cpu_attach();
	return (unsigned)slot;
}

static inline void *mm_cpu_area(unsigned cpu)
{
	return host_cpu_areas[cpu];
}

/* Other threads cannot be interrupted: each drains its own lists. */
static inline unsigned mm_call_other_cpus(void (*fn)(void *arg), void *arg)
{
	(void)fn;
	(void)arg;
	return 0;
}

/* Nor stopped: kheap_check and kmalloc_stats count other threads' lists
 * as they find them, exact only while those threads are not in the heap
 * (mm/kheap.h). */
#define mm_stop_other_cpus()   ((void)0)
#define mm_resume_other_cpus() ((void)0)

/* The time-stamp counter: differs from run to run. */
static inline uintptr_t mm_entropy(void)
{
	return (uintptr_t)__builtin_ia32_rdtsc() * 0x9e3779b97f4a7c15u;
}

/* The CPU stack steps in plain C: a thread's lists are its own, and
 * nothing interrupts it; the live bits are shared (atomic). */
/* Hidden: in libmm_malloc.so, read in one instruction, not through the
 * GOT. */
extern uintptr_t host_bit_origin __attribute__((visibility("hidden")));
static inline void mm_set_bit_origin(uintptr_t origin)
{
	host_bit_origin = origin;
}

/* The live bit's lock prefix (mm/bitops.h).  In libmm_malloc.so each
 * one's address goes into the section host_lock_sites, so that it can be
 * taken out while one thread uses the heap (arch/host/lock_elision.h). */
#ifdef ARENA386_SHIM
#define MM_BIT_LOCK_PREFIX                                                                    \
	".pushsection host_lock_sites, \"a\"\n\t.balign 4\n\t.long 671f - .\n\t.popsection\n" \
	"671:\n\tlock; "
#endif

/* 'word' is an offset in the running thread's area (as on target, where
 * it is %fs-relative): the area's address is added here. */
#define MM_CPU_STACK_TAKE(word, shift, obj, empty)                                             \
	do {                                                                                   \
		struct mm_cpu_stack *stack_ = (struct mm_cpu_stack *)((word) + host_cpu_base); \
		if (stack_->top == stack_->bottom)                                             \
			goto empty;                                                            \
		(obj) = *--stack_->top;                                                        \
		mm_bit_set_at(host_bit_origin, (uintptr_t)(obj) >> (shift));                   \
	} while (0)

#define MM_CPU_STACK_GIVE(word, obj, shift, full, was_clear)                                   \
	do {                                                                                   \
		struct mm_cpu_stack *stack_ = (struct mm_cpu_stack *)((word) + host_cpu_base); \
		void **top_ = stack_->top;                                                     \
		if (top_ == stack_->end)                                                       \
			goto full;                                                             \
		if (!mm_bit_test_clear_at(host_bit_origin, (uintptr_t)(obj) >> (shift)))       \
			goto was_clear;                                                        \
		*top_ = (obj);                                                                 \
		stack_->top = top_ + 1;                                                        \
	} while (0)

/* A kfree's flush gives back more at once than on target, where the
 * budget bounds the worst kfree in instructions: here a flush is paid for
 * mostly in taking the class's lock, which other threads may hold, and
 * amortized over more objects. */
#define MM_FLUSH_BUDGET 32

/* The small classes' transfer stacks hold two CPU lists' worth while that
 * is at most this much (mm/kmalloc_classes.c): blocks pass between threads
 * more than between a kernel's CPUs, and the slots' memory is nothing here. */
#define MM_TRANSFER_BYTES (24u << 10)

/* A word other threads change under a lock, read without it where any
 * value it held will do (and its writes, whole): relaxed atomics, which is
 * what the plain accesses on target amount to, and what ThreadSanitizer
 * needs to see. */
#if defined(__SANITIZE_THREAD__)
#define MM_HOST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MM_HOST_TSAN 1
#endif
#endif
#ifdef MM_HOST_TSAN
#define mm_read_shared(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#else
/* Elsewhere a plain read, as on target (an aligned word is read whole
 * on x86-64 too), which the compiler folds into the comparison that uses
 * it: one instruction less in kfree.  None of its uses is in a loop that
 * waits for a change. */
#define mm_read_shared(p) (*(p))
#endif
#define mm_write_shared(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#endif
