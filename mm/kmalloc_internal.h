/*
 * mm/kmalloc_internal.h - what kmalloc's own files share (not an interface:
 * kmalloc.h is the API, kheap.h the heap's internals for tests).
 *
 *   kmalloc.c          the API and its fast paths, large blocks, set-up
 *   kmalloc_classes.c  the size classes and the size-to-class tables
 *   kmalloc_central.c  the spans of each class: refills, flushes, reclaim
 *   kmalloc_check.c    statistics and the checker (kheap_check)
 *
 * The design essay is at the top of kmalloc.c.
 */
#ifndef MM_KMALLOC_INTERNAL_H
#define MM_KMALLOC_INTERNAL_H

#include "mm/bitops.h"
#include "mm/kheap.h"

#define Q                   ARENA_QUANTUM
#define QSHIFT              ARENA_QUANTUM_SHIFT
#define LOOKUP_MAX          4096u       /* sizes served by the table (8 KiB of it) */
#define PER_BAND            16u         /* classes in each power of two up to a page */
#define PER_BAND_ABOVE_PAGE 4u          /* and above (see mm/kmalloc.c) */
#define CACHE_BYTES         (16u << 10) /* a batch moves about this much */
/* The transfer stacks' second list's worth, for the classes where the two
 * hold at most this much (struct class_info's transfer_max): the world's
 * choice, none on target, where the smallest machine (8 MiB) has no frame
 * to spare for the slots. */
#ifdef MM_TRANSFER_BYTES
#define TRANSFER_BYTES MM_TRANSFER_BYTES
#else
#define TRANSFER_BYTES 0u
#endif
/* Empty spans a class keeps for reuse rather than giving them back to the
 * page heap, against thrashing when a class shrinks and grows again: up to
 * this many pages' worth (at least one span).  Every other span goes back
 * as soon as it is empty, so freeing a burst of objects returns their
 * memory (as Linux's SLUB keeps min_partial slabs).  Measured on the host's
 * mixed workload: keeping every empty span took 27.6 instructions per call,
 * keeping 1, 8 or 32 pages' worth 28.9, at the same peak memory. */
#define EMPTY_KEEP_PAGES 8

/* A class with no free object of its own takes one from the spans of the
 * next BORROW_CLASSES classes before it sets up a span, those of them that
 * are at most a quarter (or four quanta) larger (struct central's
 * lenders): see the essay in mm/kmalloc.c. */
#define BORROW_CLASSES 4

_Static_assert((KMALLOC_MAX_SMALL & (KMALLOC_MAX_SMALL - 1)) == 0, "a power of two");
_Static_assert(KMALLOC_ALIGN == ARENA_QUANTUM, "the live bitmap's quantum is the alignment");
_Static_assert(LOOKUP_MAX >= PER_BAND * 16, "the table covers the linear classes");

struct class_info {
	uint32_t size;         /* the stride: objects lie this far apart in a span */
	uint32_t user_size;    /* what a caller may use: size but for kmalloc_debug's room */
	uint32_t magic;        /* ceil(2^32 / size): offset * magic >> 32 == offset / size */
	uint32_t pages;        /* per span */
	uint32_t objects;      /* per span */
	uint32_t batch;        /* objects moved per refill */
	uint32_t cache_max;    /* CPU list length that triggers a flush */
	uint32_t transfer_max; /* the class's transfer stack's slots */
};

/* A CPU list: one class's free objects in the per-CPU cache, a stack of
 * pointers (struct mm_cpu_stack) whose slots, cache_max of them, lie in
 * the persistent metadata (kmalloc_cpu_init).  kfree pushes, kmalloc pops;
 * a push that finds the stack full first gives half of it back to the
 * spans.  Only kfree counts calls: the mallocs of a class are its frees
 * plus its objects in use. */
struct cpu_list {
	struct mm_cpu_stack stack; /* first: the fast paths' word points here */
	uint64_t frees;            /* on this CPU, ever */
} __attribute__((aligned(32)));
_Static_assert((sizeof(struct cpu_list) & (sizeof(struct cpu_list) - 1)) == 0,
               "indexed by a shift");
_Static_assert(__builtin_offsetof(struct cpu_list, stack) == 0, "the word names the stack");

