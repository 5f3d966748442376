/*
 * mm/pmm.c - the physical frame allocator (see pmm.h for the design).
 *
 * Invariants, checked by pmm_check():
 *   - slot.list == PMM_LIST_WHOLE  <=> all 1024 frames are RAM and free; its
 *     stack and bump are meaningless then;
 *   - slot.list == PMM_LIST_PARTIAL <=> 0 < free_count, not whole; the slot's
 *     free frames are exactly its stack plus [bump, 1024) plus those of its
 *     frames sitting in the CPUs' caches (which free_count does not count);
 *   - slot.list == PMM_LIST_TAKEN: allocated as one 4 MiB slot;
 *   - slot.list == PMM_LIST_SPARE <=> some CPU's spare_slot: whole and free,
 *     on no list (counted in neither stats.free_frames nor whole_slots);
 *   - slot.list == PMM_LIST_NONE: free_count == 0;
 *   - frame_bits set <=> allocated as a single frame (never in a RUN slot);
 *   - stats.free_frames == sum of free_count (the caches' frames not counted).
 */
#include "mm/pmm.h"
#include "mm/inject.h"

#define FRAME_INDEX_MASK     (PMM_FRAMES_PER_SLOT - 1)
#define BITMAP_WORDS(frames) (((frames) + 31) / 32)

static inline uint32_t slot_of(uint32_t frame_number)
{
	return frame_number / PMM_FRAMES_PER_SLOT;
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
	struct pmm_slot *ch = &pmm->slots[c];
	ch->list = (uint8_t)which;
	ch->prev = PMM_NONE;
	ch->next = *head;
	if (*head != PMM_NONE)
		pmm->slots[*head].prev = c;
	*head = c;
}

/* The whole list is a stack: slots join and leave it only at its head. */
static inline void whole_push(struct pmm *pmm, uint16_t c)
{
	pmm->slots[c].list = PMM_LIST_WHOLE;
	pmm->slots[c].next = pmm->whole_head;
	pmm->whole_head = c;
}

static inline uint16_t whole_pop(struct pmm *pmm)
{
	uint16_t c = pmm->whole_head;
	if (c != PMM_NONE)
		pmm->whole_head = pmm->slots[c].next;
	return c;
}

static void list_remove(struct pmm *pmm, uint16_t *head, uint16_t c)
{
	struct pmm_slot *ch = &pmm->slots[c];
	if (ch->prev != PMM_NONE)
		pmm->slots[ch->prev].next = ch->next;
	else
		*head = ch->next;
	if (ch->next != PMM_NONE)
		pmm->slots[ch->next].prev = ch->prev;
	ch->list = PMM_LIST_NONE;
}

