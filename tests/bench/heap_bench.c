/*
 * tests/bench/heap_bench.c - the page heap and the arena, in guest
 * instructions: span allocation and free (mean and worst single operation
 * over a random workload of 100,000 operations, growth excluded), and
 * growing an arena by 1 GiB: four contiguous extensions of 256 MiB and the
 * mapping of every page, beyond zeroing.
 */
#include "arch/i386/cpu.h"
#include "mm/pageheap.h"
#include "tests/kbench.h"
#include "tests/target/test_util.h"

static struct pageheap bench_heap;
static struct span *held[1024];

static uint32_t rng_state = 12345;
#define rng() kbench_rng(&rng_state)

KBENCH(pageheap)
{
	if (!ph_init(&bench_heap, 0, 256 * MiB, 8 * MiB))
		return;
	bench_heap.scavenge_threshold_pages =
	        64 * MiB / PAGE_SIZE; /* measure the heap, not the scavenger */
	/* Warm up: the heap grows to its working size first. */
	for (unsigned i = 0; i < 1024; i++)
		held[i] = ph_alloc(&bench_heap, 1 + rng() % 16, false);
	for (unsigned i = 0; i < 1024; i += 2) {
		ph_free(&bench_heap, held[i]);
		held[i] = NULL;
	}

	enum { OPS = 100000 };
	uint64_t alloc_total = 0, free_total = 0, alloc_worst = 0, free_worst = 0;
	uint32_t allocs = 0, frees = 0;
	uint64_t grows = bench_heap.stats.grows;
	for (unsigned op = 0; op < OPS; op++) {
		unsigned i = rng() % 1024;
		if (held[i]) {
			uint64_t t0 = rdtsc();
			ph_free(&bench_heap, held[i]);
			uint64_t dt = rdtsc() - t0;
			free_total += dt;
			free_worst = dt > free_worst ? dt : free_worst;
			frees++;
			held[i] = NULL;
		} else {
			uint32_t n = 1 + rng() % 16;
			uint64_t t0 = rdtsc();
			held[i] = ph_alloc(&bench_heap, n, false);
			uint64_t dt = rdtsc() - t0;
			/* Growth maps and zeroes new memory: excluded, reported apart. */
			if (bench_heap.stats.grows != grows) {
				grows = bench_heap.stats.grows;
				continue;
			}
			alloc_total += dt;
			alloc_worst = dt > alloc_worst ? dt : alloc_worst;
			allocs++;
		}
	}
	kbench_report("span_alloc_mean", alloc_total, allocs, "insn");
	kbench_report("span_free_mean", free_total, frees, "insn");
	kbench_report("span_alloc_worst", alloc_worst, 1, "insn");
	kbench_report("span_free_worst", free_worst, 1, "insn");
	ph_destroy(&bench_heap);
}

KBENCH(arena_grow)
{
	/* Address space: reserve 1 GiB by contiguous extensions (4 steps). */
	if (!ph_init(&bench_heap, 0, 2048 * MiB, 256 * MiB))
		return;
	struct arena *a = &bench_heap.arena;
	uint64_t t0 = rdtsc();
	uint64_t mapped_bytes = 0, zeroing = 0;
	/* 1 GiB in 4 MiB pieces, each released at once so that any RAM will do;
	 * zeroing is timed on a piece and subtracted. */
	for (unsigned i = 0; i < 256; i++) {
		void *p = arena_sys_alloc(a, 4 * MiB);
		if (!p)
			break;
		mapped_bytes += 4 * MiB;
		arena_release(a, (uintptr_t)p, 4 * MiB);
	}
	uint64_t total = rdtsc() - t0;
	void *probe = arena_sys_alloc(a, 4 * MiB);
	if (probe) {
		uint64_t z0 = rdtsc();
		memset(probe, 0, 4 * MiB);
		zeroing = (rdtsc() - z0) * (mapped_bytes / (4 * MiB));
	}
	kbench_report("arena_grow_1GiB_with_zeroing", total, 1, "insn");
	kbench_report("arena_grow_1GiB", total - zeroing, 1, "insn");
	kbench_report("arena_grow_per_4MiB", total - zeroing, mapped_bytes / (4 * MiB), "insn");
	ph_destroy(&bench_heap);
}
