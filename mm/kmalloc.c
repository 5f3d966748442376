/*
 * mm/kmalloc.c - the size-class object allocator (interface: kmalloc.h).
 *
 * Structures, bottom up:
 *   - the page heap (kheap, mm/pageheap.h) hands out spans of pages;
 *   - a size class is an object size; a span of a class holds
 *     span->object_count objects of that size, carved from its start.  Its
 *     free objects are either never carved ([carved, object_count)) or on
 *     the span's free list, linked through their first word;
 *   - the central list of a class holds its spans that have free objects;
 *   - the per-CPU cache holds, per class, a list of free objects taken from
 *     the spans in batches.  The fast paths touch only this cache;
 *   - the arena's live bitmap has one bit per quantum (8 bytes on i386):
 *     set exactly while a small object is held by a caller.
 *
 * Size classes: from the quantum Q (the alignment, 8 or 16) to 16Q in
 * steps of Q, then sixteen evenly spaced classes in every power of two up
 * to 32 KiB (136, 144, ..., 256, 272, ...).  Above 16Q no request wastes
 * more than 1/16 of its block; below, the alignment quantum is the only
 * waste.  A class's spans are as many pages as it takes to hold eight
 * objects (four for classes above 8 KiB), and more, up to 16 pages, until
 * at most 1/64 of the span is left over at its end.  Larger blocks are
 * spans of their own ("large objects").
 *
 * Many classes waste little in rounding but hold more free objects in
 * partly used spans: each class keeps the memory of its own peak, and the
 * peaks of 144 classes do not come at once.  Borrowing evens that out: a
 * class with no free object of its own takes one from the spans of the
 * next BORROW_CLASSES classes before it sets up a span of its own.  On the
 * host's mixed workload (8 B-4 KiB, random lifetimes) the memory held is
 * 1.092 times the live bytes at the peak; 1.132 without borrowing, 1.127
 * with eight classes per power of two (and four-object spans) and none.  A
 * borrowed block is at most four classes (about 25%) larger than its
 * request, and the class it came from takes it back when it is freed.
 *
 * kmalloc(n), n <= 32 KiB:
 *   1. the class: a table indexed by n itself up to 4 KiB (8 KiB of
 *      table: kernel objects are mostly below a page), then by n in
 *      128-byte units (every class above 1 KiB is a multiple of 128); the
 *      tables hold the byte offset of the class's per-CPU list;
 *   2. interrupts off; pop the class's per-CPU list; set the live bit;
 *      interrupts back.  That is all on the fast path;
 *   3. an empty list is refilled with a batch (about 16 KiB, 4 to 32
 *      objects) from the class's spans, at most three of them; a class
 *      with no free object borrows one (above), or else gets a new span
 *      from the page heap (which grows the arena when it must), whose first
 *      object goes to the caller and the next three to the list: setting a
 *      span up is the costliest step of any call, so that call does little
 *      else.  When the page heap cannot serve a request for want of frames,
 *      the memory held idle (per-CPU lists, kept empty spans, free mapped
 *      pages) goes back to the frame pool and the request is tried once
 *      more.
 * kfree(p):
 *   1. p's offset in the arena, rotated right by the quantum's bits, must
 *      be below the arena's size in quanta: one comparison rules out
 *      pointers outside [start, used) and pointers off the quantum;
 *   2. the page's word in the arena's page table names the per-CPU list of
 *      the class whose span holds it (NULL for every other page);
 *   3. the live bit of p is tested and cleared at once.  It is set exactly
 *      while an object starting at p is held by a caller, so this single
 *      test checks the object boundary (an interior pointer's bit is clear)
 *      and catches a second kfree;
 *   4. the object is pushed on the per-CPU list; a list grown past its
 *      limit gives half of its objects back to their spans, within a
 *      budget of work (FLUSH_BUDGET) that bounds the call.  A span left
 *      with no object in use is kept for reuse while its class holds less
 *      than EMPTY_KEEP_PAGES of empty spans, and otherwise goes back to the
 *      page heap at once: freeing a burst of objects gives their memory
 *      back.
 * Anything else - NULL, a large block, a bad pointer - takes the slow path,
 * which re-derives the span and names the reason (by the class's
 * reciprocal: no division).  A bad pointer is reported, counted, and
 * changes nothing.
 *
 * Zeroing: kcalloc zeroes small blocks itself; large blocks come from the
 * page heap, which zeroes only pages that may hold old data.
 *
 * Locking: every path runs with interrupts off (one CPU).  For SMP the
 * per-CPU cache stays lock-free and a lock per class would guard the
 * central lists and the page heap: refill() and flush() are the only
 * entries to them from the fast paths.  Two things name this CPU's lists
 * directly and would become offsets added to the running CPU's cache base
 * (a segment-relative access on x86, no more instructions): the size
 * lookups, which hold offsets already, and the arena's page words.  The
 * live bitmap would need an atomic bit operation (lock bts/btr), the one
 * cost SMP adds to the fast paths.
 */
#include "mm/bitops.h"
#include "mm/kheap.h"

#define Q           ARENA_QUANTUM
#define QSHIFT      ARENA_QUANTUM_SHIFT
#define LOOKUP_MAX  4096u       /* sizes served by the table (8 KiB of it) */
#define PER_BAND    16u         /* classes in each power of two */
#define CACHE_BYTES (16u << 10) /* a batch moves about this much */
/* Empty spans a class keeps for reuse rather than giving them back to the
 * page heap, against thrashing when a class shrinks and grows again: up to
 * this many pages' worth (at least one span).  Every other span goes back
 * as soon as it is empty, so freeing a burst of objects returns their
 * memory (as Linux's SLUB keeps min_partial slabs).  Measured on the host's
 * mixed workload: keeping every empty span took 27.6 instructions per call,
 * keeping 1, 8 or 32 pages' worth 28.9, at the same peak memory. */
