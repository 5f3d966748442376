/*
 * arch/i386/trap.h - CPU exceptions (vectors 0-31).
 *
 * Every exception enters through a stub that saves the registers as a
 * struct trap_frame and calls the one handler given to trap_init().  The
 * double fault (vector 8) is a task gate with a stack of its own, so a kernel
 * stack overflow - a page fault that cannot push its frame - is still
 * reported instead of triple-faulting; its frame is rebuilt from the
 * interrupted task's TSS.
 *
 * The handler either never returns (it reports and ends the run), returns
 * the context at which execution resumes, as saved by cpu_setjmp() (the
 * faulting instruction is then abandoned), or returns NULL: execution
 * resumes where the frame says (a debug trap, a fault made harmless).
 *
 * Interrupts (vectors 32 and up) that run C enter through the same kind of
 * frame (trap_set_irq).  Every entry, exception or interrupt, first moves an
 * interrupted restartable sequence back to its start (arch/i386/restart.h),
 * before any handler runs.
 */
#ifndef ARCH_I386_TRAP_H
#define ARCH_I386_TRAP_H

#include "arch/i386/jmp.h"
#include <stdint.h>

enum {
	TRAP_DIVIDE = 0,
	TRAP_DEBUG = 1,
	TRAP_BREAKPOINT = 3,
	TRAP_INVALID_OPCODE = 6,
	TRAP_DOUBLE_FAULT = 8,
	TRAP_GENERAL_PROTECTION = 13,
	TRAP_PAGE_FAULT = 14,
	TRAP_EXCEPTION_COUNT = 32,
};

/* Page-fault error code bits. */
#define PF_PROTECTION (1u << 0) /* 0: page not present */
#define PF_WRITE      (1u << 1) /* 0: read */
#define PF_USER       (1u << 2) /* 0: kernel mode */
#define PF_RESERVED   (1u << 3) /* reserved bit set in a paging entry */
#define PF_FETCH      (1u << 4) /* instruction fetch */

/* Layout fixed by arch/i386/trap_entry.S, lowest address first. */
struct trap_frame {
	/* Room the stub leaves, filled in by the C side of the entry. */
	uint32_t esp; /* %esp before the exception */
	uint32_t cr2; /* read at entry, before anything can fault again */
	/* The EIP at which a restartable sequence was interrupted, when the
	 * entry moved it back to its start (eip below); 0 otherwise. */
	uint32_t restarted_from;
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp_unused, ebx, edx, ecx, eax; /* pushal */
	uint32_t vector, error;
	uint32_t eip, cs, eflags; /* pushed by the CPU; ring 0 only */
};

typedef const struct cpu_jmpbuf *(*trap_handler_fn)(struct trap_frame *frame);

/* Loads the IDT with all 32 exception vectors and the double-fault task
 * gate.  Call once, after gdt_init(). */
void trap_init(trap_handler_fn handler);

/* Installs 'entry' (an assembly stub that ends in iret) for interrupt
 * 'vector' (32-255), with interrupts off on entry; every CPU shares it. */
void trap_set_interrupt(unsigned vector, void (*entry)(void));

/* Vectors trap_set_irq can serve (each has its stub in trap_entry.S). */
#define IRQ_FIRST_VECTOR 0xf0
#define IRQ_VECTORS      4

/* Runs handler(frame) for interrupt 'vector' (IRQ_FIRST_VECTOR and the
 * next IRQ_VECTORS - 1), with interrupts off, after the restartable
 * sequences' rewind; the handler sends its own end of interrupt. */
void trap_set_irq(unsigned vector, void (*handler)(struct trap_frame *frame));

/* The same for another CPU, on that CPU: its own GDT and tasks (cpu), and
 * the IDT and handler trap_init set up. */
struct percpu;
void trap_init_cpu(struct percpu *cpu);

/* "Page Fault" and so on; "Reserved" for unnamed vectors. */
const char *trap_vector_name(uint32_t vector);

#endif
