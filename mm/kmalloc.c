/*
 * mm/kmalloc.c - the size-class object allocator (interface: kmalloc.h).
 *
 * Structures, bottom up:
 *   - the page heap (kernel_pageheap, mm/pageheap.h) hands out spans of pages;
 *   - a size class is an object size; a span of a class holds
 *     span->small.object_count objects of that size, carved from its start.  Its
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
 * to a page (136, 144, ..., 256, 272, ...), and four above, up to
 * KMALLOC_MAX_SMALL, 8 KiB (5, 6, 7 and 8 KiB).  From 16Q to a page no
 * request wastes more than 1/16 of its block, above a page no more than a
 * fifth; below 16Q the alignment quantum is the only waste.  A class's
 * spans are as many pages as it takes to hold eight objects, and more, up
 * to 16 pages, until at most 1/64 of the span is left over at its end.
 *
 * Larger blocks are spans of their own ("large objects"): whole pages
 * from the page heap, where a block freed serves a request of any size,
 * as Linux's kmalloc hands blocks above two pages to the page allocator
 * and jemalloc its blocks above 14 KiB to its extents.  A class above a
 * page is paid for in whole pages (its spans, CPU list and transfer
 * stack hold the memory of the class's own peak), and a program whose
 * blocks of 8-32 KiB come and go in many sizes (gcc's cc1) touches pages
 * in every class it visits: with classes up to 32 KiB, cc1 took 4,425
 * minor faults on the host, with classes up to 16 KiB 4,363, up to 8 KiB
 * 4,265 and up to 4 KiB 4,211 (glibc 4,128).  8 KiB keeps the classes of
 * 5-8 KiB, whose blocks would waste up to 3 KiB each in whole pages; the
 * host's blocks of 4 KiB-1 MiB took 297.1 instructions a call against
 * 292.3 (glibc 327.2), and realloc's growth from 16 bytes to 64 KiB,
 * which grows page runs in place, 82.4 against 163.5.  Before that, four
 * classes per power of two above a page rather than sixteen, and borrowing
 * limited to a quarter (below), had taken cc1 from 4,785 faults to 4,440.
 *
 * Many classes waste little in rounding but hold more free objects in
 * partly used spans: each class keeps the memory of its own peak, and the
 * peaks of 100 classes do not come at once.  Borrowing evens that out: a
 * class with no free object of its own takes one from the spans of the
 * next BORROW_CLASSES classes before it sets up a span of its own.  On the
 * host's mixed workload (8 B-4 KiB, random lifetimes) the memory held is
 * 1.092 times the live bytes at the peak; 1.132 without borrowing, 1.127
 * with eight classes per power of two (and four-object spans) and none.  A
 * borrowed block is at most a quarter larger than its request (or four
 * quanta, among the smallest classes): up to four classes ahead below a
 * page, one above.  The class it came from takes it back when it is freed.
 *
 * kmalloc(n), n <= 8 KiB:
 *   1. the class: a table indexed by n itself up to 4 KiB (8 KiB of
 *      table: kernel objects are mostly below a page), then by n in
 *      128-byte units (every class above 1 KiB is a multiple of 128); the
 *      tables hold the byte offset of the class's CPU list;
 *   2. pop the class's CPU list and set the live bit, as one restartable
 *      step (below).  That is all on the fast path;
 *   3. an empty list is refilled with a batch (about 16 KiB, 4 to 32
 *      objects): a batch parked on the class's transfer stack (below),
 *      or else from the class's spans, at most two of them; a class with
 *      no free object borrows one (above), or else gets a new span from
 *      the page heap (which grows the arena when it must), whose first
 *      object goes to the caller and the next three to the list: setting
 *      a span up is the costliest step of any call, so that call does
 *      little else.  When the page heap cannot serve a request for want
 *      of frames, the memory held idle (CPU lists, transfer stacks, kept
 *      empty spans, free mapped pages) goes back to the frame pool and the
 *      request is tried once more.
 * kfree(p):
 *   1. p's offset in the arena, rotated right by the quantum's bits, must
 *      be below the arena's size in quanta: one comparison rules out
 *      pointers outside [start, used) and pointers off the quantum;
 *   2. the page's word in the arena's page table names the CPU list of
 *      the class whose span holds it (NULL for every other page);
 *   3. as one restartable step: the live bit of p is tested and cleared
 *      at once, and p is pushed on the CPU list.  The bit is set exactly
 *      while an object starting at p is held by a caller, so this single
 *      test checks the object boundary (an interior pointer's bit is clear)
 *      and catches a second kfree;
 *   4. a list found full first gives half of its objects back, then
 *      takes p: parked whole on the class's transfer stack (a copy of the
 *      pointers, as many as it has room for: a list of its own, under the
 *      class lock, holding a CPU list's worth, twice that for the small
 *      classes: struct class_info's transfer_max), or, when that
 *      is full, to their spans, within a budget of work (FLUSH_BUDGET)
 *      that bounds the call.  A span left with no object in use is kept
 *      for reuse while its class holds less than EMPTY_KEEP_PAGES of empty
 *      spans, and otherwise goes back to the page heap at once: freeing a
 *      burst of objects gives their memory back (all but what the
 *      transfer stack holds).
 *      The transfer stack is for blocks freed on another CPU than the one
 *      that allocated them: the freeing CPU's flushes park them, and the
 *      allocating CPU's refills take them, a batch for a lock and a copy,
 *      where a trip through the spans costs every object a link written
 *      and read and its span's counts.  On the host's producer-consumer
 *      benchmark (xmalloc, 2 threads) one CPU list's worth took the
 *      instructions per call from 69.1 to 65.2.
 * Anything else - NULL, a large block, a bad pointer - takes the slow path,
 * which re-derives the span and names the reason (by the class's
 * reciprocal: no division).  A bad pointer is reported, counted, and
 * changes nothing.
 *
 * Zeroing: kcalloc zeroes small blocks itself; large blocks come from the
 * page heap, which zeroes only pages that may hold old data.
 *
 * Several CPUs: each CPU has its own CPU lists, in its per-CPU area, and
 * the fast paths reach them through the per-CPU segment: the size lookups
 * and the arena's page words hold the list's offset in any CPU's area, not
 * a pointer, so that a block freed on another CPU goes to that CPU's list
 * of the same class, at no cost in instructions.  A CPU list is a stack of
 * pointers (struct mm_cpu_stack: top, bottom, end; its slots in the
 * persistent metadata), so that a count, a pop and a push are each one
 * store to the list's header.  The fast paths take no lock and mask no
 * interrupt.  The live bit, shared by all CPUs, is set and cleared
 * atomically (lock bts / lock btr: of two CPUs freeing one block, one
 * clears the bit and the other is told it was free).  A lock per class
 * guards its spans, the page heap has its own, and so do the vm map and the
 * frame allocator: their order is at the top of kmalloc_central.c.  The slow
 * paths mask interrupts while they touch this CPU's lists, and look at them
 * only after taking a lock: its wait answers other CPUs' calls, one of which
 * (kmalloc_drain, from any CPU) takes the lists away.
 *
 * Interrupts on the fast paths.  An interrupt handler may allocate and free
 * on the very list a fast path is working on.  Each fast path's work on its
 * list is one step of the environment (MM_CPU_STACK_TAKE, _GIVE in
 * mm/mm_env.h); on i386 a restartable sequence (arch/i386/restart.h):
 *   TAKE: read top; top == bottom: empty, leave; read the object below top;
 *         lock bts its live bit; commit: top -= 1 (one instruction).
 *   GIVE: read top; top == end: full, leave; write p in the slot at top
 *         (above the list: nobody's yet); lock btr p's bit, leave if it was
 *         clear; commit: top += 1 (one instruction).
 * Every interrupt and exception entry, before its handler runs, moves an
 * EIP inside a sequence back to the sequence's start, undoing the bit
 * operation if it has run (clearing the bit a TAKE set; setting again the
 * bit a GIVE cleared, when the saved CF says it was set).  Why each order
 * is safe:
 *   - a handler on this CPU, at any instruction: before the commit the
 *     sequence has changed nothing anyone can see - a slot above top, and a
 *     bit that the entry restores - so the handler finds the list and the
 *     bits as if the call had not begun, and whatever it pops or pushes, the
 *     sequence then reads afresh.  After the commit the step is whole.  The
 *     object a TAKE read is never handed out by both: the handler pops it
 *     only after the rewind, and the sequence reads again;
 *   - a neighbour's kfree on another CPU: its bit is another bit of the
 *     same word, and both operations are locked;
 *   - a double free racing a free on another CPU: the locked btr lets one
 *     of them find the bit set.  The loser leaves for the slow path, which
 *     reports it.  If the winner is interrupted before its commit, the
 *     undo sets the bit again and the sequence runs again: the other may
 *     then win instead (and the first is reported), but never both.  A
 *     kfree that finds the list full goes to kfree_flush before touching
 *     the bit, so a bit is never cleared for an object that is not pushed;
 *   - other CPUs never touch this CPU's list but by a call that this CPU
 *     answers (an interrupt: the same as a handler) or while it is stopped
 *     (kheap_check, kmalloc_stats), where the rewind has made every list
 *     and bit whole: no object is ever half way between a list and a
 *     caller when anyone looks.
 * Nothing on the fast path pays for this: the test is on the interrupt
 * entry (a subtraction and a comparison when the interrupted code is
 * elsewhere), and the live bitmap is reached through %gs, whose base is its
 * origin, so that kmalloc is 12 instructions and kfree 20.
 */
