/* lib/ratelimit.c - limiting repeated diagnostics (ratelimit.h). */
#include "lib/ratelimit.h"
#include "lib/console.h"

#define FIRST_SUMMARY 100

static struct ratelimit *limiters; /* every limiter that has printed */

/* Safe on several CPUs at once without a lock (lib/ has none): the list
 * grows by compare-and-swap, each limiter joins it once, and the counts
 * are atomic.  A burst may print a few more than RATELIMIT_BURST lines when
 * CPUs race on its last one. */
bool ratelimit_allow(struct ratelimit *rl)
{
	if (!__atomic_load_n(&rl->listed, __ATOMIC_ACQUIRE) &&
	    !__atomic_exchange_n(&rl->listed, true, __ATOMIC_ACQ_REL)) {
		struct ratelimit *head = __atomic_load_n(&limiters, __ATOMIC_ACQUIRE);
		do
			rl->next = head;
		while (!__atomic_compare_exchange_n(&limiters, &head, rl, false, __ATOMIC_ACQ_REL,
		                                    __ATOMIC_ACQUIRE));
	}
	if (__atomic_load_n(&rl->printed, __ATOMIC_RELAXED) < RATELIMIT_BURST &&
	    __atomic_fetch_add(&rl->printed, 1, __ATOMIC_RELAXED) < RATELIMIT_BURST)
		return true;
	uint32_t suppressed = __atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
	/* 0: no summary yet since the last flush. */
	uint32_t next = __atomic_load_n(&rl->next_summary, __ATOMIC_RELAXED);
	if (suppressed == (next ? next : FIRST_SUMMARY)) {
		kprintf("%s: %u more like this suppressed so far\n", rl->what, suppressed);
		__atomic_store_n(&rl->next_summary,
		                 suppressed <= UINT32_MAX / 10 ? suppressed * 10 : UINT32_MAX,
		                 __ATOMIC_RELAXED);
	}
	return false;
}

void ratelimit_flush(void)
{
	for (struct ratelimit *rl = limiters; rl; rl = rl->next) {
		if (rl->suppressed)
			kprintf("%s: %u more like this suppressed\n", rl->what, rl->suppressed);
		rl->printed = rl->suppressed = rl->next_summary = 0;
	}
}
