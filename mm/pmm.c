/*
 * mm/pmm.c - the physical frame allocator (see pmm.h for the design).
 *
 * Invariants, checked by pmm_check():
 *   - chunk.list == LIST_WHOLE  <=> all 1024 frames are RAM and free; its
 *     stack and bump are meaningless then;
 *   - chunk.list == LIST_PARTIAL <=> 0 < free_count, not whole; the free
 *     frames are exactly the stack plus [bump, 1024);
 *   - chunk.list == LIST_RUN: allocated as one 4 MiB run;
 *   - chunk.list == LIST_NONE: no free frame (free_count == 0);
 *   - a frame's alloc bit is clear <=> it is free.
 */
#include "mm/pmm.h"

enum pmm_list { LIST_NONE, LIST_PARTIAL, LIST_WHOLE, LIST_RUN };

#define FRAME_INDEX_MASK (PMM_FRAMES_PER_CHUNK - 1)
#define BITMAP_WORDS(frames) (((frames) + 31) / 32)

static inline bool test_bit(const uint32_t *bits, uint32_t n)
{
	return bits[n / 32] >> (n % 32) & 1;
}

static inline void set_bit(uint32_t *bits, uint32_t n)
{
	bits[n / 32] |= 1u << (n % 32);
}

static inline void clear_bit(uint32_t *bits, uint32_t n)
{
	bits[n / 32] &= ~(1u << (n % 32));
}

size_t pmm_metadata_size(uint32_t frame_count)
{
	return ALIGN_UP((size_t)frame_count * sizeof(uint16_t), 4) +
	       2 * BITMAP_WORDS((size_t)frame_count) * sizeof(uint32_t);
}

uint32_t pmm_frames_spanned(const struct pmm_range *usable, unsigned count)
{
	const uint64_t limit = 1ull << 32; /* non-PAE: nothing above 4 GiB */
	uint64_t top = 0;
	for (unsigned i = 0; i < count; i++) {
		if (usable[i].base >= limit)
			continue;
		uint64_t end = usable[i].base + usable[i].length;
		if (end > limit)
			end = limit;
		if (end > top)
			top = end;
	}
	return (uint32_t)(top >> PAGE_SHIFT);
}

static void list_push(struct pmm *pmm, uint16_t *head, uint16_t c, enum pmm_list which)
{
	struct pmm_chunk *ch = &pmm->chunks[c];
	ch->list = (uint8_t)which;
	ch->prev = PMM_NONE;
	ch->next = *head;
	if (*head != PMM_NONE)
		pmm->chunks[*head].prev = c;
	*head = c;
}

static void list_remove(struct pmm *pmm, uint16_t *head, uint16_t c)
{
	struct pmm_chunk *ch = &pmm->chunks[c];
	if (ch->prev != PMM_NONE)
		pmm->chunks[ch->prev].next = ch->next;
	else
		*head = ch->next;
	if (ch->next != PMM_NONE)
		pmm->chunks[ch->next].prev = ch->prev;
	ch->list = LIST_NONE;
}

