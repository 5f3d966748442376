/*
 * boot/entry.S - Multiboot header and the kernel's first instructions.
 *
 * The loader enters _start in 32-bit protected mode with paging off,
 * %eax = MULTIBOOT_BOOTLOADER_MAGIC and %ebx = physical address of the
 * multiboot information.  We clear .bss, switch to the kernel stack and call
 * kmain(magic, info).
 */
#include "arch/i386/layout.h"
#include "boot/multiboot.h"

#define HEADER_FLAGS (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)

	.section .multiboot, "a"
	.align 4
	.long MULTIBOOT_HEADER_MAGIC
	.long HEADER_FLAGS
	.long -(MULTIBOOT_HEADER_MAGIC + HEADER_FLAGS)

/*
 * The kernel stack, with one page below it that paging leaves unmapped so
 * that an overflow faults instead of overwriting .bss.
 */
	.section .bss.stack, "aw", @nobits
	.align PAGE_SIZE
	.global kernel_stack_guard, kernel_stack_bottom, kernel_stack_top
kernel_stack_guard:
	.skip PAGE_SIZE
kernel_stack_bottom:
	.skip KERNEL_STACK_SIZE
kernel_stack_top:

	.section .text.boot, "ax"
	.global _start
	.type _start, @function
_start:
	cli
	cld
	movl %eax, %esi               /* keep magic and info across the clear */
	movl $_bss_start, %edi
	movl $_bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb

	movl $kernel_stack_top, %esp
	xorl %ebp, %ebp               /* terminates backtraces */
	pushl $0                      /* EFLAGS: known state, IF clear */
	popfl
	pushl %ebx
	pushl %esi
	call kmain
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start
