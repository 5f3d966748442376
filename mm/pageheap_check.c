/* mm/pageheap_check.c - ph_check: every invariant of the page heap
 * verified, each broken one named (pageheap.h). */
#include "mm/pageheap_internal.h"
#include "mm/vm.h"
#include <stdarg.h>

static unsigned problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static unsigned problem(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("ph_check: ");
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	return 1;
}

unsigned ph_check(const struct pageheap *ph_const)
{
	struct pageheap *ph = (struct pageheap *)ph_const; /* page_at only reads */
	const struct arena *a = &ph->arena;
	unsigned bad = 0;
	uint64_t in_use = 0, free_mapped = 0, free_released = 0;
	uint32_t in_use_spans = 0, free_spans = 0;
	bool prev_free = false;

	for (uintptr_t p = a->start; p < a->used;) {
		struct span *s = page_at(ph, p)->span;
		if (!s) {
			prev_free = false;
			p += PAGE_SIZE;
			continue;
		}
		if (s->start != p || s->npages == 0 || span_end(s) > a->used)
			return bad + problem("page %p names span [%p, +%u pages): not its start",
			                     (void *)p, (void *)s->start, s->npages);
		if (page_at(ph, span_end(s) - PAGE_SIZE)->span != s)
			bad += problem("span %p: its last page does not name it", (void *)s->start);
		bool all = s->state == SPAN_IN_USE && s->all_marked;
		for (uintptr_t q = p + PAGE_SIZE; q + PAGE_SIZE < span_end(s); q += PAGE_SIZE)
			if (page_at(ph, q)->span != (all ? s : NULL)) {
				bad += problem("span %p: interior page %p names %p",
				               (void *)s->start, (void *)q,
				               (void *)page_at(ph, q)->span);
				break;
			}
		size_t mapped = vm_mapped_pages(s->start, (size_t)s->npages * PAGE_SIZE);
		if (s->state == SPAN_IN_USE) {
			if (mapped != s->npages - s->released_pages)
				bad += problem(
				        "in-use span %p: %zu of %u pages mapped, %u released",
				        (void *)s->start, mapped, s->npages, s->released_pages);
			in_use += s->npages;
			in_use_spans++;
			prev_free = false;
		} else if (s->state == SPAN_FREE) {
			if (prev_free)
				bad += problem("free span %p follows a free span: not coalesced",
				               (void *)s->start);
			if (mapped != s->npages - s->released_pages)
				bad += problem("free span %p, %u of %u pages released: %zu mapped",
				               (void *)s->start, s->released_pages, s->npages,
				               mapped);
			if (s->bin != bin_of(s->npages))
				bad += problem("free span %p of %u pages in bin %u, belongs in %u",
				               (void *)s->start, s->npages, s->bin,
				               bin_of(s->npages));
			free_released += s->released_pages;
			free_mapped += s->npages - s->released_pages;
			free_spans++;
			prev_free = true;
		} else {
			return bad + problem("span %p in state %u", (void *)s->start, s->state);
		}
		p = span_end(s);
	}

	uint32_t listed = 0;
	for (unsigned fl = 0; fl < PH_FL_COUNT; fl++) {
		for (unsigned sl = 0; sl < PH_SL_COUNT; sl++) {
			struct span *head = ph->bins[fl][sl];
			if (!!head != !!(ph->sl_bitmap[fl] & (1u << sl)))
				bad += problem("bin %u/%u: bitmap disagrees with the list", fl, sl);
			struct span *prev = NULL;
			for (struct span *s = head; s; prev = s, s = s->next) {
				if (++listed > free_spans + 1)
					return bad +
					       problem("bin lists hold more spans than the heap");
				if (s->state != SPAN_FREE || s->bin != fl * PH_SL_COUNT + sl ||
				    s->prev != prev)
					bad += problem("bin %u/%u: span %p misfiled", fl, sl,
					               (void *)s->start);
			}
		}
		if (!!ph->sl_bitmap[fl] != !!(ph->fl_bitmap & (1u << fl)))
			bad += problem("first-level bitmap bit %u disagrees", fl);
	}
	if (listed != free_spans)
		bad += problem("%u free spans in the heap, %u in bins", free_spans, listed);
	if (in_use != ph->stats.in_use_pages || in_use_spans != ph->stats.in_use_spans ||
	    free_mapped != ph->stats.free_mapped_pages ||
	    free_released != ph->stats.free_released_pages || free_spans != ph->stats.free_spans)
		bad += problem(
		        "walk found %llu/%u in use, %llu+%llu free in %u spans; stats say "
		        "%llu/%u, %llu+%llu in %u",
		        (unsigned long long)in_use, in_use_spans, (unsigned long long)free_mapped,
		        (unsigned long long)free_released, free_spans,
		        (unsigned long long)ph->stats.in_use_pages, ph->stats.in_use_spans,
		        (unsigned long long)ph->stats.free_mapped_pages,
		        (unsigned long long)ph->stats.free_released_pages, ph->stats.free_spans);
	return bad;
}