void pmm_init(struct pmm *pmm, void *metadata, uint32_t frame_count,
	      const struct pmm_range *usable, unsigned usable_count,
	      const struct pmm_range *withheld, unsigned withheld_count)
{
	MM_ASSERT(frame_count <= PMM_MAX_CHUNKS * PMM_FRAMES_PER_CHUNK, "frame_count %u",
		  (unsigned)frame_count);
	memset(pmm, 0, sizeof(*pmm));
	memset(metadata, 0, pmm_metadata_size(frame_count));
	pmm->frame_count = frame_count;
	pmm->link = metadata;
	pmm->ram_bits =
		(uint32_t *)((char *)metadata + ALIGN_UP((size_t)frame_count * sizeof(uint16_t), 4));
	pmm->alloc_bits = pmm->ram_bits + BITMAP_WORDS(frame_count);
	pmm->partial_head = pmm->whole_head = PMM_NONE;

	/* RAM: whole frames inside a usable range. */
	for (unsigned i = 0; i < usable_count; i++) {
		uint64_t first = ALIGN_UP(usable[i].base, (uint64_t)PAGE_SIZE) >> PAGE_SHIFT;
		uint64_t end = ALIGN_DOWN(usable[i].base + usable[i].length, (uint64_t)PAGE_SIZE) >>
			       PAGE_SHIFT;
		if (end > frame_count)
			end = frame_count;
		for (uint64_t f = first; f < end; f++)
			set_bit(pmm->ram_bits, (uint32_t)f);
	}
	for (uint32_t f = 0; f < frame_count; f++)
		pmm->stats.total_frames += test_bit(pmm->ram_bits, f);
	/* Withheld RAM leaves the allocator's hands for good: from here on the
	 * RAM bit means "managed by this allocator". */
	for (unsigned i = 0; i < withheld_count; i++) {
		if (withheld[i].length == 0)
			continue;
		uint64_t first = withheld[i].base >> PAGE_SHIFT;
		uint64_t end = ALIGN_UP(withheld[i].base + withheld[i].length, (uint64_t)PAGE_SIZE) >>
			       PAGE_SHIFT;
		if (end > frame_count)
			end = frame_count;
		for (uint64_t f = first; f < end; f++)
			clear_bit(pmm->ram_bits, (uint32_t)f);
	}
	uint32_t managed = 0;
	for (uint32_t f = 0; f < frame_count; f++)
		managed += test_bit(pmm->ram_bits, f);
	pmm->stats.reserved_frames = pmm->stats.total_frames - managed;
	/* Everything unmanaged reads as allocated, so that no path frees it. */
	for (uint32_t w = 0; w < BITMAP_WORDS(frame_count); w++)
		pmm->alloc_bits[w] = ~pmm->ram_bits[w];

	/* Chunks: stack their free frames, then file each on its list, highest first so that the
	 * lowest addresses are handed out first. */
	uint32_t chunk_count = (frame_count + PMM_FRAMES_PER_CHUNK - 1) / PMM_FRAMES_PER_CHUNK;
	for (uint32_t c = chunk_count; c-- > 0;) {
		struct pmm_chunk *ch = &pmm->chunks[c];
		*ch = (struct pmm_chunk){.free_head = PMM_NONE, .bump = PMM_FRAMES_PER_CHUNK,
					 .prev = PMM_NONE, .next = PMM_NONE};
		uint32_t base = c * PMM_FRAMES_PER_CHUNK;
		for (uint32_t i = PMM_FRAMES_PER_CHUNK; i-- > 0;) {
			uint32_t f = base + i;
			if (f >= frame_count || !test_bit(pmm->ram_bits, f))
				continue;
			ch->usable++;
			pmm->link[f] = ch->free_head;
			ch->free_head = (uint16_t)i;
			ch->free_count++;
		}
		pmm->stats.free_frames += ch->free_count;
		if (ch->free_count == PMM_FRAMES_PER_CHUNK) {
			list_push(pmm, &pmm->whole_head, (uint16_t)c, LIST_WHOLE);
			pmm->stats.whole_chunks++;
		} else if (ch->free_count) {
			list_push(pmm, &pmm->partial_head, (uint16_t)c, LIST_PARTIAL);
		}
	}
}

paddr_t pmm_alloc_frame(struct pmm *pmm)
{
	uint16_t c = pmm->partial_head;
	if (__builtin_expect(c == PMM_NONE, 0)) {
		/* Break a whole chunk: its frames become a bump range. */
		c = pmm->whole_head;
		if (c == PMM_NONE)
			return 0;
		list_remove(pmm, &pmm->whole_head, c);
		pmm->stats.whole_chunks--;
		struct pmm_chunk *ch = &pmm->chunks[c];
		ch->free_head = PMM_NONE;
		ch->bump = 0;
		list_push(pmm, &pmm->partial_head, c, LIST_PARTIAL);
	}
	struct pmm_chunk *ch = &pmm->chunks[c];
	uint32_t index = ch->free_head;
	uint32_t base = (uint32_t)c * PMM_FRAMES_PER_CHUNK;
	if (index != PMM_NONE)
		ch->free_head = pmm->link[base + index];
	else
		index = ch->bump++;
	if (--ch->free_count == 0)
		list_remove(pmm, &pmm->partial_head, c);
	uint32_t f = base + index;
	set_bit(pmm->alloc_bits, f);
	pmm->stats.free_frames--;
	return (paddr_t)f << PAGE_SHIFT;
}