#define EMPTY_KEEP_PAGES 8

/* A class with no free object of its own takes one from the spans of the
 * next BORROW_CLASSES classes (at most about 25% larger) before it sets up
 * a span: see the essay above. */
#define BORROW_CLASSES 4

_Static_assert((KMALLOC_MAX_SMALL & (KMALLOC_MAX_SMALL - 1)) == 0, "a power of two");
_Static_assert(KMALLOC_ALIGN == ARENA_QUANTUM, "the live bitmap's quantum is the alignment");
_Static_assert(LOOKUP_MAX >= PER_BAND * 16, "the table covers the linear classes");

struct class_info {
	uint32_t size;
	uint32_t magic;     /* ceil(2^32 / size): offset * magic >> 32 == offset / size */
	uint32_t pages;     /* per span */
	uint32_t objects;   /* per span */
	uint32_t batch;     /* objects moved per refill */
	uint32_t cache_max; /* per-CPU list length that triggers a flush */
};

/* One class's list in the per-CPU cache.  'room' counts down as kfree
 * pushes and up as kmalloc pops, so that the flush test is one decrement;
 * the list holds cache_max - room objects.  Only kfree counts calls: the
 * mallocs of a class are its frees plus its objects in use. */
struct kmalloc_bin {
	void *head;
	int32_t room;   /* below 0: flush half the list */
	uint64_t frees; /* on this CPU, ever */
} __attribute__((aligned(sizeof(void *) == 4 ? 16 : 32)));
_Static_assert((sizeof(struct kmalloc_bin) & (sizeof(struct kmalloc_bin) - 1)) == 0,
               "indexed by a shift");

struct central {
	struct span *partial; /* spans of the class with free objects */
	uint32_t spans;       /* all spans of the class */
	uint32_t empty;       /* listed spans with nothing in use, at most keep_empty */
	uint32_t keep_empty;  /* EMPTY_KEEP_PAGES in this class's spans, at least 1 */
	uint64_t out;         /* objects the spans have handed out (sum of objects_in_use) */
};

struct pageheap kheap;

/* Class 0 stands for large objects: small classes are 1..class_count. */
static struct class_info classes[KMALLOC_MAX_CLASSES + 1];
static unsigned class_count;
/* The class of a size: by the size itself up to LOOKUP_MAX (no rounding on
 * the fast path), then by the size in units of COARSE bytes, which divides
 * every class size above LOOKUP_MAX. */
#define COARSE_SHIFT 7
static struct kmalloc_bin cache[KMALLOC_MAX_CLASSES + 1]; /* the per-CPU cache */
/* The lookups give the class as the byte offset of its per-CPU list in
 * cache[], which the fast path adds without scaling. */
typedef uint16_t bin_offset_t;
_Static_assert(sizeof(cache) <= UINT16_MAX, "offsets fit");
static bin_offset_t lookup[LOOKUP_MAX + 1];
static bin_offset_t lookup_coarse[(KMALLOC_MAX_SMALL >> COARSE_SHIFT) + 1];

static inline struct kmalloc_bin *bin_at(bin_offset_t offset)
{
	return (struct kmalloc_bin *)((char *)cache + offset);
}
/* Classes past the last have no spans: a class looks BORROW_CLASSES ahead
 * without a bound check. */
static struct central central[KMALLOC_MAX_CLASSES + 1 + BORROW_CLASSES];
static struct {
	uint64_t bad_frees, failures, reclaims;
	uint64_t large_mallocs, large_frees, large_in_use_bytes;
} totals;
/* The live bitmap's origin for absolute indexes: the bit of the object at
 * p is bit p >> QSHIFT from here (the arena's start is page-aligned). */
static uintptr_t live_origin;

/* Objects on the per-CPU list of a class. */
static inline uint32_t cached(unsigned cls)
{
	return (uint32_t)((int32_t)classes[cls].cache_max - cache[cls].room);
}

/* ---- size classes ---- */

/* Pages per span of a class: the fewest that hold SPAN_OBJECTS objects
 * (SPAN_MIN_OBJECTS when that would take more than SPAN_MAX_PAGES), and
 * then more, up to SPAN_MAX_PAGES, until at most 1/64 of the span is left
 * over at its end (or as little as there can be).  Larger spans are set up
 * less often and empty less often; every page of a span is named when it
 * is set up, which bounds the slowest kmalloc. */
#define SPAN_OBJECTS     8
#define SPAN_MIN_OBJECTS 4
#define SPAN_MAX_PAGES   16
static uint32_t span_pages(uint32_t size)
{
	uint32_t least = (SPAN_OBJECTS * size + PAGE_SIZE - 1) / PAGE_SIZE;
	if (least > SPAN_MAX_PAGES)
		least = (SPAN_MIN_OBJECTS * size + PAGE_SIZE - 1) / PAGE_SIZE;
	uint32_t best = least;
	for (uint32_t pages = least; pages <= SPAN_MAX_PAGES || pages == least; pages++) {
		uint32_t tail = pages * PAGE_SIZE % size;
		if (tail * 64 <= pages * PAGE_SIZE)
			return pages;
		if ((uint64_t)tail * best < (uint64_t)(best * PAGE_SIZE % size) * pages)
			best = pages;
	}
	return best;
}