#include "mm/kfence.h"
#include "mm/kmalloc_internal.h"

struct pageheap kernel_pageheap;
uintptr_t cpus_with_lists;
struct central central[KMALLOC_MAX_CLASSES + 1 + BORROW_CLASSES];
struct kmalloc_totals totals;
uintptr_t live_origin;
uintptr_t link_secret;
uint32_t kmalloc_ready;

/* ---- set-up ---- */

bool kmalloc_init(uintptr_t base, uint64_t limit, uint64_t step)
{
	if (kernel_pageheap.arena.limit) {
		kprintf("kmalloc_init: the heap is set up already\n");
		return false;
	}
	if (kfence_sample_every())
		kmalloc_debug |= KMALLOC_DEBUG_SAMPLING;
	build_classes(debug_extra_bytes());
	link_secret = mm_entropy();
	for (unsigned cls = 1; cls <= class_count; cls++) {
		uint32_t keep = EMPTY_KEEP_PAGES / classes[cls].pages;
		central[cls].keep_empty = keep ? keep : 1;
	}
	if (!ph_init(&kernel_pageheap, base, limit, step))
		return false;
	live_origin = (uintptr_t)kernel_pageheap.arena.live_bits -
	              (kernel_pageheap.arena.start >> QSHIFT) / 8;
	mm_set_bit_origin(live_origin);
	if (!kmalloc_debug && !transfer_init())
		return false;
	if (!kmalloc_cpu_init())
		return false;
	/* Where CPUs come and go (host threads), the world calls these. */
	mm_set_cpu_hooks(kmalloc_cpu_init, kmalloc_cpu_exit);
	/* Last: a thread that finds it set finds everything above done. */
	__atomic_store_n(&kmalloc_ready, 1, __ATOMIC_RELEASE);
	return true;
}

