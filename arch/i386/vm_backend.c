/* arch/i386/vm_backend.c - mm/vm_backend.h over the i386 page tables. */
#include "mm/vm_backend.h"
#include "arch/i386/paging.h"

bool vm_backend_map(uintptr_t va, size_t n)
{
	return paging_map(va, n);
}

void vm_backend_unmap(uintptr_t va, size_t n)
{
	paging_unmap(va, n);
}
