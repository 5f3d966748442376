/*
 * arch/i386/paging.h - two-level non-PAE page tables.
 *
 * The only code in arena386 that writes a page-table entry or CR3.  One page
 * directory serves the whole kernel; PDE PT_WINDOW_PDI points at the
 * directory itself, so that every page table appears in the 4 MiB window at
 * PT_WINDOW_BASE (table i at PT_WINDOW_BASE + i * PAGE_SIZE) and the
 * directory at PT_WINDOW_BASE + PT_WINDOW_PDI * PAGE_SIZE: no table ever
 * needs to be reachable through the identity map.
 *
 * Frames come from the caller (struct frame_ops): page tables, the frames
 * behind small pages and the 4 MiB slots behind large (PSE) pages.  A large
 * page is used wherever a whole aligned 4 MiB is mapped at once and the
 * frame source has a free aligned slot; otherwise 4 KiB pages.
 *
 * TLB: every PTE change is followed by invlpg of that page; an unmap of more
 * than PAGING_FLUSH_THRESHOLD pages reloads CR3 once instead.  With other
 * CPUs online an unmap also invalidates their TLBs, in one round of calls,
 * before any frame it frees goes back (a TLB shootdown; see paging.c).
 * None of these functions may be called with the page tables shared with
 * another CPU (one CPU today); they may be called with interrupts off.
 */
#ifndef ARCH_I386_PAGING_H
#define ARCH_I386_PAGING_H

#include "arch/i386/env.h"
#include <stdbool.h>
#include <stddef.h>

#define PTE_PRESENT          0x001u
#define PTE_WRITE            0x002u
#define PTE_USER             0x004u
#define PTE_PWT              0x008u /* write-through */
#define PTE_PCD              0x010u /* cache disabled: device registers */
#define PTE_LARGE            0x080u /* in a PDE: maps 4 MiB (PSE) */
#define PTE_FRAME_MASK       0xfffff000u
#define PDE_LARGE_FRAME_MASK 0xffc00000u

#define PAGING_FLUSH_THRESHOLD 32

/* Every operation gets 'ctx' (the frame allocator) as its first argument,
 * so that the pointers can name the allocator's own entry points. */
struct frame_ops {
	void *ctx;
	paddr_t (*alloc)(void *ctx); /* one frame, 0 if none */
	void (*free)(void *ctx, paddr_t frame);
	/* Up to n frames written as frame | flags into entries[] (the page
	 * table itself); returns how many (fewer: out of memory). */
	unsigned (*alloc_entries)(void *ctx, paddr_t *entries, unsigned n, uint32_t flags);
	/* Frees the frames named by entries[0..n), low 12 bits ignored. */
	void (*free_entries)(void *ctx, const paddr_t *entries, unsigned n);
	paddr_t (*alloc_slot)(void *ctx); /* 4 MiB aligned slot, 0 if none */
	void (*free_slot)(void *ctx, paddr_t base);
	void (*split_slot)(void *ctx, paddr_t base); /* the slot's frames become single frames */
};

struct paging_stats {
	uint32_t small_pages;    /* 4 KiB mappings made by paging_map, live */
	uint32_t large_pages;    /* 4 MiB mappings, live */
	uint32_t page_tables;    /* tables allocated by paging_map, live */
	uint32_t large_splits;   /* large pages split by a partial unmap, ever */
	uint32_t physical_pages; /* pages of given physical ranges, live */
};

/*
 * Builds the kernel's page directory: [PAGE_SIZE, KERNEL_SPACE_END)
 * identity-mapped with 4 KiB pages, except the NULL page and the kernel
 * stack's guard page; the recursive window; PSE on when the CPU has it.
 * Then enables paging with CR0.WP.  'guard' is the guard page's address.
 */
void paging_init(const struct frame_ops *ops, uintptr_t guard);

bool paging_has_pse(void);

/*
 * Backs [va, va + n) with zeroed frames.  Preconditions (the caller's
 * bookkeeping guarantees them): page-aligned, nothing in the range mapped,
 * the range outside the kernel region and the fixed windows.  When frames
 * run out, everything this call mapped and every table it installed is
 * undone and false returned: nothing leaks.
 */
bool paging_map(uintptr_t va, size_t n);

/* Unmaps [va, va + n), every page of which is mapped: frames go back to the
 * frame source, and so does each page table left empty.  A large page only
 * partly inside the range is split first (the table reuses one of the freed
 * frames, so an unmap never needs memory).  Cannot fail. */
void paging_unmap(uintptr_t va, size_t n);

/*
 * Maps [va, va + n) to the physical range [pa, pa + n) that is not the
 * frame source's (device registers, firmware tables), uncached when asked.
 * Preconditions as paging_map's, and [va, va + n) within slots no large
 * page maps.  False, with nothing left behind, when no frame can be had
 * for a page table.
 */
bool paging_map_physical(uintptr_t va, paddr_t pa, size_t n, bool uncached);

/* Undoes paging_map_physical: the entries go, the physical range is left
 * alone (it was never the frame source's), empty tables go back. */
void paging_unmap_physical(uintptr_t va, size_t n);

/* TLB shootdown rounds run by unmaps while other CPUs were online (see
 * paging.c: one per unmap call, or more for very large ones). */
uint32_t paging_shootdown_rounds(void);

/* The physical address behind 'va'; false if not mapped.  *large tells
 * whether a 4 MiB page maps it. */
bool paging_translate(uintptr_t va, paddr_t *pa, bool *large);

/* The frame of the page table that maps 'va', or 0 (no table there: the
 * entry is not present, or maps a large page). */
paddr_t paging_table_frame(uintptr_t va);

void paging_get_stats(struct paging_stats *out);

#endif
