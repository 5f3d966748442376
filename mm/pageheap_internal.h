/*
 * mm/pageheap_internal.h - what the page heap's own files share
 * (pageheap.c, pageheap_check.c): not an interface; pageheap.h is.
 */
#ifndef MM_PAGEHEAP_INTERNAL_H
#define MM_PAGEHEAP_INTERNAL_H

#include "mm/pageheap.h"

static inline uint32_t msb(uint32_t x)
{
	return 31 - (uint32_t)__builtin_clz(x);
}

/* The bin holding spans of exactly 'npages' (rounding down). */
static inline unsigned bin_of(uint32_t npages)
{
	if (npages < 2 * PH_SL_COUNT)
		return npages; /* fl 0 and 1: one bin per size */
	uint32_t top = msb(npages);
	uint32_t fl = top - PH_SL_BITS + 1;
	uint32_t sl = (npages >> (top - PH_SL_BITS)) - PH_SL_COUNT;
	return fl * PH_SL_COUNT + sl;
}

static inline struct arena_page *page_at(struct pageheap *ph, uintptr_t p)
{
	return &ph->arena.pages[(p - ph->arena.start) / PAGE_SIZE];
}

static inline uintptr_t span_end(const struct span *s)
{
	return s->start + (uintptr_t)s->npages * PAGE_SIZE;
}

#endif
