/*
 * arch/i386/percpu.h - each CPU's own data, reached through %fs.
 *
 * Every CPU has a struct percpu: its GDT (the same selectors on every CPU,
 * so that one IDT serves all: the double-fault task gate names "this CPU's
 * double-fault TSS"), its two task-state segments, its stacks, and whatever
 * the layers above keep per CPU.  GDT_PERCPU, loaded in %fs, is a data
 * segment whose base is the CPU's struct percpu, and a word of the struct
 * points at itself: this_cpu() is one load, %fs:PERCPU_SELF, and a field
 * of it is reached with no instruction beyond the access.
 */
#ifndef ARCH_I386_PERCPU_H
#define ARCH_I386_PERCPU_H

#include "arch/i386/gdt.h"
#include "arch/i386/layout.h"
#include <stdbool.h>
#include <stdint.h>

#define MAX_CPUS 8

struct percpu {
	/* mm/'s per-CPU data (arch/i386/env.h), set up by the CPU itself
	 * (kmalloc_cpu_init) before it allocates.  At offset 0, so that the
	 * offsets mm/ keeps of its CPU lists are their %fs offsets: no
	 * displacement to add on the fast paths. */
	uint8_t mm[PERCPU_MM_BYTES] __attribute__((aligned(64)));
	struct percpu *self;             /* this_cpu() reads it */
	uint32_t double_fault_stack_top; /* trap_entry.S reads it */
	unsigned index;                  /* 0: the boot CPU; then in the order started */
	uint8_t apic_id;
	volatile bool online;
	/* Why the CPU, started, will not come online (set by itself). */
	const char *refused;
	uintptr_t stack_guard;  /* the unmapped page below the kernel stack */
	uintptr_t stack_bottom; /* the stack's lowest mapped byte */
	/* Set by an idle CPU once it has flushed its whole TLB, cleared before
	 * it runs anything: a TLB shootdown skips the CPUs that hold no
	 * translation (arch/i386/paging.c). */
	volatile uint32_t tlb_clean;
	/* mm/'s lock acquisitions on this CPU, ever (arch/i386/env.h): the
	 * benchmarks' measure of how often the shared layers are entered. */
	uint32_t mm_locks;
	/* A function another CPU asked this one to run (arch/i386/ipi.h). */
	struct {
		volatile uint32_t busy; /* posted, not yet taken by this CPU */
		void (*fn)(void *arg);
		void *arg;
		volatile uint32_t *completion; /* the sender's: set when fn returns */
		volatile uint32_t requested;   /* sequence number of the last posted */
		/* The last one this CPU began: a call that spins (for a lock) is
		 * not begun again from its spin. */
		uint32_t taken;
	} call;
	uint64_t gdt[GDT_ENTRIES];
	struct tss main_tss, double_fault_tss;
	uint8_t double_fault_stack[FAULT_STACK_SIZE] __attribute__((aligned(16)));
};

extern struct percpu percpu_areas[MAX_CPUS];

static inline struct percpu *this_cpu(void)
{
	struct percpu *self;
	__asm__("movl %%fs:%c1, %0" : "=r"(self) : "i"(PERCPU_SELF));
	return self;
}

#endif
