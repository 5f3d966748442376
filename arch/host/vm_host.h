/*
 * arch/host/vm_host.h - the host (x86_64 Linux) machine under mm/: a 4 GiB
 * window of the process's address space stands for the i386 space.
 *
 * vm_host_init() reserves the window (PROT_NONE, 4 MiB aligned) and calls
 * vm_init() with its base.  The reserved, mapped and released states are
 * mm/vm.c's own; Linux is told as little as it needs, in one of two modes:
 *
 *   - protecting (the default, for the tests): "mapping" a page is
 *     mprotect to read-write (the kernel supplies zeroed memory), and
 *     releasing it is madvise(MADV_DONTNEED) plus PROT_NONE, so that a
 *     later touch faults just as on target.  Each protection change in the
 *     middle of a range splits a kernel mapping; where that fails (the
 *     process is at vm.max_map_count), the pages stay readable and
 *     writable, dropped all the same: counted, reported once, never fatal.
 *   - keeping mappings whole (vm_host_keep_mappings_whole, the malloc
 *     shim): a 4 MiB slot is made read-write, whole, the first time any of
 *     its pages is mapped, and stays so; releasing is madvise alone.  The
 *     window then costs a handful of kernel mappings however the heap is
 *     fragmented, and a release never fails.
 *
 * A frame budget stands in for physical memory, so that running out of
 * frames can be tested.
 */
#ifndef ARCH_HOST_VM_HOST_H
#define ARCH_HOST_VM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Idempotent; returns the window's base, or 0 (with a message) if no
 * window can be had. */
uintptr_t vm_host_init(void);

/* At most 'pages' pages mapped at once from now on (SIZE_MAX: no limit,
 * the default).  Returns the pages mapped now. */
size_t vm_host_set_frame_limit(size_t pages);

size_t vm_host_mapped_pages(void);

/* The second mode above, from now on (before vm_host_init, or with nothing
 * released yet: released pages keep the protection they have). */
void vm_host_keep_mappings_whole(void);

/* Releases whose protection change (or madvise) Linux refused. */
struct vm_host_failures {
	unsigned long protect, advise;
};
void vm_host_get_failures(struct vm_host_failures *out);

#endif