/* A class's spans, shared by every CPU, under the class's lock. */
struct central {
	mm_lock_t lock;
	struct span *partial; /* spans of the class with free objects */
	uint32_t spans;       /* all spans of the class */
	uint32_t empty;       /* listed spans with nothing in use, at most keep_empty */
	uint32_t keep_empty;  /* EMPTY_KEEP_PAGES in this class's spans, at least 1 */
	/* Of the next BORROW_CLASSES classes, how many this one may borrow
	 * from (kept here, not in struct class_info, whose 32 bytes are
	 * indexed by a shift; the slow path that reads it has this struct at
	 * hand). */
	uint32_t lenders;
	/* Objects the spans have handed out (sum of objects_in_use): fewer
	 * than 2^32, as the arena holds at most 2^29 quanta. */
	uint32_t out;
	uint32_t abandoned; /* of those, cut off broken free lists (broken_link) */
	/* The transfer stack: free objects that a CPU's flush parked whole and
	 * that a refill on any CPU takes whole, without touching a span (the
	 * way of blocks freed on another CPU than the one that allocated
	 * them).  Slots [transfer, transfer + transfer_max), in the persistent
	 * metadata (none under kmalloc_debug); its objects are counted in
	 * 'out', as those on the CPU lists are.  The count is read without the
	 * lock, as 'partial' is. */
	void **transfer;
	uint32_t transfer_count, transfer_max;
} __attribute__((aligned(32)));
_Static_assert((sizeof(struct central) & (sizeof(struct central) - 1)) == 0, "indexed by a shift");

/* Each CPU's cache: its CPU lists, one per class, in the CPU's mm area
 * (mm/mm_env.h).  Only that CPU touches them: the fast paths through the
 * env's CPU stack steps, the slow paths with interrupts off.  Another CPU
 * reads them only while this one is stopped, or empties them by asking it
 * (detach_here).  Class 0's list has no slots: always empty and full. */
struct kmalloc_cpu {
	struct cpu_list lists[KMALLOC_MAX_CLASSES + 1];
	struct {
		uint64_t mallocs, frees;
		int64_t bytes; /* allocated here less freed here: either CPU may free */
	} large;
};
_Static_assert(sizeof(struct kmalloc_cpu) <= MM_CPU_AREA_BYTES, "the CPU lists fit the area");

/* Class 0 stands for large objects: small classes are 1..class_count
 * (kmalloc_classes.c). */
extern struct class_info classes[KMALLOC_MAX_CLASSES + 1];
extern unsigned class_count;
/* The class of a size: by the size itself up to LOOKUP_MAX (no rounding on
 * the fast path), then by the size in units of COARSE bytes, which divides
 * every class size above LOOKUP_MAX. */
#define COARSE_SHIFT 7
/* The lookups give the class as the byte offset of its CPU list in
 * struct kmalloc_cpu (0 for class 0: no class), which the fast path adds to
 * the running CPU's area without scaling. */
typedef uint16_t cpu_list_offset_t;
_Static_assert(sizeof(struct kmalloc_cpu) <= UINT16_MAX, "offsets fit");
extern cpu_list_offset_t lookup[LOOKUP_MAX + 1];
extern cpu_list_offset_t lookup_coarse[(KMALLOC_MAX_SMALL >> COARSE_SHIFT) + 1];
#define CPU_LIST_SHIFT 5 /* log2 sizeof(struct cpu_list) */
_Static_assert(sizeof(struct cpu_list) == 1u << CPU_LIST_SHIFT, "CPU_LIST_SHIFT");

static inline uintptr_t cpu_list_offset(unsigned cls)
{
	return (uintptr_t)cls << CPU_LIST_SHIFT;
}

static inline unsigned class_at(uintptr_t offset)
{
	return (unsigned)(offset >> CPU_LIST_SHIFT);
}

/* What the arena's page words and span->small.cpu_list hold for class
 * 'cls': its CPU list's offset in the per-CPU area, the same on every CPU,
 * so that kfree on any CPU finds its own list of the class from the word.
 * Never 0, which stands for "no class" (and reaches class 0's list, which
 * is always full). */
static inline uintptr_t cpu_list_word(unsigned cls)
{
	return cpu_list_offset(cls);
}

/* The running CPU's list named by a word: on target a %fs-relative
 * pointer, the word itself (the base is 0); on the host, the running
 * thread's area's address plus the word. */
static inline struct cpu_list MM_CPU_LOCAL *cpu_list_of_word(uintptr_t word)
{
	return (struct cpu_list MM_CPU_LOCAL *)(word + MM_CPU_LOCAL_BASE());
}

/* The running CPU's list at 'offset', for the fast paths. */
static inline struct cpu_list MM_CPU_LOCAL *cpu_list_here(uintptr_t offset)
{
	return cpu_list_of_word(offset);
}

/* CPU 'cpu's lists as plain memory, for the slow paths and the checker. */
static inline struct kmalloc_cpu *cpu_lists(unsigned cpu)
{
	return (struct kmalloc_cpu *)mm_cpu_area(cpu);
}

static inline struct cpu_list *my_list(unsigned cls)
{
	return &cpu_lists(mm_cpu_index())->lists[cls];
}

