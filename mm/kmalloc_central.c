/* mm/kmalloc_central.c - the spans of each size class (the central lists):
 * setting spans up, refilling the CPU lists from them, flushing back,
 * giving empty spans to the page heap, and reclaiming idle memory when
 * frames run out (see the essay in kmalloc.c). */
#include "mm/kmalloc_internal.h"

static void central_add(struct central *c, struct span *s)
{
	s->prev = NULL;
	s->next = c->partial;
	if (s->next)
		s->next->prev = s;
	c->partial = s;
	s->small.listed = 1;
}

static void central_del(struct central *c, struct span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->small.listed = 0;
}

/* The page heap could not serve a request: memory held idle - objects on
 * the CPU lists, the empty spans each class keeps, free pages still
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
__attribute__((noinline)) struct span *heap_alloc_again(uint32_t npages, uint32_t align_pages,
                                                        bool zeroed)
{
	if (!reclaim_idle((size_t)npages * PAGE_SIZE))
		return NULL;
	return ph_alloc_aligned(&kernel_pageheap, npages, align_pages, zeroed);
}

static struct span *new_class_span(unsigned cls)
{
	const struct class_info *ci = &classes[cls];
	struct span *s = heap_alloc(ci->pages, 1, false);
	if (!s)
		return NULL;
	if (!arena_cover_live(&kernel_pageheap.arena, s->start, (size_t)ci->pages * PAGE_SIZE)) {
		ph_free(&kernel_pageheap, s);
		return NULL;
	}
	/* Every page names the span (for flush) and, in its page word, the
	 * CPU list (for kfree: one lookup).  No other page names a list. */
	ph_mark_all(&kernel_pageheap, s, &cache[cls]);
	s->small.size_class = (uint8_t)cls;
	s->small.cpu_list = &cache[cls];
	s->small.object_size = ci->size;
	s->small.magic = ci->magic;
	s->small.free_objects = NULL;
	s->small.objects_in_use = 0;
	s->small.object_count = ci->objects;
	s->small.carved = 0;
	central_add(&central[cls], s);
	central[cls].spans++;
	return s;
}

/* Fills the CPU list of 'cls' with up to a batch, from the free lists
 * of the class's spans (which must have one) first and then from their
 * uncarved ends.  The spans visited are always the head of the class list
 * (one that is left full is unlinked), and at most REFILL_SPANS of them:
 * spans given back a single object each would otherwise make one refill
 * long.  Counters are updated once per span and once per batch. */
#define REFILL_SPANS 3
#define RELEASE_COST 8 /* a flush's cost of releasing a span: see FLUSH_BUDGET */
static __attribute__((noinline)) void refill(unsigned cls)
{
	const struct class_info *ci = &classes[cls];
	struct central *c = &central[cls];
	struct cpu_list *list = &cache[cls];
	struct span *s = c->partial;
	uint32_t batch = ci->batch;
	void *head = list->head;
	uint32_t got = 0;
	for (unsigned visits = 1;; visits++) {
		uint32_t taken = 0, want = batch - got;
		void **obj = s->small.free_objects;
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
		s->small.free_objects = obj;
		if (taken < want && s->small.carved < s->small.object_count) {
			uint32_t carve = s->small.object_count - s->small.carved;
			if (carve > want - taken)
				carve = want - taken;
			uintptr_t p = s->start + (uintptr_t)s->small.carved * ci->size;
			for (uint32_t i = 0; i < carve; i++, p += ci->size) {
				*(void **)p = head;
				head = (void *)p;
			}
			s->small.carved += carve;
			taken += carve;
		}
		if (s->small.objects_in_use == 0 && taken)
			c->empty--; /* an empty span in use again */
		s->small.objects_in_use += taken;
		got += taken;
		if (!obj && s->small.carved == s->small.object_count)
			central_del(c, s); /* full: found again through kfree */
		if (got == batch || visits == REFILL_SPANS || !(s = c->partial))
			break;
	}
	list->head = head;
	list->room -= (int32_t)got;
	c->out += got;
}

/* An empty span of a class goes back to the page heap. */
static void release_class_span(struct central *c, struct span *s)
{
	central_del(c, s);
	c->spans--;
	s->small.cpu_list = NULL;     /* no longer a small span */
	ph_free(&kernel_pageheap, s); /* clears the page words: kfree no longer takes it */
}

/* Gives up to 'n' objects of the CPU list of 'cls' back to their
 * spans, within 'budget' (FLUSH_BUDGET for kfree; kmalloc_drain has no
 * limit).  A span left with nothing in use is kept while the class has
 * fewer than keep_empty empty spans, and otherwise goes back to the page
 * heap at once.  An object that would empty a span whose release the
 * budget no longer covers stays in the CPU list for a later flush, so
 * that no span is left empty beyond keep_empty for want of budget. */