void pmm_init(struct pmm *pmm, void *metadata, uint32_t frame_count, const struct pmm_range *usable,
              unsigned usable_count, const struct pmm_range *withheld, unsigned withheld_count)
{
	MM_ASSERT(frame_count <= PMM_MAX_SLOTS * PMM_FRAMES_PER_SLOT, "frame_count %u",
	          (unsigned)frame_count);
	memset(pmm, 0, sizeof(*pmm));
	memset(metadata, 0, pmm_metadata_size(frame_count));
	pmm->frame_count = frame_count;
	pmm->link = metadata;
	pmm->ram_bits = (uint32_t *)((char *)metadata +
	                             ALIGN_UP((size_t)frame_count * sizeof(uint16_t), 4));
	pmm->frame_bits = pmm->ram_bits + BITMAP_WORDS(frame_count);
	pmm->partial_head = pmm->whole_head = PMM_NONE;
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		pmm->spare_slot[cpu] = PMM_NONE;

	/* RAM: whole frames inside a usable range. */
	for (unsigned i = 0; i < usable_count; i++) {
		uint64_t first = ALIGN_UP(usable[i].base, (uint64_t)PAGE_SIZE) >> PAGE_SHIFT;
		uint64_t end = ALIGN_DOWN(usable[i].base + usable[i].length, (uint64_t)PAGE_SIZE) >>
		               PAGE_SHIFT;
		for (uint64_t f = first; f < end && f < frame_count; f++)
			mm_bit_set(pmm->ram_bits, (uint32_t)f);
	}
	for (uint32_t f = 0; f < frame_count; f++)
		pmm->stats.total_frames += mm_bit_test(pmm->ram_bits, f);
	/* Withheld RAM leaves the allocator's hands for good: from here on the
	 * RAM bit means "managed by this allocator". */
	for (unsigned i = 0; i < withheld_count; i++) {
		if (withheld[i].length == 0)
			continue;
		uint64_t first = withheld[i].base >> PAGE_SHIFT;
		uint64_t end =
		        ALIGN_UP(withheld[i].base + withheld[i].length, (uint64_t)PAGE_SIZE) >>
		        PAGE_SHIFT;
		for (uint64_t f = first; f < end && f < frame_count; f++)
			mm_bit_clear(pmm->ram_bits, (uint32_t)f);
	}

	/* Slots: stack their free frames, then file each on its list, highest
	 * first so that the lowest addresses are handed out first. */
	uint32_t slot_count = (frame_count + PMM_FRAMES_PER_SLOT - 1) / PMM_FRAMES_PER_SLOT;
	for (uint32_t c = slot_count; c-- > 0;) {
		struct pmm_slot *ch = &pmm->slots[c];
		*ch = (struct pmm_slot){ .free_head = PMM_NONE,
			                 .bump = PMM_FRAMES_PER_SLOT,
			                 .prev = PMM_NONE,
			                 .next = PMM_NONE };
		uint32_t base = c * PMM_FRAMES_PER_SLOT;
		for (uint32_t i = PMM_FRAMES_PER_SLOT; i-- > 0;) {
			uint32_t f = base + i;
			if (f >= frame_count || !mm_bit_test(pmm->ram_bits, f))
				continue;
			pmm->link[f] = ch->free_head;
			ch->free_head = (uint16_t)i;
			ch->free_count++;
		}
		ch->usable = ch->free_count;
		pmm->stats.free_frames += ch->free_count;
		if (ch->free_count == PMM_FRAMES_PER_SLOT) {
			whole_push(pmm, (uint16_t)c);
			pmm->stats.whole_slots++;
		} else if (ch->free_count) {
			list_push(pmm, &pmm->partial_head, (uint16_t)c, PMM_LIST_PARTIAL);
		}
	}
	pmm->stats.reserved_frames = pmm->stats.total_frames - pmm->stats.free_frames;
}

/* Takes one free frame out of the slots (not the cache); returns its frame
 * number, or UINT32_MAX when none is free.  Accounting is the caller's. */
static inline __attribute__((always_inline)) uint32_t take_from_slots(struct pmm *pmm)
{
	uint16_t c = pmm->partial_head;
	if (__builtin_expect(c == PMM_NONE, 0)) {
		/* Break a whole slot: its frames become a bump range. */
		c = whole_pop(pmm);
		if (c == PMM_NONE)
			return UINT32_MAX;
		pmm->stats.whole_slots--;
		struct pmm_slot *ch = &pmm->slots[c];
		ch->free_head = PMM_NONE;
		ch->bump = 0;
		list_push(pmm, &pmm->partial_head, c, PMM_LIST_PARTIAL);
	}
	struct pmm_slot *ch = &pmm->slots[c];
	uint32_t base = (uint32_t)c * PMM_FRAMES_PER_SLOT;
	uint32_t index = ch->free_head;
	if (index != PMM_NONE)
		ch->free_head = pmm->link[base + index];
	else
		index = ch->bump++;
	if (--ch->free_count == 0)
		list_remove(pmm, &pmm->partial_head, c);
	pmm->stats.free_frames--;
	return base + index;
}

/* Puts a free frame back on its slot's stack; a slot that becomes
 * entirely free moves to the whole list. */
