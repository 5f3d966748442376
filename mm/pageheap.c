/* mm/pageheap.c - spans, bins, coalescing and scavenging (see pageheap.h). */
#include "mm/pageheap_internal.h"
#include "mm/vm.h"

/* The first bin whose every span has at least 'npages' pages. */
static unsigned search_bin(uint32_t npages)
{
	if (npages < 2 * PH_SL_COUNT)
		return npages; /* exact bins: kmalloc's spans, and many others */
	return bin_of(npages + (1u << (msb(npages) - PH_SL_BITS)) - 1);
}

static inline __attribute__((always_inline)) void bin_insert(struct pageheap *ph, struct span *s)
{
	unsigned bin = bin_of(s->npages);
	unsigned fl = bin / PH_SL_COUNT, sl = bin % PH_SL_COUNT;
	s->bin = (uint16_t)bin;
	s->prev = NULL;
	s->next = ph->bins[fl][sl];
	if (s->next)
		s->next->prev = s;
	ph->bins[fl][sl] = s;
	ph->sl_bitmap[fl] |= 1u << sl;
	ph->fl_bitmap |= 1u << fl;
}

static inline __attribute__((always_inline)) void bin_remove(struct pageheap *ph, struct span *s)
{
	unsigned fl = s->bin / PH_SL_COUNT, sl = s->bin % PH_SL_COUNT;
	if (s->prev)
		s->prev->next = s->next;
	else
		ph->bins[fl][sl] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (!ph->bins[fl][sl]) {
		ph->sl_bitmap[fl] &= ~(1u << sl);
		if (!ph->sl_bitmap[fl])
			ph->fl_bitmap &= ~(1u << fl);
	}
}

/* A free span with at least 'npages' pages, or NULL.  Two bit scans. */
static inline __attribute__((always_inline)) struct span *bin_find(struct pageheap *ph,
                                                                   uint32_t npages)
{
	unsigned bin = search_bin(npages);
	unsigned fl = bin / PH_SL_COUNT, sl = bin % PH_SL_COUNT;
	if (fl >= PH_FL_COUNT)
		return NULL;
	uint32_t sl_map = ph->sl_bitmap[fl] & (~0u << sl);
	if (!sl_map) {
		uint32_t fl_map = fl + 1 < 32 ? ph->fl_bitmap & (~0u << (fl + 1)) : 0;
		if (!fl_map)
			return NULL;
		fl = (unsigned)__builtin_ctz(fl_map);
		sl_map = ph->sl_bitmap[fl];
	}
	return ph->bins[fl][__builtin_ctz(sl_map)];
}

/* ---- span records ---- */

/* A page of records from the persistent metadata, on the spare list (in
 * address order): a page at a time, so that a heap that uses few touches
 * one page of them. */
#define SPAN_RECORDS_PER_BATCH ((unsigned)(PAGE_SIZE / sizeof(struct span)))
static __attribute__((noinline)) bool refill_spare_spans(struct pageheap *ph)
{
	struct span *batch = arena_meta_alloc(
	        &ph->arena, sizeof(struct span) * SPAN_RECORDS_PER_BATCH, PAGE_SIZE);
	if (!batch)
		return false;
	for (unsigned i = SPAN_RECORDS_PER_BATCH; i-- > 0;) {
		batch[i].next = ph->spare_spans;
		ph->spare_spans = &batch[i];
	}
	return true;
}

/* A record whose fields are all the caller's to set (ph_alloc's split sets
 * every page-heap field itself: it is on kmalloc's slowest path). */
static inline __attribute__((always_inline)) struct span *new_span(struct pageheap *ph)
{
	if (__builtin_expect(!ph->spare_spans, 0) && !refill_spare_spans(ph))
		return NULL;
	struct span *s = ph->spare_spans;
	ph->spare_spans = s->next;
	return s;
}

/* A record with the page heap's fields cleared, and of kmalloc's the two
 * that make it a page-level span (size_class 0, no CPU list); kmalloc sets
 * the rest for its spans. */
