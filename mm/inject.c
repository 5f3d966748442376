/* mm/inject.c - fault injection (inject.h). */
#include "mm/inject.h"

struct mm_injector mm_inject_frames, mm_inject_reserves;

void mm_inject_set(struct mm_injector *in, uint32_t nth, uint32_t ppm, uint32_t seed)
{
	in->countdown = nth;
	in->ppm = ppm;
	in->rng = seed ? seed : 2463534242u;
	in->armed = nth || ppm;
}

bool mm_inject_slow(struct mm_injector *in)
{
	bool fail = false;
	if (in->countdown && --in->countdown == 0)
		fail = true;
	if (in->ppm) {
		uint32_t x = in->rng;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		in->rng = x;
		fail |= x % 1000000u < in->ppm;
	}
	in->fired += fail;
	in->armed = in->countdown || in->ppm;
	return fail;
}