static inline __attribute__((always_inline)) void give_to_slot(struct pmm *pmm, uint32_t f)
{
	uint16_t c = (uint16_t)slot_of(f);
	struct pmm_slot *ch = &pmm->slots[c];
	pmm->link[f] = ch->free_head;
	ch->free_head = (uint16_t)(f & FRAME_INDEX_MASK);
	pmm->stats.free_frames++;
	if (++ch->free_count == 1)
		list_push(pmm, &pmm->partial_head, c, PMM_LIST_PARTIAL);
	if (__builtin_expect(ch->free_count == PMM_FRAMES_PER_SLOT, 0)) {
		list_remove(pmm, &pmm->partial_head, c);
		whole_push(pmm, c);
		pmm->stats.whole_slots++;
	}
}

static void drain_all_locked(struct pmm *pmm);

/* The caches are safe only with interrupts off (pmm.h): the slow paths,
 * which every caller reaches within a cache's worth of calls, check. */
static inline void check_irqs_off(const char *call)
{
	MM_ASSERT(mm_irqs_off(),
	          "%s called with interrupts on (the frame allocator's caches "
	          "need them off)",
	          call);
}

paddr_t pmm_alloc_frame_slow(struct pmm *pmm)
{
	check_irqs_off("pmm_alloc_frame");
	/* Refill half the cache in one go, so that the next allocations are
	 * fast again.  The cache is read under the lock: a drain may have
	 * emptied it while this CPU waited. */
	mm_lock_irqs_off(&pmm->lock);
	struct pmm_cache *cache = &pmm->cache[mm_cpu_index()];
	for (bool drained = false; cache->count < PMM_CACHE_SIZE / 2;) {
		uint32_t f = take_from_slots(pmm);
		if (f == UINT32_MAX) {
			/* Out: what every CPU holds in its cache and spare slot
			 * comes back, once, before this call fails. */
			if (drained || cache->count)
				break;
			drain_all_locked(pmm);
			drained = true;
			continue;
		}
		cache->frames[cache->count++] = (paddr_t)f << PAGE_SHIFT;
	}
	paddr_t frame = 0;
	if (cache->count) {
		frame = cache->frames[--cache->count];
		mm_bit_set(pmm->frame_bits, frame >> PAGE_SHIFT);
	}
	mm_unlock_irqs_off(&pmm->lock);
	return frame;
}

static __attribute__((noinline, cold)) bool refuse(struct pmm *pmm, const char *what, paddr_t frame,
                                                   const char *why)
{
	__atomic_fetch_add(&pmm->stats.bad_frees, 1, __ATOMIC_RELAXED);
	kprintf_ratelimited("pmm: refused frees", "pmm: %s(%#x) refused: %s\n", what,
	                    (unsigned)frame, why);
	return false;
}

/* Why 'frame' cannot be freed singly, or NULL. */
static const char *free_problem(const struct pmm *pmm, paddr_t frame)
{
	uint32_t f = frame >> PAGE_SHIFT;
	if (!IS_ALIGNED(frame, PAGE_SIZE))
		return "not page-aligned";
	if (f >= pmm->frame_count || !mm_bit_test(pmm->ram_bits, f))
		return "not RAM managed by the allocator (hole, device or withheld at boot)";
	if (pmm->slots[slot_of(f)].list == PMM_LIST_TAKEN)
		return "part of a 4 MiB slot";
	if (!mm_bit_test(pmm->frame_bits, f))
		return "not allocated (double free?)";
	return NULL;
}

/* A single frame's free refused: 'why' from free_problem, or NULL when the
 * frame looked allocated but another free cleared its bit first. */
static bool refuse_frame(struct pmm *pmm, paddr_t frame, const char *why)
{
	return refuse(pmm, "pmm_free_frame", frame, why ? why : "not allocated (double free?)");
}

/* Spills the older half of this CPU's full cache to the slots; with the
 * lock held. */