bool kmalloc_cpu_init(void)
{
	unsigned cpu = mm_cpu_index();
	/* Set up before (a host thread's slot, taken again): its lists are
	 * empty (kmalloc_cpu_exit) and its counters go on. */
	if (__atomic_load_n(&cpus_with_lists, __ATOMIC_ACQUIRE) & ((uintptr_t)1 << cpu))
		return true;
	void **slots = kmalloc_debug
	                       ? NULL
	                       : ph_meta_alloc(&kernel_pageheap, slots_per_cpu * sizeof(void *));
	if (!slots && !kmalloc_debug) {
		kprintf("kmalloc: CPU %u: no memory for the %u slots of its lists\n", cpu,
		        slots_per_cpu);
		return false;
	}
	struct kmalloc_cpu *mine = cpu_lists(cpu);
	memset(mine, 0, sizeof(*mine));
	/* kmalloc_debug: no room on any list (all zero), so that every call
	 * reaches the slow paths and their checks. */
	for (unsigned cls = 1; cls <= class_count && !kmalloc_debug; cls++) {
		struct mm_cpu_stack *stack = &mine->lists[cls].stack;
		stack->bottom = stack->top = slots;
		slots += classes[cls].cache_max;
		stack->end = slots;
	}
	__atomic_fetch_or(&cpus_with_lists, (uintptr_t)1 << cpu, __ATOMIC_RELEASE);
	return true;
}

/* Before kmalloc_init every table is empty, so that a request of any size
 * reaches a slow path; each of them that can be reached first asks
 * heap_ready, which calls this while the heap is not ready. */
__attribute__((noinline, cold)) bool set_up_on_first_use(const char *call)
{
	if (mm_heap_first_use(call) && __atomic_load_n(&kmalloc_ready, __ATOMIC_ACQUIRE))
		return true;
	count_failure();
	return false;
}

#ifdef MM_SET_UP_ON_DEMAND
/* kmalloc's way in before kmalloc_init (the size tables are all zero, so
 * the fast path found class 0's list, which is always empty). */
static __attribute__((noinline, cold)) void *kmalloc_before_set_up(size_t size)
{
	return heap_ready("kmalloc") ? kmalloc(size) : NULL;
}
#endif

/* ---- reporting ---- */

