/*
 * mm/kmalloc_central.c - the spans of each size class (the central lists):
 * setting spans up, refilling the CPU lists from them, flushing back,
 * giving empty spans to the page heap, and reclaiming idle memory when
 * frames run out (see the essay in kmalloc.c).
 *
 * Locks, in the order they are taken (mm/ as a whole):
 *   1. drain_lock, held by kmalloc_drain while it gathers every CPU's lists;
 *   2. the class locks (struct central), in increasing class order: a
 *      class that borrows takes a larger class's lock, never holding its
 *      own; nothing takes two class locks but the checker, in order;
 *   3. the page heap's (ph_*), taken inside its calls, also under a class
 *      lock (an emptied span goes back);
 *   4. the vm map's, inside the arena's calls to vm_*;
 *   5. the frame allocator's, inside the page tables' need for frames.
 * A CPU list is touched only by its CPU: by the fast paths' restartable
 * steps, by the slow paths below with interrupts off, or by a call that CPU
 * answers (detach_here).  The fast paths may have found a list empty or
 * full with interrupts on, so a slow path looks again once they are off.
 * Every wait for a lock answers calls, so a CPU that code run this way can
 * reach must hold no pointer into its lists' slots across a lock: the code
 * below rereads the list after each lock it takes.
 */
#include "mm/kfence.h"
#include "mm/kmalloc_internal.h"
#include "mm/vm.h"

static void central_add(struct central *c, struct span *s)
{
	s->prev = NULL;
	s->next = c->partial;
	if (s->next)
		s->next->prev = s;
	/* Stored whole: the slow paths look at it without the lock. */
	mm_write_shared(&c->partial, s);
	s->small.listed = 1;
}

static void central_del(struct central *c, struct span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		mm_write_shared(&c->partial, s->next);
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->small.listed = 0;
}

/* The page heap could not serve a request: memory held idle - objects on
 * the CPU lists, the empty spans each class keeps, free pages still
 * mapped - goes back to the frame pool, so that one retry can use it.
 * True when anything came back.  (Linux's slab shrinkers do the same under
 * memory pressure.)  Called with no lock held. */