/* Why 'frame' (a frame address or a run base) cannot be freed, or NULL. */
static const char *frame_problem(const struct pmm *pmm, paddr_t frame)
{
	if (!IS_ALIGNED(frame, PAGE_SIZE))
		return "not page-aligned";
	uint32_t f = frame >> PAGE_SHIFT;
	if (f >= pmm->frame_count || !test_bit(pmm->ram_bits, f))
		return "not RAM managed by the allocator (hole, device or withheld at boot)";
	if (!test_bit(pmm->alloc_bits, f))
		return "not allocated (double free?)";
	return NULL;
}

static bool refuse(struct pmm *pmm, const char *what, paddr_t frame, const char *why)
{
	pmm->stats.bad_frees++;
	kprintf("pmm: %s(%#x) refused: %s\n", what, (unsigned)frame, why);
	return false;
}

bool pmm_free_frame(struct pmm *pmm, paddr_t frame)
{
	const char *problem = frame_problem(pmm, frame);
	if (__builtin_expect(problem != NULL, 0))
		return refuse(pmm, "pmm_free_frame", frame, problem);
	uint32_t f = frame >> PAGE_SHIFT;
	uint16_t c = (uint16_t)(f / PMM_FRAMES_PER_CHUNK);
	struct pmm_chunk *ch = &pmm->chunks[c];
	if (__builtin_expect(ch->list == LIST_RUN, 0))
		return refuse(pmm, "pmm_free_frame", frame, "part of a 4 MiB run");

	clear_bit(pmm->alloc_bits, f);
	pmm->stats.free_frames++;
	pmm->link[f] = ch->free_head;
	ch->free_head = (uint16_t)(f & FRAME_INDEX_MASK);
	if (++ch->free_count == 1)
		list_push(pmm, &pmm->partial_head, c, LIST_PARTIAL);
	if (__builtin_expect(ch->free_count == PMM_FRAMES_PER_CHUNK, 0)) {
		list_remove(pmm, &pmm->partial_head, c);
		list_push(pmm, &pmm->whole_head, c, LIST_WHOLE);
		pmm->stats.whole_chunks++;
	}
	return true;
}

paddr_t pmm_alloc_chunk(struct pmm *pmm)
{
	uint16_t c = pmm->whole_head;
	if (c == PMM_NONE)
		return 0;
	list_remove(pmm, &pmm->whole_head, c);
	pmm->chunks[c].list = LIST_RUN;
	pmm->chunks[c].free_count = 0;
	pmm->stats.whole_chunks--;
	pmm->stats.free_frames -= PMM_FRAMES_PER_CHUNK;
	memset(&pmm->alloc_bits[c * (PMM_FRAMES_PER_CHUNK / 32)], 0xff, PMM_FRAMES_PER_CHUNK / 8);
	return (paddr_t)c * PMM_CHUNK_SIZE;
}

bool pmm_free_chunk(struct pmm *pmm, paddr_t base)
{
	if (!IS_ALIGNED(base, PMM_CHUNK_SIZE))
		return refuse(pmm, "pmm_free_chunk", base, "not 4 MiB aligned");
	const char *problem = frame_problem(pmm, base);
	if (problem)
		return refuse(pmm, "pmm_free_chunk", base, problem);
	uint16_t c = (uint16_t)(base / PMM_CHUNK_SIZE);
	if (pmm->chunks[c].list != LIST_RUN)
		return refuse(pmm, "pmm_free_chunk", base, "not allocated as a 4 MiB run");
	memset(&pmm->alloc_bits[c * (PMM_FRAMES_PER_CHUNK / 32)], 0, PMM_FRAMES_PER_CHUNK / 8);
	pmm->chunks[c].free_count = PMM_FRAMES_PER_CHUNK;
	list_push(pmm, &pmm->whole_head, c, LIST_WHOLE);
	pmm->stats.whole_chunks++;
	pmm->stats.free_frames += PMM_FRAMES_PER_CHUNK;
	return true;
}

void pmm_split_chunk(struct pmm *pmm, paddr_t base)
{
	uint16_t c = (uint16_t)(base / PMM_CHUNK_SIZE);
	MM_ASSERT(IS_ALIGNED(base, PMM_CHUNK_SIZE) && c < PMM_MAX_CHUNKS &&
			  pmm->chunks[c].list == LIST_RUN,
		  "pmm_split_chunk(%#x): not an allocated run", (unsigned)base);
	struct pmm_chunk *ch = &pmm->chunks[c];
	ch->list = LIST_NONE; /* every frame allocated, none on the stack */
	ch->free_head = PMM_NONE;
	ch->bump = PMM_FRAMES_PER_CHUNK;
}

