/*
 * kernel/map_demo.c - the demonstration `make map` draws (demo=map): the
 * heap's address space after the arena has grown step by step, met another
 * owner's reservation at its end and fallen back past it, given spans back,
 * and grown its metadata; then the map, as "vm raw" prints it.
 */
#include "kernel/map_demo.h"
#include "kernel/console.h"
#include "kernel/shell.h"
#include "mm/kheap.h"
#include "mm/vm.h"

#define MiB        (1024u * 1024u)
#define DEMO_HELD  48
#define DEMO_SMALL 600

static void *held[DEMO_HELD], *small[DEMO_SMALL];

void map_demo(void)
{
	const struct arena *a = &kernel_pageheap.arena;
	kprintf("map demo: the arena [%p, %p) with limit %p\n", (void *)a->start, (void *)a->end,
	        (void *)(uintptr_t)(a->start + a->limit));
	unsigned n = 0;
	/* Growth: blocks of 1 MiB and small objects, past the first step. */
	while (n < 12)
		held[n++] = kmalloc(MiB - 4096);
	for (unsigned i = 0; i < 2000; i++)
		kfree(kmalloc(24 + i % 1000)); /* spans of small classes, and live bits */
	for (unsigned i = 0; i < DEMO_SMALL; i++)
		small[i] = kmalloc(16 + (i * 37) % 2000); /* small-object spans, kept */
	/* Another owner takes the slot at the arena's end: the next growth
	 * cannot extend it there and falls back past the obstacle. */
	uintptr_t obstacle = vm_reserve(a->end, SLOT_SIZE, VM_OTHER);
	kprintf("map demo: another owner reserved [%p, %p), at the arena's end\n", (void *)obstacle,
	        (void *)(obstacle + SLOT_SIZE));
	while (n < 24)
		held[n++] = kmalloc(2 * MiB);
	/* Spans given back: every other large block freed, the idle frames
	 * released. */
	for (unsigned i = 0; i < 12; i += 2) {
		kfree(held[i]);
		held[i] = NULL;
	}
	kfree(held[20]);
	held[20] = NULL;
	kmalloc_trim();
	kfree(held[1]); /* free again, its pages still mapped */
	held[1] = NULL;
	/* A small object freed after the trim stays on this CPU's list: the
	 * pointer is kept (never used again) for the gdb helpers' test to ask
	 * "span" about a cached object. */
	kfree(small[1]);
	kprintf("map demo: %u fallbacks, %u extensions; %llu KiB mapped, %llu KiB released\n",
	        a->stats.fallbacks, a->stats.extensions,
	        (unsigned long long)(a->stats.mapped_bytes >> 10),
	        (unsigned long long)(a->stats.released_bytes >> 10));
	shell_print_map();
}
