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

/* Single-threaded host tests: nothing to mask, nothing to lock, one CPU
 * (a later issue gives threads the CPUs' place). */
typedef int mm_irq_flags_t;
#define mm_irq_save()         0
#define mm_irq_restore(flags) ((void)(flags))
#define mm_irqs_off()         1

typedef struct {
	int unused;
} mm_lock_t;
#define MM_LOCK_INIT \
	{            \
		0    \
	}
#define mm_lock(lock)            ((void)(lock), 0)
#define mm_unlock(lock, flags)   ((void)(lock), (void)(flags))
#define mm_lock_irqs_off(lock)   ((void)(lock))
#define mm_unlock_irqs_off(lock) ((void)(lock))

#define MM_MAX_CPUS       1
#define MM_CPU_AREA_BYTES 8192
#define MM_CPU_LOCAL
extern unsigned char host_cpu_area[MM_CPU_AREA_BYTES];
#define MM_CPU_LOCAL_BASE() ((uintptr_t)host_cpu_area)

static inline unsigned mm_cpu_index(void)
{
	return 0;
}

static inline void *mm_cpu_area(unsigned cpu)
{
	(void)cpu;
	return host_cpu_area;
}

static inline unsigned mm_call_other_cpus(void (*fn)(void *arg), void *arg)
{
	(void)fn;
	(void)arg;
	return 0;
}

#define mm_stop_other_cpus()   ((void)0)
#define mm_resume_other_cpus() ((void)0)

/* The time-stamp counter: differs from run to run. */
static inline uintptr_t mm_entropy(void)
{
	return (uintptr_t)__builtin_ia32_rdtsc() * 0x9e3779b97f4a7c15u;
}

/* The CPU stack steps in plain C: one thread, no interrupts. */
extern uintptr_t host_bit_origin;
static inline void mm_set_bit_origin(uintptr_t origin)
{
	host_bit_origin = origin;
}

#define MM_CPU_STACK_TAKE(word, shift, obj, empty)                           \
	do {                                                                 \
		struct mm_cpu_stack *stack_ = (struct mm_cpu_stack *)(word); \
		if (stack_->top == stack_->bottom)                           \
			goto empty;                                          \
		(obj) = *--stack_->top;                                      \
		mm_bit_set_at(host_bit_origin, (uintptr_t)(obj) >> (shift)); \
	} while (0)

#define MM_CPU_STACK_GIVE(word, obj, shift, full, was_clear)                             \
	do {                                                                             \
		struct mm_cpu_stack *stack_ = (struct mm_cpu_stack *)(word);             \
		void **top_ = stack_ ? stack_->top : NULL;                               \
		if (!stack_ || top_ == stack_->end)                                      \
			goto full;                                                       \
		if (!mm_bit_test_clear_at(host_bit_origin, (uintptr_t)(obj) >> (shift))) \
			goto was_clear;                                                  \
		*top_ = (obj);                                                           \
		stack_->top = top_ + 1;                                                  \
	} while (0)

#endif
