/*
 * arch/i386/linkage.h - the calling convention at the C/assembly boundary.
 *
 * The kernel is built with -mregparm=3, as Linux's i386 kernel is: the first
 * three integer arguments travel in %eax, %edx and %ecx instead of on the
 * stack, which saves a push and a stack adjustment per argument on every call
 * (the allocator's fast paths are a few dozen instructions, so this is a
 * tenth of them).  Functions that assembly calls, or that are written in
 * assembly, keep the stack convention and say so with ASMLINKAGE, so that the
 * .S files stay plain cdecl.
 */
#ifndef ARCH_I386_LINKAGE_H
#define ARCH_I386_LINKAGE_H

#define ASMLINKAGE __attribute__((regparm(0)))

#endif