#define CLEARED_PART offsetof(struct span, small.object_count)
_Static_assert(offsetof(struct span, small) < CLEARED_PART &&
                       offsetof(struct span, small.size_class) < CLEARED_PART &&
                       offsetof(struct span, small.cpu_list) < CLEARED_PART,
               "new_span_cleared clears the page heap's fields and kmalloc's size_class "
               "and cpu_list");
static struct span *new_span_cleared(struct pageheap *ph)
{
	struct span *s = new_span(ph);
	if (s)
		memset(s, 0, CLEARED_PART);
	return s;
}

static void drop_span(struct pageheap *ph, struct span *s)
{
	s->state = 0;
	s->next = ph->spare_spans;
	ph->spare_spans = s;
}

/* Names 's' at its first and last page: every span is found there. */
static void name_ends(struct pageheap *ph, struct span *s)
{
	page_at(ph, s->start)->span = s;
	page_at(ph, span_end(s) - PAGE_SIZE)->span = s;
}

/* Counts a free span into the free statistics (sign +1) or out (-1). */
static void account_free(struct pageheap *ph, const struct span *s, int sign)
{
	uint32_t released = s->released_pages, mapped = s->npages - released;
	if (sign > 0) {
		ph->stats.free_mapped_pages += mapped;
		ph->stats.free_released_pages += released;
		ph->stats.free_spans++;
	} else {
		ph->stats.free_mapped_pages -= mapped;
		ph->stats.free_released_pages -= released;
		ph->stats.free_spans--;
	}
}

/* Gives back the frames of at least 'want' mapped pages of free span 's'
 * (all of them if it has no more), from its end: allocation splits free
 * spans from the start, so the pages taken next stay mapped.  Released
 * pages read 0 when mapped again; the mapped ones keep their state. */
static void release_frames(struct pageheap *ph, struct span *s, uint32_t want)
{
	uint32_t released = 0, from_end = 0;
	while (released < want && from_end < s->npages) {
		/* Each turn asks for what is still wanted from the pages before
		 * those already walked: some may be released already. */
		uint32_t take = want - released;
		if (take > s->npages - from_end)
			take = s->npages - from_end;
		from_end += take;
		uintptr_t at = span_end(s) - (uintptr_t)from_end * PAGE_SIZE;
		released += (uint32_t)(arena_release(&ph->arena, at, (size_t)take * PAGE_SIZE) /
		                       PAGE_SIZE);
	}
	s->released_pages += released;
	if (s->released_pages == s->npages)
		s->zeroed = 1;
	ph->stats.free_mapped_pages -= released;
	ph->stats.free_released_pages += released;
	ph->stats.scavenged_pages += released;
}

/* ---- set-up ---- */

bool ph_init(struct pageheap *ph, uintptr_t base, uint64_t limit, uint64_t step)
{
	memset(ph, 0, sizeof(*ph));
	ph->scavenge_threshold_pages = PH_DEFAULT_SCAVENGE_THRESHOLD_PAGES;
	ph->hold_frees = ph->frees_left = PH_DEFAULT_HOLD_FREES;
	ph->max_pages = (uint32_t)(limit / PAGE_SIZE);
	return arena_init(&ph->arena, base, limit, step);
}

void ph_destroy(struct pageheap *ph)
{
	arena_destroy(&ph->arena);
	memset(ph, 0, sizeof(*ph));
}

/* ---- free spans: insert with coalescing ---- */

/* Merges free span 'right' (out of the bins, not counted) into the free
 * span 'left' just below it, which is also out of the bins; returns left.
 * Released and mapped pages just add up: nothing is mapped or released. */
static struct span *merge(struct pageheap *ph, struct span *left, struct span *right)
{
	left->released_pages += right->released_pages;
	page_at(ph, span_end(left) - PAGE_SIZE)->span = NULL;
	page_at(ph, right->start)->span = NULL;
	left->npages += right->npages;
	left->zeroed = left->zeroed && right->zeroed;
	drop_span(ph, right);
	return left;
}

