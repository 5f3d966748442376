/*
 * tests/bench/kmalloc_bench.c - kmalloc in guest instructions: a kmalloc +
 * kfree pair of a small fixed size (the per-CPU cache's fast paths), one
 * operation of a mixed-size random workload, and the worst single operation
 * of that workload, excluding operations that mapped or released pages
 * (mapping and zeroing memory is the primitives' cost, measured on its own).
 */
#include "arch/i386/cpu.h"
#include "lib/format.h"
#include "mm/kheap.h"
#include "mm/vm.h"
#include "tests/kbench.h"

KBENCH(kmalloc_pair)
{
	static const size_t sizes[] = { 8, 32, 128, 1024, 8192 };
	enum { PAIRS = 10000 };
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		kfree(kmalloc(sizes[k])); /* warm: the class has a span */
		uint64_t t0 = rdtsc();
		for (unsigned i = 0; i < PAIRS; i++) {
			void *p = kmalloc(sizes[k]);
			__asm__ volatile("" : "+r"(p));
			kfree(p);
		}
		uint64_t total = rdtsc() - t0 - kbench_empty_loop(PAIRS);
		char name[48];
		ksnprintf(name, sizeof(name), "kmalloc_kfree_pair_%zu", sizes[k]);
		kbench_report(name, total, PAIRS, "insn/pair");
	}
}

static uint32_t rng_state = 2463534242u;
#define rng() kbench_rng(&rng_state)

KBENCH(kmalloc_mixed)
{
	enum { CELLS = 10000, OPS = 200000 };
	static void *cell[CELLS];
	uint64_t total = 0, worst = 0, counted = 0;
	for (unsigned op = 0; op < OPS; op++) {
		unsigned i = rng() % CELLS;
		struct vm_stats before, after;
		vm_get_stats(&before);
		size_t size = 8 + rng() % 4089;
		uint64_t t0 = rdtsc();
		if (cell[i]) {
			kfree(cell[i]);
			cell[i] = NULL;
		} else {
			cell[i] = kmalloc(size);
		}
		uint64_t dt = rdtsc() - t0;
		vm_get_stats(&after);
		/* Pages mapped (and zeroed) or released by this operation are the
		 * primitives' cost, reported by their own benchmarks. */
		if (after.mapped_bytes != before.mapped_bytes || op < CELLS)
			continue;
		total += dt;
		worst = dt > worst ? dt : worst;
		counted++;
	}
	for (unsigned i = 0; i < CELLS; i++)
		kfree(cell[i]);
	kbench_report("kmalloc_mixed_per_op", total, counted, "insn/op");
	kbench_report("kmalloc_mixed_worst_op", worst, 1, "insn");
	kmalloc_drain();
}