static void spill_half(struct pmm *pmm, struct pmm_cache *cache)
{
	for (uint32_t i = 0; i < PMM_CACHE_SIZE / 2; i++)
		give_to_slot(pmm, cache->frames[i] >> PAGE_SHIFT);
	memmove(cache->frames, cache->frames + PMM_CACHE_SIZE / 2,
	        (cache->count - PMM_CACHE_SIZE / 2) * sizeof(paddr_t));
	cache->count -= PMM_CACHE_SIZE / 2;
}

bool pmm_free_frame_slow(struct pmm *pmm, paddr_t frame)
{
	check_irqs_off("pmm_free_frame");
	mm_lock_irqs_off(&pmm->lock);
	const char *why = free_problem(pmm, frame);
	bool freed = false;
	if (!why && mm_bit_test_clear(pmm->frame_bits, frame >> PAGE_SHIFT)) {
		/* The cache was full (unless a drain emptied it meanwhile). */
		struct pmm_cache *cache = &pmm->cache[mm_cpu_index()];
		if (cache->count == PMM_CACHE_SIZE)
			spill_half(pmm, cache);
		cache->frames[cache->count++] = frame;
		freed = true;
	}
	mm_unlock_irqs_off(&pmm->lock);
	if (!freed)
		refuse_frame(pmm, frame, why);
	return freed;
}

static unsigned alloc_entries_locked(struct pmm *pmm, paddr_t *out, unsigned n, uint32_t flags)
{
	struct pmm_cache *cache = &pmm->cache[mm_cpu_index()];
	uint32_t count = cache->count;
	unsigned got = n < count ? n : count;
	for (unsigned i = 0; i < got; i++) {
		paddr_t frame = cache->frames[count - 1 - i];
		mm_bit_set(pmm->frame_bits, frame >> PAGE_SHIFT);
		out[i] = frame | flags;
	}
	cache->count = count - got;
	bool drained = false;
	/* Then slot by slot: a freshly broken slot's bump range hands out
	 * consecutive frames, its stack the rest. */
	while (got < n) {
		if (pmm->partial_head == PMM_NONE) {
			uint32_t f = take_from_slots(pmm); /* breaks a whole slot */
			if (f == UINT32_MAX && !drained) {
				drain_all_locked(pmm); /* the caches and spare slots, once */
				drained = true;
				continue;
			}
			if (f == UINT32_MAX)
				break;
			mm_bit_set(pmm->frame_bits, f);
			out[got++] = (paddr_t)f << PAGE_SHIFT | flags;
			continue;
		}
		uint16_t c = pmm->partial_head;
		struct pmm_slot *ch = &pmm->slots[c];
		uint32_t base = (uint32_t)c * PMM_FRAMES_PER_SLOT;
		unsigned take = n - got < ch->free_count ? n - got : ch->free_count;
		for (unsigned i = 0; i < take; i++) {
			uint32_t index = ch->free_head;
			if (index != PMM_NONE)
				ch->free_head = pmm->link[base + index];
			else
				index = ch->bump++;
			mm_bit_set(pmm->frame_bits, base + index);
			out[got++] = (paddr_t)(base + index) << PAGE_SHIFT | flags;
		}
		ch->free_count = (uint16_t)(ch->free_count - take);
		pmm->stats.free_frames -= take;
		if (ch->free_count == 0)
			list_remove(pmm, &pmm->partial_head, c);
	}
	return got;
}

unsigned pmm_alloc_entries(struct pmm *pmm, paddr_t *out, unsigned n, uint32_t flags)
{
	mm_lock_irqs_off(&pmm->lock);
	unsigned got = alloc_entries_locked(pmm, out, n, flags);
	mm_unlock_irqs_off(&pmm->lock);
	return got;
}

unsigned pmm_alloc_frames(struct pmm *pmm, paddr_t *out, unsigned n)
{
	return pmm_alloc_entries(pmm, out, n, 0);
}

/* The batch free; 'entries' says the low 12 bits are flags to ignore
 * rather than a misalignment to refuse. */
