/*
 * tests/target/kmalloc_test.c - suite "kmalloc": every rule of the API in
 * mm/kmalloc.h, every size class's boundaries, alignment over every class,
 * each bad free reported and survived, statistics that add up, and a
 * million random operations with every block's contents checked before it
 * is freed.  Uses the public interface (and, to break the heap on purpose,
 * mm/kheap.h), so the same file runs on target and on the host (under ASan
 * and UBSan).
 */
#include "mm/bitops.h"
#include "mm/kheap.h"
#include "mm/kmalloc_internal.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

_Static_assert(Q == KMALLOC_ALIGN, "the quantum (mm/kmalloc_internal.h) is the alignment");

static uint64_t rng_state;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static struct kmalloc_stats s0, s1; /* before and after, for the cases */

/*
 * Blocks a case holds in an array of its own: hold_blocks() clears the
 * array and has every block still in it freed when the case ends, however
 * it ends (an ASSERT half-way through a fill must not leave the rest of the
 * suite short of memory).  The case sets an entry to NULL when it frees it.
 */
struct held_blocks {
	void **blocks;
	unsigned count;
};

static void free_held_blocks(void *arg)
{
	struct held_blocks *h = arg;
	for (unsigned i = 0; i < h->count; i++) {
		kfree(h->blocks[i]);
		h->blocks[i] = NULL;
	}
}

static void hold_blocks_in(struct ktest *t, struct held_blocks *h, void **blocks, unsigned count)
{
	*h = (struct held_blocks){ blocks, count };
	for (unsigned i = 0; i < count; i++)
		blocks[i] = NULL;
	ktest_defer(t, free_held_blocks, h);
}

/* Declares held_<array>, the record of 'array', and holds its blocks. */
#define hold_blocks(t, array)                   \
	static struct held_blocks held_##array; \
	hold_blocks_in(t, &held_##array, (void **)(array), sizeof(array) / sizeof((array)[0]))

/* What the kernel heap could still have in use at once: the memory free or
 * held idle, and no more than half its arena's limit (a small arena
 * fragments: blocks of many sizes do not pack it full). */
static uint64_t heap_budget(void)
{
	struct kmalloc_stats s;
	kmalloc_stats(&s);
	uint64_t free = test_free_bytes();
	if (free < UINT64_MAX - s.idle_bytes)
		free += s.idle_bytes;
	uint64_t half_arena = kernel_pageheap.arena.limit / 2;
	return free < half_arena ? free : half_arena;
}

static void expect_heap_ok(struct ktest *t)
{
	EXPECT_EQ(t, kheap_check(), 0);
}

/* Fills a block with a pattern derived from its address and a tag. */
static void fill(void *p, size_t n, uint32_t tag)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(((uintptr_t)p >> 3) + i * 7 + tag);
}

/* Bytes of [p, p + n) that differ from fill(filled_at, n, tag): the block
 * may have moved since it was filled. */
static size_t check_moved_fill(const void *p, const void *filled_at, size_t n, uint32_t tag)
{
	const uint8_t *b = p;
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += b[i] != (uint8_t)(((uintptr_t)filled_at >> 3) + i * 7 + tag);
	return bad;
}

static size_t check_fill(const void *p, size_t n, uint32_t tag)
{
	return check_moved_fill(p, p, n, tag);
}

static void zero_size_gives_unique_freeable_pointers(struct ktest *t)
{
	kmalloc_stats(&s0);
	void *a = kmalloc(0), *b = kmalloc(0);
	ASSERT_NE(t, (uintptr_t)a, 0);
	ASSERT_NE(t, (uintptr_t)b, 0);
	EXPECT_NE(t, (uintptr_t)a, (uintptr_t)b);
	EXPECT_GE(t, ksize(a), 1);
	kfree(a);
	kfree(b);
	kfree(NULL); /* does nothing */
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees);
	EXPECT_EQ(t, s1.frees, s0.frees + 2);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	expect_heap_ok(t);
}

static void class_boundaries(struct ktest *t)
{
	unsigned n = kmalloc_class_count(), bad_class = 0, bad_waste = 0, bad_size = 0;
	ASSERT_GE(t, n, 40);
	uint32_t prev = 0;
	for (unsigned c = 1; c <= n; c++) {
		uint32_t size = kmalloc_class_size(c);
		bad_class += size <= prev || size % Q != 0;
		/* The first and last byte the class serves map to it. */
		bad_class += kmalloc_class_of(prev + 1) != c || kmalloc_class_of(size) != c;
		if (c < n)
			bad_class += kmalloc_class_of(size + 1) != c + 1;
		/* Above 8 quanta no request wastes more than 1/8 of its block up
		 * to a page, nor more than a fifth above. */
		if (prev >= 8 * Q)
			bad_waste +=
			        (uint64_t)(size - (prev + 1)) * (prev < PAGE_SIZE ? 8 : 5) > size;
		void *a = kmalloc(prev + 1), *b = kmalloc(size);
		bad_size += !a || !b || ksize(a) != size || ksize(b) != size;
		kfree(a);
		kfree(b);
		prev = size;
	}
	EXPECT_EQ(t, prev, KMALLOC_MAX_SMALL);
	EXPECT_EQ(t, bad_class, 0);
	EXPECT_EQ(t, bad_waste, 0);
	EXPECT_EQ(t, bad_size, 0);
	ktest_note(t, "%u classes from %u to %u bytes", n, kmalloc_class_size(1), prev);
	expect_heap_ok(t);
}

static void alignment_over_every_class(struct ktest *t)
{
	unsigned misaligned = 0, short_blocks = 0;
	void *held[8];
	for (unsigned c = 1; c <= kmalloc_class_count(); c++) {
		size_t size = kmalloc_class_size(c);
		for (unsigned i = 0; i < 8; i++) {
			held[i] = kmalloc(size - (i % 2) * (size > Q ? Q - 1 : 0));
			if (!held[i]) {
				short_blocks++;
				continue;
			}
			misaligned += (uintptr_t)held[i] % Q != 0;
			short_blocks += ksize(held[i]) < size - (i % 2) * (size > Q ? Q - 1 : 0);
			fill(held[i], ksize(held[i]), c);
		}
		for (unsigned i = 0; i < 8; i++)
			if (held[i]) {
				short_blocks += check_fill(held[i], ksize(held[i]), c) != 0;
				kfree(held[i]);
			}
	}
	EXPECT_EQ(t, misaligned, 0);
	EXPECT_EQ(t, short_blocks, 0);
	expect_heap_ok(t);
}

