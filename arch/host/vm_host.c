/* arch/host/vm_host.c - mm/vm_backend.h over mmap (see vm_host.h). */
#define _GNU_SOURCE
#include "arch/host/vm_host.h"
#include "mm/vm.h"
#include "mm/vm_backend.h"
#include <errno.h>
#include <sys/mman.h>

static uintptr_t window;
static size_t frame_limit = SIZE_MAX;
static size_t mapped_pages;
static bool whole_mappings;
/* Slots made read-write for good (keeping mappings whole). */
static uint64_t writable_slots[VM_SPACE_SIZE / SLOT_SIZE / 64];
static struct vm_host_failures failures;

uintptr_t vm_host_init(void)
{
	if (window)
		return window;
	/* Over-reserve by one slot so that the window can be slot-aligned. */
	size_t size = (size_t)VM_SPACE_SIZE + SLOT_SIZE;
	void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		kprintf("vm_host_init: no 4 GiB window for the heap (mmap failed, errno %d)\n",
		        errno);
		return 0;
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

void vm_host_keep_mappings_whole(void)
{
	whole_mappings = true;
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

void vm_host_get_failures(struct vm_host_failures *out)
{
	*out = failures;
}

/* Every slot of [va, va + n) read-write, for good; false when Linux
 * refuses one (nothing is undone: those made writable stay so). */
static bool make_slots_writable(uintptr_t va, size_t n)
{
	for (uintptr_t s = (va - window) / SLOT_SIZE; s <= (va + n - 1 - window) / SLOT_SIZE; s++) {
		if (writable_slots[s / 64] >> (s % 64) & 1)
			continue;
		if (mprotect((void *)(window + s * SLOT_SIZE), SLOT_SIZE, PROT_READ | PROT_WRITE) !=
		    0)
			return false;
		writable_slots[s / 64] |= (uint64_t)1 << (s % 64);
	}
	return true;
}

/* Called under vm's lock (mm/vm.c), like the rest of the backend. */
bool vm_backend_map(uintptr_t va, size_t n)
{
	size_t pages = n / PAGE_SIZE;
	if (pages > frame_limit || mapped_pages > frame_limit - pages)
		return false;
	bool ok = whole_mappings ? make_slots_writable(va, n)
	                         : mprotect((void *)va, n, PROT_READ | PROT_WRITE) == 0;
	if (!ok)
		return false; /* out of kernel mappings: as out of frames */
	mapped_pages += pages;
	return true;
}

static void failed_once(unsigned long *count, const char *what, uintptr_t va, size_t n)
{
	if ((*count)++ == 0)
		kprintf("vm_host: %s of [%p, %p) failed (errno %d): the pages stay readable and "
		        "writable; counted, not reported again\n",
		        what, (void *)va, (void *)(va + n), errno);
}

void vm_backend_unmap(uintptr_t va, size_t n)
{
	/* Drop the pages (the next touch reads zeroes), then, when
	 * protecting, fault on touch. */
	if (madvise((void *)va, n, MADV_DONTNEED) != 0)
		failed_once(&failures.advise, "madvise(MADV_DONTNEED)", va, n);
	if (!whole_mappings && mprotect((void *)va, n, PROT_NONE) != 0)
		failed_once(&failures.protect, "mprotect(PROT_NONE)", va, n);
	mapped_pages -= n / PAGE_SIZE;
}