/* Files span 's' (start, npages, released and zeroed set; interior pages
 * naming nothing) as free, merged with free neighbours.  Returns the free
 * span that now holds it. */
static struct span *insert_free(struct pageheap *ph, struct span *s)
{
	/* Counted in before merging: a merge adds pages up and only takes a
	 * span out of the count. */
	account_free(ph, s, +1);
	s->state = SPAN_FREE;
	if (s->start > ph->arena.start) {
		struct span *left = page_at(ph, s->start - PAGE_SIZE)->span;
		if (left && left->state == SPAN_FREE && span_end(left) == s->start) {
			bin_remove(ph, left);
			ph->stats.free_spans--;
			s = merge(ph, left, s);
		}
	}
	if (span_end(s) < ph->arena.used) {
		struct span *right = page_at(ph, span_end(s))->span;
		if (right && right->state == SPAN_FREE && right->start == span_end(s)) {
			bin_remove(ph, right);
			ph->stats.free_spans--;
			s = merge(ph, s, right);
		}
	}
	name_ends(ph, s);
	bin_insert(ph, s);
	return s;
}

/* A free span of at least 'npages' in the bin that holds spans of that
 * size, which bin_find passes over (some of its spans are smaller than the
 * request): the first that fits, or NULL.  A walk of one bin's list, taken
 * only when the arena cannot grow, where the other answer is a refusal. */
static struct span *fit_in_own_bin(struct pageheap *ph, uint32_t npages)
{
	unsigned bin = bin_of(npages);
	if (bin / PH_SL_COUNT >= PH_FL_COUNT)
		return NULL;
	for (struct span *s = ph->bins[bin / PH_SL_COUNT][bin % PH_SL_COUNT]; s; s = s->next)
		if (s->npages >= npages)
			return s;
	return NULL;
}

/* ---- growth ---- */

/* The free span that ends where the arena does, or NULL. */
static struct span *free_tail(struct pageheap *ph)
{
	if (ph->arena.used == ph->arena.start)
		return NULL;
	struct span *s = page_at(ph, ph->arena.used - PAGE_SIZE)->span;
	return s && s->state == SPAN_FREE && span_end(s) == ph->arena.used ? s : NULL;
}

/* New memory from the arena: 'want' pages, or 'least' when that much
 * cannot be had, in a span record of its own, zeroed (fresh memory reads
 * 0) and neither filed nor counted (state 0); NULL when neither can. */
static struct span *new_memory(struct pageheap *ph, uint32_t want, uint32_t least)
{
	struct span *s = new_span_cleared(ph);
	if (!s)
		return NULL;
	void *p = arena_sys_alloc(&ph->arena, (size_t)want * PAGE_SIZE);
	if (!p && want > least) {
		want = least;
		p = arena_sys_alloc(&ph->arena, (size_t)want * PAGE_SIZE);
	}
	if (!p) {
		drop_span(ph, s);
		return NULL;
	}
	ph->stats.grows++;
	s->start = (uintptr_t)p;
	s->npages = want;
	s->released_pages = 0;
	s->zeroed = 1;
	return s;
}

/* The arena grown by what the free span at its end lacks of 'npages',
 * merged with it: the span of at least npages that results, or NULL. */
static struct span *grow_into(struct pageheap *ph, struct span *tail, uint32_t npages)
{
	uint32_t lack = npages - tail->npages;
	uintptr_t end = ph->arena.used;
	struct span *s = new_memory(ph, lack < PH_GROW_PAGES ? PH_GROW_PAGES : lack, lack);
	if (!s)
		return NULL;
	s = insert_free(ph, s);           /* merged with the tail when it follows it */
	return s->start < end ? s : NULL; /* the arena went on elsewhere */
}

