/* arch/i386/paging.c - the kernel's page tables (see paging.h). */
#include "arch/i386/paging.h"
#include "arch/i386/cpu.h"
#include "arch/i386/cpuid.h"
#include "arch/i386/gdt.h"
#include "arch/i386/layout.h"
#include "lib/align.h"
#include "lib/string.h"

#define KERNEL_TABLES (KERNEL_SPACE_END / SLOT_SIZE)

_Static_assert(PT_WINDOW_BASE == (uint32_t)PT_WINDOW_PDI << SLOT_SHIFT, "window base");
_Static_assert(KERNEL_SPACE_END % SLOT_SIZE == 0, "kernel region ends on a PDE boundary");

/* The initial directory and the kernel region's tables: identity-mapped in
 * .bss, so that physical and virtual addresses agree at boot. */
static uint32_t boot_directory[PDE_COUNT] __attribute__((aligned(PAGE_SIZE)));
static uint32_t kernel_tables[KERNEL_TABLES][PTE_COUNT] __attribute__((aligned(PAGE_SIZE)));

static const struct frame_ops *frames;
static bool pse;
static struct paging_stats stats;
/* Present PTEs per page table made by paging_map, so an empty table is
 * returned at once. */
static uint16_t table_use[PDE_COUNT];

static inline uint32_t *pde_at(uintptr_t va)
{
	return (uint32_t *)(PT_WINDOW_BASE + PT_WINDOW_PDI * PAGE_SIZE) + (va >> SLOT_SHIFT);
}

static inline uint32_t *pte_at(uintptr_t va)
{
	return (uint32_t *)PT_WINDOW_BASE + (va >> PAGE_SHIFT);
}

static inline uint32_t *table_window(unsigned pdi)
{
	return (uint32_t *)(PT_WINDOW_BASE + pdi * PAGE_SIZE);
}

bool paging_has_pse(void)
{
	return pse;
}

