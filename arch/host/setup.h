/*
 * arch/host/setup.h - the host world (x86_64 Linux) set up under mm/: the
 * console on stdout, and the kernel heap in its 4 GiB window.
 *
 * The console is set up before main by a constructor, in every host
 * program.  The heap is set up explicitly: libmm.a's constructor calls
 * host_heap_init() (a program linked with it just calls kmalloc), and the
 * host tests call it from main (or not at all, when they test the layers
 * under kmalloc on their own).
 */
#ifndef ARCH_HOST_SETUP_H
#define ARCH_HOST_SETUP_H

#include <stdbool.h>
#include <stdint.h>

/* kprintf to stdout; panic flushes it and aborts, so that sanitizers and
 * debuggers see where. */
void host_console_init(void);

/* kprintf to stderr instead, a line at a time, without stdio (the malloc
 * shim: its diagnostics must not land in the program's output). */
void host_console_to_stderr(void);

/* The vm window (vm_host_init) and kmalloc's heap at the i386 defaults
 * inside it: base ARENA_DEFAULT_BASE, limit ARENA_DEFAULT_LIMIT, step
 * ARENA_DEFAULT_STEP.  Idempotent; host_heap_try_init returns false (with
 * a message) when the heap cannot be set up, host_heap_init aborts. */
bool host_heap_try_init(void);
void host_heap_init(void);

#endif
