/*
 * mm/arena.h - the arena: one range of virtual address space that the heap
 * grows into, after the Go runtime's 32-bit heap (MHeap_SysAlloc, Go commit
 * 3dcedb62, "runtime: try extending arena size in 32-bit allocator").
 *
 * State and invariants (all addresses uintptr_t, ranges half-open):
 *   start <= used <= end <= start + limit
 *   [start, used)  handed to the heap: mapped, or deliberately released
 *                  (arena_release), or a hole: address space that a fallback
 *                  skipped over (another owner's reservation, or ours never
 *                  handed out); the heap never hands out a hole.
 *   [start, end)   reserved by this arena, holes excepted; every reservation
 *                  the arena holds is in ranges[], so arena_destroy gives
 *                  back exactly what it took.
 *   end            slot-aligned (4 MiB): reservations are whole slots.
 *
 * Growth, arena_sys_alloc(n), in this order:
 *   1. if n > end - used: needed = used + n - end rounded up to the step;
 *      new_end = end + needed (guarding against wrap-around); if new_end <=
 *      start + limit, reserve [end, new_end) with hint end.  Exactly there:
 *      end = new_end, the contiguous extension (the next page-directory
 *      slots).  Anywhere else: give it back at once.
 *   2. if n fits in [used, end): map [used, used + n), advance used.
 *   3. otherwise, the fallback: reserve and map n bytes wherever the
 *      address space has room (hint end).  Outside [start, start + limit):
 *      print "memory allocated by OS (%p) not in usable range [%p,%p)",
 *      give it back, fail.  Inside: use it, and advance used and end only
 *      when it lies beyond them - never backwards (Go issue 20259).
 *   4. every failure returns NULL having left nothing behind: no
 *      reservation, no frame, no page table.
 *
 * Metadata that must cover the whole arena grows with it through the same
 * primitives, in a reservation of its own, mapped only as far as used
 * reaches: the page table of the heap (struct arena_page per page of
 * [start, start + limit)); and the live bitmap (one bit per ARENA_QUANTUM
 * bytes, for the object allocator's double-free checks), mapped page by
 * page only where small objects live (arena_cover_live).  A persistent area
 * beside them (arena_meta_alloc) hands out never-freed metadata, such as
 * span records.
 *
 * Not thread-safe: the page heap above it calls it under its lock.
 */
#ifndef MM_ARENA_H
#define MM_ARENA_H

#include "mm/mm_env.h"

#define ARENA_DEFAULT_LIMIT (2ull << 30)   /* Go's MaxArena32 */
#define ARENA_DEFAULT_STEP  (256ull << 20) /* growth granule */
#define ARENA_MAX_RANGES    32             /* reservations held at once */

/* The smallest object alignment: _Alignof(max_align_t), 8 on i386, 16 on
 * x86_64.  The live bitmap has one bit per quantum. */
#define ARENA_QUANTUM_SHIFT (sizeof(void *) == 8 ? 4 : 3)
#define ARENA_QUANTUM       (1u << ARENA_QUANTUM_SHIFT)

struct span;

/* Per arena page: the span that owns it, where mm/pageheap.h says one is
 * named (the first and last page of every span, every page of a span of
 * small objects), and a word for the layer above the page heap. */
struct arena_page {
	struct span *span;
	/* kmalloc's, for its small spans: where the class's CPU list lies in
	 * any CPU's area (cpu_list_word), 0 for none (see mm/kmalloc.c). */
	uintptr_t cpu_list;
};

struct arena_stats {
	uint64_t reserved_bytes; /* address space held, all ranges */
	uint64_t mapped_bytes;   /* backed by frames now */
	uint64_t released_bytes; /* given back by arena_release, not yet reused */
	uint64_t hole_bytes;     /* skipped by fallbacks inside [start, used) */
	uint32_t extensions;     /* contiguous extensions at end */
	uint32_t fallbacks;      /* growths placed by the fallback */
	uint32_t failures;       /* arena_sys_alloc calls that returned NULL */
};