void paging_init(const struct frame_ops *ops, uintptr_t guard)
{
	frames = ops;
	pse = cpu_has(CPUID_PSE);

	for (uintptr_t va = PAGE_SIZE; va < KERNEL_SPACE_END; va += PAGE_SIZE)
		if (va != guard)
			kernel_tables[va >> SLOT_SHIFT][(va >> PAGE_SHIFT) % PTE_COUNT] =
			        va | PTE_PRESENT | PTE_WRITE;
	for (unsigned i = 0; i < KERNEL_TABLES; i++)
		boot_directory[i] = (uintptr_t)kernel_tables[i] | PTE_PRESENT | PTE_WRITE;
	boot_directory[PT_WINDOW_PDI] = (uintptr_t)boot_directory | PTE_PRESENT | PTE_WRITE;

	if (pse)
		write_cr4(read_cr4() | CR4_PSE);
	gdt_set_task_cr3((uintptr_t)boot_directory);
	write_cr3((uintptr_t)boot_directory);
	write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

/* Installs a zeroed page table for the PDE covering 'va'. */
static bool install_table(uintptr_t va)
{
	paddr_t table = frames->alloc(frames->ctx);
	if (!table)
		return false;
	unsigned pdi = va >> SLOT_SHIFT;
	*pde_at(va) = table | PTE_PRESENT | PTE_WRITE;
	invlpg((uintptr_t)table_window(pdi));
	memset(table_window(pdi), 0, PAGE_SIZE);
	table_use[pdi] = 0;
	stats.page_tables++;
	return true;
}

static void remove_table(uintptr_t va)
{
	unsigned pdi = va >> SLOT_SHIFT;
	paddr_t table = *pde_at(va) & PTE_FRAME_MASK;
	*pde_at(va) = 0;
	invlpg((uintptr_t)table_window(pdi));
	frames->free(frames->ctx, table);
	stats.page_tables--;
}

static void unmap_range(uintptr_t va, size_t n);

/* Maps the 4 MiB at 'va' (aligned, its PDE not present) with one large page
 * if the frame source has a free slot; false otherwise.  Not-present entries
 * are never cached by the TLB, so nothing needs invalidating. */
static inline __attribute__((always_inline)) bool map_large(uintptr_t va)
{
	paddr_t slot = frames->alloc_slot(frames->ctx);
	if (!slot)
		return false;
	*pde_at(va) = slot | PTE_PRESENT | PTE_WRITE | PTE_LARGE;
	stats.large_pages++;
	return true;
}

/* Unmaps the large page at 'va' (aligned) and gives its slot of frames back. */
static inline __attribute__((always_inline)) void unmap_large(uintptr_t va)
{
	uint32_t *pde = pde_at(va);
	paddr_t slot = *pde & PDE_LARGE_FRAME_MASK;
	*pde = 0;
	invlpg(va);
	frames->free_slot(frames->ctx, slot);
	stats.large_pages--;
}

static __attribute__((noinline)) bool map_range(uintptr_t va, size_t n)
{
	uintptr_t start = va, end = va + n;

	/* Whole page-directory entries, the arena's usual request: a large
	 * page each while free slots last; whatever remains takes the loop below. */
	if (pse && IS_ALIGNED(va | n, SLOT_SIZE))
		while (va < end && !(*pde_at(va) & PTE_PRESENT) && map_large(va))
			va += SLOT_SIZE;

	while (va < end) {
		uint32_t *pde = pde_at(va);
		if (pse && IS_ALIGNED(va, SLOT_SIZE) && end - va >= SLOT_SIZE &&
		    !(*pde & PTE_PRESENT) && map_large(va)) {
			va += SLOT_SIZE;
			continue;
		}
		if (!(*pde & PTE_PRESENT) && !install_table(va))
			goto out_of_frames;

		/* Fill this table's share of the range: the frame source writes
		 * the entries itself. */
		uintptr_t table_end = ALIGN_DOWN(va, SLOT_SIZE) + SLOT_SIZE;
		uintptr_t stop = end < table_end ? end : table_end;
		unsigned want = (unsigned)((stop - va) / PAGE_SIZE);
		unsigned got = frames->alloc_entries(frames->ctx, pte_at(va), want,
		                                     PTE_PRESENT | PTE_WRITE);
		table_use[va >> SLOT_SHIFT] += got;
		va += got * PAGE_SIZE;
		stats.small_pages += got;
		if (got < want)
			goto out_of_frames;
	}
	/* Not-present entries are never cached by the TLB, so the new
	 * mappings need no flush. */
	memset((void *)start, 0, n);
	return true;

out_of_frames:
	/* Undo: [start, va) is mapped.  A table installed for va itself with
	 * nothing in it yet is returned too. */
	unmap_range(start, va - start);
	if ((*pde_at(va) & (PTE_PRESENT | PTE_LARGE)) == PTE_PRESENT &&
	    table_use[va >> SLOT_SHIFT] == 0)
		remove_table(va);
	return false;
}

/* One whole page-directory entry, the arena's usual request, takes a path of
 * its own: few registers, so little to save and restore around it. */
bool paging_map(uintptr_t va, size_t n)
{
	if (n == SLOT_SIZE && pse && IS_ALIGNED(va, SLOT_SIZE) && !(*pde_at(va) & PTE_PRESENT) &&
	    map_large(va)) {
		memset((void *)va, 0, SLOT_SIZE);
		return true;
	}
	return map_range(va, n);
}

/* Replaces the large page at 'va' by a table of 4 KiB PTEs mapping the same
 * frames, except the frame of 'spare' (a page about to be unmapped), which
 * becomes the table itself. */
static void split_slot(uintptr_t va, uintptr_t spare)
{
	uint32_t *pde = pde_at(va);
	paddr_t slot = *pde & PDE_LARGE_FRAME_MASK;
	unsigned pdi = va >> SLOT_SHIFT;
	paddr_t table = slot + (spare - ALIGN_DOWN(va, SLOT_SIZE));

	frames->split_slot(frames->ctx, slot);
	/* Build the table in the spare frame while the large page still maps
	 * it: its virtual address is 'spare'. */
	uint32_t *entries = (uint32_t *)spare;
	for (unsigned i = 0; i < PTE_COUNT; i++)
		entries[i] = (slot + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITE;
	entries[(spare >> PAGE_SHIFT) % PTE_COUNT] = 0;
	*pde = table | PTE_PRESENT | PTE_WRITE;
	write_cr3(read_cr3()); /* every translation in the 4 MiB changed */
	table_use[pdi] = PTE_COUNT - 1;
	stats.large_pages--;
	stats.small_pages += PTE_COUNT - 1;
	stats.page_tables++;
	stats.large_splits++;
}

static void unmap_range(uintptr_t va, size_t n)
{
	uintptr_t end = va + n;
	bool flush_all = n / PAGE_SIZE > PAGING_FLUSH_THRESHOLD;

	while (va < end) {
		uint32_t *pde = pde_at(va);
		if (*pde & PTE_LARGE) {
			if (IS_ALIGNED(va, SLOT_SIZE) && end - va >= SLOT_SIZE) {
				unmap_large(va);
				va += SLOT_SIZE;
				continue;
			}
			split_slot(va, va); /* 'va' is being unmapped: its frame is spare */
			va += PAGE_SIZE;
			continue;
		}
		uintptr_t table_end = ALIGN_DOWN(va, SLOT_SIZE) + SLOT_SIZE;
		uintptr_t stop = end < table_end ? end : table_end;
		uint32_t *pte = pte_at(va);
		unsigned pdi = va >> SLOT_SHIFT;
		uint16_t pages = (uint16_t)((stop - va) / PAGE_SIZE);
		/* The frame source reads the frames from the entries; then the
		 * entries go, with interrupts off so that no frame is handed out
		 * again while a stale translation still reaches it. */
		uint32_t flags = irq_save();
		frames->free_entries(frames->ctx, pte, pages);
		memset(pte, 0, pages * sizeof(*pte));
		if (!flush_all)
			for (unsigned i = 0; i < pages; i++)
				invlpg(va + i * PAGE_SIZE);
		irq_restore(flags);
		va = stop;
		table_use[pdi] -= pages;
		stats.small_pages -= pages;
		if (table_use[pdi] == 0)
			remove_table(va - PAGE_SIZE);
	}
	if (flush_all)
		write_cr3(read_cr3());
}

/* Any other range: large pages at the front of a range of whole entries
 * go straight back, each with its one TLB entry invalidated; the rest takes
 * unmap_range. */
static __attribute__((noinline)) void unmap_entries(uintptr_t va, size_t n)
{
	if (IS_ALIGNED(va | n, SLOT_SIZE)) {
		uintptr_t end = va + n;
		for (; va < end && (*pde_at(va) & PTE_LARGE); va += SLOT_SIZE)
			unmap_large(va);
		n = end - va;
		if (!n)
			return;
	}
	unmap_range(va, n);
}

/* One large page, the counterpart of paging_map's own path. */
void paging_unmap(uintptr_t va, size_t n)
{
	if (n == SLOT_SIZE && IS_ALIGNED(va, SLOT_SIZE) && (*pde_at(va) & PTE_LARGE))
		unmap_large(va);
	else
		unmap_entries(va, n);
}

bool paging_map_physical(uintptr_t va, paddr_t pa, size_t n, bool uncached)
{
	uint32_t flags = PTE_PRESENT | PTE_WRITE | (uncached ? PTE_PCD | PTE_PWT : 0);
	for (size_t done = 0; done < n; done += PAGE_SIZE) {
		uintptr_t v = va + done;
		if (!(*pde_at(v) & PTE_PRESENT) && !install_table(v)) {
			paging_unmap_physical(va, done);
			return false;
		}
		*pte_at(v) = (pa + (paddr_t)done) | flags;
		table_use[v >> SLOT_SHIFT]++;
		stats.physical_pages++;
	}
	return true;
}

void paging_unmap_physical(uintptr_t va, size_t n)
{
	for (uintptr_t v = va; v < va + n; v += PAGE_SIZE) {
		*pte_at(v) = 0;
		invlpg(v);
		stats.physical_pages--;
		if (--table_use[v >> SLOT_SHIFT] == 0)
			remove_table(v);
	}
}

bool paging_translate(uintptr_t va, paddr_t *pa, bool *large)
{
	uint32_t pde = *pde_at(va);
	if (!(pde & PTE_PRESENT))
		return false;
	if (pde & PTE_LARGE) {
		*pa = (pde & PDE_LARGE_FRAME_MASK) | (va & (SLOT_SIZE - 1));
		*large = true;
		return true;
	}
	uint32_t pte = *pte_at(va);
	if (!(pte & PTE_PRESENT))
		return false;
	*pa = (pte & PTE_FRAME_MASK) | (va & (PAGE_SIZE - 1));
	*large = false;
	return true;
}

void paging_get_stats(struct paging_stats *out)
{
	*out = stats;
}
