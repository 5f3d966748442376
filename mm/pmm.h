/*
 * mm/pmm.h - the physical frame allocator.
 *
 * Physical memory is seen in slots of 4 MiB (1024 frames of 4 KiB), the
 * span of one i386 page-directory entry:
 *   - a slot whose 1024 frames are all usable RAM and all free is "whole"
 *     and sits on the whole list: it can back a 4 MiB PSE page;
 *   - a slot with some free frames sits on the partial list, its free frames
 *     on a stack inside the slot (plus a bump index for a slot freshly
 *     broken from the whole list, so breaking one costs O(1));
 *   - single frames come from partial slots first, so whole slots survive
 *     for large pages as long as possible;
 *   - in front of the slots sits a cache of free frames per CPU, so that
 *     the common alloc and free are a few inline instructions with no
 *     lock; a full cache spills half to the slots, an empty one is refilled
 *     in a batch.  pmm_drain_cache() empties them all, which lets free
 *     frames re-form whole slots.
 * Every operation is O(1) (batches: O(1) per frame): no scan of memory or of
 * the map.
 *
 * Per frame the allocator keeps 2 bytes (the stack link) and 2 bits (RAM it
 * manages; allocated as a single frame) in metadata the caller provides
 * (pmm_metadata_size), so that it never touches the frames themselves: they
 * need not be mapped.  A 4 MiB slot is marked allocated in its slot alone.
 *
 * Frame 0 is never handed out (the first MiB is always withheld), so a
 * physical address of 0 means failure.
 *
 * Safe on every CPU, called with interrupts off (in the kernel every caller
 * holds the vm map's lock, which masks them; the slow paths check): the
 * caches are per CPU and taken from and given to by their own CPU alone,
 * or by a call it answers (pmm_drain_cache), so an interrupt must not come
 * between reading a cache and writing it back.  Everything else is under
 * the allocator's lock, the last in mm/'s order (kmalloc's class locks,
 * the page heap's, the vm map's, this one): holding it, nothing else is
 * taken.  pmm_check reads every CPU's cache: call it while
 * the other CPUs leave this allocator alone.
 */
#ifndef MM_PMM_H
#define MM_PMM_H

#include "mm/bitops.h"
#include "mm/mm_env.h"

#define PMM_FRAMES_PER_SLOT (SLOT_SIZE / PAGE_SIZE) /* 1024 */
#define PMM_MAX_SLOTS       PDE_COUNT               /* 4 GiB of them */

/* A physical range [base, base + length), 64 bits wide as memory maps are. */
struct pmm_range {
	uint64_t base;
	uint64_t length;
};

struct pmm_stats {
	uint32_t total_frames; /* usable RAM below 4 GiB, in frames */
	uint32_t free_frames;
	uint32_t reserved_frames; /* RAM withheld at init: kernel, loader data, ... */
	uint32_t whole_slots;     /* free 4 MiB aligned slots */
	uint32_t bad_frees;       /* refused pmm_free_frame / pmm_free_slot calls */
};

struct pmm_slot {
	uint16_t free_count; /* free frames, 0..1024 */
	uint16_t free_head;  /* top of the free stack (frame index), or PMM_NONE */
	uint16_t bump;       /* frames [bump, 1024) are free and not stacked */
	uint16_t usable;     /* frames of this slot that are usable RAM */
	uint16_t prev, next; /* list links (slot numbers), or PMM_NONE */
	uint8_t list;        /* enum pmm_list */
	uint8_t pad[3];
};

#define PMM_CACHE_SIZE 511 /* with its count, 2 KiB: a CPU's cache is found by a shift */

/* A CPU's cache of free frames: only that CPU touches it (or, while that
 * CPU answers a call, its caller on its behalf: pmm_drain_cache). */
struct pmm_cache {
	uint32_t count;
	paddr_t frames[PMM_CACHE_SIZE];
};
_Static_assert((sizeof(struct pmm_cache) & (sizeof(struct pmm_cache) - 1)) == 0, "a power of two");

