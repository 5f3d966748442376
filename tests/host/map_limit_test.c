/*
 * tests/host/map_limit_test.c - the host library at the kernel's limit on a
 * process's mappings (vm.max_map_count), which setrlimit cannot lower: the
 * test fills the process's mappings itself, as glibc's tst-free-errno does,
 * by changing the protection of every other page of a large mapping until
 * Linux refuses; then the heap frees and allocates as ever.  In the
 * protecting mode a release then cannot protect its pages: it must not
 * abort, and the failure is counted and reported once.  Keeping mappings
 * whole (the malloc shim's mode), a release never changes a protection.
 * Usage: map_limit_test protect|whole; prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include "arch/host/setup.h"
#include "arch/host/vm_host.h"
#include "mm/kheap.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static unsigned passed, failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "not ok", what);
	ok ? passed++ : failed++;
}

static unsigned long max_map_count(void)
{
	unsigned long n = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 65530;
		fclose(f);
	}
	return n;
}

/* Splits a mapping of its own into single pages until Linux refuses a
 * split (ENOMEM), then adds single pages of alternating protection (each
 * one more mapping, not merged with its neighbour) until it refuses those
 * too; returns the mappings added. */
static unsigned long fill_mappings(unsigned long limit)
{
	size_t pages = (limit + 16) * 2;
	char *p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	unsigned long added = 0;
	for (size_t i = 1; i < pages; i += 2, added += 2)
		if (mprotect(p + i * 4096, 4096, PROT_READ) != 0)
			break;
	for (unsigned i = 0; i < 64; i++, added++)
		if (mmap(NULL, 4096, i % 2 ? PROT_READ : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		         0) == MAP_FAILED)
			break;
	return added;
}

enum { BLOCKS = 400, BLOCK = 36 * 1024 };

struct outcome {
	unsigned nulls, bad;
};

static void allocate(void **blocks, unsigned from, unsigned step, struct outcome *o)
{
	for (unsigned i = from; i < BLOCKS; i += step) {
		blocks[i] = kmalloc(BLOCK);
		if (blocks[i])
			memset(blocks[i], (int)i, BLOCK);
		o->nulls += !blocks[i];
	}
}

/* Every other block freed and its pages released: gaps in the middle of
 * what the heap maps. */
static void free_every_other(void **blocks)
{
	for (unsigned i = 0; i < BLOCKS; i += 2) {
		kfree(blocks[i]);
		blocks[i] = NULL;
	}
	kmalloc_trim();
}

static void check_and_free_all(void **blocks, struct outcome *o)
{
	for (unsigned i = 0; i < BLOCKS; i++) {
		const unsigned char *b = blocks[i];
		if (b)
			o->bad += b[0] != (unsigned char)i || b[BLOCK - 1] != (unsigned char)i;
		kfree(blocks[i]);
		blocks[i] = NULL;
	}
	kmalloc_trim();
}

/* Blocks of 36 KiB (large: whole pages of their own), every other one
 * freed and allocated again, all checked and freed. */
static struct outcome churn(void **blocks)
{
	struct outcome o = { 0, 0 };
	allocate(blocks, 0, 1, &o);
	free_every_other(blocks);
	allocate(blocks, 0, 2, &o);
	check_and_free_all(blocks, &o);
	return o;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int whole = argc > 1 && strcmp(argv[1], "whole") == 0;
	if (whole)
		vm_host_keep_mappings_whole();
	host_heap_init();
	static void *blocks[BLOCKS];
	/* The heap grown and used once before the limit, as in a program that
	 * has run a while; then blocks allocated, held across the limit. */
	struct outcome before_limit = churn(blocks);
	check(before_limit.nulls == 0 && before_limit.bad == 0,
	      "the heap frees and allocates before the limit");
	struct outcome held = { 0, 0 };
	allocate(blocks, 0, 1, &held);

	unsigned long limit = max_map_count(), added = fill_mappings(limit);
	void *probe = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int at_limit = probe == MAP_FAILED && errno == ENOMEM;
	if (probe != MAP_FAILED)
		munmap(probe, 4096);
	printf("# vm.max_map_count %lu: %lu mappings added, %s\n", limit, added,
	       at_limit ? "no more can be" : "more can still be");
	check(at_limit, "the process is at its limit of mappings");

	/* At the limit: every other held block freed (its pages released in
	 * the middle of mapped memory) and allocated again, all checked and
	 * freed; then a whole round. */
	struct vm_host_failures before, after;
	vm_host_get_failures(&before);
	free_every_other(blocks);
	struct outcome again = { 0, 0 };
	allocate(blocks, 0, 2, &again);
	check_and_free_all(blocks, &again);
	struct outcome round = churn(blocks);
	vm_host_get_failures(&after);
	printf("# at the limit: %u and %u NULLs, %lu protection changes refused, %lu madvise "
	       "refused\n",
	       again.nulls, round.nulls, after.protect - before.protect,
	       after.advise - before.advise);
	check(held.nulls == 0 && again.nulls == 0,
	      "at the limit, freed blocks are allocated again");
	check(held.bad == 0 && again.bad == 0 && round.bad == 0,
	      "every block handed out kept its contents");
	if (whole) {
		check(round.nulls == 0, "keeping mappings whole, a new round allocates everything");
		check(after.protect == 0 && after.advise == 0,
		      "keeping mappings whole, no release asks Linux for a mapping");
	} else {
		/* Releases that cannot protect their pages leave them writable;
		 * pages protected before the limit cannot be made writable again
		 * in the middle of a protected range (those allocations give
		 * NULL, as out of memory). */
		check(after.protect > before.protect,
		      "protecting, the releases Linux refused were counted (and reported once)");
	}
	check(kheap_check() == 0, "kheap_check() finds the heap whole");
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
