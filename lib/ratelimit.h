/*
 * lib/ratelimit.h - keeping a repeated diagnostic from flooding the
 * console, after Linux's printk_ratelimited.
 *
 * Each call site that may repeat (a bad free, a refused vm call, a failure
 * to find frames) has a struct ratelimit of its own.  Of a run of calls, the
 * first RATELIMIT_BURST print; the others are counted, and a summary line,
 * "<what>: N more like this suppressed", comes when the count reaches 100,
 * 1,000, 10,000 and so on, and at the next ratelimit_flush().  Nothing is
 * lost: every suppressed line is counted and reported.
 *
 * Linux opens a new burst after an interval of time; this kernel has no
 * clock it can rely on (a 486 has no time-stamp counter), so a burst opens
 * again at ratelimit_flush(), which the self-tests call after every case and
 * the kernel at the end of the run.  Like kprintf, callable from anywhere
 * and on several CPUs at once (atomic counts); ratelimit_flush from one.
 */
#ifndef LIB_RATELIMIT_H
#define LIB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_BURST 10

struct ratelimit {
	const char *what;      /* names the diagnostic in the summary line */
	uint32_t printed;      /* in this burst */
	uint32_t suppressed;   /* since the burst filled */
	uint32_t next_summary; /* suppressed count of the next summary line (0: the first) */
	bool listed;           /* on the list that ratelimit_flush walks */
	struct ratelimit *next;
};

#define RATELIMIT_INIT(description)   \
	{                             \
		.what = (description) \
	}

/* Whether this call may print; counts it when not. */
bool ratelimit_allow(struct ratelimit *rl);

/* Reports what every limiter suppressed since its burst filled, and opens a
 * new burst for each. */
void ratelimit_flush(void);

/* kprintf, limited per call site. */
#define kprintf_ratelimited(description, ...)                                          \
	do {                                                                           \
		static struct ratelimit ratelimit_site_ = RATELIMIT_INIT(description); \
		if (ratelimit_allow(&ratelimit_site_))                                 \
			kprintf(__VA_ARGS__);                                          \
	} while (0)

#endif