/* Grows the arena to hold a span of 'npages' and returns that span.  By
 * at least PH_GROW_PAGES, or exactly the request for large ones: then the
 * new span is returned as it is, neither filed nor counted as free (state
 * 0), for the caller to take whole: it goes in use, so free neighbours
 * need not merge with it.  Otherwise it is filed as free, merged with a
 * free span just below it when the growth was contiguous, and the caller
 * splits it: it fits the request even when its size does not reach the
 * next bin boundary, so the caller takes it directly rather than through
 * bin_find.  NULL when the arena cannot grow.
 *
 * A free span at the arena's end is grown into: only what it lacks is
 * asked for (nothing when it holds the request, which the rounded-up bin
 * search passes over).  Its pages are used before fresh ones when they
 * all have frames and are at least a growth's worth (a smaller end, what
 * is left of a growth rounded up to PH_GROW_PAGES, is left to the small
 * requests that come next: merging it costs a large one more than it
 * saves); when some were released, only if the arena has no room for the
 * whole request after its end: released pages cost frames as fresh ones
 * do, and a span whose released pages lie before mapped ones would break
 * the order the scavenger keeps (mapped pages first, where allocation
 * splits), stranding the mapped ones when frames run out. */
static struct span *grow(struct pageheap *ph, uint32_t npages)
{
	struct span *tail = free_tail(ph);
	if (tail && tail->npages >= npages)
		return tail;
	uintptr_t room = ph->arena.start + ph->arena.limit - ph->arena.used;
	if (tail && ((tail->released_pages == 0 && tail->npages >= PH_GROW_PAGES) ||
	             room / PAGE_SIZE < npages))
		return grow_into(ph, tail, npages);
	struct span *s = new_memory(ph, npages < PH_GROW_PAGES ? PH_GROW_PAGES : npages, npages);
	if (!s)
		return NULL;
	if (s->npages == npages)
		return s;
	return insert_free(ph, s);
}

/* ---- scavenging ---- */

/* Keeps the period's peak of pages in use (after every change upward). */
static inline void note_peak(struct pageheap *ph)
{
	if (ph->stats.in_use_pages > ph->period_peak_pages)
		ph->period_peak_pages = ph->stats.in_use_pages;
}

/* The recent peak of pages in use: the most in this period of hold_frees
 * calls of ph_free or the one before ('in_use' itself when the memory is
 * off).  Ends a period when its frees are done (a new hold_frees takes
 * effect then). */
static inline uint32_t recent_peak(struct pageheap *ph, uint32_t in_use)
{
	if (!ph->hold_frees)
		return in_use;
	uint32_t peak = ph->period_peak_pages > ph->previous_peak_pages ? ph->period_peak_pages
	                                                                : ph->previous_peak_pages;
	if (ph->frees_left-- <= 1) {
		ph->previous_peak_pages = ph->period_peak_pages;
		ph->period_peak_pages = in_use;
		ph->frees_left = ph->hold_frees;
	}
	return peak;
}

/* Largest free spans first, until at most 'target_pages' free pages stay
 * mapped. */
static void scavenge(struct pageheap *ph, uint32_t target_pages)
{
	/* Non-empty bins only, from the top, found by the bitmaps. */
	for (uint32_t fl_map = ph->fl_bitmap; fl_map;) {
		unsigned fl = msb(fl_map);
		fl_map &= ~(1u << fl);
		for (uint32_t sl_map = ph->sl_bitmap[fl]; sl_map;) {
			unsigned sl = msb(sl_map);
			sl_map &= ~(1u << sl);
			for (struct span *s = ph->bins[fl][sl]; s; s = s->next) {
				if (ph->stats.free_mapped_pages <= target_pages)
					return;
				if (s->released_pages < s->npages)
					release_frames(ph, s,
					               ph->stats.free_mapped_pages - target_pages);
			}
		}
	}
}

/* ---- allocation and free ---- */

static __attribute__((noinline, cold)) struct span *out_of_frames(struct pageheap *ph,
                                                                  uint32_t npages)
{
	ph->stats.failures++;
	kprintf_ratelimited("pageheap: failures",
	                    "pageheap: ph_alloc(%u pages) failed: out of frames\n", npages);
	return NULL;
}