static bool reclaim_idle(size_t wanted)
{
	uint64_t freed = kmalloc_trim();
	if (freed) {
		COUNT(totals.reclaims);
		kprintf_ratelimited(
		        "kmalloc: reclaims",
		        "kmalloc: %zu bytes not available: gave %llu KiB held idle back, "
		        "retrying\n",
		        wanted, (unsigned long long)(freed >> 10));
	}
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

/* A span for class 'cls', set up but not yet listed (the caller lists
 * it).  Called with the class lock held, so that nothing that holds the
 * heap still (kheap_check) sees a span half set up; the lock is dropped
 * only to reclaim idle memory, which takes every class lock in turn, and
 * taken again. */
static inline __attribute__((always_inline)) struct span *new_class_span(unsigned cls)
{
	const struct class_info *ci = &classes[cls];
	struct central *c = &central[cls];
	struct span *s = ph_alloc(&kernel_pageheap, ci->pages, false);
	if (__builtin_expect(!s, 0)) {
		mm_unlock_irqs_off(&c->lock);
		s = heap_alloc_again(ci->pages, 1, false);
		mm_lock_irqs_off(&c->lock);
		if (!s)
			return NULL;
	}
	if (!ph_cover_live(&kernel_pageheap, s)) {
		ph_free(&kernel_pageheap, s);
		return NULL;
	}
	/* Every page names the span (for flush) and, in its page word, the
	 * class's CPU list (for kfree: one lookup).  No other page names a
	 * list.  Nobody holds a pointer into the span yet. */
	ph_mark_all(&kernel_pageheap, s, cpu_list_word(cls));
	s->small.size_class = (uint8_t)cls;
	s->small.cpu_list = cpu_list_word(cls);
	s->small.free_objects = NULL;
	s->small.abandoned = 0;
	s->small.object_count = ci->objects;
	s->small.listed = 0; /* the caller sets objects_in_use and carved */
	return s;
}

/* Fills this CPU's list of 'cls' with up to a batch (as much as it has room
 * for): from the class's transfer stack when it holds any, or else from
 * the free lists of the class's spans (which must have one) first and then
 * from their uncarved ends.  The spans visited are always
 * the head of the class list (one that is left full is unlinked), and at
 * most REFILL_SPANS of them: spans given back a single object each would
 * otherwise make one refill long.  Counters are updated once per span and
 * once per batch.  With the class lock held and interrupts off. */
#define REFILL_SPANS 2
#define RELEASE_COST 8 /* a flush's cost of releasing a span: see FLUSH_BUDGET */
static __attribute__((noinline)) void refill(unsigned cls, struct cpu_list *list)
{
	const struct class_info *ci = &classes[cls];
	struct central *c = &central[cls];
	uint32_t batch = ci->batch < room_on(list) ? ci->batch : room_on(list);
	if (c->transfer_count) {
		/* A batch parked by a flush: no span to visit. */
		uint32_t n = c->transfer_count < batch ? c->transfer_count : batch;
		uint32_t left = c->transfer_count - n;
		memcpy(list->stack.top, c->transfer + left, n * sizeof(void *));
		list->stack.top += n;
		mm_write_shared(&c->transfer_count, left);
		return;
	}
	struct span *s = c->partial;
	void **top = list->stack.top;
	uint32_t got = 0;
	for (unsigned visits = 1;; visits++) {
		uint32_t taken = 0, want = batch - got;
		void **obj = s->small.free_objects;
		if (obj) {
			/* The list's head was checked when it was stored. */
			void **first = top, **stop = top + want;
			uintptr_t start = s->start;
			uintptr_t carved_quanta = (uintptr_t)s->small.carved * ci->size >> QSHIFT;
			do {
				*top++ = obj;
				obj = link_load(obj);
				if (__builtin_expect(!link_ok(start, carved_quanta, obj), 0)) {
					broken_link(cls, s, top[-1], obj, (uint32_t)(top - first));
					obj = NULL;
				}
			} while (obj && top < stop);
			taken = (uint32_t)(top - first);
		}
		s->small.free_objects = obj;
		if (taken < want && s->small.carved < s->small.object_count) {
			uint32_t carve = s->small.object_count - s->small.carved;
			if (carve > want - taken)
				carve = want - taken;
			/* Pushed from the highest, so that they are handed out in
			 * address order. */
			uintptr_t p = s->start + (uintptr_t)(s->small.carved + carve) * ci->size;
			for (uint32_t i = 0; i < carve; i++) {
				p -= ci->size;
				*top++ = (void *)p;
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
	list->stack.top = top;
	c->out += got;
}

void broken_link(unsigned cls, struct span *s, void **obj, void **next, uint32_t handed)
{
	struct central *c = &central[cls];
	/* Free objects the span had before this visit took any; the caller
	 * adds 'handed' to objects_in_use after. */
	uint32_t lost = s->small.carved - s->small.objects_in_use - handed;
	kprintf_ratelimited("broken free list",
	                    "kmalloc: broken free list in span %p (class %u, %u-byte objects): "
	                    "link at %p decodes to %p, not a free object of the span; %u "
	                    "objects abandoned\n",
	                    (void *)s->start, cls, classes[cls].user_size, (void *)obj,
	                    (void *)next, lost);
	COUNT(totals.broken_links);
	__atomic_fetch_add(&totals.abandoned, lost, __ATOMIC_RELAXED);
	if (lost && s->small.objects_in_use == 0)
		c->empty--; /* never empty again */
	s->small.objects_in_use += lost;
	s->small.abandoned += lost;
	c->abandoned += lost;
	c->out += lost;
}

/* An empty span of a class goes back to the page heap. */
static void release_class_span(struct central *c, struct span *s)
{
	central_del(c, s);
	c->spans--;
	s->small.cpu_list = 0;        /* no longer a small span */
	ph_free(&kernel_pageheap, s); /* clears the page words: kfree no longer takes it */
}

/* Gives one object of class 'c', in span 's', back to it; returns the work
 * done beyond the object itself (listing the span again: see
 * FLUSH_BUDGET).  A span left with nothing in use is kept while the class
 * has fewer than keep_empty empty spans; otherwise the caller gets it back
 * to give to the page heap.  c->out is the caller's to count down.  With
 * the class lock held. */
static inline __attribute__((always_inline)) int32_t give_back(struct central *c, struct span *s,
                                                               void **obj, struct span **release)
{
	int32_t work = 0;
	link_store(obj, s->small.free_objects);
	s->small.free_objects = obj;
	if (__builtin_expect(--s->small.objects_in_use == 0 || !s->small.listed, 0)) {
		if (!s->small.listed) {
			central_add(c, s);
			work++; /* listing costs about as much as an object */
		}
		if (s->small.objects_in_use == 0) {
			if (c->empty < c->keep_empty)
				c->empty++;
			else
				*release = s;
		}
	}
	return work;
}

/* One object of class 'c', wherever it was held free (a CPU list, the
 * transfer stack), back to its span, and the span to the page heap when
 * give_back says so; with the class lock held. */
static void give_back_one(struct central *c, void **obj)
{
	const struct arena *a = &kernel_pageheap.arena;
	struct span *release = NULL;
	give_back(c, a->pages[((uintptr_t)obj - a->start) >> PAGE_SHIFT].span, obj, &release);
	c->out--;
	if (release)
		release_class_span(c, release);
}

/* Gives up to 'n' objects from the top of this CPU's list of 'cls' back:
 * as many as the class's transfer stack has room for are parked there, or,
 * when it is full, they go back to their spans, within 'budget'
 * (FLUSH_BUDGET for kfree).  An object that
 * would empty a span whose release the budget no longer covers stays in the
 * list for a later flush, so that no span is left empty beyond keep_empty
 * for want of budget.  Releasing a span waits for the page heap's lock, and
 * a call answered meanwhile may take the list away (detach_here): the list
 * is brought up to date before and read again after.  With the class
 * lock held and interrupts off. */
static void flush(unsigned cls, struct cpu_list *list, uint32_t n, int32_t budget)
{
	struct central *c = &central[cls];
	uint32_t cached = cached_on(list);
	if (n > cached)
		n = cached;
	/* What the transfer stack has room for is parked there whole: a
	 * copy, no span touched.  That is the whole flush, whatever it
	 * parked, so that the worst one is no longer than a flush to the
	 * spans. */
	uint32_t parked = c->transfer_max - c->transfer_count;
	if (parked > n)
		parked = n;
	if (parked) {
		list->stack.top -= parked;
		memcpy(c->transfer + c->transfer_count, list->stack.top, parked * sizeof(void *));
		mm_write_shared(&c->transfer_count, c->transfer_count + parked);
		return;
	}
	const struct arena_page *pages = kernel_pageheap.arena.pages;
	uintptr_t start = kernel_pageheap.arena.start;
	/* The budget is spent one per object, which the loop's one bound on
	 * the list (the lowest slot it empties) counts; 'spare' is what is
	 * left beyond it, for the rare work (listing a span again, releasing
	 * one), which raises the bound when it runs out.  The objects given
	 * back are counted from 'from' down to top. */
	void **top = list->stack.top, **from = top;
	uint32_t take = n < (uint32_t)budget ? n : (uint32_t)budget;
	void **stop = top - take;
	int32_t spare = budget - (int32_t)take;
	uint32_t taken = 0;
	while (top > stop) {
		void **obj = top[-1];
		struct span *s = pages[((uintptr_t)obj - start) >> PAGE_SHIFT].span;
		if (__builtin_expect(s->small.objects_in_use > 1 && s->small.listed, 1)) {
			/* Neither empties the span nor lists it: give_back's
			 * common case, spelled out. */
			link_store(obj, s->small.free_objects);
			s->small.free_objects = obj;
			s->small.objects_in_use--;
			top--;
			continue;
		}
		int32_t left = (int32_t)(top - stop) + spare; /* this object's unit included */
		if (s->small.objects_in_use == 1 && left <= RELEASE_COST &&
		    c->empty >= c->keep_empty)
			break; /* it would empty a span the budget cannot release */
		top--;
		struct span *release = NULL;
		int32_t work = give_back(c, s, obj, &release) + (release ? RELEASE_COST : 0);
		if (work > spare) { /* paid for with objects not yet given back */
			int32_t short_by = work - spare;
			stop = top - stop > short_by ? stop + short_by : top;
			spare = 0;
		} else {
			spare -= work;
		}
		if (__builtin_expect(release != NULL, 0)) {
			/* The list as it stands before the page heap's lock,
			 * whose wait may answer a drain, which may take the
			 * list (then its top is its bottom: below stop). */
			list->stack.top = top;
			taken += (uint32_t)(from - top);
			release_class_span(c, release);
			from = top = list->stack.top;
		}
	}
	list->stack.top = top;
	c->out -= taken + (uint32_t)(from - top);
}

bool transfer_init(void)
{
	uint32_t slots = 0;
	for (unsigned cls = 1; cls <= class_count; cls++)
		slots += classes[cls].transfer_max;
	void **next = ph_meta_alloc(&kernel_pageheap, slots * sizeof(void *));
	if (!next) {
		kprintf("kmalloc: no memory for the %u slots of the transfer stacks\n", slots);
		return false;
	}
	for (unsigned cls = 1; cls <= class_count; cls++) {
		central[cls].transfer = next;
		central[cls].transfer_max = classes[cls].transfer_max;
		next += classes[cls].transfer_max;
	}
	return true;
}

/* ---- draining every CPU's lists ---- */

/* Every CPU's lists, taken whole by kmalloc_drain (under drain_lock). */
static mm_lock_t drain_lock = MM_LOCK_INIT;
static mm_irq_flags_t hold_flags; /* kheap_hold's */
static void *detached[MM_MAX_CPUS][KMALLOC_MAX_CLASSES + 1] MM_SPARSE;

/* On each CPU, asked by kmalloc_drain: its lists are handed over whole.
 * No lock: it may run while this CPU waits for one. */
static void detach_here(void *unused)
{
	(void)unused;
	mm_irq_flags_t flags = mm_irq_save();
	unsigned cpu = mm_cpu_index();
	struct kmalloc_cpu *mine = cpu_lists(cpu);
	for (unsigned cls = 1; cls <= class_count; cls++) {
		struct mm_cpu_stack *stack = &mine->lists[cls].stack;
		void *chain = NULL;
		while (stack->top > stack->bottom) {
			void **obj = *--stack->top;
			*obj = chain; /* linked through their first words, as free */
			chain = obj;
		}
		detached[cpu][cls] = chain;
	}
	mm_irq_restore(flags);
}

/* The objects of class 'c' that CPU 'cpu' handed over, back to their
 * spans; with the class's lock held. */
static void give_back_detached(struct central *c, unsigned cpu, unsigned cls)
{
	for (void **obj = detached[cpu][cls], **next; obj; obj = next) {
		next = *obj;
		give_back_one(c, obj);
	}
	detached[cpu][cls] = NULL;
}

/* The objects parked on the transfer stack of class 'c', back to their
 * spans; with the class's lock held. */
static void give_back_transfer(struct central *c)
{
	while (c->transfer_count) {
		void **obj = c->transfer[c->transfer_count - 1];
		mm_write_shared(&c->transfer_count, c->transfer_count - 1);
		give_back_one(c, obj);
	}
}

/* Every lock, in the order the heap takes them: drain, each class's, the
 * sampler's, the page heap's, vm's. */
void kheap_hold(void)
{
	mm_irq_flags_t flags = mm_irq_save();
	mm_lock_irqs_off(&drain_lock);
	for (unsigned cls = 1; cls <= class_count; cls++)
		mm_lock_irqs_off(&central[cls].lock);
	kfence_hold();
	mm_lock_irqs_off(&kernel_pageheap.lock);
	vm_hold();
	hold_flags = flags;
}

void kheap_release(void)
{
	mm_irq_flags_t flags = hold_flags;
	vm_unhold();
	mm_unlock_irqs_off(&kernel_pageheap.lock);
	kfence_unhold();
	for (unsigned cls = class_count; cls >= 1; cls--)
		mm_unlock_irqs_off(&central[cls].lock);
	mm_unlock_irqs_off(&drain_lock);
	mm_irq_restore(flags);
}

void kmalloc_cpu_exit(void)
{
	mm_irq_flags_t flags = mm_lock(&drain_lock);
	unsigned cpu = mm_cpu_index();
	detach_here(NULL);
	for (unsigned cls = 1; cls <= class_count; cls++) {
		struct central *c = &central[cls];
		mm_irq_flags_t held = mm_lock(&c->lock);
		give_back_detached(c, cpu, cls);
		mm_unlock(&c->lock, held);
	}
	mm_unlock(&drain_lock, flags);
}

void kmalloc_drain(void)
{
	mm_irq_flags_t flags = mm_lock(&drain_lock);
	memset(detached, 0, sizeof(detached));
	detach_here(NULL);
	mm_call_other_cpus(detach_here, NULL);
	for (unsigned cls = 1; cls <= class_count; cls++) {
		struct central *c = &central[cls];
		mm_irq_flags_t held = mm_lock(&c->lock);
		for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
			give_back_detached(c, cpu, cls);
		give_back_transfer(c);
		for (struct span *s = c->partial, *next; s; s = next) {
			next = s->next;
			if (s->small.objects_in_use == 0)
				release_class_span(c, s);
		}
		c->empty = 0;
		mm_unlock(&c->lock, held);
	}
	mm_unlock(&drain_lock, flags);
}

/* The arena's mapped bytes, read under the page heap's lock (64 bits: no
 * atomic load on an i486). */
static uint64_t mapped_bytes(void)
{
	mm_irq_flags_t held = ph_lock(&kernel_pageheap);
	uint64_t bytes = kernel_pageheap.arena.stats.mapped_bytes;
	ph_unlock(&kernel_pageheap, held);
	return bytes;
}

uint64_t kmalloc_trim(void)
{
	uint64_t before = mapped_bytes();
	kmalloc_drain();
	ph_scavenge_all(&kernel_pageheap);
	uint64_t after = mapped_bytes();
	return before > after ? before - after : 0; /* others may have mapped meanwhile */
}

/* ---- the slow paths of kmalloc and kfree ---- */

/* The top of this CPU's non-empty list, marked live; interrupts off. */
static inline void *pop_here(struct cpu_list *list)
{
	void *p = *--list->stack.top;
	mm_bit_set_at(live_origin, (uintptr_t)p >> QSHIFT);
	return p;
}

/* A class with no span to take from: a new span, whose first object goes
 * to the caller and the next few (NEW_SPAN_BATCH in all) to this CPU's
 * empty list.  Setting the span up is the costly part of the call, so it
 * carves little at once; later refills carve the rest.  Interrupts are off
 * ('flags' restores them). */
static inline __attribute__((always_inline)) void *alloc_new_span(unsigned cls,
                                                                  mm_irq_flags_t flags)
{
	const struct class_info *ci = &classes[cls];
	struct central *c = &central[cls];
	mm_lock_irqs_off(&c->lock);
	struct span *s = new_class_span(cls);
	if (!s) {
		mm_unlock_irqs_off(&c->lock);
		count_failure();
		mm_irq_restore(flags);
		return NULL;
	}
	/* The list is empty (alloc_slow_common found it so with interrupts
	 * off, and what ran since - a call answered in a lock's wait - only
	 * empties lists), so it has room for all of them. */
	struct cpu_list *list = my_list(cls);
	uint32_t n = ci->batch < NEW_SPAN_BATCH ? ci->batch : NEW_SPAN_BATCH;
	if (kmalloc_debug)
		n = 1; /* lists without room */
	/* Objects 1 .. n-1 to the list, the lowest on top. */
	for (uintptr_t p = s->start + (uintptr_t)(n - 1) * ci->size; p > s->start; p -= ci->size)
		*list->stack.top++ = (void *)p;
	s->small.carved = s->small.objects_in_use = n;
	c->out += n;
	c->spans++;
	if (n < s->small.object_count)
		central_add(c, s);
	mm_bit_set_at(live_origin, s->start >> QSHIFT);
	mm_unlock_irqs_off(&c->lock);
	mm_irq_restore(flags);
	return (void *)s->start;
}

/* Whether class 'c' has free objects to refill a list from: a listed
 * span or a parked batch.  Read without the lock to see whether taking it
 * is worth it, and again under it. */
static inline bool has_free_objects(const struct central *c)
{
	return ((uintptr_t)__atomic_load_n(&c->partial, __ATOMIC_RELAXED) |
	        __atomic_load_n(&c->transfer_count, __ATOMIC_RELAXED)) != 0;
}

/* Refills this CPU's empty list of 'cls' under the class lock, as far as
 * the class has free objects once it is had; whether the list has any
 * now (read after the lock: a drain answered in its wait may have taken
 * the list, or a handler freed to it). */
static inline bool refilled(unsigned cls, struct cpu_list *list)
{
	struct central *c = &central[cls];
	mm_lock_irqs_off(&c->lock);
	if (__builtin_expect(has_free_objects(c), 1) && !cached_on(list))
		refill(cls, list); /* out of line: its writes are done */
	mm_unlock_irqs_off(&c->lock);
	return cached_on(list) != 0;
}

/* Which of the next BORROW_CLASSES classes after that of 'c' is the
 * nearest with a listed span (1 for the next), or 0 if none has or that
 * one is further than 'c' may borrow from (c->lenders); read without their
 * locks.  Spelled out, and the four looked at together first: this is on
 * the way to setting up a span, the slowest kmalloc there is, which finds
 * none.  Classes past the last have no spans. */
static inline unsigned lender(const struct central *c)
{
	_Static_assert(BORROW_CLASSES == 4, "lender looks four classes ahead");
#define LISTED(i) ((uintptr_t)__atomic_load_n(&c[i].partial, __ATOMIC_RELAXED))
	uintptr_t p1 = LISTED(1), p2 = LISTED(2), p3 = LISTED(3), p4 = LISTED(4);
#undef LISTED
	if (!(p1 | p2 | p3 | p4))
		return 0;
	unsigned k = p1 ? 1 : p2 ? 2 : p3 ? 3 : 4;
	return k <= c->lenders ? k : 0;
}

/* One object of 'cls' from the first listed span of the class, live, or
 * NULL when it has none (any more); *fresh says it was never handed out
 * before.  Takes the class's lock; interrupts are off. */
void *take_from_spans(unsigned cls, bool *fresh)
{
	struct central *c = &central[cls];
	mm_lock_irqs_off(&c->lock);
	struct span *s = c->partial;
	void **obj = NULL;
	*fresh = false;
	if (s) {
		obj = s->small.free_objects;
		if (obj) {
			void **next = link_load(obj);
			if (!link_ok(s->start,
			             (uintptr_t)s->small.carved * classes[cls].size >> QSHIFT,
			             next)) {
				broken_link(cls, s, obj, next, 1);
				next = NULL;
			}
			s->small.free_objects = next;
		} else {
			obj = (void **)(s->start + (uintptr_t)s->small.carved * classes[cls].size);
			s->small.carved++;
			*fresh = true;
		}
		if (s->small.objects_in_use++ == 0)
			c->empty--;
		c->out++;
		if (!s->small.free_objects && s->small.carved == s->small.object_count)
			central_del(c, s);
		mm_bit_set_at(live_origin, (uintptr_t)obj >> QSHIFT);
	}
	mm_unlock_irqs_off(&c->lock);
	return obj;
}

/* One object for a caller of a smaller class (see alloc_slow_common): it is
 * an object of 'cls' in every respect: its kfree returns it to this class. */
static __attribute__((noinline)) void *borrow_object(unsigned cls)
{
	bool fresh;
	return take_from_spans(cls, &fresh);
}

/* A new span's first object, live (kmalloc_debug: the lists take none). */
void *new_span_object(unsigned cls, mm_irq_flags_t flags)
{
	return alloc_new_span(cls, flags);
}

/* One object goes back to its span straight (kmalloc_debug's kfree, with
 * the class's lock held and the object's live bit cleared). */
void give_back_locked(unsigned cls, void *ptr)
{
	give_back_one(&central[cls], ptr);
}

/* An empty CPU list (as the fast path saw it, with interrupts on: a handler
 * may have freed to it since): refill it, then take from it; with nothing to
 * refill from, borrow (when 'may_borrow': not for kmemalign, whose class
 * was chosen for its alignment) or set up a span.  Its two forms below are
 * kept out of line so that the fast path needs few registers. */
static inline __attribute__((always_inline)) void *alloc_slow_common(uintptr_t offset,
                                                                     bool may_borrow, void *caller)
{
	if (__builtin_expect(offset == 0, 0)) {
		/* No class: a call before the tables are set up, which
		 * heap_ready turns into the kernel's panic (where the world
		 * sets the heap up on demand, kmalloc_before_set_up took it). */
		MM_ASSERT(!heap_ready("kmalloc"), "kmalloc: no class, but the heap is set up");
		return NULL;
	}
	unsigned cls = class_at(offset);
	if (__builtin_expect(kmalloc_debug != 0, 0))
		return debug_alloc(cls, caller);
	struct central *c = &central[cls];
	mm_irq_flags_t flags = mm_irq_save();
	struct cpu_list *list = my_list(cls);
	/* A look without the lock first: a class with no span to refill from
	 * (the way to borrowing or a new span, the slowest kmalloc there is)
	 * does not pay for it, nor for a second look at its list, which
	 * nothing but a lock's wait could have changed. */
	if (cached_on(list) || (__builtin_expect(has_free_objects(c), 1) && refilled(cls, list))) {
		void *p = pop_here(list);
		mm_irq_restore(flags);
		return p;
	}
	/* A look at the lenders without their locks: borrow_object looks
	 * again under the lender's lock. */
	unsigned k = may_borrow ? lender(c) : 0;
	if (k) {
		void *p = borrow_object(cls + k);
		if (p) {
			mm_irq_restore(flags);
			return p;
		}
	}
	return alloc_new_span(cls, flags);
}

/* The fast paths jump here, so the return address is their caller's: what
 * kmalloc_debug records as the caller. */
__attribute__((noinline)) void *alloc_slow(uintptr_t offset)
{
	return alloc_slow_common(offset, true, __builtin_return_address(0));
}

__attribute__((noinline)) void *alloc_slow_no_borrow(uintptr_t offset)
{
	return alloc_slow_common(offset, false, __builtin_return_address(0));
}

/* A full CPU list (as kfree's fast path saw it): half of it goes back to
 * its spans (half of what it holds once the lock is had: a drain may have
 * emptied it meanwhile), then ptr, whose live bit is still set, goes on it. */
__attribute__((noinline)) void kfree_flush(uintptr_t offset, void *ptr)
{
	unsigned cls = class_at(offset);
	if (__builtin_expect(kmalloc_debug != 0, 0))
		return debug_free(cls, ptr, __builtin_return_address(0));
	mm_irq_flags_t flags = mm_irq_save();
	struct cpu_list *list = my_list(cls);
	if (!room_on(list)) {
		struct central *c = &central[cls];
		mm_lock_irqs_off(&c->lock);
		uint32_t half = cached_on(list) / 2;
		flush(cls, list, half ? half : 1, FLUSH_BUDGET);
		mm_unlock_irqs_off(&c->lock);
	}
	/* The first object of a flush is always given back (FLUSH_BUDGET >
	 * RELEASE_COST), and a drain empties the list: there is room now. */
	MM_ASSERT(room_on(list) > 0, "kfree(%p): CPU list of class %u still full after a flush",
	          ptr, classes[cls].size);
	if (__builtin_expect(!mm_bit_test_clear_at(live_origin, (uintptr_t)ptr >> QSHIFT), 0)) {
		mm_irq_restore(flags);
		kfree_slow(ptr); /* names what it is */
		return;
	}
	*list->stack.top++ = ptr;
	list->frees++;
	mm_irq_restore(flags);
}