static void add_class(uint32_t size)
{
	struct class_info *c = &classes[++class_count];
	c->size = size;
	c->magic = (uint32_t)(((1ull << 32) + size - 1) / size);
	c->pages = span_pages(size);
	c->objects = c->pages * PAGE_SIZE / size;
	/* A batch is at most one span's worth, so that a refill makes at most
	 * one span: the worst single operation stays short. */
	c->batch = CACHE_BYTES / size < 4 ? 4 : CACHE_BYTES / size > 32 ? 32 : CACHE_BYTES / size;
	if (c->batch > c->objects)
		c->batch = c->objects;
	c->cache_max = 2 * c->batch;
}

static void build_classes(void)
{
	class_count = 0;
	for (uint32_t size = Q; size <= PER_BAND * Q; size += Q)
		add_class(size);
	for (uint32_t band = PER_BAND * Q; band < KMALLOC_MAX_SMALL; band *= 2) {
		for (uint32_t i = 1; i <= PER_BAND; i++)
			add_class(band + i * (band / PER_BAND));
	}
	MM_ASSERT(class_count <= KMALLOC_MAX_CLASSES, "%u classes", class_count);
	unsigned c = 1;
	for (uint32_t size = 0; size <= LOOKUP_MAX; size++) {
		while (classes[c].size < size)
			c++;
		lookup[size] = (bin_offset_t)(c * sizeof(struct kmalloc_bin));
	}
	for (uint32_t i = 0; i <= KMALLOC_MAX_SMALL >> COARSE_SHIFT; i++) {
		uint32_t size = i << COARSE_SHIFT;
		while (classes[c].size < size)
			c++;
		MM_ASSERT(size <= LOOKUP_MAX || (classes[c].size & ((1u << COARSE_SHIFT) - 1)) == 0,
		          "class %u is not a multiple of the coarse unit", classes[c].size);
		lookup_coarse[i] = (bin_offset_t)(c * sizeof(struct kmalloc_bin));
	}
}

static inline bin_offset_t bin_offset_of(size_t size)
{
	return size <= LOOKUP_MAX
	               ? lookup[size]
	               : lookup_coarse[(size + (1u << COARSE_SHIFT) - 1) >> COARSE_SHIFT];
}

unsigned kmalloc_class_of(size_t size)
{
	return bin_offset_of(size) / sizeof(struct kmalloc_bin);
}

uint32_t kmalloc_class_size(unsigned cls)
{
	return cls >= 1 && cls <= class_count ? classes[cls].size : 0;
}

unsigned kmalloc_class_count(void)
{
	return class_count;
}

/* ---- set-up ---- */

bool kmalloc_init(uintptr_t base, uint64_t limit, uint64_t step)
{
	if (kheap.arena.limit) {
		kprintf("kmalloc_init: the heap is set up already\n");
		return false;
	}
	build_classes();
	for (unsigned cls = 1; cls <= class_count; cls++) {
		cache[cls] = (struct kmalloc_bin){ NULL, (int32_t)classes[cls].cache_max, 0 };
		uint32_t keep = EMPTY_KEEP_PAGES / classes[cls].pages;
		central[cls].keep_empty = keep ? keep : 1;
	}
	if (!ph_init(&kheap, base, limit, step))
		return false;
	live_origin = (uintptr_t)kheap.arena.live_bits - (kheap.arena.start >> QSHIFT) / 8;
	return true;
}

/* Before kmalloc_init every table is empty, so that a request of any size
 * reaches a slow path; each of them that can be reached first asks this. */
static __attribute__((noinline, cold)) void used_before_set_up(const char *call)
{
	panic("%s: the heap is used before kmalloc_init set it up", call);
}

/* ---- reporting ---- */

static __attribute__((noinline, cold)) void bad_pointer(const char *call, const void *ptr,
                                                        const char *why)
{
	totals.bad_frees++;
	kprintf_ratelimited("kmalloc: bad pointers", "%s(%p): %s; ignored\n", call, ptr, why);
}

/*
 * The span of a live small or large block starting at 'ptr', or NULL with
 * the reason in *why.  Re-derives everything from the pointer.  Interrupts
 * must be off.
 */
static struct span *block_span(uintptr_t p, const char **why)
{
	struct arena *a = &kheap.arena;
	uintptr_t off = p - a->start;
	if (__builtin_expect(off >= a->used - a->start, 0)) {
		*why = "not a heap pointer";
		return NULL;
	}
	struct span *s = a->pages[off >> PAGE_SHIFT].span;
	if (__builtin_expect(!s || s->state != SPAN_IN_USE, 0)) {
		*why = "not the start of an allocated block";
		return NULL;
	}
	/* A page names only the span that holds it (mm/pageheap.h). */
	uintptr_t rel = p - s->start;
	unsigned cls = s->size_class;
	if (cls == 0) {
		if (rel) {
			*why = "interior pointer of a large block";
			return NULL;
		}
		return s;
	}
	uint32_t index = (uint32_t)(((uint64_t)rel * s->magic) >> 32);
	if (__builtin_expect(index * s->object_size != rel, 0)) {
		*why = "interior pointer (not the start of a block)";
		return NULL;
	}
	if (__builtin_expect(!mm_bit_test(a->live_bits, (uint32_t)(off >> QSHIFT)), 0)) {
		*why = "block already free (double free?)";
		return NULL;
	}
	return s;
}

/* ---- spans of a class (the central lists) ---- */

static void list_add(struct central *c, struct span *s)
{
	s->prev = NULL;
	s->next = c->partial;
	if (s->next)
		s->next->prev = s;
	c->partial = s;
	s->listed = 1;
}

static void list_del(struct central *c, struct span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->listed = 0;
}

/* The page heap could not serve a request: memory held idle - objects on
 * the per-CPU lists, the empty spans each class keeps, free pages still
 * mapped - goes back to the frame pool, so that one retry can use it.
 * True when anything came back.  (Linux's slab shrinkers do the same under
 * memory pressure.) */
