/*
 * arch/i386/gdt.h - the kernel's GDT: flat 4 GiB code and data segments and
 * two task-state segments, the main task's and the double-fault task's.
 */
#ifndef ARCH_I386_GDT_H
#define ARCH_I386_GDT_H

#include <stdint.h>

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

/* The task the kernel runs in, and the one the double fault switches to.
 * The CPU saves the interrupted task's registers in main_tss. */
extern struct tss main_tss, double_fault_tss;

/* Loads the GDT, reloads the segment registers and the task register.
 * 'double_fault_eip' and its stack top start the double-fault task. */
void gdt_init(void (*double_fault_eip)(void), uintptr_t double_fault_stack_top);

/* A task switch loads CR3 from the TSS of the task switched to: both tasks
 * must name the current page directory.  Call whenever CR3 changes. */
void gdt_set_task_cr3(uint32_t cr3);

#endif
