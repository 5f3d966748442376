/*
 * mm/inject.h - fault injection: make the Nth event of a kind fail, or
 * each with a probability, so that tests can walk every failure path of a
 * sequence of calls (and a boot option can do it to the whole kernel).
 *
 * Two kinds, counted where mm/ meets its resources:
 *   mm_inject_frames    every frame the page tables ask for through the
 *                       pmm's backend operations (pmm_op_*: a single frame,
 *                       each frame of a batch, a 4 MiB slot): what mapping
 *                       the arena, its metadata and page tables costs;
 *   mm_inject_reserves  every vm_reserve call.
 * An injected failure looks like the real one (no frame; no room in the
 * address space), so the code above cannot tell them apart.  Off (all
 * zero) by default; each test of an event is one compare with memory (a
 * batch of frames is one event's test when off).
 */
#ifndef MM_INJECT_H
#define MM_INJECT_H

#include "mm/mm_env.h"

struct mm_injector {
	uint32_t armed;     /* countdown or ppm set: the one word the test reads */
	uint32_t countdown; /* N: the Nth event from now fails (once); 0: none */
	uint32_t ppm;       /* or each event fails with probability ppm / 10^6 */
	uint32_t rng;       /* xorshift state for ppm */
	uint32_t fired;     /* failures injected, ever */
};

extern struct mm_injector mm_inject_frames, mm_inject_reserves;

/* Arms 'in': the 'nth' event from now fails (0: none), and each fails with
 * probability ppm per million (0: none), drawn from 'seed'. */
void mm_inject_set(struct mm_injector *in, uint32_t nth, uint32_t ppm, uint32_t seed);

bool mm_inject_slow(struct mm_injector *in);

/* Whether this event fails.  Called with the lock that orders the events
 * held (the vm map's, for both kinds). */
static inline bool mm_inject(struct mm_injector *in)
{
	if (__builtin_expect(!in->armed, 1))
		return false;
	return mm_inject_slow(in);
}

#endif