static void large_blocks_are_whole_pages(struct ktest *t)
{
	kmalloc_stats(&s0);
	static const size_t sizes[] = { KMALLOC_MAX_SMALL + 1, 40000, 1 << 20, (3 << 20) + 5 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = kmalloc(sizes[i]);
		ASSERT_NE(t, (uintptr_t)p, 0);
		EXPECT_EQ(t, (uintptr_t)p % PAGE_SIZE, 0);
		EXPECT_GE(t, ksize(p), sizes[i]);
		EXPECT_LT(t, ksize(p), sizes[i] + PAGE_SIZE);
		p[0] = 1;
		p[sizes[i] - 1] = 2;
		kfree(p);
	}
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	EXPECT_EQ(t, s1.large_in_use_bytes, s0.large_in_use_bytes);
	expect_heap_ok(t);
}

static void impossible_sizes_return_null(struct ktest *t)
{
	kmalloc_stats(&s0);
	EXPECT_EQ(t, (uintptr_t)kmalloc(SIZE_MAX), 0);
	EXPECT_EQ(t, (uintptr_t)kmalloc(SIZE_MAX - 100), 0);
	EXPECT_EQ(t, (uintptr_t)kmalloc((size_t)kernel_pageheap.arena.limit + 1), 0);
	EXPECT_EQ(t, (uintptr_t)kcalloc(SIZE_MAX / 2, 3), 0); /* overflows */
	EXPECT_EQ(t, (uintptr_t)kcalloc(3, SIZE_MAX / 2), 0);
	EXPECT_EQ(t, (uintptr_t)kmemalign(64, SIZE_MAX - 10), 0);
	void *p = kmalloc(16);
	EXPECT_EQ(t, (uintptr_t)krealloc(p, SIZE_MAX - 4), 0); /* p untouched */
	EXPECT_EQ(t, ksize(p), kmalloc_class_size(kmalloc_class_of(16)));
	kfree(p);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	EXPECT_GE(t, s1.failures, s0.failures + 6);
	expect_heap_ok(t);
}

static void kcalloc_returns_zeroed_memory(struct ktest *t)
{
	static const size_t sizes[] = { 1, 24, 200, 4000, 32768, 100000 };
	unsigned nonzero = 0;
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Dirty a block of the size, free it, then ask for zeroes. */
		uint8_t *d = kmalloc(sizes[i]);
		ASSERT_NE(t, (uintptr_t)d, 0);
		memset(d, 0xee, sizes[i]);
		kfree(d);
		uint8_t *z = kcalloc(sizes[i], 1);
		ASSERT_NE(t, (uintptr_t)z, 0);
		for (size_t j = 0; j < sizes[i]; j++)
			nonzero += z[j] != 0;
		kfree(z);
	}
	uint32_t *arr = kcalloc(1000, sizeof(uint32_t));
	ASSERT_NE(t, (uintptr_t)arr, 0);
	for (unsigned j = 0; j < 1000; j++)
		nonzero += arr[j] != 0;
	kfree(arr);
	EXPECT_EQ(t, nonzero, 0);
	expect_heap_ok(t);
}

static void krealloc_keeps_the_common_prefix(struct ktest *t)
{
	kmalloc_stats(&s0);
	uint8_t *p = krealloc(NULL, 10); /* kmalloc */
	ASSERT_NE(t, (uintptr_t)p, 0);
	fill(p, 10, 1);
	size_t sizes[] = { 100, 5000, 70000, 300, 7, 65536 };
	size_t have = 10;
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *q = krealloc(p, sizes[i]);
		ASSERT_NE(t, (uintptr_t)q, 0);
		size_t keep = have < sizes[i] ? have : sizes[i];
		/* the prefix moved with the block: check it against its old tag */
		size_t bad = 0;
		for (size_t j = 0; j < keep; j++)
			bad += q[j] != (uint8_t)(((uintptr_t)p >> 3) + j * 7 + 1);
		EXPECT_EQ(t, bad, 0);
		EXPECT_GE(t, ksize(q), sizes[i]);
		/* re-tag the whole block for the next step */
		for (size_t j = 0; j < sizes[i]; j++)
			q[j] = (uint8_t)(((uintptr_t)q >> 3) + j * 7 + 1);
		p = q;
		have = sizes[i];
	}
	EXPECT_EQ(t, (uintptr_t)krealloc(p, 0), 0); /* frees p */
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees);
	expect_heap_ok(t);
}

/* A large block with free pages after it grows where it is, contents and
 * all; one whose next pages are taken moves. */
static void krealloc_grows_large_blocks_in_place(struct ktest *t)
{
	kmalloc_stats(&s0);
	uint8_t *p = kmalloc(40000);
	ASSERT_NE(t, (uintptr_t)p, 0);
	fill(p, 40000, 3);
	/* Free pages after p: a block there, freed again. */
	uint8_t *after = kmalloc(200000);
	ASSERT_NE(t, (uintptr_t)after, 0);
	bool adjacent = after == p + ksize(p);
	kfree(after);
	uint8_t *q = krealloc(p, 150000);
	ASSERT_NE(t, (uintptr_t)q, 0);
	if (adjacent)
		EXPECT_EQ(t, (uintptr_t)q, (uintptr_t)p);
	else
		ktest_note(t, "the block's neighbour was not free: it moved");
	EXPECT_EQ(t, check_moved_fill(q, p, 40000, 3), 0);
	EXPECT_GE(t, ksize(q), 150000);
	memset(q + 40000, 0x77, 110000); /* the new pages are usable */
	expect_heap_ok(t);

	/* The pages after it taken: growing moves it, contents and all. */
	uint8_t *pin = kmalloc(200000);
	ASSERT_NE(t, (uintptr_t)pin, 0);
	fill(q, 150000, 4);
	uint8_t *r = krealloc(q, 400000);
	ASSERT_NE(t, (uintptr_t)r, 0);
	EXPECT_EQ(t, check_moved_fill(r, q, 150000, 4), 0);
	kfree(pin);
	kfree(r);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	expect_heap_ok(t);
}

