/*
 * tests/bench/kmalloc_smp_bench.c - kmalloc on several CPUs at once: the
 * guest instructions per operation of a concurrent workload, and mm/'s lock
 * acquisitions per 1,000 operations.
 *
 * The work is the same whatever the CPUs: WORKERS workers, each OPS random
 * kmallocs and kfrees (8 B to 64 KiB, weighted to small) over a table of
 * its own, passing some of its blocks through rings to the others, which
 * free them.  At -smp 4 each worker has a CPU; at -smp 1 the four take
 * turns of TURN operations on the one CPU.  Under -icount the clock counts
 * every CPU's instructions, spinning included, so the figure at -smp 4 is
 * the whole machine's work: the ratio of the two (make bench prints it) is
 * what running in parallel costs - contention, remote frees, the
 * shootdowns' calls.
 */
#include "arch/i386/cpu.h"
#include "arch/i386/ipi.h"
#include "arch/i386/percpu.h"
#include "arch/i386/spinlock.h"
#include "kernel/console.h"
#include "kernel/smp.h"
#include "lib/format.h"
#include "mm/kheap.h"
#include "tests/kbench.h"
#include "tests/target/test_util.h"

#define WORKERS 4
#define OPS     20000
#define SLOTS   64
#define TURN    64
#define RING    32

static struct worker {
	uint32_t rng;
	uint32_t done;
	unsigned count;
	void *held[SLOTS];
} workers[WORKERS];

static struct ring {
	spinlock_t lock;
	uint32_t head, tail;
	void *items[RING];
} rings[WORKERS];

static volatile uint32_t producing;

static uint32_t next_random(struct worker *w)
{
	return test_xorshift32(&w->rng);
}

/* 90% up to 256 B, 9.5% to 8 KiB, 0.5% to 64 KiB. */
static uint32_t random_size(struct worker *w)
{
	uint32_t r = next_random(w) % 1000, x = next_random(w);
	if (r < 900)
		return 8 + x % 249;
	if (r < 995)
		return 257 + x % (8192 - 257);
	return 8193 + x % (64 * 1024 - 8193);
}

static bool pass(unsigned to, void *p)
{
	struct ring *r = &rings[to];
	uint32_t flags = spin_lock_irqsave(&r->lock);
	bool room = r->head - r->tail < RING;
	if (room)
		r->items[r->head++ % RING] = p;
	spin_unlock_irqrestore(&r->lock, flags);
	return room;
}

/* Frees what the others passed to worker 'me'; true when there was any. */
static bool take_passed(unsigned me)
{
	struct ring *r = &rings[me];
	bool any = false;
	for (;;) {
		uint32_t flags = spin_lock_irqsave(&r->lock);
		void *p = r->head != r->tail ? r->items[r->tail++ % RING] : NULL;
		spin_unlock_irqrestore(&r->lock, flags);
		if (!p)
			return any;
		kfree(p);
		any = true;
	}
}

/* Up to n more operations of worker 'me'. */
static void steps(unsigned me, uint32_t n)
{
	struct worker *w = &workers[me];
	for (; n && w->done < OPS; n--, w->done++) {
		take_passed(me);
		uint32_t r = next_random(w) % 100;
		if (w->count < SLOTS && (w->count == 0 || r < 50)) {
			uint32_t *p = kmalloc(random_size(w));
			if (p) {
				*p = me;
				w->held[w->count++] = p;
			}
			continue;
		}
		unsigned i = next_random(w) % w->count;
		void *p = w->held[i];
		w->held[i] = w->held[--w->count];
		unsigned to = (me + 1 + next_random(w) % (WORKERS - 1)) % WORKERS;
		if (r < 70 && pass(to, p))
			continue;
		kfree(p);
	}
}

static void release_held(unsigned me)
{
	struct worker *w = &workers[me];
	while (w->count)
		kfree(w->held[--w->count]);
}

/* A CPU's whole share at -smp 4, interrupts on (calls answered at once). */
static void run_worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint32_t flags = irq_save();
	irq_restore(flags | EFLAGS_IF);
	steps(me, OPS);
	release_held(me);
	__atomic_fetch_sub(&producing, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&producing, __ATOMIC_ACQUIRE) || take_passed(me))
		__asm__ volatile("pause");
	irq_restore(flags);
}

static uint32_t locks_taken(void)
{
	uint32_t n = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		n += __atomic_load_n(&percpu_areas[i].mm_locks, __ATOMIC_RELAXED);
	return n;
}

KBENCH(kmalloc_smp)
{
	unsigned cpus = smp_cpus_online();
	if (cpus != 1 && cpus < WORKERS) {
		kprintf("# kmalloc_smp: %u CPUs online: needs 1 or at least %u\n", cpus, WORKERS);
		return;
	}
	memset(workers, 0, sizeof(workers));
	memset(rings, 0, sizeof(rings));
	for (unsigned i = 0; i < WORKERS; i++)
		workers[i].rng = 0x9e3779b9u * (i + 1);
	producing = WORKERS;
	kmalloc_trim();
	uint32_t locks = locks_taken();
	uint64_t t0 = rdtsc();
	if (cpus == 1) {
		for (bool left = true; left;) {
			left = false;
			for (unsigned me = 0; me < WORKERS; me++) {
				steps(me, TURN);
				left |= workers[me].done < OPS;
			}
		}
		for (unsigned me = 0; me < WORKERS; me++)
			release_held(me);
		for (unsigned me = 0; me < WORKERS; me++)
			take_passed(me);
	} else {
		struct ipi_ticket tickets[WORKERS];
		for (unsigned i = 1; i < WORKERS; i++)
			ipi_post(i, run_worker, (void *)(uintptr_t)i, &tickets[i]);
		run_worker((void *)0);
		for (unsigned i = 1; i < WORKERS; i++)
			ipi_wait(&tickets[i]);
	}
	uint64_t total = rdtsc() - t0;
	locks = locks_taken() - locks;
	unsigned on = cpus == 1 ? 1 : WORKERS;
	char name[64];
	ksnprintf(name, sizeof(name), "kmalloc_concurrent_per_op_%ucpu", on);
	kbench_report(name, total, (uint64_t)WORKERS * OPS, "insn/op");
	ksnprintf(name, sizeof(name), "kmalloc_concurrent_locks_per_1000_ops_%ucpu", on);
	kbench_report(name, (uint64_t)locks * 1000, (uint64_t)WORKERS * OPS, "locks");
	kmalloc_trim();
}