/* Step 2 of ph_alloc, for a free span larger than the request: the head
 * is handed out under a new record.  The free remainder keeps its record,
 * and its neighbours are the head and what was there before (not free:
 * free spans are always coalesced), so it is not merged, only filed again
 * if its bin changes.  NULL, with nothing changed, when no record or no
 * frames can be had. */
static inline struct span *split_head(struct pageheap *ph, struct span *s, uint32_t npages)
{
	struct span *head = new_span(ph);
	if (!head) {
		ph->stats.failures++;
		return NULL;
	}
	if (s->released_pages && s->released_pages < s->npages) {
		/* Part released: map the head's gaps now, which counts them,
		 * while the span is still whole (a failure leaves it as it
		 * was). */
		size_t mapped;
		if (!arena_reuse(&ph->arena, s->start, (size_t)npages * PAGE_SIZE, &mapped)) {
			drop_span(ph, head);
			return out_of_frames(ph, npages);
		}
		uint32_t pages = (uint32_t)(mapped / PAGE_SIZE);
		s->released_pages -= pages;
		ph->stats.free_released_pages -= pages;
		ph->stats.free_mapped_pages += pages;
		ph->stats.reused_pages += pages;
	}
	head->start = s->start;
	head->npages = npages;
	head->zeroed = s->zeroed;
	head->released_pages = s->released_pages == s->npages ? npages : 0;
	s->start += (uintptr_t)npages * PAGE_SIZE;
	s->npages -= npages;
	s->released_pages -= head->released_pages;
	page_at(ph, s->start)->span = s;
	ph->stats.free_mapped_pages -= npages - head->released_pages;
	ph->stats.free_released_pages -= head->released_pages;
	if (bin_of(s->npages) != s->bin) {
		bin_remove(ph, s);
		bin_insert(ph, s);
	}
	return head;
}

/* Step 3 of ph_alloc: the span, now in use, made ready to hand out: its
 * released pages mapped again (they come back zeroed: the span reads 0 if
 * its mapped pages did, or there were none), zeroed when asked, its fields
 * reset, its ends named, and counted.  When frames run out it goes back to
 * the free spans as it was, and NULL. */
static inline struct span *hand_out(struct pageheap *ph, struct span *s, uint32_t npages,
                                    bool zeroed)
{
	if (s->released_pages) {
		size_t mapped;
		if (!arena_reuse(&ph->arena, s->start, (size_t)npages * PAGE_SIZE, &mapped)) {
			insert_free(ph, s); /* still released: back as it was */
			return out_of_frames(ph, npages);
		}
		ph->stats.reused_pages += s->released_pages;
		if (s->released_pages == npages)
			s->zeroed = 1;
	}
	if (zeroed && !s->zeroed) {
		memset((void *)s->start, 0, (size_t)npages * PAGE_SIZE);
		ph->stats.zeroed_pages += npages;
	}
	s->released_pages = 0;
	s->zeroed = s->all_marked = 0;
	s->small.size_class = 0;
	s->small.cpu_list = 0;
	s->next = s->prev = NULL;
	name_ends(ph, s);
	ph->stats.in_use_pages += npages;
	ph->stats.in_use_spans++;
	note_peak(ph);
	return s;
}

static inline __attribute__((always_inline)) struct span *alloc_locked(struct pageheap *ph,
                                                                       uint32_t npages, bool zeroed)
{
	if (npages == 0 || npages > ph->max_pages) {
		kprintf_ratelimited("pageheap: refusals",
		                    "pageheap: ph_alloc(%u pages) refused: %s\n", npages,
		                    npages ? "larger than the arena limit" : "zero pages");
		ph->stats.failures++;
		return NULL;
	}
	/* 1. A free span of at least npages, or the arena grown to hold them,
	 * or, when it cannot grow, a span of the request's own bin that fits. */
	struct span *s = bin_find(ph, npages);
	if (!s && !(s = grow(ph, npages)) && !(s = fit_in_own_bin(ph, npages))) {
		ph->stats.failures++;
		return NULL;
	}
	/* 2. Out of the free spans: whole, or its head split off.  A growth
	 * made for this request alone was never filed. */
	if (s->state == SPAN_FREE) {
		if (s->npages > npages) {
			if (!(s = split_head(ph, s, npages)))
				return NULL;
		} else {
			bin_remove(ph, s);
			account_free(ph, s, -1);
		}
	}
	s->state = SPAN_IN_USE;
	/* 3. Mapped, zeroed if asked, named and counted. */
	return hand_out(ph, s, npages, zeroed);
}

