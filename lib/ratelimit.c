/* lib/ratelimit.c - limiting repeated diagnostics (ratelimit.h). */
#include "lib/ratelimit.h"
#include "lib/console.h"

#define FIRST_SUMMARY 100

static struct ratelimit *limiters; /* every limiter that has printed */

bool ratelimit_allow(struct ratelimit *rl)
{
	if (!rl->listed) {
		rl->listed = true;
		rl->next = limiters;
		limiters = rl;
	}
	if (rl->printed < RATELIMIT_BURST) {
		rl->printed++;
		return true;
	}
	if (rl->suppressed == 0)
		rl->next_summary = FIRST_SUMMARY;
	if (++rl->suppressed == rl->next_summary) {
		kprintf("%s: %u more like this suppressed so far\n", rl->what, rl->suppressed);
		rl->next_summary = rl->next_summary <= UINT32_MAX / 10 ? rl->next_summary * 10 : 0;
	}
	return false;
}

void ratelimit_flush(void)
{
	for (struct ratelimit *rl = limiters; rl; rl = rl->next) {
		if (rl->suppressed)
			kprintf("%s: %u more like this suppressed\n", rl->what, rl->suppressed);
		rl->printed = rl->suppressed = 0;
	}
}
