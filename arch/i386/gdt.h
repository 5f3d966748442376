/*
 * arch/i386/gdt.h - the kernel's GDTs, one per CPU (in its struct percpu,
 * arch/i386/percpu.h) with the same selectors: flat 4 GiB code and data
 * segments, two task-state segments (the main task's and the double-fault
 * task's), the per-CPU data segment for %fs, and for %gs a flat segment
 * whose base is mm/'s bitmap origin (gdt_set_gs_base).
 */
#ifndef ARCH_I386_GDT_H
#define ARCH_I386_GDT_H

#include "arch/i386/layout.h"
#include <stdint.h>

#define GDT_ENTRIES 7

struct tss {
	uint32_t link;
	uint32_t esp0, ss0, esp1, ss1, esp2, ss2;
	uint32_t cr3, eip, eflags;
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint32_t es, cs, ss, ds, fs, gs;
	uint32_t ldt;
	uint16_t trap, iomap_base;
} __attribute__((packed));

_Static_assert(sizeof(struct tss) == 104, "i386 TSS is 104 bytes");

struct percpu;

/* Builds the GDT of CPU 'cpu' (its two TSSs: the main task's, in which the
 * CPU saves the interrupted task's registers on a double fault, and the
 * double-fault task's, which starts at 'double_fault_eip' on the CPU's own
 * fault stack), loads it, reloads every segment register (%fs: the CPU's
 * struct percpu) and the task register.  Run on that CPU. */
void gdt_init(struct percpu *cpu, void (*double_fault_eip)(void));

/* A task switch loads CR3 from the TSS of the task switched to: every
 * task must name the current page directory.  Call whenever CR3 changes;
 * CPUs set up later take it from here. */
void gdt_set_task_cr3(uint32_t cr3);

/* The base of the %gs segment (GDT_MM_BITS), the same on every CPU: 0
 * until mm/ sets its live bitmap's origin there (arch/i386/env.h), so that
 * the fast paths address a bit by the object's address alone.  Set before
 * other CPUs start (they load it in gdt_init); reloads this CPU's %gs. */
extern uintptr_t gdt_gs_base;
void gdt_set_gs_base(uintptr_t base);

#endif