struct arena_range {
	uintptr_t base;
	uint64_t size;
};

struct arena {
	uintptr_t start, used, end;
	uintptr_t used_quanta; /* (used - start) / ARENA_QUANTUM */
	uint64_t limit, step;
	struct arena_stats stats;
	struct arena_range ranges[ARENA_MAX_RANGES];
	unsigned range_count;
	/* Metadata reservation: pages[], live bits, then the persistent area. */
	struct arena_page *pages;
	uint32_t *live_bits;
	uintptr_t live_prefix_end; /* the live bits are all mapped below here */
	uintptr_t meta_base, meta_end;
	uintptr_t pages_mapped_end; /* pages[] is mapped up to here */
	uintptr_t persistent_base, persistent_next, persistent_mapped_end;
	char last_error[160]; /* the last refusal or failure, as printed */
};

/*
 * Sets up an arena: reserves its metadata and its first 'step' bytes with
 * hint 'base' (slot-aligned, or 0: anywhere).  The arena starts wherever
 * that reservation lands, said on the console when that is not 'base'.  'limit' and 'step' are
 * multiples of 4 MiB, step
 * <= limit, limit <= 4 GiB.  Returns false, with a message and nothing
 * reserved, if that cannot be done.
 */
bool arena_init(struct arena *a, uintptr_t base, uint64_t limit, uint64_t step);

/* Gives every reservation back (frames included); the arena is unusable
 * afterwards until arena_init. */
void arena_destroy(struct arena *a);

/* The growth path above.  n: a positive multiple of PAGE_SIZE.  Returns
 * zeroed, mapped memory inside [start, start + limit), or NULL. */
void *arena_sys_alloc(struct arena *a, size_t n);

/* Frames behind the mapped pages of [p, p + n) (page-aligned, inside
 * [start, used)) go back to the frame pool; the range stays the arena's.
 * Returns the bytes released; a range the arena does not hold is refused
 * with a message (0 released, nothing changed). */
size_t arena_release(struct arena *a, uintptr_t p, size_t n);

/* Maps the released pages of [p, p + n) again (zeroed), leaving mapped
 * ones as they are, and sets *mapped to the bytes mapped; false when frames
 * run out or the arena does not hold the range, with nothing changed. */
bool arena_reuse(struct arena *a, uintptr_t p, size_t n, size_t *mapped);

/* The arena_page of an address inside [start, used), or NULL. */
static inline struct arena_page *arena_page_of(const struct arena *a, uintptr_t p)
{
	if (p < a->start || p >= mm_read_shared(&a->used))
		return 0;
	return &a->pages[(p - a->start) / PAGE_SIZE];
}

/* Maps the live bits that cover [p, p + n) (inside [start, used)) where
 * they are not mapped yet; they read 0 at first.  False when frames run
 * out. */
bool arena_cover_live_slow(struct arena *a, uintptr_t p, size_t n);

/* Whether the live bits of [p, p + n) lie in the prefix of the bitmap that
 * is mapped already: the common case, as spans reuse memory.  The prefix
 * only grows, so a caller may ask without the heap's lock. */
static inline bool arena_live_covered(const struct arena *a, uintptr_t p, size_t n)
{
	const uint32_t *end = &a->live_bits[(p + n - 1 - a->start) / ARENA_QUANTUM / 32 + 1];
	return (uintptr_t)end <= __atomic_load_n(&a->live_prefix_end, __ATOMIC_ACQUIRE);
}

static inline bool arena_cover_live(struct arena *a, uintptr_t p, size_t n)
{
	return arena_live_covered(a, p, n) || arena_cover_live_slow(a, p, n);
}

/* Never-freed, zeroed metadata from the persistent area, aligned to
 * 'align' (a power of two, at least 16); NULL when it is exhausted or
 * frames run out. */
void *arena_meta_alloc(struct arena *a, size_t bytes, size_t align);

/* Prints one summary line: start, used, end, limit, bytes reserved, mapped,
 * released, extensions and fallbacks. */
void arena_print(const struct arena *a, const char *name);

#endif
