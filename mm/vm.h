/*
 * mm/vm.h - the reserve / map primitives: the "operating system" under the
 * arena, named after the Go runtime's sysReserve, sysMap, sysUnused and
 * sysFree.
 *
 * The address space is 4 GiB of virtual addresses [space_base,
 * space_base + 4 GiB) (space_base is 0 on i386; on the host, the base of a
 * 4 GiB window).  Every range is half-open, [base, base + n).  A range of
 * virtual addresses is in one of three states:
 *
 *   free      -- nobody's; touching it faults.
 *   reserved  -- claimed by an owner, no memory behind it; touching it faults.
 *   mapped    -- reserved and backed by zeroed memory (frames).
 *
 *   vm_reserve: free     -> reserved   (whole 4 MiB page-directory slots)
 *   vm_map:     reserved -> mapped     (pages)
 *   vm_unused:  mapped   -> reserved   (pages; memory back to the frame pool)
 *   vm_map_gaps, vm_unused_mapped: the same for ranges of mixed pages
 *   vm_free:    reserved or mapped -> free (whole slots)
 *
 * Reservations are made of page-directory slots (4 MiB each, SLOT_SIZE): a
 * reservation claims slots, costs no frames, and maps nothing.  The kernel
 * region, the MMIO window and the page-table window are fixed reservations
 * no call can map, unmap or free.
 *
 * Every refused call prints "vm: <call>(<args>) refused: <reason>", counts in
 * vm_stats.refused, and changes nothing.  Safe on every CPU: one lock
 * guards the map, taken by each call that changes it (lock order, mm/ as a
 * whole: kmalloc's class locks, the page heap's, this one, the frame
 * allocator's, which the backend takes for page tables and frames).  The
 * backend's TLB shootdown runs under it: see arch/i386/paging.c.  The
 * queries (vm_is_mapped, vm_owner_at) read without it.
 * Costs: reserve O(slots); map and unused O(pages); free O(slots + mapped
 * pages).
 */
#ifndef MM_VM_H
#define MM_VM_H

#include "mm/mm_env.h"

#define VM_SPACE_SIZE (1ull << 32)
#define VM_SLOTS      PDE_COUNT

enum vm_owner {
	VM_FREE = 0,
	VM_KERNEL,      /* fixed: the kernel's own region */
	VM_PAGE_TABLES, /* fixed: the recursive page-table window */
	VM_MMIO,        /* fixed: device memory window */
	VM_ARENA,       /* the heap arena */
	VM_HEAP_META,   /* heap metadata that grows with the arena */
	VM_TEST,        /* self-tests: obstacles, scratch */
	VM_FIRMWARE,    /* firmware tables the kernel maps for a while (ACPI, MP) */
	VM_CPU_STACKS,  /* the other CPUs' kernel stacks, each below a guard page */
	VM_OTHER,
	VM_OWNER_COUNT,
};

struct vm_stats {
	uint64_t reserved_bytes[VM_OWNER_COUNT]; /* by owner */
	uint64_t mapped_bytes;                   /* by vm_map, live */
	uint32_t refused;                        /* refused calls, ever */
	/* Slots that ownership checks looked at one by one: only a call that
	 * is refused for its owners, or reaches a slot no one may map,
	 * needs to. */
	uint32_t ownership_walks;
};

/* Sets up the map: everything free but the fixed regions.  'space_base' is
 * where the 4 GiB space starts (0 on i386).  Once per boot or process. */
void vm_init(uintptr_t space_base);

/* The space's first address (0 on i386). */
uintptr_t vm_space_base(void);

/*
 * Claims ceil(n / 4 MiB) page-directory slots for 'owner' and returns the
 * base; 0 on failure.  'hint' must be 0 (no preference) or slot-aligned.
 * Placement, deterministic: exactly at 'hint' when the whole range there is
 * free; otherwise the lowest free run at or above 'hint'; otherwise the
 * lowest free run below it.  Refused: n == 0, an unaligned hint, a hint
 * outside the space or a range past its end, owner VM_FREE or a fixed owner.
 */
uintptr_t vm_reserve(uintptr_t hint, size_t n, enum vm_owner owner);

/* Backs [v, v + n) with zeroed memory.  Refused: unaligned or empty, past
 * the space, not entirely reserved by a non-fixed owner, or any page already
 * mapped.  Returns false, having changed nothing, when frames run out. */
bool vm_map(uintptr_t v, size_t n);

/* Returns the memory behind [v, v + n) to the frame pool; the range stays
 * reserved and faults when touched.  Refused unless every page is mapped
 * (and the rules of vm_map). */
bool vm_unused(uintptr_t v, size_t n);

/* The same transitions for a range whose pages may be in either state, as
 * a heap's free memory is after parts of it were given back:
 * vm_map_gaps maps the pages of [v, v + n) that are not mapped (the others
 * stay as they are), sets *mapped to the bytes it mapped, and returns false,
 * having changed nothing, when frames run out; vm_unused_mapped returns the
 * memory of the mapped pages of [v, v + n) and returns the bytes released.
 * Refused as vm_map, but for the state of the pages.  O(pages), less where
 * whole slots are all one state. */
bool vm_map_gaps(uintptr_t v, size_t n, size_t *mapped);
size_t vm_unused_mapped(uintptr_t v, size_t n);

/* Releases the slots of [v, v + n), unmapping whatever is mapped inside.
 * v and n must be slot-aligned and every slot reserved by a non-fixed owner. */
bool vm_free(uintptr_t v, size_t n);

/* Queries, for tests and the console. */
enum vm_owner vm_owner_at(uintptr_t va);
bool vm_is_mapped(uintptr_t va);
/* Pages mapped in [v, v + n) (page-aligned). */
size_t vm_mapped_pages(uintptr_t v, size_t n);
const char *vm_owner_name(enum vm_owner owner);
void vm_get_stats(struct vm_stats *out);

/* Prints the address-space map: one row per reservation, with its owner
 * and how much of it is mapped. */
void vm_print_map(void);

/* vm's lock, taken and dropped from outside (kheap_hold, around a host
 * program's fork); with interrupts off. */
void vm_hold(void);
void vm_unhold(void);

#endif
