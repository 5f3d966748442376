/* arch/host/vm_host.c - mm/vm_backend.h over mmap (see vm_host.h). */
#define _GNU_SOURCE
#include "arch/host/vm_host.h"
#include "mm/vm.h"
#include "mm/vm_backend.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static uintptr_t window;
static size_t frame_limit = SIZE_MAX;
static size_t mapped_pages;

uintptr_t vm_host_init(void)
{
	if (window)
		return window;
	/* Over-reserve by one slot so that the window can be slot-aligned. */
	size_t size = (size_t)VM_SPACE_SIZE + SLOT_SIZE;
	void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("vm_host_init: mmap of the 4 GiB window");
		abort();
	}
	uintptr_t base = ALIGN_UP((uintptr_t)p, (uintptr_t)SLOT_SIZE);
	if (base > (uintptr_t)p)
		munmap(p, base - (uintptr_t)p);
	uintptr_t end = (uintptr_t)p + size;
	if (end > base + VM_SPACE_SIZE)
		munmap((void *)(base + VM_SPACE_SIZE), end - (base + VM_SPACE_SIZE));
	window = base;
	vm_init(window);
	return window;
}

size_t vm_host_set_frame_limit(size_t pages)
{
	frame_limit = pages;
	return mapped_pages;
}

size_t vm_host_mapped_pages(void)
{
	return mapped_pages;
}

bool vm_backend_map(uintptr_t va, size_t n)
{
	size_t pages = n / PAGE_SIZE;
	if (pages > frame_limit || mapped_pages > frame_limit - pages)
		return false;
	if (mprotect((void *)va, n, PROT_READ | PROT_WRITE) != 0)
		return false;
	mapped_pages += pages;
	return true;
}

void vm_backend_unmap(uintptr_t va, size_t n)
{
	/* Drop the pages (the next mapping reads zeroes), then fault on touch. */
	if (madvise((void *)va, n, MADV_DONTNEED) != 0 || mprotect((void *)va, n, PROT_NONE) != 0) {
		perror("vm_backend_unmap");
		abort();
	}
	mapped_pages -= n / PAGE_SIZE;
}
