/*
 * mm/kfence.h - the guard-page sampler, in the spirit of Linux's KFENCE.
 *
 * With sampling on (kfence_set_sample(N), boot option kfence_sample=N), one
 * small allocation in N gets pages of its own: the object ends where an
 * unmapped guard page begins, so that an overflow faults at its first byte
 * past the (quantum-rounded) end, and its pages are unmapped when it is
 * freed, so that a use after free faults at once, on any CPU (the unmapping
 * shoots the page down everywhere).  The page-fault handler asks
 * kfence_handle_fault first: a fault on a sampled object's pages is
 * reported in one line naming the access, the object, its size and class,
 * and who allocated and freed it; the page is then mapped (zeroed) so that
 * the access is harmless, and the faulting code goes on.  The bytes of the
 * object's pages that are not the object (the rounding before the guard,
 * and the page before the object) hold a pattern checked at kfree, which
 * catches what the guard page cannot: an overflow of less than a quantum,
 * or one that stayed below the guard.
 *
 * KFENCE_SLOTS objects are tracked at once.  A freed object keeps its slot,
 * pages unmapped, until the slot is the oldest freed one and is needed
 * again, so that a use after free is caught for as long as possible; while
 * every slot holds a live object, allocations are not sampled (counted).
 *
 * Cost: sampling on routes every small kmalloc and kfree through the slow
 * paths (as kmalloc_debug does: the CPU lists get no room); a sampled
 * allocation maps its pages and unmaps its guard.  Off, nothing: the fast
 * paths are the same code.
 */
#ifndef MM_KFENCE_H
#define MM_KFENCE_H

#include "mm/mm_env.h"

#define KFENCE_SLOTS 64

/* Samples one small allocation in 'every' (1: all of them; 0: none).  Only
 * before kmalloc_init; false, with a message, after. */
bool kfence_set_sample(uint32_t every);
uint32_t kfence_sample_every(void);

/* A page fault at 'addr' (a write when 'write') from code at 'ip': true
 * when it hit a sampled object's guard page or freed pages, which is then
 * reported and made harmless (the access may be retried); false for any
 * other address. */
bool kfence_handle_fault(uintptr_t addr, bool write, uintptr_t ip);

struct kfence_stats {
	uint64_t sampled; /* allocations given guarded pages */
	uint64_t skipped; /* due for sampling, but no slot or no memory */
	uint64_t frees;   /* of sampled objects */
	uint64_t reports; /* faults and corruptions reported */
	uint32_t live;    /* sampled objects held now */
	uint64_t live_bytes;
};
void kfence_get_stats(struct kfence_stats *out);

/* The sampler's lock, taken and dropped from outside (kheap_hold). */
void kfence_hold(void);
void kfence_unhold(void);

#endif