static bool reclaim_idle(size_t wanted)
{
	uint64_t freed = kmalloc_trim();
	totals.reclaims += freed != 0;
	if (freed)
		kprintf_ratelimited(
		        "kmalloc: reclaims",
		        "kmalloc: %zu bytes not available: gave %llu KiB held idle back, "
		        "retrying\n",
		        wanted, (unsigned long long)(freed >> 10));
	return freed != 0;
}

/* The page heap's second attempt at a request it could not serve: after
 * reclaim_idle, when that gave anything back. */
static __attribute__((noinline)) struct span *heap_alloc_again(uint32_t npages,
                                                               uint32_t align_pages, bool zeroed)
{
	if (!reclaim_idle((size_t)npages * PAGE_SIZE))
		return NULL;
	return ph_alloc_aligned(&kheap, npages, align_pages, zeroed);
}

static inline struct span *heap_alloc(uint32_t npages, uint32_t align_pages, bool zeroed)
{
	struct span *s = align_pages > 1 ? ph_alloc_aligned(&kheap, npages, align_pages, zeroed)
	                                 : ph_alloc(&kheap, npages, zeroed);
	if (__builtin_expect(!s, 0))
		s = heap_alloc_again(npages, align_pages, zeroed);
	return s;
}

static struct span *new_class_span(unsigned cls)
{
	const struct class_info *ci = &classes[cls];
	struct span *s = heap_alloc(ci->pages, 1, false);
	if (!s)
		return NULL;
	if (!arena_cover_live(&kheap.arena, s->start, (size_t)ci->pages * PAGE_SIZE)) {
		ph_free(&kheap, s);
		return NULL;
	}
	/* Every page names the span (for flush) and, in its page word, the
	 * per-CPU list (for kfree: one lookup).  No other page names a list. */
	ph_mark_all(&kheap, s, &cache[cls]);
	s->size_class = (uint8_t)cls;
	s->cache = &cache[cls];
	s->object_size = ci->size;
	s->magic = ci->magic;
	s->free_objects = NULL;
	s->objects_in_use = 0;
	s->object_count = ci->objects;
	s->carved = 0;
	list_add(&central[cls], s);
	central[cls].spans++;
	return s;
}

/* Fills the per-CPU list of 'cls' with up to a batch, from the free lists
 * of the class's spans (which must have one) first and then from their
 * uncarved ends.  The spans visited are always the head of the class list
 * (one that is left full is unlinked), and at most REFILL_SPANS of them:
 * spans given back a single object each would otherwise make one refill
 * long.  Counters are updated once per span and once per batch. */
#define REFILL_SPANS 3
/* A flush's work, in objects given back: at most FLUSH_BUDGET, where
 * putting a full span back on its class list counts as one more, and
 * releasing an emptied span as RELEASE_COST (a span of up to 16 pages to
 * unname, then coalescing in the page heap).  This is what bounds the worst
 * kfree. */
#define FLUSH_BUDGET   12
#define RELEASE_COST   8
#define NEW_SPAN_BATCH 4
static __attribute__((noinline)) void refill(unsigned cls)
{
	const struct class_info *ci = &classes[cls];
	struct central *c = &central[cls];
	struct kmalloc_bin *bin = &cache[cls];
	struct span *s = c->partial;
	uint32_t batch = ci->batch;
	void *head = bin->head;
	uint32_t got = 0;
	for (unsigned visits = 1;; visits++) {
		uint32_t taken = 0, want = batch - got;
		void **obj = s->free_objects;
		/* The count as the loop's test and the end of the list as an exit
		 * (clang otherwise evaluates both with set-on-condition every turn). */
		for (; taken < want; taken++) {
			if (!obj)
				break;
			void **next = *obj;
			*obj = head;
			head = obj;
			obj = next;
		}
		s->free_objects = obj;
		if (taken < want && s->carved < s->object_count) {
			uint32_t carve = s->object_count - s->carved;
			if (carve > want - taken)
				carve = want - taken;
			uintptr_t p = s->start + (uintptr_t)s->carved * ci->size;
			for (uint32_t i = 0; i < carve; i++, p += ci->size) {
				*(void **)p = head;
				head = (void *)p;
			}
			s->carved += carve;
			taken += carve;
		}
		if (s->objects_in_use == 0 && taken)
			c->empty--; /* an empty span in use again */
		s->objects_in_use += taken;
		got += taken;
		if (!obj && s->carved == s->object_count)
			list_del(c, s); /* full: found again through kfree */
		if (got == batch || visits == REFILL_SPANS || !(s = c->partial))
			break;
	}
	bin->head = head;
	bin->room -= (int32_t)got;
	c->out += got;
}

/* An empty span of a class goes back to the page heap. */
static void release_class_span(struct central *c, struct span *s)
{
	list_del(c, s);
	c->spans--;
	s->cache = NULL;    /* no longer a small span */
	ph_free(&kheap, s); /* clears the page words: kfree no longer takes it */
}

/* Gives up to 'n' objects of the per-CPU list of 'cls' back to their
 * spans, within 'budget' (FLUSH_BUDGET for kfree; kmalloc_drain has no
 * limit).  A span left with nothing in use is kept while the class has
 * fewer than keep_empty empty spans, and otherwise goes back to the page
 * heap at once.  An object that would empty a span whose release the
 * budget no longer covers stays in the per-CPU list for a later flush, so
 * that no span is left empty beyond keep_empty for want of budget. */
