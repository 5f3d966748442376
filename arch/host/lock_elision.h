/*
 * arch/host/lock_elision.h - the fast paths' lock prefixes, taken out while
 * a single thread uses the heap (libmm_malloc.so).
 *
 * kmalloc and kfree set and clear an object's live bit with a locked
 * bts/btr, because another thread may change a neighbouring bit of the
 * same word at the same moment.  While one thread alone uses the heap,
 * none can, and the lock is most of what the pair costs: on the programs
 * of the threaded benchmark, which have one thread, 7-10% of their run.
 * So, as Linux does with its own lock prefixes on a machine with one CPU
 * (SMP alternatives), the shim's live-bit operations record where their
 * prefixes are (MM_BIT_LOCK_PREFIX in arch/host/env.h, for mm/bitops.h: a
 * table in the section host_lock_sites), and host_lock_elision_start,
 * called once the heap is set up, rewrites each into a DS segment prefix
 * (0x3e: the same length, and no effect) if the thread that set the heap
 * up is the only one to have used it and no debug mode is on.
 *
 * A thread uses the heap only once it has a slot: its first call of any
 * kind takes a slow path, which attaches it (arch/host/threads.c) before
 * it touches a live bit (only the debug modes' paths touch one first,
 * and with a debug mode on the prefixes stay in).  host_lock_elision_attach, called by every
 * attach, puts the lock prefixes back at the first attach after the one
 * that set the heap up, before that thread goes on, and then waits
 * (membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) until every
 * other running thread of the process has executed a serializing
 * instruction: from then on none can run an unlocked bts or btr, and an
 * instruction cannot be half run.  Until then only the first thread
 * touches live bits, locked or not.  The prefixes stay in for good.
 *
 * Each step that can fail leaves the prefixes in: a kernel without
 * membarrier's SYNC_CORE, code that cannot be made writable (the whole
 * segment is changed, so that no mapping is split), a site that does not
 * hold a lock prefix.  Putting them back waits, reporting once, until the
 * code can be made writable again: the new thread waits, and the heap is
 * never used by two threads without its locks.
 */
#ifndef ARCH_HOST_LOCK_ELISION_H
#define ARCH_HOST_LOCK_ELISION_H

#include <stdbool.h>

/* After kmalloc_init, from the thread that ran it: takes the prefixes out
 * if it may (host_lock_elision_get says whether, and why not). */
void host_lock_elision_start(void);
/* From every attach of a thread to a slot, before it goes on. */
void host_lock_elision_attach(void);
/* Around fork (the shim's pthread_atfork handlers): the state is held
 * across it, and a child registers for membarrier as a process of its
 * own. */
void host_lock_elision_before_fork(void);
void host_lock_elision_after_fork(bool child);

struct host_lock_elision {
	unsigned sites;         /* lock prefixes recorded */
	unsigned locked;        /* of those, holding a lock prefix now */
	bool restored;          /* put back since they were taken out */
	const char *not_elided; /* why they were never taken out; NULL: they were */
};
void host_lock_elision_get(struct host_lock_elision *out);

#endif