static void kmemalign_takes_powers_of_two(struct ktest *t)
{
	kmalloc_stats(&s0);
	unsigned misaligned = 0, failed = 0, too_large = 0;
	/* A block may take its size and its alignment: half the budget leaves
	 * room for the rest of the heap. */
	uint64_t room = heap_budget() / 2;
	for (size_t align = 8; align <= (4u << 20); align *= 2) {
		size_t sizes[] = { 1, align / 2 + 1, align + 3, 3 * align };
		for (unsigned i = 0; i < 4; i++) {
			if (sizes[i] > (4u << 20) + 8) /* fits a 16 MiB machine */
				continue;
			if (sizes[i] + align > room) {
				too_large++;
				continue;
			}
			uint8_t *p = kmemalign(align, sizes[i]);
			if (!p) {
				failed++;
				continue;
			}
			misaligned += (uintptr_t)p % align != 0;
			failed += ksize(p) < sizes[i];
			p[0] = 1;
			p[sizes[i] - 1] = 2;
			kfree(p);
		}
	}
	EXPECT_EQ(t, misaligned, 0);
	EXPECT_EQ(t, failed, 0);
	if (too_large)
		ktest_note(t, "%u requests larger than this heap's room (%llu KiB) left out",
		           too_large, (unsigned long long)(room >> 10));
	/* Anything else is refused. */
	EXPECT_EQ(t, (uintptr_t)kmemalign(0, 16), 0);
	EXPECT_EQ(t, (uintptr_t)kmemalign(4, 16), 0);
	EXPECT_EQ(t, (uintptr_t)kmemalign(24, 16), 0);
	EXPECT_EQ(t, (uintptr_t)kmemalign(4096 + 8, 16), 0);
	EXPECT_EQ(t, (uintptr_t)kmemalign((size_t)KMALLOC_MAX_ALIGN * 2, 16), 0);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	expect_heap_ok(t);
}

static void bad_frees_are_reported_and_survived(struct ktest *t)
{
	kmalloc_stats(&s0);
	uint8_t *small = kmalloc(48), *large = kmalloc(100000), *freed = kmalloc(64);
	uint64_t on_stack = 0;
	ASSERT_NE(t, (uintptr_t)small, 0);
	ASSERT_NE(t, (uintptr_t)large, 0);
	kfree(freed);

	kfree(&on_stack);         /* never handed out: not a heap pointer */
	kfree(small + 8);         /* interior of a small block */
	kfree(small + 1);         /* misaligned interior */
	kfree(large + PAGE_SIZE); /* interior of a large block */
	kfree(freed);             /* double free */
	kfree(large + 200000);    /* past the block: free heap memory or unused */
	EXPECT_EQ(t, ksize(freed), 0);
	EXPECT_EQ(t, (uintptr_t)krealloc(small + 16, 100), 0);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees + 8);
	expect_heap_ok(t);

	/* Nothing was handed out twice: the live blocks stay intact and new
	 * ones are distinct from them and from each other. */
	memset(small, 0x5a, 48);
	enum { N = 200 };
	static uint8_t *fresh[N];
	unsigned clash = 0;
	for (unsigned i = 0; i < N; i++) {
		fresh[i] = kmalloc(48 + (i % 3) * 8);
		clash += fresh[i] == small;
		memset(fresh[i], 0xa5, 48);
	}
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = i + 1; j < N; j++)
			clash += fresh[i] == fresh[j];
	size_t changed = 0;
	for (unsigned i = 0; i < 48; i++)
		changed += small[i] != 0x5a;
	EXPECT_EQ(t, clash, 0);
	EXPECT_EQ(t, changed, 0);
	for (unsigned i = 0; i < N; i++)
		kfree(fresh[i]);
	kfree(small);
	kfree(large);
	kfree(small); /* and once more, now that it is free */
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees + 9);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	expect_heap_ok(t);
}

/* kfree finds a block by its live bit alone: every offset inside a small
 * block, and the first byte past a large one, must be refused the same. */
static void interior_pointers_at_every_offset_are_refused(struct ktest *t)
{
	static const size_t sizes[] = { Q, 3 * Q, 48, 136, 1040, 5000 };
	kmalloc_stats(&s0);
	unsigned calls = 0;
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t *p = kmalloc(sizes[k]), *next = kmalloc(sizes[k]);
		ASSERT_NE(t, (uintptr_t)p, 0);
		size_t usable = ksize(p);
		fill(p, usable, 1);
		/* the first and last quantum inside, the middle, and odd bytes */
		size_t offsets[] = { Q, usable / 2 & ~(size_t)(Q - 1), usable - Q, 1, usable - 1 };
		for (unsigned i = 0; i < 5; i++)
			if (offsets[i] && offsets[i] < usable) {
				kfree(p + offsets[i]);
				calls++;
			}
		EXPECT_EQ(t, check_fill(p, usable, 1), 0);
		EXPECT_EQ(t, ksize(p), usable);
		kfree(p);
		kfree(next);
	}
	uint8_t *large = kmalloc(3 * PAGE_SIZE);
	ASSERT_NE(t, (uintptr_t)large, 0);
	kfree(large + PAGE_SIZE + Q);
	kfree(large + 2 * PAGE_SIZE);
	calls += 2;
	kfree(large);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees + calls);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	expect_heap_ok(t);
}

/* kheap_check run with its report captured: the problems it counted, the
 * report in check_report. */
static char check_report[4096];

static int check_and_capture(void)
{
	console_capture_start(check_report, sizeof(check_report));
	int problems = kheap_check();
	console_capture_stop();
	return problems;
}

/* The checker finds the corruption and says what it is. */
#define EXPECT_CHECK_DESCRIBES(t, phrase)                              \
	do {                                                           \
		EXPECT_GE(t, check_and_capture(), 1);                  \
		EXPECT_TRUE(t, test_contains(check_report, phrase));   \
		if (!test_contains(check_report, phrase))              \
			ktest_note(t, "report: %.300s", check_report); \
	} while (0)

/* The first free span in the page heap's bins, or NULL. */
static struct span *some_free_span(void)
{
	for (unsigned fl = 0; fl < PH_FL_COUNT; fl++)
		for (unsigned sl = 0; sl < PH_SL_COUNT; sl++)
			if (kernel_pageheap.bins[fl][sl])
				return kernel_pageheap.bins[fl][sl];
	return NULL;
}

/* kheap_check finds each kind of metadata broken and names what it found
 * (a span's free list, its counters, a page word, a live bit, a CPU list's
 * count, a page-heap bin); the heap is whole again once each is put back. */
