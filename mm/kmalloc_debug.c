/*
 * mm/kmalloc_debug.c - kmalloc's debug modes (kmalloc_set_debug in
 * kmalloc.h), in the spirit of Linux's SLUB debugging.
 *
 * With any mode on, every CPU list has no room, so that every kmalloc and
 * kfree of a small block reaches the slow paths, which hand over to
 * debug_alloc and debug_free: objects come from and go back to their spans
 * directly, under the class's lock.  The fast paths are the same code as
 * without debugging, so with it off they cost nothing more.
 *
 * An object of a class, in debug mode (user_size bytes for the caller):
 *
 *   [0, user_size)               the caller's; poison: 0xa5 when handed out
 *                                (not for kcalloc), 0x6b once freed (but its
 *                                first word, the span's free-list link)
 *   [user_size, + RED_ZONE)      redzone: 0xbb, checked at kfree
 *   [.., + TRAILER)              caller: who allocated it, who last freed it
 *
 * Every report is one line: "kmalloc: <what>: object <address> (<bytes>
 * bytes, class <n>) <details>; allocated by <address>, freed by <address>".
 */
#include "mm/kmalloc_internal.h"

unsigned kmalloc_debug;

#define POISON_FREE  0x6b
#define POISON_ALLOC 0xa5
#define RED_BYTE     0xbb
#define RED_ZONE     Q

struct trailer {
	void *allocated_by, *freed_by;
};
#define TRAILER ALIGN_UP(sizeof(struct trailer), Q)

bool kmalloc_set_debug(unsigned flags)
{
	if (kernel_pageheap.arena.limit || (flags & ~KMALLOC_DEBUG_ALL)) {
		kprintf("kmalloc_set_debug(%#x): %s\n", flags,
		        kernel_pageheap.arena.limit ? "the heap is set up already"
		                                    : "unknown flags");
		return false;
	}
	kmalloc_debug = flags;
	return true;
}

unsigned kmalloc_debug_flags(void)
{
	return kmalloc_debug;
}

uint32_t debug_extra_bytes(void)
{
	return (kmalloc_debug & KMALLOC_DEBUG_REDZONE ? RED_ZONE : 0) +
	       (kmalloc_debug & KMALLOC_DEBUG_CALLER ? (uint32_t)TRAILER : 0);
}

static struct trailer *trailer_of(unsigned cls, uintptr_t obj)
{
	uint32_t red = kmalloc_debug & KMALLOC_DEBUG_REDZONE ? RED_ZONE : 0;
	return (struct trailer *)(obj + classes[cls].user_size + red);
}

void debug_callers(unsigned cls, uintptr_t obj, void **allocated_by, void **freed_by)
{
	*allocated_by = *freed_by = NULL;
	if (kmalloc_debug & KMALLOC_DEBUG_CALLER) {
		const struct trailer *t = trailer_of(cls, obj);
		*allocated_by = t->allocated_by;
		*freed_by = t->freed_by;
	}
}

static void report(const char *what, unsigned cls, uintptr_t obj, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void report(const char *what, unsigned cls, uintptr_t obj, const char *fmt, ...)
{
	char details[96];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(details, sizeof(details), fmt, ap);
	va_end(ap);
	void *allocated_by, *freed_by;
	debug_callers(cls, obj, &allocated_by, &freed_by);
	COUNT(totals.debug_reports);
	kprintf_ratelimited("kmalloc: debug reports",
	                    "kmalloc: %s: object %p (%u bytes, class %u) %s; allocated by %p, "
	                    "freed by %p\n",
	                    what, (void *)obj, classes[cls].user_size, cls, details, allocated_by,
	                    freed_by);
}

/* An object just taken from its span: check the free poison (unless it was
 * never handed out), then make it the caller's. */
static void prepare(unsigned cls, uintptr_t obj, bool fresh, void *caller)
{
	uint32_t user = classes[cls].user_size;
	uint8_t *p = (uint8_t *)obj;
	if ((kmalloc_debug & KMALLOC_DEBUG_POISON) && !fresh) {
		for (uint32_t i = sizeof(void *); i < user; i++)
			if (p[i] != POISON_FREE) {
				report("write after free", cls, obj,
				       "offset %u holds %#x, not the free pattern %#x", i, p[i],
				       POISON_FREE);
				break;
			}
	}
	if (kmalloc_debug & KMALLOC_DEBUG_POISON)
		memset(p, POISON_ALLOC, user);
	if (kmalloc_debug & KMALLOC_DEBUG_REDZONE)
		memset(p + user, RED_BYTE, RED_ZONE);
	if (kmalloc_debug & KMALLOC_DEBUG_CALLER) {
		struct trailer *t = trailer_of(cls, obj);
		t->allocated_by = caller;
		t->freed_by = NULL;
	}
}

/* A class serves its own objects only (no borrowing): the red zone and the
 * trailer fit the object. */
void *debug_alloc(unsigned cls, void *caller)
{
	if (kmalloc_debug & KMALLOC_DEBUG_SAMPLING) {
		void *sampled = kfence_alloc(cls, caller);
		if (sampled)
			return sampled;
	}
	mm_irq_flags_t flags = mm_irq_save();
	bool fresh;
	void *obj = take_from_spans(cls, &fresh);
	if (obj) {
		mm_irq_restore(flags);
	} else {
		obj = new_span_object(cls, flags); /* restores the flags */
		fresh = true;
	}
	if (obj)
		prepare(cls, (uintptr_t)obj, fresh, caller);
	return obj;
}

/* Everything under the class's lock, from the bit's clearing to the
 * object's return to its span: the checker, which holds every class lock,
 * never sees an object half freed. */
void debug_free(unsigned cls, void *ptr, void *caller)
{
	uintptr_t obj = (uintptr_t)ptr;
	struct central *c = &central[cls];
	mm_irq_flags_t flags = mm_lock(&c->lock);
	if (!mm_bit_test_clear_at(live_origin, obj >> QSHIFT)) {
		mm_unlock(&c->lock, flags);
		kfree_slow(ptr); /* names what it is */
		return;
	}
	uint32_t user = classes[cls].user_size;
	uint8_t *p = ptr;
	if (kmalloc_debug & KMALLOC_DEBUG_REDZONE) {
		uint32_t reach = 0;
		for (uint32_t i = 0; i < RED_ZONE; i++)
			if (p[user + i] != RED_BYTE)
				reach = i + 1;
		if (reach)
			report("redzone overwritten", cls, obj,
			       "written up to %u bytes past its end (red zone of %u)", reach,
			       (unsigned)RED_ZONE);
		memset(p + user, RED_BYTE, RED_ZONE);
	}
	if (kmalloc_debug & KMALLOC_DEBUG_CALLER)
		trailer_of(cls, obj)->freed_by = caller;
	if (kmalloc_debug & KMALLOC_DEBUG_POISON)
		memset(p, POISON_FREE, user);
	my_list(cls)->frees++; /* the statistics count frees per CPU list */
	give_back_locked(cls, ptr);
	mm_unlock(&c->lock, flags);
}
