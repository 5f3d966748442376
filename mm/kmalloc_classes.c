/* mm/kmalloc_classes.c - kmalloc's size classes and the tables that map a
 * size to its class (see the essay in kmalloc.c). */
#include "mm/kmalloc_internal.h"

struct class_info classes[KMALLOC_MAX_CLASSES + 1];
unsigned class_count;
uint32_t slots_per_cpu;
cpu_list_offset_t lookup[LOOKUP_MAX + 1];
cpu_list_offset_t lookup_coarse[(KMALLOC_MAX_SMALL >> COARSE_SHIFT) + 1];

/* Pages per span of a class: the fewest that hold SPAN_OBJECTS objects,
 * and then more, up to SPAN_MAX_PAGES, until at most 1/64 of the span is
 * left over at its end (or as little as there can be).  Larger spans are
 * set up less often and empty less often; every page of a span is named
 * when it is set up, which bounds the slowest kmalloc. */
#define SPAN_OBJECTS   8
#define SPAN_MAX_PAGES 16
_Static_assert((SPAN_OBJECTS * KMALLOC_MAX_SMALL) <= SPAN_MAX_PAGES * PAGE_SIZE,
               "the largest class's span holds SPAN_OBJECTS");
static uint32_t span_pages(uint32_t size)
{
	uint32_t least = (SPAN_OBJECTS * size + PAGE_SIZE - 1) / PAGE_SIZE;
	uint32_t best = least;
	for (uint32_t pages = least; pages <= SPAN_MAX_PAGES; pages++) {
		uint32_t tail = pages * PAGE_SIZE % size;
		if (tail * 64 <= pages * PAGE_SIZE)
			return pages;
		if ((uint64_t)tail * best < (uint64_t)(best * PAGE_SIZE % size) * pages)
			best = pages;
	}
	return best;
}

static void add_class(uint32_t user_size, uint32_t extra)
{
	struct class_info *c = &classes[++class_count];
	uint32_t size = user_size + extra;
	c->size = size;
	c->user_size = user_size;
	c->magic = (uint32_t)(((1ull << 32) + size - 1) / size);
	c->pages = span_pages(size);
	c->objects = c->pages * PAGE_SIZE / size;
	/* A batch is at most one span's worth, so that a refill makes at most
	 * one span: the worst single operation stays short. */
	c->batch = CACHE_BYTES / size < 4 ? 4 : CACHE_BYTES / size > 32 ? 32 : CACHE_BYTES / size;
	if (c->batch > c->objects)
		c->batch = c->objects;
	c->cache_max = 2 * c->batch;
	/* The transfer stack holds a CPU list's worth, and up to twice that
	 * while that is at most TRANSFER_BYTES: the small classes, whose
	 * objects hold little memory there.  On the host (24 KiB), xmalloc at
	 * 2 and 4 threads took 64.1 and 63.2 instructions per call with one
	 * list's worth, 61.2 and 60.4 with this, and 60.6 and 60.1 with twice
	 * throughout, which took the memory of the mixed workload from 1.098
	 * to 1.104 times the live bytes (1.098 with this).  On target the
	 * 7 KiB of slots more cost the 8 MiB machine the last frames of
	 * suite kmalloc's alignment case. */
	uint32_t most = TRANSFER_BYTES / size;
	c->transfer_max = most < c->cache_max       ? c->cache_max
	                  : most > 2 * c->cache_max ? 2 * c->cache_max
	                                            : most;
}

void build_classes(uint32_t extra)
{
	class_count = 0;
	for (uint32_t size = Q; size <= PER_BAND * Q; size += Q)
		add_class(size, extra);
	for (uint32_t band = PER_BAND * Q; band < KMALLOC_MAX_SMALL; band *= 2) {
		uint32_t per = band < PAGE_SIZE ? PER_BAND : PER_BAND_ABOVE_PAGE;
		for (uint32_t i = 1; i <= per; i++)
			add_class(band + i * (band / per), extra);
	}
	MM_ASSERT(class_count <= KMALLOC_MAX_CLASSES, "%u classes", class_count);
	/* A class borrows from the next ones up to a quarter larger than itself
	 * (or four quanta, among the smallest): all four below a page, one
	 * above, where the classes are a quarter apart. */
	for (unsigned cls = 1; cls <= class_count; cls++) {
		uint32_t size = classes[cls].user_size, reach = size / 4 > 4 * Q ? size / 4 : 4 * Q;
		unsigned k = 0;
		while (k < BORROW_CLASSES && cls + k + 1 <= class_count &&
		       classes[cls + k + 1].user_size - size <= reach)
			k++;
		central[cls].lenders = k;
	}
	slots_per_cpu = 0;
	for (unsigned cls = 1; cls <= class_count; cls++)
		slots_per_cpu += classes[cls].cache_max;
	unsigned c = 1;
	for (uint32_t size = 0; size <= LOOKUP_MAX; size++) {
		while (classes[c].user_size < size)
			c++;
		lookup[size] = (cpu_list_offset_t)(c * sizeof(struct cpu_list));
	}
	for (uint32_t i = 0; i <= KMALLOC_MAX_SMALL >> COARSE_SHIFT; i++) {
		uint32_t size = i << COARSE_SHIFT;
		while (classes[c].user_size < size)
			c++;
		MM_ASSERT(size <= LOOKUP_MAX ||
		                  (classes[c].user_size & ((1u << COARSE_SHIFT) - 1)) == 0,
		          "class %u is not a multiple of the coarse unit", classes[c].user_size);
		lookup_coarse[i] = (cpu_list_offset_t)(c * sizeof(struct cpu_list));
	}
}

unsigned kmalloc_class_of(size_t size)
{
	return cpu_list_offset_of(size) / sizeof(struct cpu_list);
}

uint32_t kmalloc_class_size(unsigned cls)
{
	return cls >= 1 && cls <= class_count ? classes[cls].user_size : 0;
}

unsigned kmalloc_class_count(void)
{
	return class_count;
}