static void heap_check_describes_each_corruption(struct ktest *t)
{
	struct arena *a = &kernel_pageheap.arena;
	kmalloc_trim();
	/* A span of 40-byte objects with one held and some back on its own
	 * free list (kmalloc_drain takes them off the CPU lists). */
	void *held = kmalloc(40), *freed = kmalloc(40);
	ASSERT_NE(t, (uintptr_t)held, 0);
	ASSERT_NE(t, (uintptr_t)freed, 0);
	struct span *s = ph_lookup(&kernel_pageheap, (uintptr_t)held);
	ASSERT_TRUE(t, s && s == ph_lookup(&kernel_pageheap, (uintptr_t)freed));
	kfree(freed);
	kmalloc_drain();
	void **link = s->small.free_objects;
	ASSERT_NE(t, (uintptr_t)link, 0);
	expect_heap_ok(t);

	/* A free-list link inside an object, stored as kfree stores links: in
	 * the span and on a quantum, so that only the checker's division
	 * tells it from a good one. */
	void *saved_link = *link;
	link_store(link, (char *)held + Q);
	EXPECT_CHECK_DESCRIBES(t, "free list holds");
	*link = saved_link;
	expect_heap_ok(t);

	/* A span's count of objects in use. */
	s->small.objects_in_use++;
	EXPECT_CHECK_DESCRIBES(t, "in use by count");
	s->small.objects_in_use--;
	expect_heap_ok(t);

	/* A page that no longer names its CPU list: kfree would refuse the
	 * block. */
	struct arena_page *page = &a->pages[((uintptr_t)held - a->start) / PAGE_SIZE];
	uintptr_t saved_word = page->cpu_list;
	EXPECT_NE(t, saved_word, 0);
	page->cpu_list = 0;
	EXPECT_CHECK_DESCRIBES(t, "names CPU list");
	page->cpu_list = saved_word;
	expect_heap_ok(t);

	/* A live bit inside the block would let kfree take an interior
	 * pointer: the check counts the bits against the live objects. */
	uint32_t stray = (uint32_t)(((uintptr_t)held + Q - a->start) / Q);
	mm_bit_set(a->live_bits, stray);
	EXPECT_CHECK_DESCRIBES(t, "live bits set");
	mm_bit_clear(a->live_bits, stray);
	expect_heap_ok(t);

	/* This CPU's list of the class holding a live object (interrupts off:
	 * a handler's kmalloc would pop it), then its top out of its slots
	 * (not with kmalloc_debug: the lists have no room). */
	struct cpu_list *list = my_list(s->small.size_class);
	if (!kmalloc_debug_flags()) {
		mm_irq_flags_t flags = mm_irq_save();
		*list->stack.top++ = held;
		EXPECT_CHECK_DESCRIBES(t, "is live");
		list->stack.top--;
		void **top = list->stack.top;
		list->stack.top = list->stack.end + 1;
		EXPECT_CHECK_DESCRIBES(t, "list's slots");
		list->stack.top = top;
		mm_irq_restore(flags);
		expect_heap_ok(t);
	}

	/* The class's transfer stack holding a live object, then more than
	 * its slots (not with kmalloc_debug: it has none). */
	struct central *c = &central[s->small.size_class];
	if (!kmalloc_debug_flags()) {
		uint32_t parked = c->transfer_count;
		ASSERT_LE(t, parked + 1, c->transfer_max);
		c->transfer[parked] = held;
		c->transfer_count = parked + 1;
		EXPECT_CHECK_DESCRIBES(t, "transfer stack, class");
		c->transfer_count = c->transfer_max + 1;
		EXPECT_CHECK_DESCRIBES(t, "transfer stack holds");
		c->transfer_count = parked;
		expect_heap_ok(t);
	}

	/* A free span filed under another bin than its size's. */
	struct span *f = some_free_span();
	if (f) {
		uint16_t bin = f->bin;
		f->bin = (uint16_t)(bin ^ 1);
		EXPECT_CHECK_DESCRIBES(t, "belongs in");
		f->bin = bin;
		expect_heap_ok(t);
	} else {
		ktest_note(t, "no free span in the page heap: its bins left alone");
	}
	kfree(held);
}

/* A write after free over a free object's link, as a caller that kept
 * its pointer would make: the list is cut there with one report naming
 * the link's address, nothing is handed out from beyond it, and the
 * objects lost with the rest of the list are counted and never reused. */
/* A span that lost objects to a broken link never goes back to the page
 * heap, yet stays listed while it has free objects: smaller classes would
 * borrow from it for good, and later suites count on each class serving its
 * own objects (restart's sequences, for one).  The case takes the span's
 * other objects and keeps them, so that it is left full and off the lists. */
static void keep_the_rest_of(struct ktest *t, struct span *s, size_t size)
{
	enum { TRIES = 8192 };
	static void *others[TRIES];
	unsigned kept = 0, other = 0;
	uint32_t want = s->small.object_count - s->small.abandoned;
	while (kept < want && other < TRIES) {
		void *p = kmalloc(size);
		ASSERT_NE(t, (uintptr_t)p, 0);
		if (ph_lookup(&kernel_pageheap, (uintptr_t)p) == s)
			kept++; /* never freed */
		else
			others[other++] = p;
	}
	for (unsigned i = 0; i < other; i++)
		kfree(others[i]);
	kmalloc_drain();
	EXPECT_EQ(t, kept, want);
	EXPECT_FALSE(t, s->small.listed);
	expect_heap_ok(t);
}

