/*
 * mm/kheap.h - kmalloc's heap, for the kernel and the tests: the page heap
 * under it, its set-up, and the size classes.  Code that only allocates
 * needs mm/kmalloc.h alone.
 */
#ifndef MM_KHEAP_H
#define MM_KHEAP_H

#include "mm/kmalloc.h"
#include "mm/pageheap.h"

/* The page heap under kmalloc. */
extern struct pageheap kernel_pageheap;

/*
 * Sets kmalloc's heap up over a new arena (arena_init's arguments), once.
 * The kernel calls it at boot (kernel/memory.c), the host world before main
 * (arch/host/setup.c).  False, with a message, when the arena cannot be set
 * up or the heap is set up already.  Any use of the heap before it is a
 * panic that says so.
 */
bool kmalloc_init(uintptr_t base, uint64_t limit, uint64_t step);

/* Sets up the running CPU's lists (kmalloc_init does the calling CPU's):
 * every other CPU calls it once, before its first allocation.  False, with
 * a message, when their slots (slots_per_cpu pointers of persistent
 * metadata) cannot be had: the CPU must then not allocate. */
bool kmalloc_cpu_init(void);

/* The running CPU stops using the heap (a host thread that exits; a CPU
 * taken offline): every object on its lists goes back to its span.  Its
 * counters stay, and a later kmalloc_cpu_init on it finds its lists set up
 * and empty.  Call with no lock held. */
void kmalloc_cpu_exit(void);

/* Every lock of the heap, held until kheap_release (with interrupts
 * off): around a host program's fork, so that the child finds no lock
 * held by a thread it does not have.  Nothing else may be called between. */
void kheap_hold(void);
void kheap_release(void);

/* Returns every cached free object, on every CPU's lists (each CPU is
 * asked to hand its lists over) and on every class's transfer stack, to
 * its span and every empty span to the page heap (for tests and memory
 * pressure).  Call with no lock held. */
void kmalloc_drain(void);

/* Gives every frame the heap holds idle back to the frame pool: the
 * CPU lists, transfer stacks and empty spans (kmalloc_drain), then every
 * free page still mapped, whatever the scavenger would keep (the recent
 * peak, the rule of thirds).  For the kernel's own memory pressure (the heap does
 * it itself before an allocation fails); returns the bytes given back. */
uint64_t kmalloc_trim(void);

/* Objects of class 'cls' on CPU 'cpu's list now: a snapshot for the
 * console (that CPU may be changing it); 0 for a CPU without lists. */
uint32_t kmalloc_cached_on(unsigned cpu, unsigned cls);

/* The size class serving 'size' bytes (size <= KMALLOC_MAX_SMALL), and the
 * object size of a class: for tests and statistics. */
unsigned kmalloc_class_of(size_t size);
uint32_t kmalloc_class_size(unsigned cls);
unsigned kmalloc_class_count(void);

#endif