/* CPUs that have set their lists up (kmalloc_cpu_init), bit i for CPU i. */
extern uintptr_t cpus_with_lists;

/* Classes past the last have no spans: a class looks BORROW_CLASSES ahead
 * without a bound check. */
extern struct central central[KMALLOC_MAX_CLASSES + 1 + BORROW_CLASSES];
/* Counters of rare events, counted atomically (32 bits, which an i486
 * adds in one locked instruction); the large blocks are counted per CPU
 * (struct kmalloc_cpu). */
struct kmalloc_totals {
	uint32_t bad_frees, failures, reclaims, debug_reports;
	uint32_t broken_links, abandoned; /* free lists cut, objects lost with them */
};
#define COUNT(counter) __atomic_fetch_add(&(counter), 1, __ATOMIC_RELAXED)
extern struct kmalloc_totals totals;
/* The live bitmap's origin for absolute indexes: the bit of the object at
 * p is bit p >> QSHIFT from here (the arena's start is page-aligned). */
extern uintptr_t live_origin;

/*
 * Free-list links.  A span's free objects are linked through their first
 * word, which is the word a write after free hits first.  A link is stored
 * as next ^ link_secret ^ bswap(its own address), as SLUB's hardened free
 * list does: a stray write leaves a link that decodes to a random address,
 * which the code following the list checks (link_ok) and refuses
 * (broken_link), and a block's contents never show a heap address in the
 * clear.  The byte swap puts the address's varying low bits against the
 * pointer's high ones.  link_secret comes from mm_entropy() once, before
 * the first span.
 */
extern uintptr_t link_secret;

static inline uintptr_t link_key(void *const *at)
{
	uintptr_t a = (uintptr_t)at;
	return link_secret ^ (sizeof(a) == 4 ? __builtin_bswap32((uint32_t)a)
	                                     : (uintptr_t)__builtin_bswap64((uint64_t)a));
}

static inline void link_store(void **at, void *next)
{
	*(uintptr_t *)at = (uintptr_t)next ^ link_key(at);
}

static inline void **link_load(void *const *at)
{
	return (void **)(*(const uintptr_t *)at ^ link_key(at));
}

/* A link that may be followed: NULL, or one of the span's first
 * 'carved_quanta' quanta (its carved objects) at a quantum boundary.  One
 * comparison: rotated right by QSHIFT, an offset with a low bit set is
 * larger than any quantum count.  Not an exact object boundary (that takes
 * a division; kheap_check tests it): a decoded stray write lands in the
 * range with odds of about carved_quanta / 2^32. */
static inline bool link_ok(uintptr_t span_start, uintptr_t carved_quanta, void **next)
{
	uintptr_t off = (uintptr_t)next - span_start;
	off = off >> QSHIFT | off << (sizeof(off) * 8 - QSHIFT);
	return !next || off < carved_quanta;
}

/* kmalloc_central.c: the list of span 's' of class 'cls' is broken at
 * 'obj' (a free object, already taken by the caller with 'handed' others
 * of this visit), whose link decodes to 'next'.  Reports it once per span,
 * and abandons the rest of the list: its objects count as in use for good
 * (s->small.abandoned), so that the span is never reused and nothing is
 * handed out from a list that cannot be trusted.  The class's lock held. */
void broken_link(unsigned cls, struct span *s, void **obj, void **next, uint32_t handed);

/* Objects on a CPU list, and the room left on it. */
static inline uint32_t cached_on(const struct cpu_list *list)
{
	return (uint32_t)(list->stack.top - list->stack.bottom);
}

static inline uint32_t room_on(const struct cpu_list *list)
{
	return (uint32_t)(list->stack.end - list->stack.top);
}

/* Slots of every CPU list of a CPU: the sum of the classes' cache_max
 * (kmalloc_classes.c). */
extern uint32_t slots_per_cpu;

static inline cpu_list_offset_t cpu_list_offset_of(size_t size)
{
	return size <= LOOKUP_MAX
	               ? lookup[size]
	               : lookup_coarse[(size + (1u << COARSE_SHIFT) - 1) >> COARSE_SHIFT];
}

/* A flush's work, in objects given back: at most FLUSH_BUDGET, where
 * putting a full span back on its class list counts as one more, and
 * releasing an emptied span as RELEASE_COST (a span of up to 16 pages to
 * unname, then coalescing in the page heap).  This is what bounds the worst
 * kfree. */
#ifndef MM_FLUSH_BUDGET
#define FLUSH_BUDGET 10
#else
#define FLUSH_BUDGET MM_FLUSH_BUDGET /* the world's choice (arch/host/env.h) */
#endif
/* Objects a new span gives the empty CPU list at once (alloc_new_span):
 * setting the span up is the costly part of that call, so it carves little;
 * later refills carve the rest. */
