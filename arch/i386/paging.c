/* arch/i386/paging.c - the kernel's page tables (see paging.h). */
#include "arch/i386/paging.h"
#include "arch/i386/cpu.h"
#include "arch/i386/cpuid.h"
#include "arch/i386/gdt.h"
#include "arch/i386/ipi.h"
#include "arch/i386/layout.h"
#include "arch/i386/percpu.h"
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

/* The entry of 'va' in its page table, through a window translation read
 * afresh.  The window onto a table is a translation like any other, and
 * this CPU's TLB may still hold it as it was when another CPU changed the
 * directory entry (a table installed, removed, or a large page split):
 * the shootdowns invalidate the pages unmapped, not the windows, and the
 * entries would go into a table that is no longer there.  Every change of
 * the tables is made under vm's lock, so one invalidation here, before the
 * table is read or written, is enough. */
static inline uint32_t *fresh_pte_at(uintptr_t va)
{
	invlpg((uintptr_t)table_window(va >> SLOT_SHIFT));
	return pte_at(va);
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
		unsigned got = frames->alloc_entries(frames->ctx, fresh_pte_at(va), want,
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
static bool split_into_fresh_table(uintptr_t va, uintptr_t spare);
static void unmap_physical_here(uintptr_t va, size_t n);

static void split_slot(uintptr_t va, uintptr_t spare)
{
	uint32_t *pde = pde_at(va);
	paddr_t slot = *pde & PDE_LARGE_FRAME_MASK;
	unsigned pdi = va >> SLOT_SHIFT;
	paddr_t table = slot + (spare - ALIGN_DOWN(va, SLOT_SIZE));

	if (split_into_fresh_table(va, spare))
		return;
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
		uint32_t *pte = fresh_pte_at(va);
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

/* ---- other CPUs' TLBs ----
 *
 * With other CPUs online, a translation this CPU drops may still sit in
 * their TLBs: a frame must not go back to the frame source (and be handed
 * to someone else) before every CPU has dropped it.  So an unmap then runs
 * against a frame source that only records what it is given; once the
 * entries are gone here, one call to every other CPU (arch/i386/ipi.h)
 * invalidates the range there (reloading CR3 beyond
 * PAGING_FLUSH_THRESHOLD pages), and only then are the recorded frames
 * freed.  The invalidation takes no lock and waits for nothing, so it runs
 * even on a CPU that spins for a lock with interrupts off (spinlock.h).
 * One round per call, unless the record fills up (DEFERRED_FRAMES), when
 * a round frees what it holds and the unmap goes on.
 */
#define DEFERRED_FRAMES 1024
#define DEFERRED_SLOTS  16

static struct {
	const struct frame_ops *real;
	uintptr_t va;
	size_t n;
	unsigned frame_count, slot_count;
	paddr_t frames[DEFERRED_FRAMES];
	paddr_t slots[DEFERRED_SLOTS];
	uint32_t rounds; /* shootdown rounds, ever */
} deferred;

struct shootdown {
	uintptr_t va;
	size_t n;
};

static void invalidate_here(void *arg)
{
	const struct shootdown *s = arg;
	if (s->n / PAGE_SIZE > PAGING_FLUSH_THRESHOLD)
		write_cr3(read_cr3());
	else
		for (uintptr_t v = s->va; v < s->va + s->n; v += PAGE_SIZE)
			invlpg(v);
}

/* One round: every other CPU drops [va, va + n); then what was recorded
 * goes back to the frame source. */
static void shoot_down_and_free(void)
{
	struct shootdown s = { deferred.va, deferred.n };
	/* The entries are gone; a CPU that reads "clean" after this fence
	 * flushed its whole TLB since, and reads the entries afresh. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t busy = 0;
	for (unsigned i = 0; i < ipi_cpus_online; i++)
		if (!__atomic_load_n(&percpu_areas[i].tlb_clean, __ATOMIC_SEQ_CST))
			busy |= 1u << i;
	if (busy & ~(1u << this_cpu()->index))
		ipi_call_many(busy, invalidate_here, &s);
	deferred.rounds++;
	const struct frame_ops *real = deferred.real;
	real->free_entries(real->ctx, deferred.frames, deferred.frame_count);
	for (unsigned i = 0; i < deferred.slot_count; i++)
		real->free_slot(real->ctx, deferred.slots[i]);
	deferred.frame_count = deferred.slot_count = 0;
}

static void defer_frame(paddr_t frame)
{
	if (deferred.frame_count == DEFERRED_FRAMES)
		shoot_down_and_free();
	deferred.frames[deferred.frame_count++] = frame & PTE_FRAME_MASK;
}

static paddr_t deferring_alloc(void *ctx)
{
	(void)ctx;
	return deferred.real->alloc(deferred.real->ctx);
}

static void deferring_free(void *ctx, paddr_t frame)
{
	(void)ctx;
	defer_frame(frame);
}

static void deferring_free_entries(void *ctx, const paddr_t *entries, unsigned n)
{
	(void)ctx;
	for (unsigned i = 0; i < n; i++)
		defer_frame(entries[i]);
}

static void deferring_free_slot(void *ctx, paddr_t base)
{
	(void)ctx;
	if (deferred.slot_count == DEFERRED_SLOTS)
		shoot_down_and_free();
	deferred.slots[deferred.slot_count++] = base;
}

static void deferring_split_slot(void *ctx, paddr_t base)
{
	(void)ctx;
	deferred.real->split_slot(deferred.real->ctx, base);
}

/* Only what an unmap calls. */
static const struct frame_ops deferring_ops = {
	.ctx = NULL,
	.alloc = deferring_alloc,
	.free = deferring_free,
	.free_entries = deferring_free_entries,
	.free_slot = deferring_free_slot,
	.split_slot = deferring_split_slot,
};

/*
 * A large page only partly unmapped, while other CPUs may still use it
 * through their TLBs: the table that replaces it goes in a fresh frame
 * rather than in the frame of the page being unmapped (which a stale
 * translation elsewhere still reaches until the round), and the frame of
 * 'spare' is recorded with the others.  False when not deferring, or no
 * frame is to be had (then the spare is used, as on one CPU).
 */
static bool split_into_fresh_table(uintptr_t va, uintptr_t spare)
{
	if (frames != &deferring_ops)
		return false;
	paddr_t table = deferred.real->alloc(deferred.real->ctx);
	if (!table)
		return false;
	uint32_t *pde = pde_at(va);
	paddr_t slot = *pde & PDE_LARGE_FRAME_MASK;
	unsigned pdi = va >> SLOT_SHIFT;
	deferred.real->split_slot(deferred.real->ctx, slot);
	/* The large page still translates here until the CR3 reload below:
	 * the table is filled through the window meanwhile. */
	*pde = table | PTE_PRESENT | PTE_WRITE;
	invlpg((uintptr_t)table_window(pdi));
	uint32_t *entries = table_window(pdi);
	for (unsigned i = 0; i < PTE_COUNT; i++)
		entries[i] = (slot + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITE;
	entries[(spare >> PAGE_SHIFT) % PTE_COUNT] = 0;
	write_cr3(read_cr3());
	defer_frame(slot + (spare - ALIGN_DOWN(va, SLOT_SIZE)));
	table_use[pdi] = PTE_COUNT - 1;
	stats.large_pages--;
	stats.small_pages += PTE_COUNT - 1;
	stats.page_tables++;
	stats.large_splits++;
	return true;
}

static __attribute__((noinline)) void unmap_with_other_cpus(uintptr_t va, size_t n)
{
	deferred.real = frames;
	deferred.va = va;
	deferred.n = n;
	frames = &deferring_ops;
	unmap_entries(va, n);
	frames = deferred.real;
	shoot_down_and_free();
}

void paging_unmap_physical(uintptr_t va, size_t n)
{
	if (__builtin_expect(ipi_cpus_online > 1, 0)) {
		deferred.real = frames;
		deferred.va = va;
		deferred.n = n;
		frames = &deferring_ops; /* an emptied table waits for the round too */
		unmap_physical_here(va, n);
		frames = deferred.real;
		shoot_down_and_free();
	} else {
		unmap_physical_here(va, n);
	}
}

uint32_t paging_shootdown_rounds(void)
{
	return deferred.rounds;
}

/* One large page, the counterpart of paging_map's own path. */
void paging_unmap(uintptr_t va, size_t n)
{
	if (__builtin_expect(ipi_cpus_online > 1, 0))
		unmap_with_other_cpus(va, n);
	else if (n == SLOT_SIZE && IS_ALIGNED(va, SLOT_SIZE) && (*pde_at(va) & PTE_LARGE))
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
		*fresh_pte_at(v) = (pa + (paddr_t)done) | flags;
		table_use[v >> SLOT_SHIFT]++;
		stats.physical_pages++;
	}
	return true;
}

static void unmap_physical_here(uintptr_t va, size_t n)
{
	for (uintptr_t v = va; v < va + n; v += PAGE_SIZE) {
		*fresh_pte_at(v) = 0;
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
	uint32_t pte = *fresh_pte_at(va);
	if (!(pte & PTE_PRESENT))
		return false;
	*pa = (pte & PTE_FRAME_MASK) | (va & (PAGE_SIZE - 1));
	*large = false;
	return true;
}

paddr_t paging_table_frame(uintptr_t va)
{
	uint32_t pde = *pde_at(va);
	return (pde & (PTE_PRESENT | PTE_LARGE)) == PTE_PRESENT ? pde & PTE_FRAME_MASK : 0;
}

void paging_get_stats(struct paging_stats *out)
{
	*out = stats;
}