static struct span *alloc_aligned_locked(struct pageheap *ph, uint32_t npages, uint32_t align_pages,
                                         bool zeroed)
{
	if (align_pages <= 1)
		return alloc_locked(ph, npages, zeroed);
	if (npages > UINT32_MAX - align_pages) {
		ph->stats.failures++;
		return NULL;
	}
	struct span *s = alloc_locked(ph, npages + align_pages - 1, zeroed);
	if (!s)
		return NULL;
	uintptr_t aligned = ALIGN_UP(s->start, (uintptr_t)align_pages * PAGE_SIZE);
	uint32_t head = (uint32_t)((aligned - s->start) / PAGE_SIZE);
	uint32_t tail = s->npages - head - npages;
	struct span *h = head ? new_span_cleared(ph) : NULL;
	struct span *t = tail ? new_span_cleared(ph) : NULL;
	if ((head && !h) || (tail && !t)) {
		if (h)
			drop_span(ph, h);
		if (t)
			drop_span(ph, t);
		ph_free_locked(ph, s);
		ph->stats.failures++;
		return NULL;
	}
	/* Cut the excess into in-use spans of their own, then free them. */
	struct span *parts[2] = { h, t };
	uintptr_t starts[2] = { s->start, aligned + (uintptr_t)npages * PAGE_SIZE };
	uint32_t sizes[2] = { head, tail };
	page_at(ph, s->start)->span = NULL;
	page_at(ph, span_end(s) - PAGE_SIZE)->span = NULL;
	s->start = aligned;
	s->npages = npages;
	name_ends(ph, s);
	for (unsigned i = 0; i < 2; i++) {
		if (!parts[i])
			continue;
		parts[i]->start = starts[i];
		parts[i]->npages = sizes[i];
		parts[i]->state = SPAN_IN_USE;
		name_ends(ph, parts[i]);
		ph->stats.in_use_spans++;
		ph_free_locked(ph, parts[i]);
	}
	return s;
}

static bool grow_locked(struct pageheap *ph, struct span *s, uint32_t npages)
{
	MM_ASSERT(s && s->state == SPAN_IN_USE && !s->all_marked && npages > s->npages,
	          "ph_grow(%p, %u): not an in-use span to grow", (void *)s, npages);
	uintptr_t end = span_end(s);
	if (end >= ph->arena.used)
		return false;
	struct span *r = page_at(ph, end)->span;
	uint32_t extra = npages - s->npages;
	if (!r || r->state != SPAN_FREE || r->start != end || r->npages < extra)
		return false;
	size_t mapped = 0;
	if (r->released_pages && !arena_reuse(&ph->arena, end, (size_t)extra * PAGE_SIZE, &mapped))
		return false;
	uint32_t released = (uint32_t)(mapped / PAGE_SIZE);
	ph->stats.reused_pages += released;
	/* The free span gives up its head, or all of itself. */
	bin_remove(ph, r);
	account_free(ph, r, -1);
	page_at(ph, end)->span = NULL;
	if (r->npages == extra) {
		drop_span(ph, r);
	} else {
		r->start += (uintptr_t)extra * PAGE_SIZE;
		r->npages -= extra;
		r->released_pages -= released;
		page_at(ph, r->start)->span = r;
		account_free(ph, r, +1);
		bin_insert(ph, r);
	}
	if (s->npages > 1)
		page_at(ph, end - PAGE_SIZE)->span = NULL; /* no longer its last page */
	s->npages = npages;
	name_ends(ph, s);
	ph->stats.in_use_pages += extra;
	note_peak(ph);
	return true;
}

