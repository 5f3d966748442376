/*
 * tests/target/kmalloc_smp_test.c - suite "kmalloc_smp": the heap on every
 * CPU at once (at -smp 1 the same cases run on the boot CPU alone).
 *
 * The stress: every CPU online allocates random sizes (1 B to 1 MiB,
 * weighted to small), tags each block over its whole length with (CPU,
 * sequence number), checks the tags before it frees, reallocates some
 * blocks, and passes some through rings to other CPUs, which check and
 * free them.  A shadow bitmap (one bit per quantum at each block's start)
 * catches a block handed out twice, or one freed that was not handed out.
 * The CPUs run with interrupts on, as kernel code does: the shootdowns and
 * drains other CPUs ask for arrive at any instruction outside the heap's
 * own critical sections.  The seed is the run's (seed=), printed.
 */
#include "arch/i386/apic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/ipi.h"
#include "arch/i386/paging.h"
#include "arch/i386/percpu.h"
#include "arch/i386/spinlock.h"
#include "arch/i386/trap.h"
#include "kernel/memory.h"
#include "kernel/smp.h"
#include "mm/bitops.h"
#include "mm/kheap.h"
#include "mm/vm.h"
#include "tests/ktest.h"
#include "tests/target/heap_state.h"
#include "tests/target/test_util.h"

#define HELD_SLOTS 48
#define RING_SIZE  32
#define MiB        (1024u * 1024u)

struct block {
	uint32_t *p;
	uint32_t words;
	uint32_t tag;
};

/* Blocks passed to one CPU, to be checked and freed there. */
struct ring {
	spinlock_t lock;
	uint32_t head, tail; /* head - tail blocks, in items[tail % RING_SIZE].. */
	struct block items[RING_SIZE];
};

struct worker {
	uint32_t rng;
	uint32_t mallocs, frees, reallocs, passed, received, failures;
	uint32_t bad_tags, handed_twice, not_handed_out, misaligned;
	uint32_t first_bad_word, first_bad_expected; /* of the first bad tag */
	uintptr_t first_bad_block;
	struct block held[HELD_SLOTS];
	unsigned held_count;
};

static struct {
	unsigned first, cpus; /* the workers are CPUs [first, cpus) */
	uint32_t ops;
	volatile uint32_t producing; /* workers not yet done with their own blocks */
	uintptr_t shadow_base;
	uint32_t shadow_bits;
	uint32_t *shadow; /* bit (p - shadow_base) / 8: a block starts at p and is held */
	struct ring rings[MAX_CPUS];
	struct worker workers[MAX_CPUS];
} stress;

static uint32_t next_random(struct worker *w)
{
	return test_xorshift32(&w->rng);
}

/* 1 B to 1 MiB: 85% up to 256 B, 12% to 8 KiB, 2.5% to 64 KiB, 0.5% larger. */
static uint32_t random_size(struct worker *w)
{
	uint32_t r = next_random(w) % 1000, x = next_random(w);
	if (r < 850)
		return 1 + x % 256;
	if (r < 970)
		return 257 + x % (8192 - 257);
	if (r < 995)
		return 8193 + x % (64 * 1024 - 8193);
	return 64 * 1024 + 1 + x % (MiB - 64 * 1024);
}

/* Sets (or clears) p's shadow bit; false when it already was so. */
static bool shadow_flip(uintptr_t p, bool set)
{
	uint32_t n = (uint32_t)((p - stress.shadow_base) / 8);
	if (p < stress.shadow_base || n >= stress.shadow_bits)
		return true; /* beyond the shadow: the tags still check it */
	uint32_t bit = 1u << (n % 32);
	uint32_t old = set ? __atomic_fetch_or(&stress.shadow[n / 32], bit, __ATOMIC_ACQ_REL)
	                   : __atomic_fetch_and(&stress.shadow[n / 32], ~bit, __ATOMIC_ACQ_REL);
	return set ? !(old & bit) : (old & bit);
}

static void fill(const struct block *b)
{
	for (uint32_t i = 0; i < b->words; i++)
		b->p[i] = b->tag;
}

/* Every word still holds the block's tag. */
static void check_tags(struct worker *w, const struct block *b, uint32_t words)
{
	for (uint32_t i = 0; i < words; i++)
		if (b->p[i] != b->tag) {
			if (w->bad_tags++ == 0) {
				w->first_bad_block = (uintptr_t)b->p;
				w->first_bad_word = b->p[i];
				w->first_bad_expected = b->tag;
			}
			return;
		}
}

