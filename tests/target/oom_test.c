/*
 * tests/target/oom_test.c - suite "out_of_memory": the heap filled with
 * kmalloc until it returns NULL, emptied, and filled again, on every CPU at
 * once.  Mixed sizes, 8 B to 64 KiB, weighted to small; every block is
 * linked through its first word (so that the test needs no memory of its
 * own) and tagged in its second.  A fill ends when not even 8 bytes can be
 * had.  The second fill must hold what the first did within a few pages: running out of memory
 * loses nothing, whatever it went through (reclaims, retries, span releases, drained CPU lists).
 * Run on the small machines only (make test: 8 MiB on one CPU and on four, 12 and 16 MiB), where
 * filling takes a moment.
 */
#include "arch/i386/cpu.h"
#include "arch/i386/ipi.h"
#include "arch/i386/percpu.h"
#include "kernel/memory.h"
#include "kernel/smp.h"
#include "mm/kheap.h"
#include "tests/ktest.h"
#include "tests/target/heap_state.h"
#include "tests/target/test_util.h"

#define MAX_RAM_MIB 64
/* The second fill may differ from the first by this much: what the CPUs
 * still cache when the last of them is refused, and span rounding. */
#define SLACK_BYTES (64u * 1024u)

struct filler {
	void **head; /* the blocks, linked through their first words */
	uint64_t bytes;
	uint32_t blocks, rng, bad_tags;
};

static struct filler fillers[MAX_CPUS];

/* What a held block's second word says of it. */
static void *tag_of(void **p)
{
	return (void *)((uintptr_t)p ^ 0x5a5a5a5au);
}

/* A block kmalloc gave: linked, tagged, counted. */
static void hold(struct filler *f, void **p)
{
	p[0] = f->head;
	p[1] = tag_of(p);
	f->head = p;
	f->bytes += ksize(p);
	f->blocks++;
}

static uint32_t block_size(struct filler *f)
{
	uint32_t r = test_xorshift32(&f->rng) % 100, x = test_xorshift32(&f->rng);
	return r < 80 ? 8 + x % 500 : r < 97 ? 512 + x % 7680 : 8192 + x % (56 * 1024);
}

/* On each CPU: kmalloc until NULL, with interrupts on (others' calls come). */
static void fill_here(void *unused)
{
	(void)unused;
	struct filler *f = &fillers[this_cpu()->index];
	uint32_t flags = irq_save();
	irq_restore(flags | EFLAGS_IF);
	/* After a refusal, only sizes below the one refused: the fill ends
	 * when not even 8 bytes can be had, so that its end does not depend
	 * on which size happened to be refused first. */
	for (uint32_t cap = UINT32_MAX;;) {
		uint32_t size = block_size(f);
		void **p = kmalloc(size < cap ? size : cap);
		if (!p) {
			if ((size < cap ? size : cap) <= 8)
				break;
			cap = (size < cap ? size : cap) / 2;
			continue;
		}
		hold(f, p);
	}
	irq_restore(flags);
}

static void empty_here(void *unused)
{
	(void)unused;
	struct filler *f = &fillers[this_cpu()->index];
	uint32_t flags = irq_save();
	irq_restore(flags | EFLAGS_IF);
	for (void **p = f->head, **next; p; p = next) {
		next = p[0];
		f->bad_tags += p[1] != tag_of(p);
		kfree(p);
	}
	f->head = NULL;
	irq_restore(flags);
}

static void on_every_cpu(void (*fn)(void *))
{
	struct ipi_ticket tickets[MAX_CPUS];
	unsigned cpus = smp_cpus_online();
	for (unsigned i = 1; i < cpus; i++)
		ipi_post(i, fn, NULL, &tickets[i]);
	fn(NULL);
	for (unsigned i = 1; i < cpus; i++)
		ipi_wait(&tickets[i]);
}

/* One fill on every CPU; returns the bytes held in all. */
static uint64_t fill(uint32_t seed)
{
	uint64_t bytes = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		fillers[i] = (struct filler){ .rng = seed * 2654435761u + i * 0x9e3779b9u + 1 };
	on_every_cpu(fill_here);
	/* What the CPUs' lists still hold when the last of them is refused
	 * (objects refilled on one CPU while another was refused) goes back,
	 * and this CPU fills on until not even 8 bytes can be had. */
	kmalloc_drain();
	fill_here(NULL);
	/* Then every class in turn, largest first, takes what its spans still
	 * hold free: the fill's end no longer depends on which classes the
	 * random sizes happened to leave partly used. */
	struct filler *f = &fillers[this_cpu()->index];
	for (unsigned cls = kmalloc_class_count(); cls >= 1; cls--)
		for (void **p; (p = kmalloc(kmalloc_class_size(cls))) != NULL;)
			hold(f, p);
	for (unsigned i = 0; i < smp_cpus_online(); i++)
		bytes += fillers[i].bytes;
	return bytes;
}

static uint32_t empty(void)
{
	uint32_t bad = 0;
	on_every_cpu(empty_here);
	for (unsigned i = 0; i < smp_cpus_online(); i++)
		bad += fillers[i].bad_tags;
	return bad;
}

static void the_heap_fills_again_to_the_same_amount(struct ktest *t)
{
	if ((uint64_t)boot_free_frames * PAGE_SIZE > (uint64_t)MAX_RAM_MIB * MiB)
		ktest_skip(t, "fills the whole heap: run on a machine of at most %u MiB",
		           MAX_RAM_MIB);
	struct memory_state before = memory_state();
	uint64_t bad_frees = heap_stats()->bad_frees;
	uint64_t first = fill((uint32_t)t->seed);
	uint32_t blocks = 0;
	for (unsigned i = 0; i < smp_cpus_online(); i++)
		blocks += fillers[i].blocks;
	EXPECT_EQ(t, empty(), 0u);
	/* The first fill grew the heap's metadata to its peak, which it
	 * keeps (said in the note: the second fill, which needs no more, holds
	 * as much all the same). */
	struct memory_state between = memory_state();
	uint64_t kept = (uint64_t)(between.meta_pages - before.meta_pages + between.page_tables -
	                           before.page_tables) *
	                PAGE_SIZE;
	uint64_t second = fill((uint32_t)t->seed);
	EXPECT_EQ(t, empty(), 0u);
	ktest_note(t,
	           "%u CPUs: %llu KiB in %u blocks, then %llu KiB (%llu%% of the frames free "
	           "after boot); %llu KiB of metadata kept from the first",
	           smp_cpus_online(), (unsigned long long)(first >> 10), blocks,
	           (unsigned long long)(second >> 10),
	           (unsigned long long)(second * 100 / ((uint64_t)boot_free_frames * PAGE_SIZE)),
	           (unsigned long long)(kept >> 10));
	uint64_t diff = first > second ? first - second : second - first;
	EXPECT_LE(t, diff, (uint64_t)SLACK_BYTES);
	EXPECT_GE(t, second, (uint64_t)boot_free_frames * PAGE_SIZE / 2);
	expect_memory_back(t, &before);
	EXPECT_EQ(t, heap_stats()->bad_frees, bad_frees);
}

static const struct ktest_case out_of_memory_cases[] = {
	KTEST_CASE(the_heap_fills_again_to_the_same_amount),
};

KTEST_SUITE(out_of_memory, out_of_memory_cases, NULL, NULL);