#define NEW_SPAN_BATCH 4

/* kmalloc_classes.c: fills classes[] and the lookup tables; each object
 * takes 'extra' bytes beyond its user size (kmalloc_debug's red zone and
 * callers; 0 without). */
void build_classes(uint32_t extra);

/* kmalloc_debug.c: the debug modes (kmalloc.h).  kmalloc_debug is 0 unless
 * kmalloc_set_debug set flags before kmalloc_init; then every CPU list has
 * no room, so that every call takes the slow paths, which hand over to
 * these. */
extern unsigned kmalloc_debug;
uint32_t debug_extra_bytes(void);
void *debug_alloc(unsigned cls, void *caller);
void debug_free(unsigned cls, void *ptr, void *caller);
/* With the heap held (kmalloc_check.c): the callers an object's trailer
 * records, or NULLs. */
void debug_callers(unsigned cls, uintptr_t obj, void **allocated_by, void **freed_by);
/* kmalloc_central.c, for the debug modes: one object from the class's
 * spans (the lock taken inside, interrupts off), a new span's first object
 * ('flags' restored), one object given back to its span (the class's lock
 * held). */
void *take_from_spans(unsigned cls, bool *fresh);
void *new_span_object(unsigned cls, mm_irq_flags_t flags);
void give_back_locked(unsigned cls, void *ptr);

/* kfence.c (mm/kfence.h), for kmalloc's slow paths: a sampled object of
 * 'cls' for 'caller', or NULL (not due, or no room); kfree of a sampled
 * object (false: not one); its size (*owned false: not one); for the leak
 * report and the checker, with the heap held: whether span 's' is a live
 * sampled object's (and which), or a sampled object's at all.  While
 * sampling, kmalloc_debug has KMALLOC_DEBUG_SAMPLING set, so that every
 * small allocation comes through debug_alloc. */
#define KMALLOC_DEBUG_SAMPLING (1u << 31)
void *kfence_alloc(unsigned cls, void *caller);
bool kfence_free(void *ptr, void *caller);
size_t kfence_ksize(const void *ptr, bool *owned);
bool kfence_live_object(const struct span *s, uintptr_t *obj, uint32_t *size, void **allocated_by);
bool kfence_span(const struct span *s);

/* kmalloc_central.c: heap_alloc's second attempt, after reclaiming; with
 * no lock held. */
struct span *heap_alloc_again(uint32_t npages, uint32_t align_pages, bool zeroed);

/* The slow paths of kmalloc and kfree (kmalloc_central.c), for the class
 * whose CPU list is at 'offset': out of line, so that the fast paths need
 * few registers.  They mask interrupts while they work on this CPU's list.
 * kfree_flush frees 'ptr' (its live bit still set) to a full list of a
 * class (offset 0 is none: kfree_slow's). */
void *alloc_slow(uintptr_t offset);
void *alloc_slow_no_borrow(uintptr_t offset);
/* kmalloc_central.c: each class's transfer stack, in the persistent
 * metadata (kmalloc_init, but under kmalloc_debug). */
bool transfer_init(void);
void kfree_flush(uintptr_t offset, void *ptr);

/* kmalloc.c: everything kfree's fast path does not take (NULL, a large
 * block, a bad pointer to name). */
void kfree_slow(void *ptr);

/* kmalloc.c: set, last of all, by kmalloc_init.  The slow paths that can
 * be reached before it look at it first: a call before the heap is set up
 * asks the world to set it up (mm_heap_first_use, which panics where the
 * heap is set up explicitly), and fails (false) when it cannot be. */
extern uint32_t kmalloc_ready;
bool set_up_on_first_use(const char *call);
static inline bool heap_ready(const char *call)
{
	return __builtin_expect(__atomic_load_n(&kmalloc_ready, __ATOMIC_ACQUIRE) != 0, 1) ||
	       set_up_on_first_use(call);
}

/* An allocation that returns NULL: counted, and the world told. */
static inline void count_failure(void)
{
	COUNT(totals.failures);
	mm_note_no_memory();
}

/* A run of pages from the kernel's page heap; when it cannot serve them,
 * what the heap holds idle goes back and the request is tried once more. */
static inline struct span *heap_alloc(uint32_t npages, uint32_t align_pages, bool zeroed)
{
	struct span *s = align_pages > 1
	                         ? ph_alloc_aligned(&kernel_pageheap, npages, align_pages, zeroed)
	                         : ph_alloc(&kernel_pageheap, npages, zeroed);
	if (__builtin_expect(!s, 0))
		s = heap_alloc_again(npages, align_pages, zeroed);
	return s;
}

#endif