static void release(struct worker *w, const struct block *b)
{
	check_tags(w, b, b->words);
	if (!shadow_flip((uintptr_t)b->p, false))
		w->not_handed_out++;
	kfree(b->p);
	w->frees++;
}

static bool allocate(struct worker *w, unsigned me, uint32_t seq, struct block *b)
{
	uint32_t size = random_size(w), how = next_random(w) & 7;
	/* One in eight zeroed, one in eight aligned to 16 B to 4 KiB. */
	uint32_t align = 16u << (next_random(w) % 9);
	uint32_t *p = how == 0   ? kcalloc(1, size)
	              : how == 1 ? kmemalign(align, size)
	                         : kmalloc(size);
	if (p && how == 1 && ((uintptr_t)p & (align - 1)))
		w->misaligned++;
	if (!p) {
		w->failures++;
		return false;
	}
	if (!shadow_flip((uintptr_t)p, true))
		w->handed_twice++;
	*b = (struct block){ p, size / 4, (uint32_t)me << 24 | (seq & 0xffffff) };
	fill(b);
	w->mallocs++;
	return true;
}

/* A held block resized: its first words keep their tag, the rest get it. */
static void reallocate(struct worker *w, struct block *b)
{
	uint32_t size = random_size(w);
	uint32_t keep = size / 4 < b->words ? size / 4 : b->words;
	check_tags(w, b, b->words);
	uintptr_t old = (uintptr_t)b->p;
	shadow_flip(old, false);
	uint32_t *p = krealloc(b->p, size);
	if (!p) {
		shadow_flip(old, true); /* the old block stays held */
		w->failures++;
		return;
	}
	if (!shadow_flip((uintptr_t)p, true))
		w->handed_twice++;
	b->p = p;
	check_tags(w, b, keep);
	b->words = size / 4;
	fill(b);
	w->reallocs++;
}

static bool pass(unsigned to, const struct block *b)
{
	struct ring *r = &stress.rings[to];
	uint32_t flags = spin_lock_irqsave(&r->lock);
	bool room = r->head - r->tail < RING_SIZE;
	if (room)
		r->items[r->head++ % RING_SIZE] = *b;
	spin_unlock_irqrestore(&r->lock, flags);
	return room;
}

/* Checks and frees what other CPUs passed here; true when it found any. */
static bool take_passed(struct worker *w, unsigned me)
{
	struct ring *r = &stress.rings[me];
	bool any = false;
	for (;;) {
		struct block b;
		uint32_t flags = spin_lock_irqsave(&r->lock);
		bool got = r->head != r->tail;
		if (got)
			b = r->items[r->tail++ % RING_SIZE];
		spin_unlock_irqrestore(&r->lock, flags);
		if (!got)
			return any;
		release(w, &b);
		w->received++;
		any = true;
	}
}

static void work(void *unused)
{
	(void)unused;
	unsigned me = this_cpu()->index;
	struct worker *w = &stress.workers[me];
	/* Interrupts on, as in any kernel code: calls from the other CPUs
	 * (shootdowns, drains) arrive between any two instructions. */
	uint32_t flags = irq_save();
	irq_restore(flags | EFLAGS_IF);
	for (uint32_t seq = 0; seq < stress.ops; seq++) {
		take_passed(w, me);
		uint32_t r = next_random(w) % 100;
		if (w->held_count < HELD_SLOTS && (w->held_count == 0 || r < 50)) {
			if (allocate(w, me, seq, &w->held[w->held_count]))
				w->held_count++;
			continue;
		}
		unsigned i = next_random(w) % w->held_count;
		struct block *b = &w->held[i];
		if (r < 56) {
			reallocate(w, b);
			continue;
		}
		/* Another worker, of [first, cpus). */
		unsigned n = stress.cpus - stress.first;
		unsigned to = n > 1 ? stress.first +
		                              (me - stress.first + 1 + next_random(w) % (n - 1)) % n
		                    : me;
		if (r < 75 && to != me && pass(to, b))
			w->passed++;
		else
			release(w, b);
		*b = w->held[--w->held_count];
	}
	while (w->held_count)
		release(w, &w->held[--w->held_count]);
	__atomic_fetch_sub(&stress.producing, 1, __ATOMIC_ACQ_REL);
	/* Until every CPU is done, others may still pass blocks here. */
	while (__atomic_load_n(&stress.producing, __ATOMIC_ACQUIRE) || take_passed(w, me))
		__asm__ volatile("pause");
	irq_restore(flags);
}

/* Posts fn(arg) to every other CPU online; returns how many took it.
 * wait_for_others waits for each. */