static void a_broken_free_list_is_cut_not_followed(struct ktest *t)
{
	enum { N = 6, TAKES = 64 };
	kmalloc_trim();
	void *held[N];
	for (unsigned i = 0; i < N; i++)
		ASSERT_NE(t, (uintptr_t)(held[i] = kmalloc(40)), 0);
	struct span *s = ph_lookup(&kernel_pageheap, (uintptr_t)held[0]);
	for (unsigned i = 1; i < N; i++)
		ASSERT_TRUE(t, s == ph_lookup(&kernel_pageheap, (uintptr_t)held[i]));
	for (unsigned i = 1; i < N; i++)
		kfree(held[i]);
	kmalloc_drain(); /* back on the span's own list */
	size_t held_size = ksize(held[0]);
	struct kmalloc_stats before;
	kmalloc_stats(&before);

	/* Links are not stored in the clear: none reads as an address in the
	 * span. */
	void **head = s->small.free_objects;
	ASSERT_NE(t, (uintptr_t)head, 0);
	uint32_t listed = 0, clear = 0;
	for (void **o = head; o && listed <= s->small.object_count; o = link_load(o)) {
		listed++;
		clear += *(uintptr_t *)o - s->start < (uintptr_t)s->npages * PAGE_SIZE;
	}
	EXPECT_GE(t, listed, N - 1);
	EXPECT_EQ(t, clear, 0);
	expect_heap_ok(t);

	*(volatile uintptr_t *)head = 0x41414141;
	char report[512];
	console_capture_start(report, sizeof(report));
	/* Until the head comes back: the list is followed past it on the way
	 * (the CPU list hands its objects out last in, first out). */
	void *got[TAKES];
	unsigned taken = 0, outside = 0, head_handed = 0;
	while (taken < TAKES && !head_handed) {
		got[taken] = kmalloc(40);
		outside += !got[taken] || got[taken] == (void *)0x41414141;
		head_handed += got[taken++] == (void *)head;
	}
	console_capture_stop();
	EXPECT_NE(t, (uintptr_t)s->small.free_objects, (uintptr_t)head);
	EXPECT_EQ(t, outside, 0);
	char want[96];
	ksnprintf(want, sizeof(want), "broken free list in span %p (class", (void *)s->start);
	EXPECT_TRUE(t, test_contains(report, want));
	ksnprintf(want, sizeof(want), "link at %p decodes to", (void *)head);
	EXPECT_TRUE(t, test_contains(report, want));
	if (!test_contains(report, want))
		ktest_note(t, "report: %.300s", report);

	/* Every object handed out is a whole, distinct object of the class
	 * (the head among them: its link was bad, not the object). */
	for (unsigned i = 0; i < taken; i++) {
		EXPECT_GE(t, ksize(got[i]), 40);
		for (unsigned j = 0; j < i; j++)
			EXPECT_NE(t, (uintptr_t)got[i], (uintptr_t)got[j]);
	}
	EXPECT_EQ(t, head_handed, 1);
	struct kmalloc_stats after;
	kmalloc_stats(&after);
	EXPECT_EQ(t, after.broken_links, before.broken_links + 1);
	EXPECT_EQ(t, after.abandoned_objects, before.abandoned_objects + (listed - 1));
	EXPECT_EQ(t, s->small.abandoned, listed - 1);
	expect_heap_ok(t);

	for (unsigned i = 0; i < taken; i++)
		kfree(got[i]);
	kfree(held[0]);
	kmalloc_drain();
	kmalloc_stats(&after);
	EXPECT_EQ(t, after.in_use_bytes, before.in_use_bytes - held_size);
	EXPECT_EQ(t, s->state, SPAN_IN_USE); /* kept for good: its lost objects */
	expect_heap_ok(t);
	keep_the_rest_of(t, s, 40);
}

static void statistics_add_up(struct ktest *t)
{
	kmalloc_stats(&s0);
	enum { N = 300 };
	static void *held[N];
	hold_blocks(t, held);
	uint64_t usable = 0;
	for (unsigned i = 0; i < N; i++) {
		held[i] = kmalloc(1 + (i * 37) % (i % 10 == 0 ? 60000 : 2000));
		ASSERT_NE(t, (uintptr_t)held[i], 0);
		usable += ksize(held[i]);
	}
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes + usable);
	EXPECT_EQ(t, s1.mallocs, s0.mallocs + N);
	EXPECT_EQ(t, s1.mapped_bytes, s1.in_use_bytes + s1.idle_bytes);
	uint64_t per_class = s1.large_in_use_bytes;
	for (unsigned c = 0; c < s1.class_count; c++)
		per_class += s1.classes[c].in_use * s1.classes[c].size;
	EXPECT_EQ(t, per_class, s1.in_use_bytes);
	free_held_blocks(&held_held);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes); /* back where it started */
	EXPECT_EQ(t, s1.frees, s0.frees + N);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees);
	/* Draining gives cached objects and empty spans back. */
	kmalloc_drain();
	kmalloc_stats(&s1);
	uint64_t cached = 0;
	for (unsigned c = 0; c < s1.class_count; c++)
		cached += s1.classes[c].cached;
	EXPECT_EQ(t, cached, 0);
	expect_heap_ok(t);
}

/*
 * A CPU list found full parks the half on top on its class's transfer
 * stack, whole and in order, and a list that runs empty takes a batch from
 * there before any span: the way of blocks freed on another CPU, seen here
 * on one.  The parked objects never go back to their spans, and
 * kmalloc_drain empties the stack.  Interrupts are off while the list is
 * counted (a handler's calls would move it), and no ASSERT runs then.
 */
static void a_full_list_parks_half_on_the_transfer_stack(struct ktest *t)
{
	enum { SIZE = 64, MOST = 4 * 64 };
	if (kmalloc_debug_flags())
		ktest_skip(t, "kmalloc_debug: no CPU lists, no transfer stacks");
	static void *held[MOST];
	hold_blocks(t, held);
	unsigned cls = kmalloc_class_of(SIZE);
	const struct class_info *ci = &classes[cls];
	struct central *c = &central[cls];
	ASSERT_LE(t, 3 * ci->cache_max + 1, MOST);
	kmalloc_drain();
	ASSERT_EQ(t, c->transfer_count, 0);
	mm_irq_flags_t flags = mm_irq_save();
	struct cpu_list *list = my_list(cls);
	/* cache_max + 1 blocks, then as many more as leave the list empty. */
	unsigned n = 0;
	while (n < MOST && (n <= ci->cache_max || cached_on(list)))
		held[n++] = kmalloc(SIZE);
	bool got_all = n < MOST && held[n - 1] && cached_on(list) == 0;
	/* cache_max frees fill the list; the next one parks the top half. */
	for (unsigned i = 0; got_all && i < ci->cache_max; i++) {
		kfree(held[i]);
		held[i] = NULL;
	}
	uint32_t filled = cached_on(list), parked_before = c->transfer_count;
	uint32_t spans_out = c->out;
	void *top_half[64] = { 0 };
	uint32_t half = ci->cache_max / 2;
	for (uint32_t i = 0; i < half && i < 64 && got_all; i++)
		top_half[i] = list->stack.top[(int32_t)i - (int32_t)half];
	if (got_all) {
		kfree(held[ci->cache_max]);
		held[ci->cache_max] = NULL;
	}
	uint32_t parked = c->transfer_count, left = cached_on(list), out_after = c->out;
	bool in_order = half <= 64;
	for (uint32_t i = 0; i < half && i < parked && in_order; i++)
		in_order = c->transfer[i] == top_half[i];
	void *last_parked = parked ? c->transfer[parked - 1] : NULL;
	mm_irq_restore(flags);
	ASSERT_TRUE(t, got_all);
	EXPECT_EQ(t, filled, ci->cache_max);
	EXPECT_EQ(t, parked_before, 0);
	EXPECT_EQ(t, parked, half);
	EXPECT_EQ(t, left, ci->cache_max - half + 1);
	EXPECT_EQ(t, out_after, spans_out); /* no object went back to a span */
	EXPECT_TRUE(t, in_order);
	expect_heap_ok(t);

	/* Empty the list again: the next kmalloc takes the parked batch. */
	flags = mm_irq_save();
	unsigned more = 0;
	while (cached_on(list) && n + more < MOST)
		held[n + more++] = kmalloc(SIZE);
	uint32_t emptied = cached_on(list);
	void *refilled = kmalloc(SIZE);
	uint32_t parked_after = c->transfer_count, listed_after = cached_on(list);
	mm_irq_restore(flags);
	uint32_t taken = half < ci->batch ? half : ci->batch;
	EXPECT_EQ(t, emptied, 0);
	EXPECT_EQ(t, parked_after, half - taken);
	EXPECT_EQ(t, listed_after, taken - 1);
	EXPECT_EQ(t, (uintptr_t)refilled, (uintptr_t)last_parked);
	kfree(refilled);
	expect_heap_ok(t);
	kmalloc_drain();
	EXPECT_EQ(t, c->transfer_count, 0);
	expect_heap_ok(t);
}