static inline __attribute__((always_inline)) unsigned
free_batch(struct pmm *pmm, const paddr_t *frames, unsigned n, bool entries)
{
	/* Into this CPU's cache while it has room (what a batch frees, the
	 * next batch usually takes), then straight to the slots. */
	mm_lock_irqs_off(&pmm->lock);
	struct pmm_cache *cache = &pmm->cache[mm_cpu_index()];
	unsigned fast = 0;
	uint32_t count = cache->count;
	for (unsigned i = 0; i < n; i++) {
		paddr_t frame = entries ? frames[i] & ~(paddr_t)(PAGE_SIZE - 1) : frames[i];
		uint32_t f = frame >> PAGE_SHIFT;
		if (__builtin_expect((frame & (PAGE_SIZE - 1)) || f >= pmm->frame_count ||
		                             !mm_bit_test_clear(pmm->frame_bits, f),
		                     0)) {
			refuse_frame(pmm, frame, free_problem(pmm, frame));
			continue;
		}
		if (count < PMM_CACHE_SIZE)
			cache->frames[count++] = frame;
		else
			give_to_slot(pmm, f);
		fast++;
	}
	cache->count = count;
	mm_unlock_irqs_off(&pmm->lock);
	return fast;
}

unsigned pmm_free_frames(struct pmm *pmm, const paddr_t *frames, unsigned n)
{
	return free_batch(pmm, frames, n, false);
}

unsigned pmm_free_entries(struct pmm *pmm, const paddr_t *entries, unsigned n)
{
	return free_batch(pmm, entries, n, true);
}

/* Gives CPU 'cpu's cached frames to their slots and its spare slot to the
 * whole list, on behalf of a lock holder. */
static void drain_one(struct pmm *pmm, unsigned cpu)
{
	struct pmm_cache *cache = &pmm->cache[cpu];
	while (cache->count)
		give_to_slot(pmm, cache->frames[--cache->count] >> PAGE_SHIFT);
	uint16_t c = pmm->spare_slot[cpu];
	if (c != PMM_NONE) {
		pmm->spare_slot[cpu] = PMM_NONE;
		pmm->slots[c].free_count = PMM_FRAMES_PER_SLOT;
		whole_push(pmm, c);
		pmm->stats.whole_slots++;
		pmm->stats.free_frames += PMM_FRAMES_PER_SLOT;
	}
}

/* On another CPU, asked by pmm_drain_cache, whose caller holds the lock
 * and waits: this CPU's cache goes to the slots.  The CPUs so asked run
 * at once, hence drain_lock among them (taken by nothing else). */
static void drain_here(void *arg)
{
	struct pmm *pmm = arg;
	mm_irq_flags_t flags = mm_lock(&pmm->drain_lock);
	drain_one(pmm, mm_cpu_index());
	mm_unlock(&pmm->drain_lock, flags);
}

static void drain_all_locked(struct pmm *pmm)
{
	drain_one(pmm, mm_cpu_index());
	mm_call_other_cpus(drain_here, pmm);
}

void pmm_drain_cache(struct pmm *pmm)
{
	mm_lock_irqs_off(&pmm->lock);
	drain_all_locked(pmm);
	mm_unlock_irqs_off(&pmm->lock);
}

paddr_t pmm_alloc_slot_slow(struct pmm *pmm)
{
	uint16_t c;
	check_irqs_off("pmm_alloc_slot");
	mm_lock_irqs_off(&pmm->lock);
	if (pmm->whole_head == PMM_NONE)
		drain_all_locked(pmm);
	c = whole_pop(pmm);
	if (c != PMM_NONE) {
		pmm->slots[c].list = PMM_LIST_TAKEN;
		pmm->slots[c].free_count = 0;
		pmm->stats.whole_slots--;
		pmm->stats.free_frames -= PMM_FRAMES_PER_SLOT;
	}
	mm_unlock_irqs_off(&pmm->lock);
	return c != PMM_NONE ? (paddr_t)c * SLOT_SIZE : 0;
}