static void flush(unsigned cls, uint32_t n, int32_t budget)
{
	struct central *c = &central[cls];
	struct kmalloc_bin *bin = &cache[cls];
	struct arena *a = &kheap.arena;
	void **obj = bin->head;
	uint32_t moved = 0;
	for (; obj && moved < n && budget > 0; moved++, budget--) {
		void **next = *obj;
		struct span *s = a->pages[((uintptr_t)obj - a->start) >> PAGE_SHIFT].span;
		if (__builtin_expect(budget <= RELEASE_COST && s->objects_in_use == 1 &&
		                             c->empty >= c->keep_empty,
		                     0))
			break;
		*obj = s->free_objects;
		s->free_objects = obj;
		obj = next;
		if (__builtin_expect(--s->objects_in_use == 0 || !s->listed, 0)) {
			if (!s->listed) {
				list_add(c, s);
				budget--; /* listing costs about as much as an object */
			}
			if (s->objects_in_use == 0) {
				if (c->empty < c->keep_empty) {
					c->empty++;
				} else {
					release_class_span(c, s);
					budget -= RELEASE_COST;
				}
			}
		}
	}
	bin->head = obj;
	bin->room += (int32_t)moved;
	c->out -= moved;
}

void kmalloc_drain(void)
{
	mm_irq_flags_t flags = mm_irq_save();
	for (unsigned cls = 1; cls <= class_count; cls++) {
		flush(cls, cached(cls), INT32_MAX);
		struct central *c = &central[cls];
		for (struct span *s = c->partial, *next; s; s = next) {
			next = s->next;
			if (s->objects_in_use == 0)
				release_class_span(c, s);
		}
		c->empty = 0;
	}
	mm_irq_restore(flags);
}

uint64_t kmalloc_trim(void)
{
	mm_irq_flags_t flags = mm_irq_save();
	uint64_t before = kheap.arena.stats.mapped_bytes;
	kmalloc_drain();
	ph_scavenge_all(&kheap);
	uint64_t freed = before - kheap.arena.stats.mapped_bytes;
	mm_irq_restore(flags);
	return freed;
}

/* ---- large blocks ---- */

static void *large_alloc(size_t size, size_t align, bool zeroed)
{
	if (__builtin_expect(!kheap.arena.limit, 0))
		used_before_set_up("kmalloc");
	if (size > kheap.arena.limit || size > SIZE_MAX - PAGE_SIZE) {
		totals.failures++;
		return NULL;
	}
	uint32_t npages = (uint32_t)((size + PAGE_SIZE - 1) >> PAGE_SHIFT);
	if (npages == 0)
		npages = 1;
	mm_irq_flags_t flags = mm_irq_save();
	struct span *s = heap_alloc(npages, (uint32_t)(align / PAGE_SIZE), zeroed);
	if (s) {
		s->size_class = 0;
		s->cache = NULL;
		totals.large_mallocs++;
		totals.large_in_use_bytes += (uint64_t)npages * PAGE_SIZE;
	} else {
		totals.failures++;
	}
	mm_irq_restore(flags);
	return s ? (void *)s->start : NULL;
}

/* ---- the API ---- */

/* Pops the head of a non-empty per-CPU list, marks it live, and restores
 * the interrupt flag. */
static inline void *take_object(struct kmalloc_bin *bin, mm_irq_flags_t flags)
{
	void **p = bin->head;
	bin->head = *p;
	bin->room++;
	mm_bit_set_at(live_origin, (uintptr_t)p >> QSHIFT);
	mm_irq_restore(flags);
	return p;
}

/* A class with no span to take from: a new span, whose first object goes
 * to the caller and the next few (NEW_SPAN_BATCH in all) to the empty
 * per-CPU list.  Setting the span up is the costly part of the call, so
 * it carves little at once; later refills carve the rest. */
static __attribute__((noinline)) void *alloc_new_span(unsigned cls, mm_irq_flags_t flags)
{
	const struct class_info *ci = &classes[cls];
	struct span *s = new_class_span(cls);
	if (!s) {
		totals.failures++;
		mm_irq_restore(flags);
		return NULL;
	}
	uint32_t n = ci->batch < NEW_SPAN_BATCH ? ci->batch : NEW_SPAN_BATCH;
	struct kmalloc_bin *bin = &cache[cls];
	void *head = bin->head;
	for (uintptr_t p = s->start + (uintptr_t)(n - 1) * ci->size; p > s->start; p -= ci->size) {
		*(void **)p = head;
		head = (void *)p;
	}
	bin->head = head;
	bin->room -= (int32_t)(n - 1);
	s->carved = s->objects_in_use = n;
	central[cls].out += n;
	if (n == s->object_count)
		list_del(&central[cls], s); /* full already */
	mm_bit_set_at(live_origin, s->start >> QSHIFT);
	mm_irq_restore(flags);
	return (void *)s->start;
}

/* Which of the next BORROW_CLASSES classes after that of 'c' has a listed
 * span (1 for the next), or 0 if none has.  Spelled out: this is on the
 * way to setting up a span, the slowest kmalloc there is. */
static inline unsigned lender(const struct central *c)
{
	_Static_assert(BORROW_CLASSES == 4, "lender looks four classes ahead");
	return c[1].partial ? 1 : c[2].partial ? 2 : c[3].partial ? 3 : c[4].partial ? 4 : 0;
}

/* One object for a caller of a smaller class (see alloc_slow_common), from the
 * first listed span of 'cls'.  It is an object of 'cls' in every respect:
 * its kfree returns it to this class. */
