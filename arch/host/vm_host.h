/*
 * arch/host/vm_host.h - the host (x86_64 Linux) machine under mm/: a 4 GiB
 * window of the process's address space stands for the i386 space.
 *
 * vm_host_init() reserves the window (PROT_NONE, 4 MiB aligned) and calls
 * vm_init() with its base; from then on "mapping" a page is mprotect to
 * read-write (the kernel supplies zeroed memory), and releasing it is
 * madvise(MADV_DONTNEED) plus PROT_NONE, so that a later touch faults just
 * as on target.  A frame budget stands in for physical memory, so that
 * running out of frames can be tested.
 */
#ifndef ARCH_HOST_VM_HOST_H
#define ARCH_HOST_VM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Idempotent; returns the window's base.  Aborts if no window can be had. */
uintptr_t vm_host_init(void);

/* At most 'pages' pages mapped at once from now on (SIZE_MAX: no limit,
 * the default).  Returns the pages mapped now. */
size_t vm_host_set_frame_limit(size_t pages);

size_t vm_host_mapped_pages(void);

#endif