bool pmm_frame_allocated(const struct pmm *pmm, paddr_t frame)
{
	uint32_t f = frame >> PAGE_SHIFT;
	return f < pmm->frame_count && test_bit(pmm->ram_bits, f) && test_bit(pmm->alloc_bits, f);
}

void pmm_get_stats(const struct pmm *pmm, struct pmm_stats *out)
{
	*out = pmm->stats;
}

static unsigned check_chunk(const struct pmm *pmm, uint32_t c, uint32_t *free_total)
{
	const struct pmm_chunk *ch = &pmm->chunks[c];
	uint32_t base = c * PMM_FRAMES_PER_CHUNK;
	uint32_t free_bits = 0, ram = 0;
	unsigned bad = 0;
	for (uint32_t i = 0; i < PMM_FRAMES_PER_CHUNK && base + i < pmm->frame_count; i++) {
		ram += test_bit(pmm->ram_bits, base + i);
		free_bits += test_bit(pmm->ram_bits, base + i) && !test_bit(pmm->alloc_bits, base + i);
	}
	*free_total += free_bits;
	if (ram != ch->usable) {
		kprintf("pmm_check: chunk %u: %u RAM frames, usable says %u\n", c, ram, ch->usable);
		bad++;
	}
	if (ch->list == LIST_WHOLE) {
		if (free_bits != PMM_FRAMES_PER_CHUNK) {
			kprintf("pmm_check: whole chunk %u has %u free frames\n", c, free_bits);
			bad++;
		}
		return bad;
	}
	if (ch->list == LIST_RUN)
		return bad + (free_bits != 0);
	/* Walk the stack and the bump range: exactly the free frames. */
	uint32_t counted = PMM_FRAMES_PER_CHUNK - ch->bump;
	for (uint32_t i = ch->bump; i < PMM_FRAMES_PER_CHUNK; i++)
		if (test_bit(pmm->alloc_bits, base + i)) {
			kprintf("pmm_check: chunk %u bump frame %u is allocated\n", c, i);
			bad++;
		}
	for (uint16_t i = ch->free_head; i != PMM_NONE; i = pmm->link[base + i]) {
		if (++counted > PMM_FRAMES_PER_CHUNK) {
			kprintf("pmm_check: chunk %u free stack loops\n", c);
			return bad + 1;
		}
		if (test_bit(pmm->alloc_bits, base + i)) {
			kprintf("pmm_check: chunk %u stacked frame %u is allocated\n", c, i);
			bad++;
		}
	}
	if (counted != free_bits || counted != ch->free_count) {
		kprintf("pmm_check: chunk %u: %u on stack+bump, %u free bits, free_count %u\n", c,
			counted, free_bits, ch->free_count);
		bad++;
	}
	if ((ch->list == LIST_PARTIAL) != (ch->free_count > 0)) {
		kprintf("pmm_check: chunk %u on list %u with %u free\n", c, ch->list, ch->free_count);
		bad++;
	}
	return bad;
}

unsigned pmm_check(const struct pmm *pmm)
{
	unsigned bad = 0;
	uint32_t free_total = 0, whole = 0;
	uint32_t chunk_count = (pmm->frame_count + PMM_FRAMES_PER_CHUNK - 1) / PMM_FRAMES_PER_CHUNK;
	for (uint32_t c = 0; c < chunk_count; c++)
		bad += check_chunk(pmm, c, &free_total);
	for (uint16_t c = pmm->whole_head; c != PMM_NONE; c = pmm->chunks[c].next)
		if (++whole > chunk_count || pmm->chunks[c].list != LIST_WHOLE) {
			kprintf("pmm_check: whole list corrupt at chunk %u\n", c);
			return bad + 1;
		}
	uint32_t partial = 0;
	for (uint16_t c = pmm->partial_head; c != PMM_NONE; c = pmm->chunks[c].next)
		if (++partial > chunk_count || pmm->chunks[c].list != LIST_PARTIAL) {
			kprintf("pmm_check: partial list corrupt at chunk %u\n", c);
			return bad + 1;
		}
	if (free_total != pmm->stats.free_frames || whole != pmm->stats.whole_chunks) {
		kprintf("pmm_check: %u free frames and %u whole chunks counted, stats say %u and %u\n",
			free_total, whole, pmm->stats.free_frames, pmm->stats.whole_chunks);
		bad++;
	}
	return bad;
}