static __attribute__((noinline)) void *borrow_object(unsigned cls, mm_irq_flags_t flags)
{
	struct central *c = &central[cls];
	struct span *s = c->partial;
	void **obj = s->free_objects;
	if (obj) {
		s->free_objects = *obj;
	} else {
		obj = (void **)(s->start + (uintptr_t)s->carved * classes[cls].size);
		s->carved++;
	}
	if (s->objects_in_use++ == 0)
		c->empty--;
	c->out++;
	if (!s->free_objects && s->carved == s->object_count)
		list_del(c, s);
	mm_bit_set_at(live_origin, (uintptr_t)obj >> QSHIFT);
	mm_irq_restore(flags);
	return obj;
}

/* An empty per-CPU list: refill it, then take from it; with nothing to
 * refill from, borrow (when 'may_borrow': not for kmemalign, whose class
 * was chosen for its alignment) or set up a span.  Its two forms below are
 * kept out of line so that the fast path needs few registers. */
static inline __attribute__((always_inline)) void *
alloc_slow_common(struct kmalloc_bin *bin, mm_irq_flags_t flags, bool may_borrow)
{
	if (__builtin_expect(bin == &cache[0], 0)) /* no class: no tables yet */
		used_before_set_up("kmalloc");
	unsigned cls = (unsigned)(bin - cache);
	const struct central *c = &central[cls];
	if (__builtin_expect(!c->partial, 0)) {
		unsigned k = may_borrow ? lender(c) : 0;
		if (k)
			return borrow_object(cls + k, flags);
		return alloc_new_span(cls, flags);
	}
	refill(cls);
	return take_object(bin, flags);
}

static __attribute__((noinline)) void *alloc_slow(struct kmalloc_bin *bin, mm_irq_flags_t flags)
{
	return alloc_slow_common(bin, flags, true);
}

static __attribute__((noinline)) void *alloc_slow_no_borrow(struct kmalloc_bin *bin,
                                                            mm_irq_flags_t flags)
{
	return alloc_slow_common(bin, flags, false);
}

/* The fast path of every small allocation: an object of the class of
 * 'bin' (or, when 'may_borrow', of one of the next few classes). */
static inline void *alloc_from(struct kmalloc_bin *bin, bool may_borrow)
{
	/* One register for the list, rather than an index and a base. */
	__asm__("" : "+r"(bin));
	mm_irq_flags_t flags = mm_irq_save();
	if (__builtin_expect(!bin->head, 0))
		return may_borrow ? alloc_slow(bin, flags) : alloc_slow_no_borrow(bin, flags);
	return take_object(bin, flags);
}

void *kmalloc(size_t size)
{
	if (__builtin_expect(size <= LOOKUP_MAX, 1))
		return alloc_from(bin_at(lookup[size]), true);
	if (size <= KMALLOC_MAX_SMALL)
		return alloc_from(bin_at(bin_offset_of(size)), true);
	return large_alloc(size, PAGE_SIZE, false);
}

/* Everything kfree's fast path does not take: NULL, a large block, a full
 * per-CPU list, or a bad pointer to name.  Interrupts are off on entry and
 * restored on return. */
static __attribute__((noinline)) void kfree_slow(void *ptr, mm_irq_flags_t flags)
{
	const char *why;
	struct span *s = ptr ? block_span((uintptr_t)ptr, &why) : NULL;
	if (!ptr) {
		/* kfree(NULL) does nothing */
	} else if (s && s->size_class == 0) {
		totals.large_frees++;
		totals.large_in_use_bytes -= (uint64_t)s->npages * PAGE_SIZE;
		ph_free(&kheap, s);
	} else {
		bad_pointer("kfree", ptr, s ? "internal: small block refused" : why);
	}
	mm_irq_restore(flags);
}

static __attribute__((noinline)) void kfree_flush(struct kmalloc_bin *bin, mm_irq_flags_t flags)
{
	unsigned cls = (unsigned)(bin - cache);
	flush(cls, cached(cls) / 2, FLUSH_BUDGET);
	mm_irq_restore(flags);
}

void kfree(void *ptr)
{
	struct arena *a = &kheap.arena;
	mm_irq_flags_t flags = mm_irq_save();
	/* The quantum index of ptr, rotated so that a pointer off the quantum
	 * comes out huge: one comparison checks range and alignment. */
	uintptr_t off = (uintptr_t)ptr - a->start;
	uintptr_t q = off >> QSHIFT | off << (sizeof(off) * 8 - QSHIFT);
	struct kmalloc_bin *bin;
	/* Only the pages of a small span in use name a per-CPU list, so ptr
	 * lies in one, whose live bits are mapped.  Its bit is set exactly
	 * while an object starting at ptr is held by a caller: tested and
	 * cleared at once, it checks both the object boundary and a double
	 * free. */
	if (__builtin_expect(q < a->used_quanta, 1) &&
	    __builtin_expect((bin = a->pages[q >> (PAGE_SHIFT - QSHIFT)].objects) != NULL, 1) &&
	    __builtin_expect(mm_bit_test_clear(a->live_bits, (uint32_t)q), 1)) {
		*(void **)ptr = bin->head;
		bin->head = ptr;
		bin->frees++;
		if (__builtin_expect(--bin->room < 0, 0))
			return kfree_flush(bin, flags);
		mm_irq_restore(flags);
		return;
	}
	kfree_slow(ptr, flags);
}

size_t ksize(const void *ptr)
{
	const char *why;
	mm_irq_flags_t flags = mm_irq_save();
	struct span *s = ptr ? block_span((uintptr_t)ptr, &why) : NULL;
	size_t size = 0;
	if (s)
		size = s->size_class ? classes[s->size_class].size : (size_t)s->npages * PAGE_SIZE;
	else if (ptr)
		bad_pointer("ksize", ptr, why);
	mm_irq_restore(flags);
	return size;
}