static __attribute__((noinline, cold)) void bad_pointer(const char *call, const void *ptr,
                                                        const char *why)
{
	COUNT(totals.bad_frees);
	kprintf_ratelimited("kmalloc: bad pointers", "%s(%p): %s; ignored\n", call, ptr, why);
}

/*
 * The span of a live small or large block starting at 'ptr', or NULL with
 * the reason in *why.  Re-derives everything from the pointer.
 */
static struct span *block_span(uintptr_t p, const char **why)
{
	struct arena *a = &kernel_pageheap.arena;
	uintptr_t off = p - a->start;
	if (__builtin_expect(off >= mm_read_shared(&a->used) - a->start, 0)) {
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
	unsigned cls = s->small.size_class;
	if (cls == 0) {
		if (rel) {
			*why = "interior pointer of a large block";
			return NULL;
		}
		return s;
	}
	const struct class_info *ci = &classes[cls];
	uint32_t index = (uint32_t)(((uint64_t)rel * ci->magic) >> 32);
	if (__builtin_expect(index * ci->size != rel, 0)) {
		*why = "interior pointer (not the start of a block)";
		return NULL;
	}
	if (__builtin_expect(!mm_bit_test(a->live_bits, (uint32_t)(off >> QSHIFT)), 0)) {
		*why = "block already free (double free?)";
		return NULL;
	}
	return s;
}

/* ---- large blocks ---- */

/* Counts large blocks on this CPU: allocations, frees, and the bytes they
 * (or a block grown in place) added. */
static void count_large(uint64_t mallocs, uint64_t frees, int64_t bytes)
{
	mm_irq_flags_t flags = mm_irq_save();
	struct kmalloc_cpu *mine = cpu_lists(mm_cpu_index());
	mine->large.mallocs += mallocs;
	mine->large.frees += frees;
	mine->large.bytes += bytes;
	mm_irq_restore(flags);
}

static void *large_alloc(size_t size, size_t align, bool zeroed)
{
	if (!heap_ready("kmalloc"))
		return NULL;
	if (size > kernel_pageheap.arena.limit || size > SIZE_MAX - PAGE_SIZE) {
		count_failure();
		return NULL;
	}
	uint32_t npages = (uint32_t)((size + PAGE_SIZE - 1) >> PAGE_SHIFT);
	if (npages == 0)
		npages = 1;
	struct span *s = heap_alloc(npages, (uint32_t)(align / PAGE_SIZE), zeroed);
	if (!s) {
		count_failure();
		return NULL;
	}
	/* A fresh span is the page heap's "size_class 0, no CPU list". */
	count_large(1, 0, (int64_t)npages * PAGE_SIZE);
	return (void *)s->start;
}

/* ---- the API ---- */

/* The fast path of every small allocation: an object of the class whose
 * CPU list is at 'offset' (or of one of the next few classes).  No
 * interrupt masking: the pop and the live bit are one restartable step
 * (mm/mm_env.h). */
void *kmalloc(size_t size)
{
	uintptr_t offset;
	if (__builtin_expect(size <= LOOKUP_MAX, 1))
		offset = lookup[size];
	else if (size <= KMALLOC_MAX_SMALL)
		offset = cpu_list_offset_of(size);
	else
		return large_alloc(size, PAGE_SIZE, false);
	void *obj;
	MM_CPU_STACK_TAKE(offset, QSHIFT, obj, empty);
	return obj;
empty:
#ifdef MM_SET_UP_ON_DEMAND
	/* Kept out of the kernel's build: it would keep size in a register
	 * across the pop, at three instructions, for a call that panics. */
	if (__builtin_expect(offset == 0, 0))
		return kmalloc_before_set_up(size);
#endif
	return alloc_slow(offset);
}

__attribute__((noinline)) void kfree_slow(void *ptr)
{
	if (!ptr)
		return; /* kfree(NULL) does nothing */
	if (__builtin_expect(kmalloc_debug & KMALLOC_DEBUG_SAMPLING, 0) &&
	    kfence_free(ptr, __builtin_return_address(0)))
		return;
	/* Looked up and freed under the page heap's lock: of two CPUs freeing
	 * one large block, the second finds it free. */
	const char *why;
	mm_irq_flags_t held = ph_lock(&kernel_pageheap);
	struct span *s = block_span((uintptr_t)ptr, &why);
	uint64_t bytes = 0;
	if (s && s->small.size_class == 0) {
		bytes = (uint64_t)s->npages * PAGE_SIZE;
		ph_free_locked(&kernel_pageheap, s);
	}
	ph_unlock(&kernel_pageheap, held);
	if (bytes)
		count_large(0, 1, -(int64_t)bytes);
	else
		bad_pointer("kfree", ptr,
		            s ? "in use again meanwhile (a racing double free?)" : why);
}

void kfree(void *ptr)
{
	const struct arena *a = &kernel_pageheap.arena;
	/* The quantum index of ptr, rotated so that a pointer off the quantum
	 * comes out huge: one comparison checks range and alignment. */
	uintptr_t off = (uintptr_t)ptr - a->start;
	uintptr_t q = off >> QSHIFT | off << (sizeof(off) * 8 - QSHIFT);
	if (__builtin_expect(q >= mm_read_shared(&a->used_quanta), 0))
		goto slow;
	/* Only the pages of a small span in use name a CPU list (any other
	 * page's 0 names class 0's, which is always full), so the live bits of
	 * ptr are mapped when the push gets that far.  Its bit is set exactly
	 * while an object starting at ptr is held by a caller: tested and
	 * cleared at once, atomically, it checks both the object boundary and a
	 * double free, on any CPU. */
	uintptr_t word = a->pages[q >> (PAGE_SHIFT - QSHIFT)].cpu_list;
	/* Found before the push, whose bit operation the compiler must take
	 * as touching any memory (the host would read its base again). */
	struct cpu_list MM_CPU_LOCAL *list = cpu_list_of_word(word);
	MM_CPU_STACK_GIVE(word, ptr, QSHIFT, full, slow);
	list->frees++;
	return;
full:
	if (!word)
		goto slow; /* no class: a large block, or not a block */
	kfree_flush(word, ptr);
	return;
slow:
	kfree_slow(ptr);
}

#ifdef MM_SECOND_NAMES
MM_SECOND_NAMES(kmalloc, kfree)
#endif

size_t ksize(const void *ptr)
{
	if (__builtin_expect(kmalloc_debug & KMALLOC_DEBUG_SAMPLING, 0)) {
		bool sampled;
		size_t size = kfence_ksize(ptr, &sampled);
		if (sampled)
			return size;
	}
	const char *why;
	struct span *s = ptr ? block_span((uintptr_t)ptr, &why) : NULL;
	size_t size = 0;
	if (s)
		size = s->small.size_class ? classes[s->small.size_class].user_size
		                           : (size_t)s->npages * PAGE_SIZE;
	else if (ptr)
		bad_pointer("ksize", ptr, why);
	return size;
}

void *kcalloc(size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		count_failure();
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
	if (size > kernel_pageheap.arena.limit)
		return false;
	uint32_t npages = (uint32_t)((size + PAGE_SIZE - 1) >> PAGE_SHIFT);
	struct span *s = ph_lookup(&kernel_pageheap, (uintptr_t)p);
	bool grown = s && s->small.size_class == 0 && ph_grow(&kernel_pageheap, s, npages);
	if (grown)
		count_large(0, 0, (int64_t)npages * PAGE_SIZE - (int64_t)old);
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
	 * than it had (a large block's worth when that is more than the
	 * largest class): one grown a little at a time is then copied
	 * O(log n) times rather than at every class boundary (sixteen per
	 * power of two below a page), and once large it grows in place. */
	size_t want = size;
	if (size > old && old <= KMALLOC_MAX_SMALL && size < old + old / 4)
		want = old + old / 4;
	void *q = kmalloc(want);
	if (!q)
		return NULL;
	memcpy(q, ptr, size < old ? size : old);
	kfree(ptr);
	return q;
}

/* kmalloc's fast path for a class chosen for its alignment: no borrowing
 * from the next classes, whose objects may not fall on it. */
static void *aligned_from(uintptr_t offset)
{
	void *obj;
	MM_CPU_STACK_TAKE(offset, QSHIFT, obj, empty);
	return obj;
empty:
	return alloc_slow_no_borrow(offset);
}

void *kmemalign(size_t alignment, size_t size)
{
	if (alignment < 8 || alignment > KMALLOC_MAX_ALIGN || (alignment & (alignment - 1)))
		return NULL;
	if (alignment <= Q)
		return kmalloc(size);
	if (!heap_ready("kmemalign"))
		return NULL;
	if (alignment <= PAGE_SIZE && size <= KMALLOC_MAX_SMALL) {
		/* A class whose objects all fall on the alignment: its size is a
		 * multiple of it and spans start on a page. */
		for (unsigned cls = kmalloc_class_of(size); cls <= class_count; cls++)
			if (classes[cls].size % alignment == 0)
				return aligned_from(cpu_list_offset(cls));
	}
	return large_alloc(size, alignment < PAGE_SIZE ? PAGE_SIZE : alignment, false);
}