/* A burst of 8000 objects of one class freed in a scattered order, with no
 * kmalloc_drain: their spans go back to the page heap as they empty, all
 * but the few the class keeps and those its cached objects still pin. */
static void freeing_a_burst_gives_its_spans_back(struct ktest *t)
{
	enum { N = 8000, SIZE = 256 };
	static void *held[N];
	hold_blocks(t, held);
	kmalloc_drain();
	for (unsigned i = 0; i < N; i++) {
		held[i] = kmalloc(SIZE);
		ASSERT_NE(t, (uintptr_t)held[i], 0);
	}
	kmalloc_stats(&s1);
	unsigned cls = 0;
	while (cls < s1.class_count && s1.classes[cls].size != SIZE)
		cls++;
	ASSERT_LE(t, cls + 1, s1.class_count);
	uint32_t peak = s1.classes[cls].spans;
	for (unsigned i = 0; i < N; i++) { /* 7919 is prime to N: each once */
		kfree(held[(i * 7919u) % N]);
		held[(i * 7919u) % N] = NULL;
	}
	kmalloc_stats(&s1);
	ktest_note(t, "%u spans of %u-byte objects at the peak, %u after the frees", peak, SIZE,
	           s1.classes[cls].spans);
	EXPECT_EQ(t, s1.classes[cls].in_use, 0);
	EXPECT_LE(t, s1.classes[cls].spans * 4, peak);
	expect_heap_ok(t);
}

/* Mostly small blocks, some up to the largest class, a few large ones. */
static size_t random_size(void)
{
	uint32_t r = rng() % 1000;
	if (r < 800)
		return rng() % 256;
	if (r < 970)
		return rng() % 4096;
	if (r < 997)
		return rng() % KMALLOC_MAX_SMALL;
	return KMALLOC_MAX_SMALL + rng() % (256u << 10);
}

static void million_random_operations(struct ktest *t)
{
	enum { MAX_CELLS = 4096, OPS = 1000000, CELL_BYTES = 3072 };
	static uint8_t *cell[MAX_CELLS];
	static uint32_t cell_size[MAX_CELLS];
	/* Half the cells are full on average, and a full cell holds 1.4 KiB
	 * on average: 3 KiB of budget per cell leaves room for the peaks. */
	if (kernel_pageheap.arena.limit < 16 * MiB)
		ktest_skip(t,
		           "an arena of %llu MiB is too small for blocks up to 288 KiB among "
		           "thousands of small ones (needs 16 MiB)",
		           (unsigned long long)(kernel_pageheap.arena.limit >> 20));
	uint64_t budget = heap_budget();
	unsigned CELLS =
	        budget / CELL_BYTES < MAX_CELLS ? (unsigned)(budget / CELL_BYTES) : MAX_CELLS;
	if (CELLS < 256)
		ktest_skip(t, "needs %u KiB of heap budget, %llu KiB to be had",
		           256 * CELL_BYTES / 1024, (unsigned long long)(budget >> 10));
	rng_state = t->seed * 0x9e3779b97f4a7c15ull + 1;
	ktest_note(t, "seed %llu, %u cells", (unsigned long long)t->seed, CELLS);
	kmalloc_stats(&s0);
	unsigned corrupt = 0, failed = 0, checks = 0;
	for (unsigned op = 0; op < OPS; op++) {
		unsigned i = rng() % CELLS;
		if (cell[i]) {
			/* Check the whole block before it goes. */
			corrupt += check_fill(cell[i], cell_size[i], i) != 0;
			if (rng() % 8 == 0) {
				size_t n = random_size();
				uint8_t *q = krealloc(cell[i], n);
				if (n == 0) {
					cell[i] = NULL;
					continue;
				}
				if (!q) {
					failed++;
					continue;
				}
				size_t keep = n < cell_size[i] ? n : cell_size[i];
				/* the kept prefix was tagged at the old address */
				for (size_t j = 0; j < keep; j++)
					corrupt += q[j] !=
					           (uint8_t)(((uintptr_t)cell[i] >> 3) + j * 7 + i);
				cell[i] = q;
				cell_size[i] = (uint32_t)n;
				fill(q, n, i);
				continue;
			}
			kfree(cell[i]);
			cell[i] = NULL;
		} else {
			size_t n = random_size();
			uint8_t *p = rng() % 16 == 0 ? kcalloc(1, n) : kmalloc(n);
			if (!p) {
				failed++;
				continue;
			}
			cell[i] = p;
			cell_size[i] = (uint32_t)n;
			fill(p, n, i);
		}
		if (op % 200000 == 199999) {
			checks++;
			EXPECT_EQ(t, kheap_check(), 0);
		}
	}
	for (unsigned i = 0; i < CELLS; i++)
		if (cell[i]) {
			corrupt += check_fill(cell[i], cell_size[i], i) != 0;
			kfree(cell[i]);
			cell[i] = NULL;
		}
	kmalloc_stats(&s1);
	EXPECT_EQ(t, corrupt, 0);
	EXPECT_EQ(t, failed, 0);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees);
	EXPECT_EQ(t, s1.in_use_bytes, s0.in_use_bytes);
	expect_heap_ok(t);
	ktest_note(t, "%llu mallocs, %llu frees, %llu KiB mapped, %llu KiB released",
	           (unsigned long long)(s1.mallocs - s0.mallocs),
	           (unsigned long long)(s1.frees - s0.frees),
	           (unsigned long long)(s1.mapped_bytes >> 10),
	           (unsigned long long)(s1.released_bytes >> 10));
}