/* Sets the entry of every page of 's', but for the span named by its two
 * end pages: name_ends sets those under the lock, and a free span's
 * neighbour reads them there (insert_free, grow_locked) while this runs
 * without it (ph_mark_all).  Interior pages four a turn: small spans are
 * marked and cleared on kmalloc's slowest paths, and have up to 16 pages. */
static inline __attribute__((always_inline)) void
set_pages(struct pageheap *ph, const struct span *s, struct arena_page entry)
{
	struct arena_page *page = page_at(ph, s->start), *last = page + s->npages - 1;
	page->cpu_list = entry.cpu_list;
	last->cpu_list = entry.cpu_list;
	if (s->npages <= 2)
		return;
	uint32_t interior = s->npages - 2;
	page++;
	if (interior & 1)
		*page++ = entry;
	if (interior & 2) {
		page[0] = entry;
		page[1] = entry;
		page += 2;
	}
	for (; page < last; page += 4) {
		page[0] = entry;
		page[1] = entry;
		page[2] = entry;
		page[3] = entry;
	}
}

void ph_mark_all(struct pageheap *ph, struct span *s, uintptr_t cpu_list)
{
	set_pages(ph, s, (struct arena_page){ s, cpu_list });
	s->all_marked = 1;
}

void ph_free_locked(struct pageheap *ph, struct span *s)
{
	MM_ASSERT(s && s->state == SPAN_IN_USE && page_at(ph, s->start)->span == s,
	          "ph_free(%p): not an in-use span", (void *)s);
	ph->stats.in_use_pages -= s->npages;
	ph->stats.in_use_spans--;
	if (s->all_marked)
		set_pages(ph, s, (struct arena_page){ NULL, 0 });
	s->all_marked = 0;
	/* released_pages stays: pages its owner gave back (ph_release_pages)
	 * are a free span's released pages. */
	s->zeroed = 0; /* the caller may have written anything */
	insert_free(ph, s);
	/* In pages, so in 32 bits on i386: this runs on every free.  The
	 * share kept is a measured trade: releasing more often costs every
	 * later allocation of that memory a map (and, in the kernel, a
	 * zeroing); with 4 KiB-1 MiB blocks of random lifetimes, keeping 1/4
	 * took 371 instructions per call on the host, 1/3 316 and 1/2 277,
	 * with peak memory 1.11, 1.11 and 1.13 times the live bytes (measured
	 * before the vm bitmap went to 64-bit words there).  Memory that the
	 * recent peak had in use is kept as well: a heap that is emptied and
	 * filled again in cycles would otherwise release and map it all
	 * every cycle, and keeping it never takes the heap past a size it
	 * has just had. */
	uint32_t in_use = ph->stats.in_use_pages, keep = in_use / 3;
	if (keep < ph->scavenge_threshold_pages)
		keep = ph->scavenge_threshold_pages;
	/* Free pages kept for the recent peak: peak - in_use (the peak is
	 * never below what is in use).  Pages are at most 2^20; a threshold
	 * near 2^32 could make 'peak + keep' wrap, which only costs a call
	 * with a target above every free page: it releases nothing. */
	uint32_t peak = recent_peak(ph, in_use);
	if (ph->stats.free_mapped_pages + in_use > peak + keep)
		scavenge(ph, peak - in_use + keep / 2);
}

size_t ph_release_pages(struct pageheap *ph, struct span *s, uintptr_t p, size_t n)
{
	mm_irq_flags_t flags = ph_lock(ph);
	MM_ASSERT(s->state == SPAN_IN_USE && p >= s->start && n <= span_end(s) - p,
	          "ph_release_pages(%p, %#lx): not pages of in-use span %p", (void *)p,
	          (unsigned long)n, (void *)s->start);
	size_t bytes = arena_release(&ph->arena, p, n);
	s->released_pages += (uint32_t)(bytes / PAGE_SIZE);
	ph_unlock(ph, flags);
	return bytes;
}