/* pmm_free_slot's refusal, out of line: names the reason. */
static __attribute__((noinline, cold)) bool refuse_slot(struct pmm *pmm, paddr_t base)
{
	return refuse(pmm, "pmm_free_slot", base,
	              IS_ALIGNED(base, SLOT_SIZE) ? "not allocated as a 4 MiB slot"
	                                          : "not 4 MiB aligned");
}

bool pmm_free_slot_slow(struct pmm *pmm, paddr_t base)
{
	/* A slot past the end of RAM is never taken whole (its record stays
	 * zeroed: PMM_LIST_NONE), and with 32-bit physical addresses every
	 * slot number is in the array.  A taken slot belongs to its caller:
	 * its record can be read without the lock. */
	uint32_t c = slot_of(base >> PAGE_SHIFT);
	if (!IS_ALIGNED(base, SLOT_SIZE) || c >= PMM_MAX_SLOTS ||
	    pmm->slots[c].list != PMM_LIST_TAKEN)
		return refuse_slot(pmm, base);
	check_irqs_off("pmm_free_slot");
	mm_lock_irqs_off(&pmm->lock);
	pmm->slots[c].free_count = PMM_FRAMES_PER_SLOT;
	whole_push(pmm, (uint16_t)c);
	pmm->stats.whole_slots++;
	pmm->stats.free_frames += PMM_FRAMES_PER_SLOT;
	mm_unlock_irqs_off(&pmm->lock);
	return true;
}

void pmm_split_slot(struct pmm *pmm, paddr_t base)
{
	uint32_t c = slot_of(base >> PAGE_SHIFT);
	mm_lock_irqs_off(&pmm->lock);
	MM_ASSERT(IS_ALIGNED(base, SLOT_SIZE) && c < PMM_MAX_SLOTS &&
	                  pmm->slots[c].list == PMM_LIST_TAKEN,
	          "pmm_split_slot(%#x): not a slot allocated whole", (unsigned)base);
	struct pmm_slot *ch = &pmm->slots[c];
	ch->list = PMM_LIST_NONE; /* every frame allocated singly, none stacked */
	ch->free_head = PMM_NONE;
	ch->bump = PMM_FRAMES_PER_SLOT;
	memset(&pmm->frame_bits[c * (PMM_FRAMES_PER_SLOT / 32)], 0xff, PMM_FRAMES_PER_SLOT / 8);
	mm_unlock_irqs_off(&pmm->lock);
}

bool pmm_frame_allocated(const struct pmm *pmm, paddr_t frame)
{
	uint32_t f = frame >> PAGE_SHIFT;
	if (f >= pmm->frame_count || !mm_bit_test(pmm->ram_bits, f))
		return false;
	return mm_bit_test(pmm->frame_bits, f) || pmm->slots[slot_of(f)].list == PMM_LIST_TAKEN;
}

uint32_t pmm_free_count(const struct pmm *pmm)
{
	uint32_t n = __atomic_load_n(&pmm->stats.free_frames, __ATOMIC_RELAXED);
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		n += __atomic_load_n(&pmm->cache[cpu].count, __ATOMIC_RELAXED);
		if (__atomic_load_n(&pmm->spare_slot[cpu], __ATOMIC_RELAXED) != PMM_NONE)
			n += PMM_FRAMES_PER_SLOT;
	}
	return n;
}

void pmm_get_stats(const struct pmm *pmm, struct pmm_stats *out)
{
	*out = pmm->stats;
	out->free_frames = pmm_free_count(pmm);
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		out->whole_slots += pmm->spare_slot[cpu] != PMM_NONE;
}

static bool frame_is_free(const struct pmm *pmm, uint32_t f)
{
	return mm_bit_test(pmm->ram_bits, f) && !mm_bit_test(pmm->frame_bits, f) &&
	       pmm->slots[slot_of(f)].list != PMM_LIST_TAKEN;
}

