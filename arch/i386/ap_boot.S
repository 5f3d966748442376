/*
 * arch/i386/ap_boot.S - where an application processor starts: a STARTUP
 * IPI sends it, in real mode, to AP_TRAMPOLINE_ADDR, where the boot CPU
 * has copied [ap_trampoline_start, ap_trampoline_end) and filled in its
 * parameters (struct ap_params in arch/i386/smp_boot.h).  The trampoline
 * enters protected mode on a flat GDT of its own, turns on PSE (when the
 * boot CPU did), loads the kernel's page directory, enables paging and
 * CR0.WP, and calls the entry on the stack it was given; the entry loads
 * the CPU's own GDT.  Everything here is addressed from
 * AP_TRAMPOLINE_ADDR, so the bytes run wherever they were copied.
 */
#include "arch/i386/layout.h"

#define AT(label) (AP_TRAMPOLINE_ADDR + ((label) - ap_trampoline_start))

	.section .rodata, "a"
	.code16
	.global ap_trampoline_start, ap_trampoline_end, ap_trampoline_params
ap_trampoline_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl AT(gdtr)
	movl %cr0, %eax
	orl $1, %eax                  /* CR0.PE */
	movl %eax, %cr0
	ljmpl $0x08, $AT(protected)

	.code32
protected:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl AT(ap_trampoline_params + 4), %eax  /* cr4 */
	movl %eax, %cr4
	movl AT(ap_trampoline_params + 0), %eax  /* cr3 */
	movl %eax, %cr3
	movl %cr0, %eax
	orl $0x80010000, %eax         /* CR0.PG | CR0.WP */
	movl %eax, %cr0
	movl AT(ap_trampoline_params + 8), %esp  /* stack top */
	xorl %ebp, %ebp               /* terminates backtraces */
	pushl AT(ap_trampoline_params + 16)      /* the CPU's index */
	call *AT(ap_trampoline_params + 12)      /* entry (ASMLINKAGE) */
1:	cli
	hlt
	jmp 1b

	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff      /* 0x08: flat 4 GiB code */
	.quad 0x00cf92000000ffff      /* 0x10: flat 4 GiB data */
gdtr:
	.word gdtr - gdt - 1
	.long AT(gdt)

	.align 4
ap_trampoline_params:
	.skip 20                      /* cr3, cr4, stack top, entry, index */
ap_trampoline_end:
