/*
 * arch/i386/jmp.h - non-local jumps for the kernel: setjmp/longjmp on the
 * callee-saved registers.  Used to abort a failed test case and to resume
 * after a CPU exception that a caller asked to catch.
 */
#ifndef ARCH_I386_JMP_H
#define ARCH_I386_JMP_H

#include "arch/i386/linkage.h"
#include <stdint.h>

struct cpu_jmpbuf {
	uint32_t ebx, esi, edi, ebp, esp, eip, eflags;
};

/* Returns 0 when called, and the non-zero value given to cpu_longjmp when
 * resumed.  The frame that called cpu_setjmp must still be live then. */
ASMLINKAGE int cpu_setjmp(struct cpu_jmpbuf *buf) __attribute__((returns_twice));

ASMLINKAGE __attribute__((noreturn)) void cpu_longjmp(const struct cpu_jmpbuf *buf, int value);

#endif
