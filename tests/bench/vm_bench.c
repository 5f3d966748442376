/*
 * tests/bench/vm_bench.c - the cost of the memory foundations, in guest
 * instructions: frames, 4 KiB mappings, 4 MiB (PSE) mappings.  Zeroing is
 * measured on its own and subtracted, since its cost is the memory's, not
 * the mapping code's.
 */
#include "arch/i386/cpu.h"
#include "arch/i386/paging.h"
#include "kernel/memory.h"
#include "mm/vm.h"
#include "tests/kbench.h"

#define ROUNDS      16
#define BATCH_PAGES 256
#define BENCH_BASE  0x40000000u

static paddr_t frames[BATCH_PAGES];

KBENCH(pmm)
{
	/* Steady state: a frame allocated and freed again, as page tables and
	 * short-lived buffers do; served by the frame cache. */
	enum { PAIRS = 4096 };
	uint64_t t0 = rdtsc();
	for (unsigned i = 0; i < PAIRS; i++) {
		paddr_t f = pmm_alloc_frame(&kernel_pmm);
		__asm__ volatile("" : "+r"(f));
		pmm_free_frame(&kernel_pmm, f);
	}
	uint64_t pairs = rdtsc() - t0 - kbench_empty_loop(PAIRS);
	kbench_report("pmm_frame_alloc_free", pairs, PAIRS, "insn/frame");

	/* Many frames held at once: 256 allocated, then 256 freed, singly
	 * (the cache refills and spills in halves). */
	uint64_t total = 0;
	for (int r = 0; r < ROUNDS; r++) {
		t0 = rdtsc();
		for (int i = 0; i < BATCH_PAGES; i++)
			frames[i] = pmm_alloc_frame(&kernel_pmm);
		for (int i = 0; i < BATCH_PAGES; i++)
			pmm_free_frame(&kernel_pmm, frames[i]);
		total += rdtsc() - t0;
	}
	kbench_report("pmm_frame_alloc_free_256_held", total, ROUNDS * BATCH_PAGES, "insn/frame");

	/* The batch interface the page tables use. */
	total = 0;
	for (int r = 0; r < ROUNDS; r++) {
		t0 = rdtsc();
		pmm_alloc_frames(&kernel_pmm, frames, BATCH_PAGES);
		pmm_free_frames(&kernel_pmm, frames, BATCH_PAGES);
		total += rdtsc() - t0;
	}
	kbench_report("pmm_frames_batch_alloc_free", total, ROUNDS * BATCH_PAGES, "insn/frame");
}

/* Instructions memset takes to zero 'bytes' (the cost inside vm_map). */
static uint64_t zero_cost(uintptr_t at, size_t bytes)
{
	uint64_t t0 = rdtsc();
	memset((void *)at, 0, bytes);
	return rdtsc() - t0;
}

KBENCH(vm_map_4k)
{
	size_t n = BATCH_PAGES * PAGE_SIZE;
	uintptr_t v = vm_reserve(BENCH_BASE, 4 << 20, VM_TEST);
	/* Keep the page table in place between rounds: map one page beside. */
	vm_map(v + (2 << 20), PAGE_SIZE);
	uint64_t total = 0, zeroing = 0;
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = rdtsc();
		vm_map(v, n);
		vm_unused(v, n);
		total += rdtsc() - t0;
	}
	vm_map(v, n);
	for (int r = 0; r < ROUNDS; r++)
		zeroing += zero_cost(v, n);
	vm_free(v, 4 << 20);
	kbench_report("vm_map_unused_4k_with_zeroing", total, ROUNDS * BATCH_PAGES, "insn/page");
	kbench_report("vm_map_unused_4k", total - zeroing, ROUNDS * BATCH_PAGES, "insn/page");
	kbench_report("zero_4k", zeroing, ROUNDS * BATCH_PAGES, "insn/page");
}

KBENCH(vm_map_4m)
{
	if (!paging_has_pse() || kernel_pmm.stats.whole_slots < 1) {
		kprintf("# vm_map_4m: no PSE or no free 4 MiB slot\n");
		return;
	}
	size_t n = 4 << 20;
	uintptr_t v = vm_reserve(BENCH_BASE, n, VM_TEST);
	uint64_t total = 0, zeroing = 0;
	for (int r = 0; r < 4; r++) {
		uint64_t t0 = rdtsc();
		vm_map(v, n);
		vm_unused(v, n);
		total += rdtsc() - t0;
	}
	vm_map(v, n);
	for (int r = 0; r < 4; r++)
		zeroing += zero_cost(v, n);
	vm_unused(v, n);
	kbench_report("vm_map_unused_4m_pse", total - zeroing, 4, "insn/4MiB");

	/* The page-table work alone: a 4 MiB slot taken from the frame
	 * allocator, one PDE written, then cleared (and its TLB entry
	 * invalidated) and the run given back. */
	uint64_t t0 = rdtsc();
	for (int r = 0; r < 4; r++) {
		paging_map(v, n);
		paging_unmap(v, n);
	}
	total = rdtsc() - t0 - kbench_empty_loop(4);
	kbench_report("paging_map_unmap_4m_pse", total - zeroing, 4, "insn/4MiB");
	/* Each half on its own, for the breakdown. */
	uint64_t mapping = 0, unmapping = 0;
	for (int r = 0; r < 4; r++) {
		t0 = rdtsc();
		paging_map(v, n);
		uint64_t t1 = rdtsc();
		paging_unmap(v, n);
		uint64_t t2 = rdtsc();
		mapping += t1 - t0;
		unmapping += t2 - t1;
	}
	kbench_report("paging_map_4m_pse", mapping - zeroing, 4, "insn/4MiB");
	kbench_report("paging_unmap_4m_pse", unmapping, 4, "insn/4MiB");
	vm_free(v, n);
}
