/*
 * arch/i386/trap_entry.S - entry stubs for the 32 CPU exceptions, and the
 * double-fault task's entry.
 *
 * Each stub makes the stack uniform (a zero error code where the CPU pushes
 * none, then the vector number) and joins trap_common, which saves the
 * registers as a struct trap_frame (trap.h) and calls trap_dispatch.  The
 * interrupts that run C (trap_set_irq) do the same through irq_common and
 * irq_dispatch.  %gs is loaded with mm/'s bitmap segment, which the
 * allocator's fast paths use in any context (arch/i386/gdt.h).
 */
#include "arch/i386/layout.h"

#define STUB_NO_ERROR(n) \
	.align 8;        \
	trap_stub_##n:   \
	pushl $0;        \
	pushl $n;        \
	jmp trap_common

#define STUB_ERROR(n)  \
	.align 8;      \
	trap_stub_##n: \
	pushl $n;      \
	jmp trap_common

	.text
STUB_NO_ERROR(0)
STUB_NO_ERROR(1)
STUB_NO_ERROR(2)
STUB_NO_ERROR(3)
STUB_NO_ERROR(4)
STUB_NO_ERROR(5)
STUB_NO_ERROR(6)
STUB_NO_ERROR(7)
STUB_ERROR(8)
STUB_NO_ERROR(9)
STUB_ERROR(10)
STUB_ERROR(11)
STUB_ERROR(12)
STUB_ERROR(13)
STUB_ERROR(14)
STUB_NO_ERROR(15)
STUB_NO_ERROR(16)
STUB_ERROR(17)
STUB_NO_ERROR(18)
STUB_NO_ERROR(19)
STUB_NO_ERROR(20)
STUB_ERROR(21)
STUB_NO_ERROR(22)
STUB_NO_ERROR(23)
STUB_NO_ERROR(24)
STUB_NO_ERROR(25)
STUB_NO_ERROR(26)
STUB_NO_ERROR(27)
STUB_NO_ERROR(28)
STUB_ERROR(29)
STUB_ERROR(30)
STUB_NO_ERROR(31)

/* The entry's common part: \dispatch(frame), frame as in trap.h. */
.macro ENTRY_COMMON dispatch
	pushal
	pushl %ds
	pushl %es
	pushl %fs
	pushl %gs
	subl $12, %esp                /* esp, cr2, restarted_from: C fills them */
	movl $GDT_KERNEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw $GDT_MM_BITS, %ax
	movw %ax, %gs
	movw $GDT_PERCPU, %ax         /* this CPU's, whatever was in %fs */
	movw %ax, %fs
	cld
	pushl %esp                    /* struct trap_frame * */
	call \dispatch
	addl $16, %esp
	popl %gs
	popl %fs
	popl %es
	popl %ds
	popal
	addl $8, %esp                 /* vector and error code */
	iret
.endm

trap_common:
	ENTRY_COMMON trap_dispatch

irq_common:
	ENTRY_COMMON irq_dispatch

/*
 * The double-fault task starts here on a fresh stack every time (the CPU
 * also pushed an error code, always 0, which the reset discards).  After
 * double_fault_dispatch has pointed the interrupted task at its resume
 * context, iret with EFLAGS.NT set switches back to it through the TSS back
 * link; the next double fault resumes at the jmp.
 */
	.global double_fault_entry
double_fault_entry:
	movl %fs:PERCPU_DOUBLE_FAULT_STACK_TOP, %esp /* this CPU's fault stack */
	call double_fault_dispatch
	iret
	jmp double_fault_entry

	.section .rodata
	.align 4
	.global trap_stub_table
trap_stub_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long trap_stub_\n
	.endr


/*
 * Interrupts that run C: the vectors of trap_set_irq, in irq_stub_table.
 * The APIC's spurious interrupt needs no EOI and only returns.
 */
#define IRQ_STUB(n)    \
	.align 8;      \
	irq_stub_##n:  \
	pushl $0;      \
	pushl $n;      \
	jmp irq_common

	.text
IRQ_STUB(0xf0)
IRQ_STUB(0xf1)
IRQ_STUB(0xf2)
IRQ_STUB(0xf3)

	.section .rodata
	.align 4
	.global irq_stub_table
irq_stub_table:
	.long irq_stub_0xf0, irq_stub_0xf1, irq_stub_0xf2, irq_stub_0xf3

	.text
	.global ipi_spurious_entry
ipi_spurious_entry:
	iret

/*
 * The masked 8259s (arch/i386/pic.c) can still raise a spurious IRQ 7 or
 * 15.  The master's needs nothing; for the slave's, the master saw a real
 * IRQ 2 and wants its end of interrupt.
 */
	.global pic_master_spurious_entry, pic_slave_spurious_entry
pic_master_spurious_entry:
	iret

pic_slave_spurious_entry:
	pushl %eax
	movb $0x20, %al
	outb %al, $0x20
	popl %eax
	iret