static void flush(unsigned cls, uint32_t n, int32_t budget)
{
	struct central *c = &central[cls];
	struct cpu_list *list = &cache[cls];
	struct arena *a = &kernel_pageheap.arena;
	void **obj = list->head;
	uint32_t moved = 0;
	for (; obj && moved < n && budget > 0; moved++, budget--) {
		void **next = *obj;
		struct span *s = a->pages[((uintptr_t)obj - a->start) >> PAGE_SHIFT].span;
		if (__builtin_expect(budget <= RELEASE_COST && s->small.objects_in_use == 1 &&
		                             c->empty >= c->keep_empty,
		                     0))
			break;
		*obj = s->small.free_objects;
		s->small.free_objects = obj;
		obj = next;
		if (__builtin_expect(--s->small.objects_in_use == 0 || !s->small.listed, 0)) {
			if (!s->small.listed) {
				central_add(c, s);
				budget--; /* listing costs about as much as an object */
			}
			if (s->small.objects_in_use == 0) {
				if (c->empty < c->keep_empty) {
					c->empty++;
				} else {
					release_class_span(c, s);
					budget -= RELEASE_COST;
				}
			}
		}
	}
	list->head = obj;
	list->room += (int32_t)moved;
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
			if (s->small.objects_in_use == 0)
				release_class_span(c, s);
		}
		c->empty = 0;
	}
	mm_irq_restore(flags);
}

uint64_t kmalloc_trim(void)
{
	mm_irq_flags_t flags = mm_irq_save();
	uint64_t before = kernel_pageheap.arena.stats.mapped_bytes;
	kmalloc_drain();
	ph_scavenge_all(&kernel_pageheap);
	uint64_t freed = before - kernel_pageheap.arena.stats.mapped_bytes;
	mm_irq_restore(flags);
	return freed;
}

/* ---- the slow paths of kmalloc and kfree ---- */

/* A class with no span to take from: a new span, whose first object goes
 * to the caller and the next few (NEW_SPAN_BATCH in all) to the empty
 * CPU list.  Setting the span up is the costly part of the call, so
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
	struct cpu_list *list = &cache[cls];
	void *head = list->head;
	for (uintptr_t p = s->start + (uintptr_t)(n - 1) * ci->size; p > s->start; p -= ci->size) {
		*(void **)p = head;
		head = (void *)p;
	}
	list->head = head;
	list->room -= (int32_t)(n - 1);
	s->small.carved = s->small.objects_in_use = n;
	central[cls].out += n;
	if (n == s->small.object_count)
		central_del(&central[cls], s); /* full already */
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
	void **obj = s->small.free_objects;
	if (obj) {
		s->small.free_objects = *obj;
	} else {
		obj = (void **)(s->start + (uintptr_t)s->small.carved * classes[cls].size);
		s->small.carved++;
	}
	if (s->small.objects_in_use++ == 0)
		c->empty--;
	c->out++;
	if (!s->small.free_objects && s->small.carved == s->small.object_count)
		central_del(c, s);
	mm_bit_set_at(live_origin, (uintptr_t)obj >> QSHIFT);
	mm_irq_restore(flags);
	return obj;
}

/* An empty CPU list: refill it, then take from it; with nothing to
 * refill from, borrow (when 'may_borrow': not for kmemalign, whose class
 * was chosen for its alignment) or set up a span.  Its two forms below are
 * kept out of line so that the fast path needs few registers. */
static inline __attribute__((always_inline)) void *
alloc_slow_common(struct cpu_list *list, mm_irq_flags_t flags, bool may_borrow)
{
	if (__builtin_expect(list == &cache[0], 0)) /* no class: no tables yet */
		used_before_set_up("kmalloc");
	unsigned cls = (unsigned)(list - cache);
	const struct central *c = &central[cls];
	if (__builtin_expect(!c->partial, 0)) {
		unsigned k = may_borrow ? lender(c) : 0;
		if (k)
			return borrow_object(cls + k, flags);
		return alloc_new_span(cls, flags);
	}
	refill(cls);
	return take_object(list, flags);
}

__attribute__((noinline)) void *alloc_slow(struct cpu_list *list, mm_irq_flags_t flags)
{
	return alloc_slow_common(list, flags, true);
}

__attribute__((noinline)) void *alloc_slow_no_borrow(struct cpu_list *list, mm_irq_flags_t flags)
{
	return alloc_slow_common(list, flags, false);
}

/* A full CPU list: half of it goes back to its spans. */
__attribute__((noinline)) void kfree_flush(struct cpu_list *list, mm_irq_flags_t flags)
{
	unsigned cls = (unsigned)(list - cache);
	flush(cls, cached(cls) / 2, FLUSH_BUDGET);
	mm_irq_restore(flags);
}
