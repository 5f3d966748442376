/*
 * mm/pageheap.h - the page heap: runs of pages ("spans") carved from an
 * arena.
 *
 * Structures:
 *   - a span is [start, start + npages * PAGE_SIZE), free or in use;
 *   - the arena's page table (struct arena_page per page) names a span at
 *     its first and last page, so that a block's start finds its span, and
 *     a freed span its neighbours, in O(1) whatever the span's size.  Spans
 *     of small objects are named at every page (ph_mark_all), since kfree
 *     looks them up from any object in them.  No other page names a span,
 *     and none names a span that does not hold it (ph_check verifies);
 *   - free spans sit in two-level segregated bins (TLSF: a power-of-two
 *     class, then 8 linear subclasses, each with a list and a bitmap).  A
 *     request is rounded up to the next bin boundary and served from the
 *     first non-empty bin at or above it, found with two bit scans: O(1)
 *     whatever the number of free spans, with a fit no worse than 1/8 of
 *     the request above the best (the remainder goes back to the bins).
 *     A balanced tree would give the best fit in O(log n); the bins give
 *     O(1) and, for page runs, a fit as good in practice;
 *   - a free span counts its released pages (frames given back; they read
 *     0 when mapped again, which the vm map knows page by page) and knows
 *     whether its mapped pages are zeroed (known to read 0) or dirty.  Free
 *     spans always coalesce, and a merge just adds the counts: freeing
 *     memory beside released memory maps or releases nothing (Go's heap
 *     does the same with its npreleased), and a merge is zeroed only if
 *     both parts were.
 *
 * Allocation: find a free span (growing the arena when none fits: by at
 * least PH_GROW_PAGES, or exactly the request for large ones, which then
 * goes into use without being filed; a free span at the arena's end is
 * grown into, by what it lacks, when its pages all have frames or the
 * limit leaves no room for the whole request; when the arena cannot grow,
 * the first span of the request's own bin that holds it, which the
 * rounded-up search passes over: a walk of one list before a refusal),
 * split off the remainder, map its released pages again (they read 0),
 * and zero it only if it is dirty and the caller asked for zeroed memory:
 * memory is zeroed once, when it must be.  Free: coalesce with free
 * neighbours and file in a bin; then the scavenger.  It keeps free pages mapped for the recent peak
 * - as many as the most pages in use in this period of hold_frees frees or the one before, less
 * those in use now - so that a heap emptied and filled again maps nothing again; those pages are no
 * more than the heap had in use just before.  Beyond that, it keeps scavenge_threshold_pages or 1/3
 * of the pages in use, whichever is larger: when more sit free and mapped, it releases frames from
 * the end of the largest free spans until the recent peak's pages and half that remain (allocation
 * splits free spans from the start, so what is kept is what is taken next).  Idle memory kept stays
 * in proportion to the heap's recent size, and kmalloc's reclaim or kmalloc_trim gives all of it
 * back at once.  Both are O(1) in the span's size (and in the number of free spans) but for the
 * pages mapped or released; ph_mark_all and its undoing at free cost O(npages), for spans of small
 * objects; taking part of a span that is partly released maps the part's gaps first (O(npages / 32)
 * to find them).
 *
 * Locking: each heap has a lock (struct pageheap), taken inside every call
 * that changes the heap; it covers the heap's arena too.  Lock order, mm/
 * as a whole: kmalloc's class locks, then this one, then the vm map's
 * (the arena's vm_* calls), then the frame allocator's; code holding it
 * takes no class lock.  ph_lookup and ph_mark_all take none: they read or
 * write the pages of a span the caller owns.
 */
#ifndef MM_PAGEHEAP_H
#define MM_PAGEHEAP_H

#include "mm/arena.h"

#define PH_SL_BITS                          3
#define PH_SL_COUNT                         (1 << PH_SL_BITS)
#define PH_FL_COUNT                         22
#define PH_GROW_PAGES                       64   /* smallest growth: 256 KiB */
#define PH_DEFAULT_SCAVENGE_THRESHOLD_PAGES 1024 /* 4 MiB */
#define PH_DEFAULT_HOLD_FREES               1024