struct pmm {
	/* Guards the slots, their lists and the bitmaps' slot-wide changes;
	 * the caches are per CPU and lock-free (zero-initialized: unlocked).
	 * The last lock in mm/'s order: nothing is taken while it is held. */
	mm_lock_t lock;
	mm_lock_t drain_lock;  /* serializes other CPUs giving their caches back */
	uint32_t frame_count;  /* frames covered by the metadata */
	uint16_t *link;        /* per frame: next on its slot's free stack */
	uint32_t *ram_bits;    /* per frame: RAM this allocator manages */
	uint32_t *frame_bits;  /* per frame: allocated as a single frame (atomic bits) */
	uint16_t partial_head; /* slots with some free frames */
	uint16_t whole_head;   /* slots entirely free */
	/* stats.free_frames counts the frames free in the slots, under the
	 * lock; pmm_get_stats and pmm_free_count add the caches'. */
	struct pmm_stats stats;
	struct pmm_cache cache[MM_MAX_CPUS];
	/* Per CPU, one whole slot it freed and may take again without the
	 * lock (a 4 MiB page unmapped and mapped again: the PSE round trip),
	 * or PMM_NONE.  Counted free; drained with the caches. */
	uint16_t spare_slot[MM_MAX_CPUS];
	struct pmm_slot slots[PMM_MAX_SLOTS];
};

#define PMM_NONE 0xffff

/* Which list a slot is on (struct pmm_slot.list). */
enum pmm_list {
	PMM_LIST_NONE,
	PMM_LIST_PARTIAL,
	PMM_LIST_WHOLE,
	PMM_LIST_TAKEN,
	PMM_LIST_SPARE, /* whole and free, a CPU's spare slot */
};

/* Bytes of metadata needed for frames [0, frame_count). */
size_t pmm_metadata_size(uint32_t frame_count);

/* The number of frames the metadata must cover for these usable ranges
 * (everything above 4 GiB is ignored). */
uint32_t pmm_frames_spanned(const struct pmm_range *usable, unsigned count);

/*
 * Builds the allocator: frames wholly inside 'usable' ranges are RAM; of
 * those, frames touching a 'withheld' range are kept back (counted as
 * reserved); the rest are free.  'metadata' holds pmm_metadata_size(
 * frame_count) bytes.  O(frames).
 */
void pmm_init(struct pmm *pmm, void *metadata, uint32_t frame_count, const struct pmm_range *usable,
              unsigned usable_count, const struct pmm_range *withheld, unsigned withheld_count);

paddr_t pmm_alloc_frame_slow(struct pmm *pmm);
bool pmm_free_frame_slow(struct pmm *pmm, paddr_t frame);

/* One 4 KiB frame, not zeroed; 0 when none is free.  O(1). */
static inline paddr_t pmm_alloc_frame(struct pmm *pmm)
{
	struct pmm_cache *cache = &pmm->cache[mm_cpu_index()];
	__asm__("" : "+r"(cache)); /* one register for the cache, not index arithmetic */
	uint32_t n = cache->count;
	if (__builtin_expect(n == 0, 0))
		return pmm_alloc_frame_slow(pmm);
	paddr_t frame = cache->frames[--n];
	cache->count = n;
	mm_bit_set(pmm->frame_bits, frame >> PAGE_SHIFT);
	return frame;
}

/* Returns a frame from pmm_alloc_frame (or a batch).  A frame that is not
 * page-aligned, not RAM this allocator manages, not allocated (a double
 * free), or part of a 4 MiB slot is reported with its address and the
 * reason, counted in bad_frees, and nothing changes; returns false then.
 * O(1). */
static inline bool pmm_free_frame(struct pmm *pmm, paddr_t frame)
{
	uint32_t f = frame >> PAGE_SHIFT;
	struct pmm_cache *cache = &pmm->cache[mm_cpu_index()];
	__asm__("" : "+r"(cache));
	uint32_t n = cache->count;
	/* One bit covers every bad case: only a frame handed out singly has
	 * it set.  A misaligned frame, or a full cache, takes the slow path,
	 * which names the problem (or spills the cache); the bit is cleared
	 * only on the way to the cache, atomically: of two CPUs freeing one
	 * frame, one wins and the other is told. */
	if (__builtin_expect((frame & (PAGE_SIZE - 1)) || f >= pmm->frame_count ||
	                             n == PMM_CACHE_SIZE || !mm_bit_test_clear(pmm->frame_bits, f),
	                     0))
		return pmm_free_frame_slow(pmm, frame);
	cache->frames[n] = frame;
	cache->count = n + 1;
	return true;
}