static unsigned check_slot(const struct pmm *pmm, uint32_t c, const uint16_t *cached,
                           uint32_t *free_total)
{
	const struct pmm_slot *ch = &pmm->slots[c];
	uint32_t base = c * PMM_FRAMES_PER_SLOT;
	uint32_t free_frames = 0, ram = 0;
	unsigned bad = 0;
	for (uint32_t i = 0; i < PMM_FRAMES_PER_SLOT && base + i < pmm->frame_count; i++) {
		ram += mm_bit_test(pmm->ram_bits, base + i);
		free_frames += frame_is_free(pmm, base + i);
		if (ch->list == PMM_LIST_TAKEN && mm_bit_test(pmm->frame_bits, base + i)) {
			kprintf("pmm_check: frame %u of slot %u (taken whole) marked single\n", i,
			        c);
			bad++;
		}
	}
	*free_total += free_frames;
	if (ram != ch->usable) {
		kprintf("pmm_check: slot %u: %u RAM frames, usable says %u\n", c, ram, ch->usable);
		bad++;
	}
	if (ch->list == PMM_LIST_WHOLE || ch->list == PMM_LIST_SPARE) {
		if (free_frames != PMM_FRAMES_PER_SLOT || cached[c]) {
			kprintf("pmm_check: %s slot %u: %u free, %u cached\n",
			        ch->list == PMM_LIST_WHOLE ? "whole" : "spare", c, free_frames,
			        cached[c]);
			bad++;
		}
		return bad;
	}
	if (ch->list == PMM_LIST_TAKEN)
		return bad;
	/* The stack, the bump range and the cache hold exactly the free frames. */
	uint32_t counted = PMM_FRAMES_PER_SLOT - ch->bump;
	for (uint32_t i = ch->bump; i < PMM_FRAMES_PER_SLOT; i++)
		if (!frame_is_free(pmm, base + i)) {
			kprintf("pmm_check: slot %u bump frame %u is not free\n", c, i);
			bad++;
		}
	for (uint16_t i = ch->free_head; i != PMM_NONE; i = pmm->link[base + i]) {
		if (++counted > PMM_FRAMES_PER_SLOT) {
			kprintf("pmm_check: slot %u free stack loops\n", c);
			return bad + 1;
		}
		if (!frame_is_free(pmm, base + i)) {
			kprintf("pmm_check: slot %u stacked frame %u is not free\n", c, i);
			bad++;
		}
	}
	if (counted != ch->free_count || counted + cached[c] != free_frames) {
		kprintf("pmm_check: slot %u: %u stacked, %u cached, %u free, free_count %u\n", c,
		        counted, cached[c], free_frames, ch->free_count);
		bad++;
	}
	if ((ch->list == PMM_LIST_PARTIAL) != (ch->free_count > 0)) {
		kprintf("pmm_check: slot %u on list %u with %u free\n", c, ch->list,
		        ch->free_count);
		bad++;
	}
	return bad;
}

