/*
 * mm/arena.c - the arena's growth path and its metadata (see arena.h for the
 * invariants and the numbered steps that arena_sys_alloc follows).
 */
#include "mm/arena.h"
#include "mm/vm.h"

#define SPACE_END (VM_SPACE_SIZE) /* as an offset: the 4 GiB boundary */

static void note(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records and prints a refusal or failure ("what was asked and why"). */
static void note(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(a->last_error, sizeof(a->last_error), fmt, ap);
	va_end(ap);
	kprintf_ratelimited("arena: refusals and failures", "arena: %s\n", a->last_error);
}

static uint64_t offset_of(uintptr_t va)
{
	return (uint64_t)(va - vm_space_base());
}

/* ---- reservations held ---- */

static bool add_range(struct arena *a, uintptr_t base, uint64_t size)
{
	for (unsigned i = 0; i < a->range_count; i++)
		if (a->ranges[i].base + a->ranges[i].size == base) {
			a->ranges[i].size += size; /* a contiguous extension */
			return true;
		}
	if (a->range_count == ARENA_MAX_RANGES)
		return false;
	a->ranges[a->range_count++] = (struct arena_range){ base, size };
	return true;
}

/* Undoes the last add_range(base, size). */
static void drop_range(struct arena *a, uintptr_t base, uint64_t size)
{
	for (unsigned i = 0; i < a->range_count; i++) {
		struct arena_range *r = &a->ranges[i];
		if (r->base == base && r->size == size) {
			*r = a->ranges[--a->range_count];
			return;
		}
		if (r->base + r->size == base + size && r->size > size) {
			r->size -= size;
			return;
		}
	}
	MM_ASSERT(false, "arena: range [%p, +%llx) not held", (void *)base,
	          (unsigned long long)size);
}

/* ---- metadata ---- */

static uint64_t pages_bytes(uint64_t limit)
{
	return ALIGN_UP(limit / PAGE_SIZE * sizeof(struct arena_page), (uint64_t)PAGE_SIZE);
}

static uint64_t live_bytes(uint64_t limit)
{
	return ALIGN_UP(limit / ARENA_QUANTUM / 8, (uint64_t)PAGE_SIZE);
}

/* Persistent area: room for one span record per page, the most a heap of
 * 'limit' bytes can need, at 64 bytes a record. */
static uint64_t persistent_bytes(uint64_t limit)
{
	return limit / PAGE_SIZE * 64;
}

/* Maps metadata [*mapped_end, want) (want rounded up to a page). */
static bool cover(uintptr_t *mapped_end, uintptr_t want)
{
	want = ALIGN_UP(want, PAGE_SIZE);
	if (want <= *mapped_end)
		return true;
	if (!vm_map(*mapped_end, want - *mapped_end))
		return false;
	*mapped_end = want;
	return true;
}

/* pages[] is mapped this far ahead of the arena's growth (8 pages: 16 MiB
 * of arena on i386), so that a heap growing a block at a time maps it in
 * one call per step rather than one per growth. */
#define PAGES_MAP_AHEAD (8 * PAGE_SIZE)

/* pages[] must cover every page below 'new_used'. */
static bool cover_pages(struct arena *a, uintptr_t new_used)
{
	uintptr_t want = (uintptr_t)&a->pages[(new_used - a->start + PAGE_SIZE - 1) / PAGE_SIZE];
	if (want <= a->pages_mapped_end)
		return true;
	uintptr_t ahead = ALIGN_UP(want, PAGES_MAP_AHEAD);
	if (ahead > (uintptr_t)a->live_bits)
		ahead = (uintptr_t)a->live_bits;
	/* Short of frames, the exact need may still be had. */
	return cover(&a->pages_mapped_end, ahead) || cover(&a->pages_mapped_end, want);
}

bool arena_cover_live_slow(struct arena *a, uintptr_t p, size_t n)
{
	uintptr_t first = (p - a->start) / ARENA_QUANTUM / 32;
	uintptr_t last = (p + n - 1 - a->start) / ARENA_QUANTUM / 32;
	uintptr_t lo = ALIGN_DOWN((uintptr_t)&a->live_bits[first], PAGE_SIZE);
	uintptr_t hi = ALIGN_UP((uintptr_t)&a->live_bits[last + 1], PAGE_SIZE);
	for (uintptr_t q = lo; q < hi; q += PAGE_SIZE)
		if (!vm_is_mapped(q) && !vm_map(q, PAGE_SIZE)) {
			note(a, "arena_cover_live(%p, %#zx): out of frames", (void *)p, n);
			return false; /* pages mapped so far stay: they are zeroed bits */
		}
	uintptr_t prefix_end = a->live_prefix_end;
	while (prefix_end < a->persistent_base && vm_is_mapped(prefix_end))
		prefix_end += PAGE_SIZE;
	/* Read without the lock (arena_live_covered). */
	__atomic_store_n(&a->live_prefix_end, prefix_end, __ATOMIC_RELEASE);
	return true;
}

void *arena_meta_alloc(struct arena *a, size_t bytes, size_t align)
{
	uintptr_t p = ALIGN_UP(a->persistent_next, (uintptr_t)(align < 16 ? 16 : align));
	if (bytes > a->meta_end - p) {
		note(a, "arena_meta_alloc(%zu): persistent metadata exhausted", bytes);
		return NULL;
	}
	if (!cover(&a->persistent_mapped_end, p + bytes)) {
		note(a, "arena_meta_alloc(%zu): out of frames", bytes);
		return NULL;
	}
	a->persistent_next = p + bytes;
	return (void *)p;
}

/* ---- set-up ---- */

bool arena_init(struct arena *a, uintptr_t base, uint64_t limit, uint64_t step)
{
	memset(a, 0, sizeof(*a));
	if (limit == 0 || step == 0 || limit % SLOT_SIZE || step % SLOT_SIZE || step > limit ||
	    limit > VM_SPACE_SIZE) {
		note(a,
		     "arena_init(limit %#llx, step %#llx): limit and step must be non-zero "
		     "multiples of 4 MiB, step <= limit <= 4 GiB",
		     (unsigned long long)limit, (unsigned long long)step);
		return false;
	}
	a->limit = limit;
	a->step = step;

	uint64_t meta_size =
	        ALIGN_UP(pages_bytes(limit) + live_bytes(limit) + persistent_bytes(limit),
	                 (uint64_t)SLOT_SIZE);
	uintptr_t meta = vm_reserve(0, (size_t)meta_size, VM_HEAP_META);
	if (!meta) {
		note(a, "arena_init: no room for %llu KiB of heap metadata",
		     (unsigned long long)(meta_size >> 10));
		return false;
	}
	a->meta_base = meta;
	a->meta_end = meta + (uintptr_t)meta_size;
	a->pages = (struct arena_page *)meta;
	a->pages_mapped_end = meta;
	a->live_bits = (uint32_t *)(meta + (uintptr_t)pages_bytes(limit));
	a->live_prefix_end = (uintptr_t)a->live_bits;
	a->persistent_base = a->persistent_next = a->persistent_mapped_end =
	        (uintptr_t)a->live_bits + (uintptr_t)live_bytes(limit);

	uintptr_t start = vm_reserve(base, (size_t)step, VM_ARENA);
	if (!start) {
		note(a, "arena_init: no room for the first %llu MiB",
		     (unsigned long long)(step >> 20));
		vm_free(meta, (size_t)meta_size);
		return false;
	}
	if (offset_of(start) + limit > SPACE_END) {
		/* The arena may not reach past the end of the space. */
		note(a, "arena_init: arena at %p with limit %#llx would pass 4 GiB", (void *)start,
		     (unsigned long long)limit);
		vm_free(start, (size_t)step);
		vm_free(meta, (size_t)meta_size);
		return false;
	}
	if (base && start != base)
		kprintf("arena: %p is taken (the heap's metadata is at [%p, %p)); the arena "
		        "starts at %p\n",
		        (void *)base, (void *)meta, (void *)a->meta_end, (void *)start);
	a->start = a->used = start;
	a->end = start + (uintptr_t)step;
	add_range(a, start, step);
	a->stats.reserved_bytes = step;
	return true;
}

void arena_destroy(struct arena *a)
{
	for (unsigned i = 0; i < a->range_count; i++)
		vm_free(a->ranges[i].base, (size_t)a->ranges[i].size);
	if (a->meta_base)
		vm_free(a->meta_base, a->meta_end - a->meta_base);
	memset(a, 0, sizeof(*a));
}

/* ---- growth ---- */

/* Maps [p, p + n) for the heap, with the pages[] entries that cover it;
 * on failure nothing new stays mapped. */
static bool map_for_heap(struct arena *a, uintptr_t p, size_t n, uintptr_t new_used)
{
	uintptr_t pages_before = a->pages_mapped_end;
	if (!cover_pages(a, new_used))
		return false;
	if (!vm_map(p, n)) {
		if (a->pages_mapped_end > pages_before) {
			vm_unused(pages_before, a->pages_mapped_end - pages_before);
			a->pages_mapped_end = pages_before;
		}
		return false;
	}
	a->stats.mapped_bytes += n;
	return true;
}

/* Moves used forward (never back). */
static void set_used(struct arena *a, uintptr_t new_used)
{
	/* Stored whole: kfree and block_span read them without the lock. */
	mm_write_shared(&a->used, new_used);
	mm_write_shared(&a->used_quanta, (new_used - a->start) / ARENA_QUANTUM);
}

static bool size_ok(struct arena *a, size_t n)
{
	if (n == 0 || n % PAGE_SIZE) {
		note(a, "sys_alloc(%#zx) refused: not a positive multiple of the page size", n);
		return false;
	}
	if ((uint64_t)n > a->limit) {
		note(a, "sys_alloc(%#zx) refused: larger than the arena limit %#llx", n,
		     (unsigned long long)a->limit);
		return false;
	}
	return true;
}

/* Step 1: extends the reservation contiguously at end, by whole steps, when
 * [used, used + n) does not fit below it and the extension stays inside
 * [start, start + limit).  Returns the bytes added (0: none). */
static uint64_t extend_at_end(struct arena *a, size_t n)
{
	if ((uint64_t)n <= a->end - a->used)
		return 0;
	uint64_t needed = ALIGN_UP((uint64_t)a->used + n - a->end, a->step);
	uint64_t new_end = (uint64_t)a->end + needed;
	if (offset_of(a->end) + needed > SPACE_END || new_end > (uint64_t)a->start + a->limit)
		return 0; /* it would wrap past 4 GiB, or pass the limit */
	uintptr_t p = vm_reserve(a->end, (size_t)needed, VM_ARENA);
	if (p != a->end || !add_range(a, p, needed)) {
		if (p)
			vm_free(p, (size_t)needed); /* not where asked: give it back */
		return 0;
	}
	a->end = (uintptr_t)new_end;
	a->stats.extensions++;
	a->stats.reserved_bytes += needed;
	return needed;
}

/* Step 2: maps [used, used + n), which fits below end; when frames run out
 * an extension made for it (the 'extended' bytes below end) is undone, so
 * that no reservation is left behind. */
static void *take_at_used(struct arena *a, size_t n, uint64_t extended)
{
	uintptr_t p = a->used;
	if (map_for_heap(a, p, n, p + n)) {
		set_used(a, p + n);
		return (void *)p;
	}
	note(a, "sys_alloc(%#zx) failed: out of frames mapping [%p, %p)", n, (void *)p,
	     (void *)(p + n));
	if (extended) {
		uintptr_t old_end = a->end - (uintptr_t)extended;
		drop_range(a, old_end, extended);
		vm_free(old_end, (size_t)extended);
		a->end = old_end;
		a->stats.extensions--;
		a->stats.reserved_bytes -= extended;
	}
	return NULL;
}

/* Step 3, the fallback: memory wherever the address space has room,
 * refused unless it lies inside [start, start + limit); used and end only
 * ever move forward (Go issue 20259). */
static void *fall_back(struct arena *a, size_t n)
{
	uint64_t usable_end = (uint64_t)a->start + a->limit;
	uint64_t rounded = ALIGN_UP((uint64_t)n, (uint64_t)SLOT_SIZE);
	uintptr_t hint = offset_of(a->end) + rounded <= SPACE_END ? a->end : 0;
	uintptr_t p = vm_reserve(hint, n, VM_ARENA);
	if (!p) {
		note(a,
		     "sys_alloc(%#zx) failed: arena at its limit [%p, %p) and no address space "
		     "left",
		     n, (void *)a->start, (void *)(uintptr_t)usable_end);
		return NULL;
	}
	if (p < a->start || (uint64_t)p + n > usable_end) {
		note(a, "memory allocated by OS (%p) not in usable range [%p,%p)", (void *)p,
		     (void *)a->start, (void *)(uintptr_t)usable_end);
		vm_free(p, (size_t)rounded);
		if ((uint64_t)a->end >= usable_end)
			note(a,
			     "sys_alloc(%#zx) failed: the arena has reached its limit of %llu MiB",
			     n, (unsigned long long)(a->limit >> 20));
		return NULL;
	}
	uintptr_t new_used = (uint64_t)p + n > a->used ? p + n : a->used;
	if (!add_range(a, p, rounded)) {
		note(a, "sys_alloc(%#zx) failed: more than %d reservations", n, ARENA_MAX_RANGES);
		vm_free(p, (size_t)rounded);
		return NULL;
	}
	if (!map_for_heap(a, p, n, new_used)) {
		note(a, "sys_alloc(%#zx) failed: out of frames mapping the fallback at %p", n,
		     (void *)p);
		drop_range(a, p, rounded);
		vm_free(p, (size_t)rounded);
		return NULL;
	}
	if (p > a->used)
		a->stats.hole_bytes += p - a->used;
	set_used(a, new_used);
	if (p + rounded > a->end)
		a->end = p + (uintptr_t)rounded;
	a->stats.fallbacks++;
	a->stats.reserved_bytes += rounded;
	return (void *)p;
}

void *arena_sys_alloc(struct arena *a, size_t n)
{
	void *p = NULL;
	if (size_ok(a, n)) {
		uint64_t extended = extend_at_end(a, n); /* 1 */
		if ((uint64_t)n <= a->end - a->used)
			p = take_at_used(a, n, extended); /* 2 */
		else
			p = fall_back(a, n); /* 3 */
	}
	if (!p)
		a->stats.failures++;
	return p;
}

/* Whether [p, p + n) is a page-aligned piece of [start, used); says why
 * not (for 'call') when it is not. */
static bool holds(struct arena *a, const char *call, uintptr_t p, size_t n)
{
	const char *why = !IS_ALIGNED(p | n, PAGE_SIZE)                    ? "not page-aligned"
	                  : p < a->start || p > a->used || n > a->used - p ? "outside the arena's"
	                                                                     " [start, used)"
	                                                                   : NULL;
	if (why)
		note(a, "%s(%p, %#zx) refused: %s [%p, %p)", call, (void *)p, n, why,
		     (void *)a->start, (void *)a->used);
	return why == NULL;
}

size_t arena_release(struct arena *a, uintptr_t p, size_t n)
{
	if (!holds(a, "arena_release", p, n))
		return 0;
	size_t released = vm_unused_mapped(p, n);
	a->stats.mapped_bytes -= released;
	a->stats.released_bytes += released;
	return released;
}

bool arena_reuse(struct arena *a, uintptr_t p, size_t n, size_t *mapped)
{
	*mapped = 0;
	if (!holds(a, "arena_reuse", p, n) || !vm_map_gaps(p, n, mapped))
		return false;
	a->stats.mapped_bytes += *mapped;
	a->stats.released_bytes -= *mapped;
	return true;
}

void arena_print(const struct arena *a, const char *name)
{
	kprintf("arena %s: start %p used %p end %p limit %p (%llu MiB)\n", name, (void *)a->start,
	        (void *)a->used, (void *)a->end, (void *)(uintptr_t)(a->start + a->limit),
	        (unsigned long long)(a->limit >> 20));
	kprintf("arena %s: reserved %llu KiB, mapped %llu KiB, released %llu KiB, holes %llu KiB; "
	        "%u extensions, %u fallbacks, %u failures\n",
	        name, (unsigned long long)(a->stats.reserved_bytes >> 10),
	        (unsigned long long)(a->stats.mapped_bytes >> 10),
	        (unsigned long long)(a->stats.released_bytes >> 10),
	        (unsigned long long)(a->stats.hole_bytes >> 10), a->stats.extensions,
	        a->stats.fallbacks, a->stats.failures);
}
