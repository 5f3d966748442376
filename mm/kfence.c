/*
 * mm/kfence.c - the guard-page sampler (mm/kfence.h).
 *
 * A sampled object of class c (user_size bytes) lives in a span of its own
 * from the page heap:
 *
 *   [start, obj)            pattern KFENCE_FILL, checked at kfree
 *   [obj, obj + user_size)  the caller's
 *   [.., guard)             pattern, checked at kfree (the rounding to the
 *                           class's alignment: less than a quantum, or the
 *                           alignment kmemalign asked for)
 *   [guard, guard + PAGE)   released: faults
 *
 * The span's pages name no CPU list, so that kfree's fast path sends the
 * object to kfree_slow, and ksize and kfree_slow ask kfence_owner first.
 * Slots are found by address (at most KFENCE_SLOTS comparisons, on slow
 * paths only).  kfence_lock guards the slots; it is taken before the page
 * heap's lock, never after.
 */
#include "mm/kfence.h"
#include "mm/kmalloc_internal.h"

#define KFENCE_FILL 0xcd

enum slot_state { SLOT_UNUSED, SLOT_LIVE, SLOT_FREED };

struct kfence_slot {
	struct span *span; /* NULL while unused */
	uintptr_t obj;
	uint32_t size; /* the caller's bytes: the class's user size */
	uint8_t cls;
	uint8_t state;
	uint64_t freed_seq; /* order of frees: the oldest freed slot goes first */
	void *allocated_by, *freed_by;
};

static struct kfence_slot slots[KFENCE_SLOTS];
static mm_lock_t kfence_lock = MM_LOCK_INIT;
static uint32_t sample_every;
static uint32_t allocations; /* small ones, while sampling */
static uint64_t frees_seen;
static struct kfence_stats stats;

bool kfence_set_sample(uint32_t every)
{
	if (kernel_pageheap.arena.limit) {
		kprintf("kfence_set_sample(%u): the heap is set up already\n", every);
		return false;
	}
	sample_every = every;
	return true;
}

uint32_t kfence_sample_every(void)
{
	return sample_every;
}

static uintptr_t guard_of(const struct kfence_slot *slot)
{
	return slot->span->start + (uintptr_t)(slot->span->npages - 1) * PAGE_SIZE;
}

/* The slot whose pages hold 'p', or NULL.  With kfence_lock held, or not
 * (the fault handler reads): slots change only under it. */
static struct kfence_slot *slot_at(uintptr_t p)
{
	for (unsigned i = 0; i < KFENCE_SLOTS; i++) {
		struct span *s = __atomic_load_n(&slots[i].span, __ATOMIC_ACQUIRE);
		if (s && p - s->start < (uintptr_t)s->npages * PAGE_SIZE)
			return &slots[i];
	}
	return NULL;
}

static void report(const struct kfence_slot *slot, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void report(const struct kfence_slot *slot, const char *fmt, ...)
{
	char what[96];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	stats.reports++;
	kprintf("kfence: %s: object %p (%u bytes, class %u) allocated by %p, freed by %p\n", what,
	        (void *)slot->obj, slot->size, slot->cls, slot->allocated_by, slot->freed_by);
}

/* A slot's span back to the page heap, which takes its released pages
 * as a free span's released pages (mapped again when they are reused). */
static void recycle(struct kfence_slot *slot)
{
	struct span *s = slot->span;
	__atomic_store_n(&slot->span, NULL, __ATOMIC_RELEASE);
	slot->state = SLOT_UNUSED;
	ph_free(&kernel_pageheap, s);
}

/* A slot to use: an unused one, or the oldest freed one, emptied. */
static struct kfence_slot *free_slot(void)
{
	struct kfence_slot *oldest = NULL;
	for (unsigned i = 0; i < KFENCE_SLOTS; i++) {
		if (slots[i].state == SLOT_UNUSED)
			return &slots[i];
		if (slots[i].state == SLOT_FREED &&
		    (!oldest || slots[i].freed_seq < oldest->freed_seq))
			oldest = &slots[i];
	}
	if (oldest)
		recycle(oldest);
	return oldest;
}

void *kfence_alloc(unsigned cls, void *caller)
{
	/* Every CPU counts into one word; the lock only for the one due. */
	if (!sample_every ||
	    __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED) % sample_every != 0)
		return NULL;
	mm_irq_flags_t flags = mm_lock(&kfence_lock);
	struct kfence_slot *slot = free_slot();
	if (!slot) {
		stats.skipped++;
		mm_unlock(&kfence_lock, flags);
		return NULL;
	}
	const struct class_info *ci = &classes[cls];
	uint32_t data_pages = (uint32_t)(PAGE_ALIGN_UP(ci->user_size) / PAGE_SIZE);
	struct span *s = ph_alloc(&kernel_pageheap, data_pages + 1, false);
	if (!s) {
		stats.skipped++;
		mm_unlock(&kfence_lock, flags);
		return NULL;
	}
	uintptr_t guard = s->start + (uintptr_t)data_pages * PAGE_SIZE;
	/* Against the guard, at the class's alignment: the largest power of
	 * two dividing its stride (kmemalign's classes are multiples of the
	 * alignment asked), a page at most. */
	uintptr_t align = ci->size & -ci->size;
	if (align > PAGE_SIZE)
		align = PAGE_SIZE;
	uintptr_t obj = ALIGN_DOWN(guard - ci->user_size, align);
	memset((void *)s->start, KFENCE_FILL, guard - s->start);
	if (ph_release_pages(&kernel_pageheap, s, guard, PAGE_SIZE) != PAGE_SIZE) {
		ph_free(&kernel_pageheap, s);
		stats.skipped++;
		mm_unlock(&kfence_lock, flags);
		return NULL;
	}
	*slot = (struct kfence_slot){ .obj = obj,
		                      .size = ci->user_size,
		                      .cls = (uint8_t)cls,
		                      .state = SLOT_LIVE,
		                      .allocated_by = caller };
	__atomic_store_n(&slot->span, s, __ATOMIC_RELEASE);
	stats.sampled++;
	stats.live++;
	stats.live_bytes += ci->user_size;
	mm_unlock(&kfence_lock, flags);
	return (void *)obj;
}