void *kcalloc(size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		totals.failures++;
		return NULL;
	}
	if (total > KMALLOC_MAX_SMALL)
		return large_alloc(total, PAGE_SIZE, true);
	void *p = kmalloc(total);
	if (p)
		memset(p, 0, total);
	return p;
}

/* Grows the large block at p (old bytes, whole pages) to hold size bytes
 * in place, when the pages after it are free: no copy. */
static bool grow_large(void *p, size_t old, size_t size)
{
	if (size > kheap.arena.limit)
		return false;
	uint32_t npages = (uint32_t)((size + PAGE_SIZE - 1) >> PAGE_SHIFT);
	mm_irq_flags_t flags = mm_irq_save();
	struct span *s = ph_lookup(&kheap, (uintptr_t)p);
	bool grown = s && s->size_class == 0 && ph_grow(&kheap, s, npages);
	if (grown)
		totals.large_in_use_bytes += (uint64_t)npages * PAGE_SIZE - old;
	mm_irq_restore(flags);
	return grown;
}

void *krealloc(void *ptr, size_t size)
{
	if (!ptr)
		return kmalloc(size);
	if (size == 0) {
		kfree(ptr);
		return NULL;
	}
	size_t old = ksize(ptr); /* reports a bad pointer */
	if (old == 0)
		return NULL;
	/* Keep the block when it fits and would not waste more than half. */
	if (size <= old && size > old / 2)
		return ptr;
	if (size > old && old > KMALLOC_MAX_SMALL && grow_large(ptr, old, size))
		return ptr;
	/* A small block that has to move to grow gets a quarter more room
	 * than it had (while that is still a small block): one grown a little
	 * at a time is then copied O(log n) times rather than at every class
	 * boundary (sixteen per power of two). */
	size_t want = size;
	if (size > old && old <= KMALLOC_MAX_SMALL && size < old + old / 4 &&
	    old + old / 4 <= KMALLOC_MAX_SMALL)
		want = old + old / 4;
	void *q = kmalloc(want);
	if (!q)
		return NULL;
	memcpy(q, ptr, size < old ? size : old);
	kfree(ptr);
	return q;
}

void *kmemalign(size_t alignment, size_t size)
{
	if (alignment < 8 || alignment > KMALLOC_MAX_ALIGN || (alignment & (alignment - 1)))
		return NULL;
	if (alignment <= Q)
		return kmalloc(size);
	if (__builtin_expect(!kheap.arena.limit, 0))
		used_before_set_up("kmemalign");
	if (alignment <= PAGE_SIZE && size <= KMALLOC_MAX_SMALL) {
		/* A class whose objects all fall on the alignment: its size is a
		 * multiple of it and spans start on a page. */
		for (unsigned cls = kmalloc_class_of(size); cls <= class_count; cls++)
			if (classes[cls].size % alignment == 0)
				return alloc_from(&cache[cls], false);
	}
	return large_alloc(size, alignment < PAGE_SIZE ? PAGE_SIZE : alignment, false);
}

/* ---- statistics and checking ---- */

void kmalloc_stats(struct kmalloc_stats *out)
{
	memset(out, 0, sizeof(*out));
	mm_irq_flags_t flags = mm_irq_save();
	out->class_count = class_count;
	for (unsigned cls = 1; cls <= class_count; cls++) {
		struct kmalloc_class_stats *c = &out->classes[cls - 1];
		c->size = classes[cls].size;
		c->span_pages = classes[cls].pages;
		c->in_use = central[cls].out - cached(cls);
		c->frees = cache[cls].frees;
		c->mallocs = c->frees + c->in_use;
		c->cached = cached(cls);
		c->spans = central[cls].spans;
		out->in_use_bytes += c->in_use * c->size;
		out->mallocs += c->mallocs;
		out->frees += c->frees;
	}
	out->large_in_use_bytes = totals.large_in_use_bytes;
	out->in_use_bytes += totals.large_in_use_bytes;
	out->mallocs += totals.large_mallocs;
	out->frees += totals.large_frees;
	out->bad_frees = totals.bad_frees;
	out->failures = totals.failures;
	out->reclaims = totals.reclaims;
	out->mapped_bytes = kheap.arena.stats.mapped_bytes;
	out->released_bytes = kheap.arena.stats.released_bytes;
	out->idle_bytes = out->mapped_bytes - out->in_use_bytes;
	mm_irq_restore(flags);
}

static unsigned problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static unsigned problem(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("kheap_check: ");
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	return 1;
}

static bool live(uintptr_t p)
{
	return mm_bit_test(kheap.arena.live_bits, (uint32_t)((p - kheap.arena.start) >> QSHIFT));
}