bool ph_reuse_pages(struct pageheap *ph, struct span *s, uintptr_t p, size_t n)
{
	mm_irq_flags_t flags = ph_lock(ph);
	MM_ASSERT(s->state == SPAN_IN_USE && p >= s->start && n <= span_end(s) - p,
	          "ph_reuse_pages(%p, %#lx): not pages of in-use span %p", (void *)p,
	          (unsigned long)n, (void *)s->start);
	size_t mapped = 0;
	bool ok = arena_reuse(&ph->arena, p, n, &mapped);
	s->released_pages -= (uint32_t)(mapped / PAGE_SIZE);
	ph_unlock(ph, flags);
	return ok;
}

/* ---- the locked entries ---- */

mm_irq_flags_t ph_lock(struct pageheap *ph)
{
	return mm_lock(&ph->lock);
}

void ph_unlock(struct pageheap *ph, mm_irq_flags_t flags)
{
	mm_unlock(&ph->lock, flags);
}

struct span *ph_alloc(struct pageheap *ph, uint32_t npages, bool zeroed)
{
	mm_irq_flags_t flags = mm_lock(&ph->lock);
	struct span *s = alloc_locked(ph, npages, zeroed);
	mm_unlock(&ph->lock, flags);
	return s;
}

struct span *ph_alloc_aligned(struct pageheap *ph, uint32_t npages, uint32_t align_pages,
                              bool zeroed)
{
	mm_irq_flags_t flags = mm_lock(&ph->lock);
	struct span *s = alloc_aligned_locked(ph, npages, align_pages, zeroed);
	mm_unlock(&ph->lock, flags);
	return s;
}

bool ph_grow(struct pageheap *ph, struct span *s, uint32_t npages)
{
	mm_irq_flags_t flags = mm_lock(&ph->lock);
	bool grown = grow_locked(ph, s, npages);
	mm_unlock(&ph->lock, flags);
	return grown;
}

void ph_free(struct pageheap *ph, struct span *s)
{
	mm_irq_flags_t flags = mm_lock(&ph->lock);
	ph_free_locked(ph, s);
	mm_unlock(&ph->lock, flags);
}

void ph_scavenge_all(struct pageheap *ph)
{
	mm_irq_flags_t flags = mm_lock(&ph->lock);
	scavenge(ph, 0);
	mm_unlock(&ph->lock, flags);
}

bool ph_cover_live_slow(struct pageheap *ph, const struct span *s)
{
	mm_irq_flags_t flags = mm_lock(&ph->lock);
	bool covered = arena_cover_live(&ph->arena, s->start, (size_t)s->npages * PAGE_SIZE);
	mm_unlock(&ph->lock, flags);
	return covered;
}

void *ph_meta_alloc(struct pageheap *ph, size_t bytes)
{
	mm_irq_flags_t flags = mm_lock(&ph->lock);
	void *p = arena_meta_alloc(&ph->arena, bytes, 16);
	mm_unlock(&ph->lock, flags);
	return p;
}

void ph_print(const struct pageheap *ph, const char *name)
{
	const struct pageheap_stats *s = &ph->stats;
	kprintf("pageheap %s: %llu KiB in use in %u spans, %llu KiB free (%llu KiB released) in "
	        "%u spans; %llu grows, %llu pages scavenged, %llu zeroed, %llu reused\n",
	        name, (unsigned long long)((uint64_t)s->in_use_pages * PAGE_SIZE >> 10),
	        s->in_use_spans,
	        (unsigned long long)(((uint64_t)s->free_mapped_pages + s->free_released_pages) *
	                                     PAGE_SIZE >>
	                             10),
	        (unsigned long long)((uint64_t)s->free_released_pages * PAGE_SIZE >> 10),
	        s->free_spans, (unsigned long long)s->grows, (unsigned long long)s->scavenged_pages,
	        (unsigned long long)s->zeroed_pages, (unsigned long long)s->reused_pages);
}