/* The first byte of [from, to) that is not the fill, or 'to'. */
static uintptr_t first_unfilled(uintptr_t from, uintptr_t to)
{
	for (; from < to; from++)
		if (*(const uint8_t *)from != KFENCE_FILL)
			break;
	return from;
}

bool kfence_free(void *ptr, void *caller)
{
	if (!sample_every || !ptr)
		return false;
	mm_irq_flags_t flags = mm_lock(&kfence_lock);
	struct kfence_slot *slot = slot_at((uintptr_t)ptr);
	if (!slot) {
		mm_unlock(&kfence_lock, flags);
		return false;
	}
	COUNT(totals.bad_frees); /* taken back below for a good free */
	if (slot->state == SLOT_FREED) {
		report(slot, "kfree(%p): double free", ptr);
	} else if ((uintptr_t)ptr != slot->obj) {
		report(slot, "kfree(%p): not the start of the object", ptr);
	} else {
		__atomic_fetch_sub(&totals.bad_frees, 1, __ATOMIC_RELAXED);
		uintptr_t start = slot->span->start, end = slot->obj + slot->size;
		uintptr_t guard = guard_of(slot);
		uintptr_t below = first_unfilled(start, slot->obj);
		uintptr_t above = first_unfilled(end, guard);
		if (below < slot->obj)
			report(slot, "underflow: %u bytes before the object written",
			       (unsigned)(slot->obj - below));
		if (above < guard)
			report(slot, "overflow: byte %u past the end written",
			       (unsigned)(above - end));
		slot->state = SLOT_FREED;
		slot->freed_by = caller;
		slot->freed_seq = ++frees_seen;
		stats.frees++;
		stats.live--;
		stats.live_bytes -= slot->size;
		/* Unmapped now, on every CPU: a use after free faults. */
		ph_release_pages(&kernel_pageheap, slot->span, start, guard - start);
	}
	mm_unlock(&kfence_lock, flags);
	return true;
}

size_t kfence_ksize(const void *ptr, bool *owned)
{
	*owned = false;
	if (!sample_every || !ptr)
		return 0;
	mm_irq_flags_t flags = mm_lock(&kfence_lock);
	const struct kfence_slot *slot = slot_at((uintptr_t)ptr);
	size_t size = 0;
	if (slot) {
		*owned = true;
		if (slot->state == SLOT_LIVE && (uintptr_t)ptr == slot->obj) {
			size = slot->size;
		} else {
			COUNT(totals.bad_frees);
			report(slot, "ksize(%p): %s", ptr,
			       slot->state == SLOT_LIVE ? "not the start of the object"
			                                : "the object is freed");
		}
	}
	mm_unlock(&kfence_lock, flags);
	return size;
}

bool kfence_handle_fault(uintptr_t addr, bool write, uintptr_t ip)
{
	if (!sample_every || !slot_at(addr))
		return false;
	mm_irq_flags_t flags = mm_lock(&kfence_lock);
	struct kfence_slot *slot = slot_at(addr);
	if (!slot) { /* recycled meanwhile: no longer ours */
		mm_unlock(&kfence_lock, flags);
		return false;
	}
	const char *access = write ? "write" : "read";
	uintptr_t guard = guard_of(slot), page = ALIGN_DOWN(addr, PAGE_SIZE);
	if (addr >= guard)
		report(slot, "out-of-bounds %s at %p (offset %u, past the end), by %p", access,
		       (void *)addr, (unsigned)(addr - slot->obj), (void *)ip);
	else if (addr >= slot->obj && addr < slot->obj + slot->size)
		report(slot, "use after free: %s at %p, offset %u, by %p", access, (void *)addr,
		       (unsigned)(addr - slot->obj), (void *)ip);
	else
		report(slot, "%s of a freed object's page at %p, by %p", access, (void *)addr,
		       (void *)ip);
	/* Harmless from now on: the page is mapped (zeroed) again, and stays
	 * so until the slot is recycled. */
	bool mapped = ph_reuse_pages(&kernel_pageheap, slot->span, page, PAGE_SIZE);
	mm_unlock(&kfence_lock, flags);
	return mapped;
}

/* For kmalloc_report_leaks, with the heap held: the slot of span 's' if it
 * is a live sampled object's. */
bool kfence_live_object(const struct span *s, uintptr_t *obj, uint32_t *size, void **allocated_by)
{
	for (unsigned i = 0; i < KFENCE_SLOTS; i++)
		if (slots[i].span == s && slots[i].state == SLOT_LIVE) {
			*obj = slots[i].obj;
			*size = slots[i].size;
			*allocated_by = slots[i].allocated_by;
			return true;
		}
	return false;
}

bool kfence_span(const struct span *s)
{
	for (unsigned i = 0; i < KFENCE_SLOTS; i++)
		if (slots[i].span == s)
			return true;
	return false;
}

void kfence_hold(void)
{
	mm_lock_irqs_off(&kfence_lock);
}

void kfence_unhold(void)
{
	mm_unlock_irqs_off(&kfence_lock);
}

void kfence_get_stats(struct kfence_stats *out)
{
	mm_irq_flags_t flags = mm_lock(&kfence_lock);
	*out = stats;
	mm_unlock(&kfence_lock, flags);
}