static unsigned post_to_others(void (*fn)(void *), void *arg, struct ipi_ticket *tickets)
{
	unsigned posted = 0;
	for (unsigned i = 1; i < smp_cpus_online(); i++)
		posted += ipi_post(i, fn, arg, &tickets[i]);
	return posted;
}

static void wait_for_others(struct ipi_ticket *tickets)
{
	for (unsigned i = 1; i < smp_cpus_online(); i++)
		ipi_wait(&tickets[i]);
}

/* Runs work() on every CPU online, this one included, and waits. */
static unsigned run_on_every_cpu(void (*fn)(void *), void *arg)
{
	struct ipi_ticket tickets[MAX_CPUS];
	unsigned posted = post_to_others(fn, arg, tickets);
	fn(arg);
	wait_for_others(tickets);
	return posted + 1;
}

/* Sets the stress up for workers [first, cpus); false when the shadow
 * cannot be had. */
static bool stress_setup(struct ktest *t, unsigned first, unsigned cpus, uint32_t ops)
{
	uint32_t shadow_bytes = 2 * MiB;
	uint32_t *shadow = kcalloc(1, shadow_bytes);
	if (!shadow)
		return false;
	memset(&stress, 0, sizeof(stress));
	stress.first = first;
	stress.cpus = cpus;
	stress.ops = ops;
	stress.producing = cpus - first;
	stress.shadow = shadow;
	stress.shadow_base = kernel_pageheap.arena.start;
	stress.shadow_bits = shadow_bytes * 8;
	for (unsigned i = 0; i < cpus; i++)
		stress.workers[i].rng = (uint32_t)(t->seed * 2654435761u) ^ (i + 1) * 0x9e3779b9u;
	return true;
}

/* What the workers found: nothing handed out twice, no tag overwritten,
 * everything passed freed. */
static void expect_workers_clean(struct ktest *t, bool may_fail)
{
	uint32_t mallocs = 0, passed = 0, received = 0, bad_tags = 0, twice = 0, unheld = 0;
	uint32_t failures = 0, reallocs = 0, misaligned = 0;
	for (unsigned i = stress.first; i < stress.cpus; i++) {
		const struct worker *w = &stress.workers[i];
		mallocs += w->mallocs;
		passed += w->passed;
		received += w->received;
		bad_tags += w->bad_tags;
		twice += w->handed_twice;
		unheld += w->not_handed_out;
		failures += w->failures;
		reallocs += w->reallocs;
		misaligned += w->misaligned;
		if (w->bad_tags)
			ktest_note(t, "CPU %u: block %p holds %#x where its tag %#x was", i,
			           (void *)w->first_bad_block, w->first_bad_word,
			           w->first_bad_expected);
	}
	ktest_note(
	        t,
	        "%u allocations, %u reallocations, %u blocks passed to another CPU, %u freed there",
	        mallocs, reallocs, passed, received);
	EXPECT_EQ(t, bad_tags, 0);
	EXPECT_EQ(t, twice, 0);
	EXPECT_EQ(t, unheld, 0);
	EXPECT_EQ(t, misaligned, 0);
	if (may_fail) /* a small machine may run out: each NULL is survived */
		ktest_note(t, "%u allocations returned NULL", failures);
	else
		EXPECT_EQ(t, failures, 0);
	if (received != passed)
		for (unsigned i = stress.first; i < stress.cpus; i++)
			ktest_note(t, "CPU %u: passed %u, received %u; ring %u..%u", i,
			           stress.workers[i].passed, stress.workers[i].received,
			           stress.rings[i].tail, stress.rings[i].head);
	EXPECT_EQ(t, received, passed);
	if (stress.cpus - stress.first > 1)
		EXPECT_GE(t, received, 1);
}

static void stress_every_cpu(struct ktest *t, uint32_t ops, bool may_fail)
{
	unsigned cpus = smp_cpus_online();
	test_require_free_bytes(t, may_fail ? 16 * MiB : 48 * MiB);
	if (kernel_pageheap.arena.limit < 64 * MiB && !may_fail)
		ktest_skip(t, "the arena's limit is below the stress's 64 MiB peak");
	struct memory_state before = memory_state();
	uint64_t bad_before = heap_stats()->bad_frees;
	ASSERT_TRUE(t, stress_setup(t, 0, cpus, ops));
	ktest_note(t, "seed %llu, %u CPUs, %u operations each", (unsigned long long)t->seed, cpus,
	           ops);

	ASSERT_EQ(t, run_on_every_cpu(work, NULL), cpus);
	expect_workers_clean(t, may_fail);
	kfree(stress.shadow);
	expect_memory_back(t, &before);
	EXPECT_EQ(t, heap_stats()->bad_frees, bad_before);
}