enum span_state { SPAN_FREE = 1, SPAN_IN_USE = 2 };

/*
 * A span that kmalloc cuts into objects of one size class (mm/kmalloc.c):
 * its part of the record, which the page heap never reads.  The page heap
 * hands out every span with size_class 0 and cpu_list 0 (a page-level
 * span: a large block) and leaves the rest to kmalloc, which sets it.
 */
struct span_small {
	/* Read and written for every object a flush gives back, so kept in 16
	 * bytes at a 16-byte boundary: one cache line, wherever the record
	 * starts (records are 16-byte aligned; on i386 a record is 64 bytes). */
	void *free_objects __attribute__((aligned(16))); /* linked through their first word */
	uint32_t objects_in_use; /* handed out: to callers or to the per-CPU cache */
	uint8_t size_class;      /* 0 for page-level spans */
	uint8_t listed;          /* on its class's list of spans with free objects */
	uintptr_t cpu_list;      /* its class's offset; non-zero <=> an in-use small span */
	uint32_t object_count;   /* objects that fit the span */
	uint32_t carved;         /* objects [carved, object_count) never handed out */
	uint32_t check_scratch;  /* kheap_check's tally */
	uint32_t abandoned;      /* in use for good: cut off a broken free list */
};

struct span {
	uintptr_t start;
	uint32_t npages;
	uint8_t state;           /* enum span_state */
	uint8_t zeroed;          /* free: every mapped page reads 0 */
	uint8_t all_marked;      /* in use: every page names the span */
	uint16_t bin;            /* free: fl * PH_SL_COUNT + sl */
	uint32_t released_pages; /* pages whose frames were given back (in use: ph_release_pages) */
	struct span *next, *prev; /* free: bin list; in use: the owner's list */
	struct span_small small;  /* kmalloc's */
};

struct pageheap_stats {
	/* Pages now: at most 2^20 in a 4 GiB space, so 32 bits (cheaper to
	 * keep on i386); multiply as uint64_t for bytes. */
	uint32_t in_use_pages;
	uint32_t free_mapped_pages;   /* free, frames held */
	uint32_t free_released_pages; /* free, frames given back */
	uint32_t in_use_spans;
	uint32_t free_spans;
	uint64_t grows;           /* arena_sys_alloc calls */
	uint64_t scavenged_pages; /* ever released by the scavenger */
	uint64_t zeroed_pages;    /* ever zeroed because they were dirty */
	uint64_t reused_pages;    /* released pages mapped again */
	uint32_t failures;        /* ph_alloc calls that returned NULL */
};

struct pageheap {
	/* Guards everything below and the arena: taken inside each call that
	 * changes the heap (zero-initialized: unlocked). */
	mm_lock_t lock;
	struct arena arena;
	uint32_t fl_bitmap;
	uint32_t sl_bitmap[PH_FL_COUNT];
	struct span *bins[PH_FL_COUNT][PH_SL_COUNT];
	struct span *spare_spans;          /* span records not in use */
	uint32_t scavenge_threshold_pages; /* least pages kept free and mapped */
	uint32_t max_pages;                /* the arena's limit in pages: no span is larger */
	/* The scavenger's memory of recent use: the most pages in use in this
	 * period and in the one before.  A period is hold_frees calls of
	 * ph_free; 0 turns the memory off (the rule of thirds alone). */
	uint32_t hold_frees, frees_left;
	uint32_t period_peak_pages, previous_peak_pages;
	struct pageheap_stats stats;
};

/* Sets up a heap over a new arena (arena_init's arguments).  The heap must
 * not hold an arena already (ph_destroy first). */
bool ph_init(struct pageheap *ph, uintptr_t base, uint64_t limit, uint64_t step);

/* Gives everything back (see arena_destroy). */
void ph_destroy(struct pageheap *ph);

/*
 * A span of 'npages' pages, in use, or NULL (out of address space or
 * frames: nothing is left behind).  With 'zeroed', every byte reads 0;
 * otherwise the contents are unspecified.  O(1).
 */