/* With no free frame left, a request is served from what the heap holds
 * idle (objects on the per-CPU lists, the empty spans classes keep), given
 * back and mapped again; once nothing is idle, the request fails cleanly. */
static void idle_memory_serves_a_request_when_frames_run_out(struct ktest *t)
{
	enum { PER_SIZE = 64, LARGE = 48 << 10 };
	static const size_t sizes[] = { 1000, 2000, 4000 };
	static void *held[PER_SIZE * 3];
	hold_blocks(t, held);
	/* Idle memory: objects of three classes, freed again. */
	for (unsigned i = 0; i < PER_SIZE * 3; i++) {
		held[i] = kmalloc(sizes[i % 3]);
		ASSERT_NE(t, (uintptr_t)held[i], 0);
	}
	free_held_blocks(&held_held);
	/* No free page heap span to take instead: all their frames go back. */
	ph_scavenge_all(&kernel_pageheap);
	kmalloc_stats(&s0);
	ktest_note(t, "%llu KiB idle in the classes", (unsigned long long)(s0.idle_bytes >> 10));
	ASSERT_GE(t, s0.idle_bytes, 2 * LARGE);

	test_hoard_frames(&test_hoard, 0);
	uint8_t *p = kmalloc(LARGE);
	kmalloc_stats(&s1);
	EXPECT_NE(t, (uintptr_t)p, 0);
	EXPECT_EQ(t, s1.reclaims, s0.reclaims + 1);
	EXPECT_EQ(t, s1.failures, s0.failures);
	if (p) {
		memset(p, 0x5a, LARGE); /* mapped */
		EXPECT_EQ(t, ksize(p), LARGE);
	}
	/* Nothing idle is left to give back: a larger request fails, and the
	 * heap is intact. */
	kmalloc_drain();
	ph_scavenge_all(&kernel_pageheap);
	test_give_back_frames(&test_hoard);
	test_hoard_frames(&test_hoard, 0);
	EXPECT_EQ(t, (uintptr_t)kmalloc(4 * LARGE), 0);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.failures, s0.failures + 1);
	EXPECT_EQ(t, s1.reclaims, s0.reclaims + 1); /* nothing came back this time */
	test_give_back_frames(&test_hoard);
	kfree(p);
	expect_heap_ok(t);
}

/* Freed large blocks stay mapped while the heap's recent peak had them in
 * use; kmalloc_trim gives them back at once, and the heap stays whole. */
static void trim_gives_back_what_the_recent_peak_keeps(struct ktest *t)
{
	enum { BLOCKS = 40, SIZE = 64 << 10 };
	static void *held[BLOCKS];
	hold_blocks(t, held);
	kmalloc_trim();
	kmalloc_stats(&s0);
	for (unsigned i = 0; i < BLOCKS; i++)
		ASSERT_NE(t, (uintptr_t)(held[i] = kmalloc(SIZE)), 0);
	uint64_t scavenged = kernel_pageheap.stats.scavenged_pages;
	free_held_blocks(&held_held);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, kernel_pageheap.stats.scavenged_pages, scavenged); /* kept: the recent peak */
	EXPECT_GE(t, s1.idle_bytes, s0.idle_bytes + (uint64_t)BLOCKS * SIZE);
	uint64_t given = kmalloc_trim();
	EXPECT_GE(t, given, (uint64_t)BLOCKS * SIZE);
	kmalloc_stats(&s1);
	EXPECT_LE(t, s1.mapped_bytes, s0.mapped_bytes); /* as trimmed before */
	EXPECT_LE(t, s1.idle_bytes, s0.idle_bytes);
	EXPECT_EQ(t, kmalloc_trim(), 0); /* nothing idle is left */
	/* Taken again: mapped again, zeroed by the frame pool. */
	uint8_t *p = kmalloc(SIZE);
	ASSERT_NE(t, (uintptr_t)p, 0);
	EXPECT_EQ(t, test_nonzero_words((uintptr_t)p, SIZE), 0);
	kfree(p);
	expect_heap_ok(t);
}

/* A class with no free object of its own serves a request from a larger
 * class that has one, rather than setting up a span; the object is the
 * larger class's in every respect. */
static void a_class_without_free_objects_borrows_from_the_next(struct ktest *t)
{
	if (kmalloc_debug_flags())
		ktest_skip(t, "kmalloc_debug is on: a class serves its own objects only (the red "
		              "zone fits)");
	kmalloc_drain();
	unsigned small = kmalloc_class_of(1500), large = small + 1;
	uint32_t small_size = kmalloc_class_size(small), large_size = kmalloc_class_size(large);
	/* One object of the larger class in use keeps its span, with free
	 * objects, listed. */
	void *pin = kmalloc(large_size);
	ASSERT_NE(t, (uintptr_t)pin, 0);
	ASSERT_EQ(t, kmalloc_class_of(ksize(pin)), large);
	kmalloc_drain(); /* the span's other objects back on it, not cached */
	kmalloc_stats(&s0);
	ASSERT_EQ(t, s0.classes[small - 1].spans, 0);
	void *p = kmalloc(small_size);
	ASSERT_NE(t, (uintptr_t)p, 0);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, ksize(p), large_size);
	EXPECT_EQ(t, s1.classes[small - 1].spans, 0);
	EXPECT_EQ(t, s1.classes[large - 1].in_use, s0.classes[large - 1].in_use + 1);
	memset(p, 0xa5, ksize(p));
	kfree(p);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.classes[large - 1].in_use, s0.classes[large - 1].in_use);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees);
	kfree(p); /* a second free is caught as for any object */
	kmalloc_stats(&s1);
	EXPECT_EQ(t, s1.bad_frees, s0.bad_frees + 1);
	kfree(pin);
	expect_heap_ok(t);
}