/* A small span: its free list, carving, live bits and counts agree. */
static unsigned check_span(struct span *s)
{
	const struct class_info *ci = &classes[s->size_class];
	unsigned bad = 0;
	if (s->cache != &cache[s->size_class] || s->object_size != ci->size ||
	    s->magic != ci->magic)
		return problem("span %p: class %u, but its cache, size or reciprocal is another's",
		               (void *)s->start, ci->size);
	if (s->object_count != ci->objects || s->carved > s->object_count)
		return problem("span %p: %u objects, %u carved, class holds %u", (void *)s->start,
		               s->object_count, s->carved, ci->objects);
	uint32_t listed = 0, live_count = 0;
	for (void **o = s->free_objects; o; o = *o) {
		uintptr_t rel = (uintptr_t)o - s->start;
		if (++listed > s->object_count)
			return bad + problem("span %p: free list loops", (void *)s->start);
		if (rel % ci->size || rel / ci->size >= s->carved)
			return bad +
			       problem("span %p: free list holds %p", (void *)s->start, (void *)o);
		if (live((uintptr_t)o))
			bad += problem("span %p: free object %p is marked live", (void *)s->start,
			               (void *)o);
	}
	for (uint32_t i = 0; i < s->object_count; i++) {
		uintptr_t o = s->start + (uintptr_t)i * ci->size;
		if (live(o)) {
			live_count++;
			if (i >= s->carved)
				bad += problem("span %p: uncarved object %p is live",
				               (void *)s->start, (void *)o);
		}
	}
	/* No bit set but at the start of a live object: kfree trusts them. */
	const uint32_t *words = &kheap.arena.live_bits[(s->start - kheap.arena.start) / Q / 32];
	uint32_t bits_set = 0;
	for (uint32_t w = 0; w < s->npages * (PAGE_SIZE / Q / 32); w++)
		bits_set += mm_bit_count(words[w]);
	if (bits_set != live_count)
		bad += problem("span %p: %u live bits set, %u live objects", (void *)s->start,
		               bits_set, live_count);
	uint32_t in_use = s->carved - listed;
	if (in_use != s->objects_in_use || live_count + s->check_scratch != in_use)
		bad += problem("span %p (class %u): %u in use by count, %u live + %u cached, "
		               "%u by its lists",
		               (void *)s->start, ci->size, s->objects_in_use, live_count,
		               s->check_scratch, in_use);
	if (!!s->listed != (listed || s->carved < s->object_count))
		bad += problem("span %p: on the class list: %u, free objects: %u", (void *)s->start,
		               s->listed, s->object_count - in_use);
	return bad;
}

int kheap_check(void)
{
	mm_irq_flags_t flags = mm_irq_save();
	struct arena *a = &kheap.arena;
	unsigned bad = ph_check(&kheap);

	/* Clear the tallies, then count the cached objects of each span. */
	for (uintptr_t p = a->start; p < a->used; p += PAGE_SIZE) {
		struct span *s = a->pages[(p - a->start) / PAGE_SIZE].span;
		if (s && s->state == SPAN_IN_USE)
			s->check_scratch = 0;
	}
	for (unsigned cls = 1; cls <= class_count; cls++) {
		uint32_t n = 0;
		for (void **o = cache[cls].head; o; o = *o) {
			if (++n > cached(cls)) {
				bad += problem("class %u: per-CPU list longer than its count %u",
				               classes[cls].size, cached(cls));
				break;
			}
			uintptr_t off = (uintptr_t)o - a->start;
			struct span *s =
			        off < a->used - a->start ? a->pages[off >> PAGE_SHIFT].span : NULL;
			if (!s || s->state != SPAN_IN_USE || s->size_class != cls) {
				bad += problem(
				        "class %u: cached object %p not in a span of the class",
				        classes[cls].size, (void *)o);
				break;
			}
			if (live((uintptr_t)o))
				bad += problem("class %u: cached object %p is live",
				               classes[cls].size, (void *)o);
			s->check_scratch++;
		}
		if (n != cached(cls))
			bad += problem("class %u: %u objects cached, count says %u",
			               classes[cls].size, n, cached(cls));
	}

	/* Every small span; the central lists hold exactly the listed ones. */
	uint32_t spans[KMALLOC_MAX_CLASSES + 1] = { 0 };
	uint64_t live_total = 0;
	for (uintptr_t p = a->start; p < a->used;) {
		struct arena_page *page = &a->pages[(p - a->start) / PAGE_SIZE];
		struct span *s = page->span;
		if (!s || s->start != p) {
			if (page->objects)
				bad += problem("page %p outside any span names a per-CPU list",
				               (void *)p);
			p += PAGE_SIZE;
			continue;
		}
		struct kmalloc_bin *bin =
		        s->state == SPAN_IN_USE && s->size_class ? &cache[s->size_class] : NULL;
		for (uint32_t i = 0; i < s->npages; i++)
			if (page[i].objects != bin) {
				bad += problem("span %p: page %u names per-CPU list %p, not %p",
				               (void *)s->start, i, page[i].objects, (void *)bin);
				break;
			}
		if (s->state == SPAN_IN_USE && !s->size_class && s->cache)
			bad += problem("large span %p names a per-CPU list", (void *)s->start);
		if (s->state == SPAN_IN_USE && s->size_class) {
			bad += check_span(s);
			spans[s->size_class]++;
			live_total += s->objects_in_use - s->check_scratch;
		}
		p = s->start + (uintptr_t)s->npages * PAGE_SIZE;
	}
	uint64_t counted_in_use = 0;
	for (unsigned cls = 1; cls <= class_count; cls++) {
		if (spans[cls] != central[cls].spans)
			bad += problem("class %u: %u spans found, %u counted", classes[cls].size,
			               spans[cls], central[cls].spans);
		uint32_t listed = 0, empty = 0;
		for (struct span *s = central[cls].partial; s; s = s->next) {
			if (++listed > spans[cls] || !s->listed || s->size_class != cls) {
				bad += problem("class %u: central list corrupt at %p",
				               classes[cls].size, (void *)s->start);
				break;
			}
			empty += s->objects_in_use == 0;
		}
		if (empty != central[cls].empty || empty > central[cls].keep_empty)
			bad += problem("class %u: %u empty spans listed, %u counted (at most %u)",
			               classes[cls].size, empty, central[cls].empty,
			               central[cls].keep_empty);
		counted_in_use += central[cls].out - cached(cls);
	}
	if (counted_in_use != live_total)
		bad += problem("%llu objects live by the spans, %llu by the counters",
		               (unsigned long long)live_total, (unsigned long long)counted_in_use);
	mm_irq_restore(flags);
	return (int)bad;
}