unsigned pmm_check(const struct pmm *pmm)
{
	static uint16_t cached[PMM_MAX_SLOTS];
	unsigned bad = 0;
	memset(cached, 0, sizeof(cached));
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		const struct pmm_cache *cache = &pmm->cache[cpu];
		for (uint32_t i = 0; i < cache->count; i++) {
			uint32_t f = cache->frames[i] >> PAGE_SHIFT;
			if (f >= pmm->frame_count || !frame_is_free(pmm, f)) {
				kprintf("pmm_check: frame %#x cached by CPU %u is not free\n",
				        (unsigned)cache->frames[i], cpu);
				bad++;
				continue;
			}
			cached[slot_of(f)]++;
		}
	}
	uint32_t free_total = 0, whole = 0, partial = 0;
	uint32_t slot_count = (pmm->frame_count + PMM_FRAMES_PER_SLOT - 1) / PMM_FRAMES_PER_SLOT;
	for (uint32_t c = 0; c < slot_count; c++)
		bad += check_slot(pmm, c, cached, &free_total);
	for (uint16_t c = pmm->whole_head; c != PMM_NONE; c = pmm->slots[c].next)
		if (++whole > slot_count || pmm->slots[c].list != PMM_LIST_WHOLE) {
			kprintf("pmm_check: whole list corrupt at slot %u\n", c);
			return bad + 1;
		}
	for (uint16_t c = pmm->partial_head; c != PMM_NONE; c = pmm->slots[c].next)
		if (++partial > slot_count || pmm->slots[c].list != PMM_LIST_PARTIAL) {
			kprintf("pmm_check: partial list corrupt at slot %u\n", c);
			return bad + 1;
		}
	uint32_t in_caches = 0, spares = 0;
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		in_caches += pmm->cache[cpu].count;
		uint16_t c = pmm->spare_slot[cpu];
		if (c == PMM_NONE)
			continue;
		spares++;
		in_caches += PMM_FRAMES_PER_SLOT;
		if (c >= slot_count || pmm->slots[c].list != PMM_LIST_SPARE) {
			kprintf("pmm_check: CPU %u's spare slot %u is not marked spare\n", cpu, c);
			bad++;
		}
	}
	uint32_t marked_spare = 0;
	for (uint32_t c = 0; c < slot_count; c++)
		marked_spare += pmm->slots[c].list == PMM_LIST_SPARE;
	if (marked_spare != spares) {
		kprintf("pmm_check: %u slots marked spare, %u held as spares\n", marked_spare,
		        spares);
		bad++;
	}
	if (free_total != pmm->stats.free_frames + in_caches || whole != pmm->stats.whole_slots) {
		kprintf("pmm_check: %u free frames and %u whole slots counted, stats say %u and "
		        "%u\n",
		        free_total, whole, pmm->stats.free_frames + in_caches,
		        pmm->stats.whole_slots);
		bad++;
	}
	return bad;
}

/* The backend's operations count their frames for fault injection
 * (mm/inject.h): an injected failure is "no frame".  Off, the test is one
 * comparison; the counting is out of line, so that the operations need no
 * frame of their own. */
static __attribute__((noinline, cold)) paddr_t injected_frame(void *pmm)
{
	return mm_inject_slow(&mm_inject_frames) ? 0 : pmm_alloc_frame(pmm);
}

static __attribute__((noinline, cold)) paddr_t injected_slot(void *pmm)
{
	return mm_inject_slow(&mm_inject_frames) ? 0 : pmm_alloc_slot(pmm);
}

paddr_t pmm_op_alloc_frame(void *pmm)
{
	if (__builtin_expect(mm_inject_frames.armed, 0))
		return injected_frame(pmm);
	return pmm_alloc_frame(pmm);
}

void pmm_op_free_frame(void *pmm, paddr_t frame)
{
	pmm_free_frame(pmm, frame);
}

unsigned pmm_op_alloc_entries(void *pmm, paddr_t *entries, unsigned n, uint32_t flags)
{
	if (__builtin_expect(mm_inject_frames.armed, 0)) { /* a frame at a time */
		unsigned allowed = 0;
		while (allowed < n && !mm_inject(&mm_inject_frames))
			allowed++;
		n = allowed;
	}
	return n ? pmm_alloc_entries(pmm, entries, n, flags) : 0;
}

void pmm_op_free_entries(void *pmm, const paddr_t *entries, unsigned n)
{
	pmm_free_entries(pmm, entries, n);
}

paddr_t pmm_op_alloc_slot(void *pmm)
{
	if (__builtin_expect(mm_inject_frames.armed, 0))
		return injected_slot(pmm);
	return pmm_alloc_slot(pmm);
}

void pmm_op_free_slot(void *pmm, paddr_t base)
{
	pmm_free_slot(pmm, base);
}

void pmm_op_split_slot(void *pmm, paddr_t base)
{
	pmm_split_slot(pmm, base);
}