static void every_cpu_allocates_and_frees_blocks_of_every_size(struct ktest *t)
{
	stress_every_cpu(t, 6000, false);
}

/* make stress: stress_ops= operations in all, shared by the CPUs, on any
 * machine (where memory runs out, NULLs are counted and survived). */
static void the_long_stress_when_asked(struct ktest *t)
{
	if (!ktest_stress_ops)
		ktest_skip(t, "boot with stress_ops=N to run it (make stress)");
	uint64_t each = ktest_stress_ops / smp_cpus_online();
	stress_every_cpu(t, each > UINT32_MAX ? UINT32_MAX : (uint32_t)each, true);
}

/* kheap_check and kmalloc_stats from one CPU while the others allocate:
 * each holds the heap still and stops the others, and finds it whole. */
static void the_heap_is_checked_while_other_cpus_allocate(struct ktest *t)
{
	unsigned cpus = smp_cpus_online();
	if (cpus < 2)
		ktest_skip(t, "one CPU online");
	test_require_free_bytes(t, 48 * MiB);
	if (kernel_pageheap.arena.limit < 64 * MiB)
		ktest_skip(t, "the arena's limit is below the stress's 64 MiB peak");
	ASSERT_TRUE(t, stress_setup(t, 1, cpus, 4000));
	struct ipi_ticket tickets[MAX_CPUS];
	ASSERT_EQ(t, post_to_others(work, NULL, tickets), cpus - 1);
	unsigned checks = 0, problems = 0;
	while (__atomic_load_n(&stress.producing, __ATOMIC_ACQUIRE)) {
		problems += (unsigned)kheap_check();
		/* Everything counted is somewhere: in use, cached or free. */
		const struct kmalloc_stats *ks = heap_stats();
		if (ks->in_use_bytes > ks->mapped_bytes)
			problems++;
		checks++;
	}
	wait_for_others(tickets);
	ktest_note(t, "%u checks while %u CPUs allocated", checks, cpus - 1);
	EXPECT_EQ(t, problems, 0);
	EXPECT_GE(t, checks, 1);
	expect_workers_clean(t, false);
	kfree(stress.shadow);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* ---- one class churned on every CPU ---- */

#define CHURN_BURST  128 /* past a CPU list's limit: every burst refills and flushes */
#define CHURN_ROUNDS 150

static void churn(void *unused)
{
	(void)unused;
	unsigned me = this_cpu()->index;
	struct worker *w = &stress.workers[me];
	static uint32_t *held[MAX_CPUS][CHURN_BURST];
	uint32_t flags = irq_save();
	irq_restore(flags | EFLAGS_IF);
	for (uint32_t round = 0; round < CHURN_ROUNDS; round++) {
		uint32_t tag = (uint32_t)me << 24 | round;
		for (unsigned i = 0; i < CHURN_BURST; i++) {
			uint32_t *p = kmalloc(48);
			held[me][i] = p;
			if (!p) {
				w->failures++;
				continue;
			}
			if (!shadow_flip((uintptr_t)p, true))
				w->handed_twice++;
			for (unsigned k = 0; k < 12; k++)
				p[k] = tag;
			w->mallocs++;
		}
		for (unsigned i = 0; i < CHURN_BURST; i++) {
			const struct block b = { held[me][i], 12, tag };
			if (b.p)
				release(w, &b);
		}
	}
	irq_restore(flags);
}

/* Every CPU allocates and frees one size class in bursts past its list's
 * limit: the class's spans are refilled from and flushed to by all CPUs at
 * once, under the class's lock.  Without it two CPUs take one object. */
static void every_cpu_churns_one_class(struct ktest *t)
{
	unsigned cpus = smp_cpus_online();
	test_require_free_bytes(t, 16 * MiB);
	kmalloc_trim();
	ASSERT_TRUE(t, stress_setup(t, 0, cpus, 0));
	ASSERT_EQ(t, run_on_every_cpu(churn, NULL), cpus);
	uint32_t twice = 0, bad_tags = 0, unheld = 0, failures = 0, mallocs = 0;
	for (unsigned i = 0; i < cpus; i++) {
		twice += stress.workers[i].handed_twice;
		bad_tags += stress.workers[i].bad_tags;
		unheld += stress.workers[i].not_handed_out;
		failures += stress.workers[i].failures;
		mallocs += stress.workers[i].mallocs;
	}
	ktest_note(t, "%u CPUs, %u allocations of 48 bytes", cpus, mallocs);
	EXPECT_EQ(t, twice, 0);
	EXPECT_EQ(t, bad_tags, 0);
	EXPECT_EQ(t, unheld, 0);
	EXPECT_EQ(t, failures, 0);
	kfree(stress.shadow);
	EXPECT_EQ(t, kheap_check(), 0);
	kmalloc_trim();
}

/* ---- neighbours freed on every CPU at once ---- */

#define NEIGHBOURS 128

static struct {
	void *blocks[NEIGHBOURS];
	unsigned cpus;
	volatile uint32_t round, arrived;
} neighbours;

/* Frees every cpus-th block from this CPU's index, once per round, as
 * soon as the round starts. */
static void free_my_neighbours(void *rounds_arg)
{
	uint32_t rounds = (uint32_t)(uintptr_t)rounds_arg;
	unsigned me = this_cpu()->index;
	for (uint32_t round = 1; round <= rounds; round++) {
		while (__atomic_load_n(&neighbours.round, __ATOMIC_ACQUIRE) < round)
			__asm__ volatile("pause");
		for (unsigned i = me; i < NEIGHBOURS; i += neighbours.cpus)
			kfree(neighbours.blocks[i]);
		__atomic_fetch_add(&neighbours.arrived, 1, __ATOMIC_ACQ_REL);
	}
}

/* Blocks of 8 bytes lie 32 to a word of the live bitmap: CPUs freeing
 * neighbours at once clear bits of one word at once, which only an atomic
 * test-and-clear survives (a plain one can put back a bit another CPU has
 * just cleared, leaving a free block "live").  Real parallelism (-accel
 * tcg,thread=multi) is what exposes a plain one. */
static void neighbours_freed_on_every_cpu_at_once_leave_no_live_bit(struct ktest *t)
{
	unsigned cpus = smp_cpus_online();
	if (cpus < 2)
		ktest_skip(t, "one CPU online");
	const uint32_t rounds = 80;
	const struct arena *a = &kernel_pageheap.arena;
	memset(&neighbours, 0, sizeof(neighbours));
	neighbours.cpus = cpus;
	struct ipi_ticket tickets[MAX_CPUS];
	ASSERT_EQ(t, post_to_others(free_my_neighbours, (void *)(uintptr_t)rounds, tickets),
	          cpus - 1);
	unsigned stuck = 0;
	for (uint32_t round = 1; round <= rounds; round++) {
		for (unsigned i = 0; i < NEIGHBOURS; i++)
			neighbours.blocks[i] = kmalloc(8);
		neighbours.arrived = 0;
		__atomic_store_n(&neighbours.round, round, __ATOMIC_RELEASE);
		for (unsigned i = 0; i < NEIGHBOURS; i += cpus)
			kfree(neighbours.blocks[i]);
		while (__atomic_load_n(&neighbours.arrived, __ATOMIC_ACQUIRE) != cpus - 1)
			__asm__ volatile("pause");
		for (unsigned i = 0; i < NEIGHBOURS; i++) {
			uintptr_t p = (uintptr_t)neighbours.blocks[i];
			stuck += p && mm_bit_test(a->live_bits, (uint32_t)((p - a->start) >>
			                                                   ARENA_QUANTUM_SHIFT));
		}
	}
	wait_for_others(tickets);
	ktest_note(t, "%u rounds of %u blocks freed by %u CPUs", rounds, NEIGHBOURS, cpus);
	EXPECT_EQ(t, stuck, 0);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* ---- a double free raced on two CPUs ---- */

static struct {
	void *volatile block;
	volatile uint32_t go, ready;
} race;

static void free_at_go(void *unused)
{
	(void)unused;
	__atomic_fetch_add(&race.ready, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&race.go, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	kfree(race.block);
}

/* Every CPU frees the same block at once: exactly one free is taken, and
 * every other is reported as a bad free; the heap stays whole. */
static void a_block_freed_on_every_cpu_at_once_is_freed_once(struct ktest *t)
{
	unsigned cpus = smp_cpus_online();
	if (cpus < 2)
		ktest_skip(t, "one CPU online");
	for (unsigned round = 0; round < 20; round++) {
		uint64_t bad = heap_stats()->bad_frees, in_use = heap_stats()->in_use_bytes;
		race.block = kmalloc(round < 10 ? 48 : 64 * 1024); /* small, then large */
		ASSERT_TRUE(t, race.block != NULL);
		race.go = 0;
		race.ready = 0;
		struct ipi_ticket tickets[MAX_CPUS];
		ASSERT_EQ(t, post_to_others(free_at_go, NULL, tickets), cpus - 1);
		while (__atomic_load_n(&race.ready, __ATOMIC_ACQUIRE) != cpus - 1)
			__asm__ volatile("pause");
		__atomic_store_n(&race.go, 1, __ATOMIC_RELEASE);
		wait_for_others(tickets);
		EXPECT_EQ(t, heap_stats()->bad_frees, bad + cpus - 2);
		EXPECT_EQ(t, heap_stats()->in_use_bytes, in_use);
	}
	EXPECT_EQ(t, kheap_check(), 0);
}

/* ---- the arena grown from every CPU at once ---- */

static struct pageheap growing;
static struct {
	volatile uint32_t go;
	uint32_t served[MAX_CPUS], refused[MAX_CPUS];
	struct span *spans[MAX_CPUS][8];
} growth;

static void grow_at_go(void *unused)
{
	(void)unused;
	unsigned me = this_cpu()->index;
	while (!__atomic_load_n(&growth.go, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	for (unsigned i = 0; i < 8; i++) {
		/* 1 to 3 MiB each, so that most requests grow the arena. */
		struct span *s =
		        ph_alloc(&growing, (uint32_t)((1 + (me + i) % 3) * MiB / PAGE_SIZE), false);
		growth.spans[me][i] = s;
		if (s)
			growth.served[me]++;
		else
			growth.refused[me]++;
	}
}

static void go_on_every_cpu(void *unused)
{
	(void)unused;
	if (this_cpu()->index == 0)
		__atomic_store_n(&growth.go, 1, __ATOMIC_RELEASE);
	grow_at_go(NULL);
}

/* Every CPU's span lies in the arena, none overlaps another, and all go
 * back; false when any request was refused. */
static void check_and_free_spans(struct ktest *t, unsigned cpus)
{
	const struct arena *a = &growing.arena;
	for (unsigned c = 0; c < cpus; c++)
		for (unsigned i = 0; i < 8; i++) {
			struct span *s = growth.spans[c][i];
			if (!s)
				continue;
			EXPECT_GE(t, s->start, a->start);
			EXPECT_LE(t, s->start + (uintptr_t)s->npages * PAGE_SIZE, a->used);
			for (unsigned d = 0; d <= c; d++)
				for (unsigned j = 0; j < (d == c ? i : 8); j++) {
					struct span *o = growth.spans[d][j];
					if (o &&
					    s->start <
					            o->start + (uintptr_t)o->npages * PAGE_SIZE &&
					    o->start < s->start + (uintptr_t)s->npages * PAGE_SIZE)
						ktest_fail_msg(t, __FILE__, __LINE__, false,
						               "spans %p and %p overlap",
						               (void *)s->start, (void *)o->start);
				}
		}
	EXPECT_EQ(t, ph_check(&growing), 0);
	for (unsigned c = 0; c < cpus; c++)
		for (unsigned i = 0; i < 8; i++)
			if (growth.spans[c][i])
				ph_free(&growing, growth.spans[c][i]);
	EXPECT_EQ(t, ph_check(&growing), 0);
}

static void grow_from_every_cpu(struct ktest *t, uint64_t limit, uintptr_t *obstacle)
{
	memset(&growth, 0, sizeof(growth));
	ASSERT_TRUE(t, ph_init(&growing, 0, limit, 4 * MiB));
	if (obstacle) {
		/* Another owner's reservation right after the first 8 MiB. */
		*obstacle = vm_reserve(growing.arena.end + 4 * MiB, 4 * MiB, VM_TEST);
		if (*obstacle != growing.arena.end + 4 * MiB) {
			if (*obstacle)
				vm_free(*obstacle, 4 * MiB);
			ph_destroy(&growing);
			ktest_skip(t, "the slots after the arena are taken already");
		}
	}
	run_on_every_cpu(go_on_every_cpu, NULL);
}

static void every_cpu_grows_the_arena_contiguously(struct ktest *t)
{
	unsigned cpus = smp_cpus_online();
	test_require_free_bytes(t, 8 * 16 * MiB + 16 * MiB);
	struct vm_stats vm_before;
	vm_get_stats(&vm_before);
	uint32_t frames = test_free_frames();
	grow_from_every_cpu(t, 512 * MiB, NULL);
	uint32_t served = 0;
	for (unsigned c = 0; c < cpus; c++) {
		served += growth.served[c];
		EXPECT_EQ(t, growth.refused[c], 0);
	}
	EXPECT_EQ(t, served, cpus * 8);
	/* One reservation: every growth extended the last, never moved. */
	EXPECT_EQ(t, growing.arena.range_count, 1);
	EXPECT_EQ(t, growing.arena.stats.fallbacks, 0);
	EXPECT_EQ(t, growing.arena.end - growing.arena.start, growing.arena.stats.reserved_bytes);
	ktest_note(t, "%u CPUs, %u spans: arena [%p, %p), %u extensions", cpus, served,
	           (void *)growing.arena.start, (void *)growing.arena.end,
	           growing.arena.stats.extensions);
	check_and_free_spans(t, cpus);
	ph_destroy(&growing);
	struct vm_stats vm_after;
	vm_get_stats(&vm_after);
	EXPECT_EQ(t, vm_after.mapped_bytes, vm_before.mapped_bytes);
	EXPECT_EQ(t, vm_after.reserved_bytes[VM_ARENA], vm_before.reserved_bytes[VM_ARENA]);
	pmm_drain_cache(&kernel_pmm);
	EXPECT_GE(t, test_free_frames() + 8, frames); /* page tables may stay */
}

static void every_cpu_grows_the_arena_past_an_obstacle(struct ktest *t)
{
	unsigned cpus = smp_cpus_online();
	test_require_free_bytes(t, 8 * 16 * MiB + 16 * MiB);
	struct vm_stats vm_before;
	vm_get_stats(&vm_before);
	uintptr_t obstacle = 0;
	/* A limit that the fallback can still serve from, but not every
	 * request: some are refused, cleanly. */
	grow_from_every_cpu(t, 48 * MiB, &obstacle);
	uint32_t served = 0, refused = 0;
	for (unsigned c = 0; c < cpus; c++) {
		served += growth.served[c];
		refused += growth.refused[c];
	}
	EXPECT_EQ(t, served + refused, cpus * 8);
	EXPECT_GE(t, served, 1);
	ktest_note(t, "%u served, %u refused; %u extensions, %u fallbacks, %u ranges", served,
	           refused, growing.arena.stats.extensions, growing.arena.stats.fallbacks,
	           growing.arena.range_count);
	/* Nothing reaches into the obstacle, nothing lies past the limit. */
	EXPECT_EQ(t, vm_owner_at(obstacle), VM_TEST);
	EXPECT_LE(t, growing.arena.end, growing.arena.start + 48 * MiB);
	for (unsigned c = 0; c < cpus; c++)
		for (unsigned i = 0; i < 8; i++) {
			struct span *s = growth.spans[c][i];
			if (s && s->start < obstacle + 4 * MiB &&
			    obstacle < s->start + (uintptr_t)s->npages * PAGE_SIZE)
				ktest_fail_msg(t, __FILE__, __LINE__, false,
				               "span %p reaches into the obstacle",
				               (void *)s->start);
		}
	check_and_free_spans(t, cpus);
	ph_destroy(&growing);
	vm_free(obstacle, 4 * MiB);
	struct vm_stats vm_after;
	vm_get_stats(&vm_after);
	EXPECT_EQ(t, vm_after.mapped_bytes, vm_before.mapped_bytes);
	for (int i = 0; i < VM_OWNER_COUNT; i++)
		EXPECT_EQ(t, vm_after.reserved_bytes[i], vm_before.reserved_bytes[i]);
}

/*
 * The storm: every CPU's APIC timer interrupts it every STORM_PERIOD ticks
 * (instructions, under -icount shift=0) while it runs the stress, and the
 * handler frees and allocates blocks of its own (tagged and shadowed like
 * the stress's) on the same CPU lists.  The fast paths mask no interrupt:
 * a tick that lands inside one of their restartable sequences sends it
 * back to its start (frame->restarted_from, counted).
 */
#define STORM_PERIOD    4000
#define STORM_SLOTS     16
#define STORM_MIN_TICKS 200 /* each CPU's at least: it allocates on until then */

static struct storm_cpu {
	uint32_t ticks, rewinds;
	bool over;       /* a tick still pending when the timer stops does nothing */
	struct worker w; /* the handler's blocks and counts */
} storm[MAX_CPUS];

static void storm_tick(struct trap_frame *frame)
{
	unsigned me = this_cpu()->index;
	struct storm_cpu *s = &storm[me];
	apic_eoi();
	if (s->over)
		return;
	s->ticks++;
	s->rewinds += frame->restarted_from != 0;
	struct worker *w = &s->w;
	struct block *b = &w->held[next_random(w) % STORM_SLOTS];
	if (b->p)
		release(w, b);
	uint32_t size = 8 + next_random(w) % 1024;
	b->p = kmalloc(size);
	if (b->p) {
		if (!shadow_flip((uintptr_t)b->p, true))
			w->handed_twice++;
		b->words = size / 4;
		b->tag = 0x80000000u | (uint32_t)me << 24 | (s->ticks & 0xffffff);
		fill(b);
		w->mallocs++;
	} else {
		w->failures++;
	}
}

static void storm_work(void *arg)
{
	unsigned me = this_cpu()->index;
	apic_timer_start(APIC_TIMER_VECTOR, STORM_PERIOD);
	work(arg);
	/* However fast the host ran the stress, the storm goes on until it
	 * has struck often enough: small blocks allocated and freed. */
	uint32_t flags = irq_save();
	irq_restore(flags | EFLAGS_IF);
	struct worker *mine = &stress.workers[me];
	for (uint32_t spins = 0;
	     __atomic_load_n(&storm[me].ticks, __ATOMIC_RELAXED) < STORM_MIN_TICKS &&
	     spins < 50000000;
	     spins++) {
		uint32_t size = 8 + next_random(mine) % 256;
		void *p = kmalloc(size);
		if (p)
			memset(p, 0x5a, size);
		kfree(p);
	}
	irq_save();
	storm[me].over = true;
	apic_timer_stop();
	struct worker *w = &storm[me].w;
	for (unsigned i = 0; i < STORM_SLOTS; i++)
		if (w->held[i].p) {
			release(w, &w->held[i]);
			w->held[i].p = NULL;
		}
	irq_restore(flags);
}

static void an_interrupt_storm_allocates_on_every_cpu_as_it_allocates(struct ktest *t)
{
	unsigned cpus = smp_cpus_online();
	if (!apic_present())
		ktest_skip(t, "no local APIC: no timer to storm with");
	test_require_free_bytes(t, 48 * MiB);
	if (kernel_pageheap.arena.limit < 64 * MiB)
		ktest_skip(t, "the arena's limit is below the stress's 64 MiB peak");
	struct memory_state before = memory_state();
	uint64_t bad_before = heap_stats()->bad_frees;
	ASSERT_TRUE(t, stress_setup(t, 0, cpus, 6000));
	memset(storm, 0, sizeof(storm));
	for (unsigned i = 0; i < cpus; i++)
		storm[i].w.rng = (uint32_t)(t->seed * 40503u) ^ (i + 7) * 0x9e3779b9u;
	trap_set_irq(APIC_TIMER_VECTOR, storm_tick);

	ASSERT_EQ(t, run_on_every_cpu(storm_work, NULL), cpus);
	expect_workers_clean(t, false);
	uint32_t ticks = 0, rewinds = 0, twice = 0, unheld = 0, bad_tags = 0, failures = 0;
	for (unsigned i = 0; i < cpus; i++) {
		ticks += storm[i].ticks;
		rewinds += storm[i].rewinds;
		twice += storm[i].w.handed_twice;
		unheld += storm[i].w.not_handed_out;
		bad_tags += storm[i].w.bad_tags;
		failures += storm[i].w.failures;
		EXPECT_GE(t, storm[i].ticks, STORM_MIN_TICKS);
	}
	ktest_note(t,
	           "%u timer interrupts on %u CPUs, each allocating and freeing; %u landed in a "
	           "fast path's restartable sequence and sent it back to its start",
	           ticks, cpus, rewinds);
	EXPECT_EQ(t, twice, 0);
	EXPECT_EQ(t, unheld, 0);
	EXPECT_EQ(t, bad_tags, 0);
	EXPECT_EQ(t, failures, 0);
	kfree(stress.shadow);
	expect_memory_back(t, &before);
	EXPECT_EQ(t, heap_stats()->bad_frees, bad_before);
}

static const struct ktest_case kmalloc_smp_cases[] = {
	KTEST_CASE(every_cpu_allocates_and_frees_blocks_of_every_size),
	KTEST_CASE(the_heap_is_checked_while_other_cpus_allocate),
	KTEST_CASE(every_cpu_churns_one_class),
	KTEST_CASE(neighbours_freed_on_every_cpu_at_once_leave_no_live_bit),
	KTEST_CASE(a_block_freed_on_every_cpu_at_once_is_freed_once),
	KTEST_CASE(every_cpu_grows_the_arena_contiguously),
	KTEST_CASE(every_cpu_grows_the_arena_past_an_obstacle),
	KTEST_CASE(an_interrupt_storm_allocates_on_every_cpu_as_it_allocates),
	KTEST_CASE(the_long_stress_when_asked),
};
/* What the cases leave on the CPUs' lists goes back, for the suites after. */
static void kmalloc_smp_exit(void)
{
	kmalloc_trim();
}

KTEST_SUITE(kmalloc_smp, kmalloc_smp_cases, NULL, kmalloc_smp_exit);