/* Frames free now: in the slots and in every CPU's cache. */
uint32_t pmm_free_count(const struct pmm *pmm);

/* Up to 'n' frames into out[]; returns how many (fewer only when memory
 * runs out).  O(1) per frame. */
unsigned pmm_alloc_frames(struct pmm *pmm, paddr_t *out, unsigned n);

/* pmm_alloc_frames writing frame | flags (page-table entries, say: 'flags'
 * within the low 12 bits). */
unsigned pmm_alloc_entries(struct pmm *pmm, paddr_t *entries, unsigned n, uint32_t flags);

/* pmm_free_frames of the frames in entries[0..n), whose low 12 bits are
 * flags and ignored. */
unsigned pmm_free_entries(struct pmm *pmm, const paddr_t *entries, unsigned n);

/* pmm_free_frame for each of frames[0..n); returns how many were freed. */
unsigned pmm_free_frames(struct pmm *pmm, const paddr_t *frames, unsigned n);

/* Returns every CPU's cached frames to their slots (whole slots re-form):
 * this CPU's itself, the others' by a call to each. */
void pmm_drain_cache(struct pmm *pmm);

/* A 4 MiB slot of frames aligned to 4 MiB, not zeroed; 0 when no slot is
 * wholly free (after draining every CPU's cache).  O(1): this CPU's spare
 * slot if it has one, inline and with no lock. */
paddr_t pmm_alloc_slot_slow(struct pmm *pmm);
static inline paddr_t pmm_alloc_slot(struct pmm *pmm)
{
	uint16_t *spare = &pmm->spare_slot[mm_cpu_index()];
	uint16_t c = *spare;
	if (__builtin_expect(c == PMM_NONE, 0))
		return pmm_alloc_slot_slow(pmm);
	*spare = PMM_NONE;
	pmm->slots[c].list = PMM_LIST_TAKEN;
	return (paddr_t)c * SLOT_SIZE;
}

/* Returns a slot from pmm_alloc_slot, whole (as this CPU's spare slot when
 * it has none); bad calls as pmm_free_frame. */
bool pmm_free_slot_slow(struct pmm *pmm, paddr_t base);
static inline bool pmm_free_slot(struct pmm *pmm, paddr_t base)
{
	uint32_t c = (uint32_t)(base / SLOT_SIZE);
	uint16_t *spare = &pmm->spare_slot[mm_cpu_index()];
	if (__builtin_expect(!IS_ALIGNED(base, SLOT_SIZE) || c >= PMM_MAX_SLOTS ||
	                             pmm->slots[c].list != PMM_LIST_TAKEN || *spare != PMM_NONE,
	                     0))
		return pmm_free_slot_slow(pmm, base);
	pmm->slots[c].list = PMM_LIST_SPARE;
	*spare = (uint16_t)c;
	return true;
}

/* Turns an allocated 4 MiB slot into 1024 separately allocated frames, each
 * to be freed with pmm_free_frame (used when a large page is split).
 * O(1) plus 128 bytes of bitmap. */
void pmm_split_slot(struct pmm *pmm, paddr_t base);

/* True when 'frame' is currently allocated. */
bool pmm_frame_allocated(const struct pmm *pmm, paddr_t frame);

void pmm_get_stats(const struct pmm *pmm, struct pmm_stats *out);

/*
 * The same operations with the allocator as a 'void *', for a caller that
 * takes its frames through function pointers (arch/i386/paging.h's
 * frame_ops): each is the operation itself, not a call to it.
 */
paddr_t pmm_op_alloc_frame(void *pmm);
void pmm_op_free_frame(void *pmm, paddr_t frame);
unsigned pmm_op_alloc_entries(void *pmm, paddr_t *entries, unsigned n, uint32_t flags);
void pmm_op_free_entries(void *pmm, const paddr_t *entries, unsigned n);
paddr_t pmm_op_alloc_slot(void *pmm);
void pmm_op_free_slot(void *pmm, paddr_t base);
void pmm_op_split_slot(void *pmm, paddr_t base);

/* Verifies every list, the cache and every counter against the bitmaps;
 * returns the number of inconsistencies found, each printed.  O(frames). */
unsigned pmm_check(const struct pmm *pmm);

#endif
