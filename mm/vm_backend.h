/*
 * mm/vm_backend.h - the two operations mm/vm.c needs from the machine.
 *
 * i386: arch/i386/vm_backend.c, over the kernel's page tables.
 * Host: arch/host/vm_host.c, over mmap inside a 4 GiB window.
 * mm/vm.c has checked every argument before calling: page-aligned, inside
 * the space, reserved, and (for map) nothing mapped / (for unmap) all mapped.
 */
#ifndef MM_VM_BACKEND_H
#define MM_VM_BACKEND_H

#include "mm/mm_env.h"

/* Backs [va, va + n) with zeroed memory; false, with nothing left behind,
 * when memory runs out. */
bool vm_backend_map(uintptr_t va, size_t n);

/* Gives the memory behind [va, va + n) back; afterwards any access faults. */
void vm_backend_unmap(uintptr_t va, size_t n);

#endif