/* Above a page the classes are a quarter apart: a class borrows from the
 * next one only, never a block twice as far (40% larger) from the one
 * after, and sets up a span of its own instead. */
static void a_class_above_a_page_borrows_a_quarter_larger_at_most(struct ktest *t)
{
	if (kmalloc_debug_flags())
		ktest_skip(t, "kmalloc_debug is on: a class serves its own objects only");
	kmalloc_drain();
	unsigned small = kmalloc_class_of(PAGE_SIZE + 1), far = small + 2;
	uint32_t small_size = kmalloc_class_size(small), far_size = kmalloc_class_size(far);
	ASSERT_GE(t, (uint64_t)far_size * 4, (uint64_t)small_size * 5 + 1);
	void *pin = kmalloc(far_size); /* its span, with free objects, listed */
	ASSERT_NE(t, (uintptr_t)pin, 0);
	kmalloc_drain();
	kmalloc_stats(&s0);
	if (s0.classes[small - 1].spans || s0.classes[small].spans) {
		kfree(pin);
		ktest_skip(t, "classes %u and %u hold spans already", small_size,
		           kmalloc_class_size(small + 1));
	}
	void *p = kmalloc(small_size);
	ASSERT_NE(t, (uintptr_t)p, 0);
	kmalloc_stats(&s1);
	EXPECT_EQ(t, ksize(p), small_size);
	EXPECT_EQ(t, s1.classes[small - 1].spans, 1);
	EXPECT_EQ(t, s1.classes[far - 1].in_use, s0.classes[far - 1].in_use);
	kfree(p);
	kfree(pin);
	expect_heap_ok(t);
}

/* kmemalign picks a class for its alignment: it never borrows from the
 * next class, whose objects need not be aligned. */
static void kmemalign_never_borrows(struct ktest *t)
{
	if (kmalloc_debug_flags())
		ktest_skip(t, "kmalloc_debug is on: no class borrows");
	kmalloc_drain();
	unsigned aligned = kmalloc_class_of(128);
	ASSERT_EQ(t, kmalloc_class_size(aligned), 128);
	void *pin = kmalloc(kmalloc_class_size(aligned + 1)); /* a listed span */
	ASSERT_NE(t, (uintptr_t)pin, 0);
	kmalloc_drain();
	kmalloc_stats(&s0);
	ASSERT_EQ(t, s0.classes[aligned - 1].spans, 0);
	void *p = kmemalign(64, 100);
	ASSERT_NE(t, (uintptr_t)p, 0);
	EXPECT_EQ(t, (uintptr_t)p % 64, 0);
	EXPECT_EQ(t, ksize(p), 128);
	kfree(p);
	kfree(pin);
	expect_heap_ok(t);
}

/* A small block grown a few bytes at a time moves O(log n) times: each
 * move leaves at least a quarter more room than it had. */
static void krealloc_growth_leaves_room(struct ktest *t)
{
	uint8_t *p = kmalloc(16);
	ASSERT_NE(t, (uintptr_t)p, 0);
	unsigned moves = 0;
	size_t room = ksize(p);
	for (size_t n = 16; n <= 16384; n += 24) {
		uint8_t *q = krealloc(p, n);
		ASSERT_NE(t, (uintptr_t)q, 0);
		/* A move to grow (kmalloc(16) may have borrowed a larger object,
		 * which krealloc then gives up for a smaller one). */
		if (q != p && n > room) {
			moves++;
			EXPECT_GE(t, ksize(q), room + room / 4);
		}
		room = ksize(q);
		q[n - 1] = (uint8_t)n;
		p = q;
	}
	ktest_note(t, "16 B to 16 KiB in 24-byte steps: %u moves", moves);
	EXPECT_LE(t, moves, 40);
	kfree(p);
	expect_heap_ok(t);
}

static const struct ktest_case kmalloc_cases[] = {
	KTEST_CASE(zero_size_gives_unique_freeable_pointers),
	KTEST_CASE(class_boundaries),
	KTEST_CASE(alignment_over_every_class),
	KTEST_CASE(large_blocks_are_whole_pages),
	KTEST_CASE(impossible_sizes_return_null),
	KTEST_CASE(kcalloc_returns_zeroed_memory),
	KTEST_CASE(krealloc_keeps_the_common_prefix),
	KTEST_CASE(krealloc_grows_large_blocks_in_place),
	KTEST_CASE(kmemalign_takes_powers_of_two),
	KTEST_CASE(bad_frees_are_reported_and_survived),
	KTEST_CASE(interior_pointers_at_every_offset_are_refused),
	KTEST_CASE(heap_check_describes_each_corruption),
	KTEST_CASE(a_broken_free_list_is_cut_not_followed),
	KTEST_CASE(statistics_add_up),
	KTEST_CASE(a_full_list_parks_half_on_the_transfer_stack),
	KTEST_CASE(freeing_a_burst_gives_its_spans_back),
	KTEST_CASE(million_random_operations),
	KTEST_CASE(idle_memory_serves_a_request_when_frames_run_out),
	KTEST_CASE(trim_gives_back_what_the_recent_peak_keeps),
	KTEST_CASE(a_class_without_free_objects_borrows_from_the_next),
	KTEST_CASE(a_class_above_a_page_borrows_a_quarter_larger_at_most),
	KTEST_CASE(kmemalign_never_borrows),
	KTEST_CASE(krealloc_growth_leaves_room),
};
/* Leave the kernel's heap as the suite found it: nothing cached, every
 * free page given back, so that later suites have the frames. */
/* Before the suite: nothing idle, on any CPU.  Objects earlier suites left
 * on CPU lists keep their spans listed, and a class with no span of its
 * own borrows from such a neighbour: the cases that check each class's
 * block size must start without them. */
static int kmalloc_suite_init(void)
{
	kmalloc_trim();
	return 0;
}

static void kmalloc_suite_exit(void)
{
	kmalloc_trim();
}

/* After every case: frames a failed case left hoarded. */
static void kmalloc_case_exit(void)
{
	test_give_back_frames(&test_hoard);
}

KTEST_SUITE_CASE_EXIT(kmalloc, kmalloc_cases, kmalloc_suite_init, kmalloc_suite_exit, 0,
                      kmalloc_case_exit);