struct span *ph_alloc(struct pageheap *ph, uint32_t npages, bool zeroed);

/* A span of 'npages' pages whose start is aligned to 'align_pages' pages
 * (a power of two): the request is over-allocated and the excess given
 * back at once.  As ph_alloc otherwise. */
struct span *ph_alloc_aligned(struct pageheap *ph, uint32_t npages, uint32_t align_pages,
                              bool zeroed);

/* Grows in-use span 's' (not marked page by page) to 'npages' in place,
 * taking the head of the free span just after it; false, with nothing
 * changed, when that span is not free or too small, or frames run out.  The
 * new pages' contents are unspecified.  O(1) but for the pages mapped. */
bool ph_grow(struct pageheap *ph, struct span *s, uint32_t npages);

/* Names 's' (in use) at every one of its pages, for a span of small
 * objects, and stores its size class's CPU list in every page's word for
 * kfree (struct arena_page); ph_free clears both.  O(npages). */
void ph_mark_all(struct pageheap *ph, struct span *s, uintptr_t cpu_list);

/* Returns an in-use span.  O(1), or O(npages) after ph_mark_all.  Every
 * page word is NULL outside marked spans. */
void ph_free(struct pageheap *ph, struct span *s);

/* The owner of in-use span 's' gives back the frames behind its pages
 * [p, p + n) (they fault when touched; returns the bytes released), or maps
 * released ones again, zeroed (false when frames run out).  The span counts
 * them in released_pages, which ph_free carries into the free span: an
 * in-use span is otherwise wholly mapped.  For kfence's guard pages. */
size_t ph_release_pages(struct pageheap *ph, struct span *s, uintptr_t p, size_t n);
bool ph_reuse_pages(struct pageheap *ph, struct span *s, uintptr_t p, size_t n);

/* The in-use span named at the page of 'p' (its first or last page, or
 * any page after ph_mark_all), or NULL. */
static inline struct span *ph_lookup(const struct pageheap *ph, uintptr_t p)
{
	const struct arena_page *page = arena_page_of(&ph->arena, p);
	struct span *s = page ? page->span : 0;
	return s && s->state == SPAN_IN_USE ? s : 0;
}

/* Releases the frames of every free span now. */
void ph_scavenge_all(struct pageheap *ph);

/* Maps the live bits of the arena under span 's' (arena_cover_live);
 * false when frames run out.  Most spans reuse memory whose bits are
 * mapped: that check needs no lock (mm/arena.h). */
bool ph_cover_live_slow(struct pageheap *ph, const struct span *s);
static inline bool ph_cover_live(struct pageheap *ph, const struct span *s)
{
	return arena_live_covered(&ph->arena, s->start, (size_t)s->npages * PAGE_SIZE) ||
	       ph_cover_live_slow(ph, s);
}

/* Never-freed metadata for the layer above (arena_meta_alloc, under the
 * heap's lock): zeroed, aligned to 16; NULL with a note when there is no
 * room or no frame. */
void *ph_meta_alloc(struct pageheap *ph, size_t bytes);

/* The heap's lock, for a caller that must look a span up and free it in
 * one step (kmalloc's large blocks: two CPUs freeing one block must not
 * both see it in use) or hold the heap still (kheap_check); with it held,
 * ph_free_locked stands for ph_free. */
mm_irq_flags_t ph_lock(struct pageheap *ph);
void ph_unlock(struct pageheap *ph, mm_irq_flags_t flags);
void ph_free_locked(struct pageheap *ph, struct span *s);

/*
 * Checks every invariant: each span where the page table says, free spans
 * never adjacent, each free span in the right bin exactly once, bitmaps
 * matching the bins, each free span's count of released pages matching
 * what the vm map says is unmapped, in-use spans wholly mapped,
 * counters matching the walk.  Prints each problem; returns how many.
 * O(pages).
 */
unsigned ph_check(const struct pageheap *ph);

void ph_print(const struct pageheap *ph, const char *name);

#endif
