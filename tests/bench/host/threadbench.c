/*
 * tests/bench/host/threadbench.c - the multi-threaded workloads of make
 * bench, against whatever malloc the program runs on (glibc's, or a peer's
 * or libmm_malloc.so put in its place with LD_PRELOAD), in the style of two
 * well-known allocator stress tests:
 *
 *   larson   each thread keeps an array of SLOTS blocks of 8 to 1000 bytes
 *            and replaces a random one per step (a free and a malloc); every
 *            ROUND steps the threads pass their arrays on, so that a
 *            thread frees blocks another one allocated (after Larson and
 *            Krishnan's server simulation);
 *   xmalloc  producers allocate blocks of 16 to 512 bytes and hand them,
 *            BATCH at a time, to consumers that free them: every free is
 *            remote (after xmalloc-test).  With one thread, it produces a
 *            batch and frees it itself.
 *
 * Usage: threadbench WORKLOAD THREADS MODE
 *   MODE  count  - run under callgrind: the counting is switched on around
 *                  the workload (instructions per call come from the
 *                  collection toggled on malloc and free)
 *         time   - the workload's wall time
 * Prints one line of key=value figures: calls (mallocs and frees), ns, the
 * peak resident set (KiB) of the process and its resident set before the
 * workload, and for xmalloc the most bytes its blocks held at once (the
 * bytes asked for, counted a batch at a time from the first malloc of a
 * batch to the last free): how far the producers ran ahead, which the
 * scheduler and the allocator's speed decide, so that the memory an
 * allocator takes beyond them can be told apart.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#define MAX_THREADS 16
#define SLOTS       1000
#define ROUND       20000
#define BATCH       256
/* Batches waiting at most: the memory measured is the allocators', not the
 * scheduler's. */
#define QUEUED_MAX 64

static unsigned threads;
static uint64_t steps_per_thread;
static pthread_barrier_t barrier;

struct thread_state {
	uint64_t rng, calls;
	unsigned index;
} __attribute__((aligned(64)));

static struct thread_state state[MAX_THREADS];

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- larson ---- */

static void **arrays[MAX_THREADS];

static void *larson(void *arg)
{
	struct thread_state *t = arg;
	unsigned mine = t->index;
	for (uint64_t step = 0; step < steps_per_thread; step++) {
		if (step % ROUND == 0 && step) {
			/* Pass the arrays on: thread i takes i + 1's. */
			pthread_barrier_wait(&barrier);
			mine = (mine + 1) % threads;
			pthread_barrier_wait(&barrier);
		}
		uint64_t r = next_random(&t->rng);
		void **slot = &arrays[mine][r % SLOTS];
		free(*slot);
		*slot = malloc(8 + (r >> 32) % 993);
		((char *)*slot)[0] = (char)r;
		t->calls += 2;
	}
	return NULL;
}

static void larson_setup(void)
{
	for (unsigned i = 0; i < threads; i++) {
		arrays[i] = calloc(SLOTS, sizeof(void *));
		uint64_t s = 0x9e3779b97f4a7c15u * (i + 1);
		for (unsigned k = 0; k < SLOTS; k++)
			arrays[i][k] = malloc(8 + next_random(&s) % 993);
	}
}

static void larson_teardown(void)
{
	for (unsigned i = 0; i < threads; i++) {
		for (unsigned k = 0; k < SLOTS; k++)
			free(arrays[i][k]);
		free(arrays[i]);
	}
}

/* ---- xmalloc ---- */

struct batch {
	struct batch *next;
	size_t bytes; /* asked for, all its blocks */
	void *blocks[BATCH];
};

/* Bytes of the batches whose blocks are held, and the most there were. */
static size_t live_bytes, peak_live_bytes;

static void live_add(size_t bytes)
{
	size_t now = __atomic_add_fetch(&live_bytes, bytes, __ATOMIC_RELAXED);
	size_t peak = __atomic_load_n(&peak_live_bytes, __ATOMIC_RELAXED);
	while (now > peak && !__atomic_compare_exchange_n(&peak_live_bytes, &peak, now, 1,
	                                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more, space;
	struct batch *head;
	unsigned queued, producers_left;
} queue = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0
};

static void produce(struct thread_state *t, struct batch *b)
{
	b->bytes = 0;
	for (unsigned i = 0; i < BATCH; i++) {
		uint64_t r = next_random(&t->rng);
		size_t size = 16 + r % 497;
		b->blocks[i] = malloc(size);
		((char *)b->blocks[i])[0] = (char)r;
		b->bytes += size;
	}
	live_add(b->bytes);
	t->calls += BATCH;
}

static void consume(struct thread_state *t, struct batch *b)
{
	for (unsigned i = 0; i < BATCH; i++)
		free(b->blocks[i]);
	__atomic_sub_fetch(&live_bytes, b->bytes, __ATOMIC_RELAXED);
	t->calls += BATCH;
}

static void *xmalloc_producer(void *arg)
{
	struct thread_state *t = arg;
	for (uint64_t n = 0; n < steps_per_thread / BATCH; n++) {
		struct batch *b = malloc(sizeof(*b));
		t->calls++;
		produce(t, b);
		pthread_mutex_lock(&queue.lock);
		while (queue.queued >= QUEUED_MAX)
			pthread_cond_wait(&queue.space, &queue.lock);
		b->next = queue.head;
		queue.head = b;
		queue.queued++;
		pthread_cond_signal(&queue.more);
		pthread_mutex_unlock(&queue.lock);
	}
	pthread_mutex_lock(&queue.lock);
	queue.producers_left--;
	pthread_cond_broadcast(&queue.more);
	pthread_mutex_unlock(&queue.lock);
	return NULL;
}

static void *xmalloc_consumer(void *arg)
{
	struct thread_state *t = arg;
	for (;;) {
		pthread_mutex_lock(&queue.lock);
		while (!queue.head && queue.producers_left)
			pthread_cond_wait(&queue.more, &queue.lock);
		struct batch *b = queue.head;
		if (b) {
			queue.head = b->next;
			queue.queued--;
			pthread_cond_signal(&queue.space);
		}
		pthread_mutex_unlock(&queue.lock);
		if (!b)
			return NULL;
		consume(t, b);
		free(b);
		t->calls++;
	}
}

static void *xmalloc_alone(void *arg)
{
	struct thread_state *t = arg;
	for (uint64_t n = 0; n < steps_per_thread / BATCH; n++) {
		struct batch *b = malloc(sizeof(*b));
		produce(t, b);
		consume(t, b);
		free(b);
		t->calls += 2;
	}
	return NULL;
}

/* A figure of this process's /proc/self/status, in KiB: VmHWM, the peak
 * resident set, which (unlike getrusage's ru_maxrss) does not carry the
 * parent's over an exec, or VmRSS, the resident set now. */
static long status_kib(const char *key)
{
	long kib = -1;
	char line[128];
	size_t len = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, len) == 0 && line[len] == ':' &&
		    sscanf(line + len + 1, "%ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: threadbench larson|xmalloc THREADS count|time\n");
		return 2;
	}
	const char *workload = argv[1], *mode = argv[3];
	threads = (unsigned)atoi(argv[2]);
	if (threads < 1 || threads > MAX_THREADS)
		return 2;
	int is_larson = strcmp(workload, "larson") == 0;
	/* The same work in all whatever the thread count. */
	uint64_t total = strcmp(mode, "count") == 0 ? 400000 : 4000000;
	steps_per_thread = total / threads;
	pthread_barrier_init(&barrier, NULL, threads);
	if (is_larson)
		larson_setup();

	pthread_t ids[MAX_THREADS];
	struct timespec t0, t1;
	long rss_before = status_kib("VmRSS");
	CALLGRIND_START_INSTRUMENTATION;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (is_larson || threads == 1) {
		for (unsigned i = 0; i < threads; i++) {
			state[i] = (struct thread_state){ .rng = 0x243f6a8885a308d3u * (i + 1),
				                          .index = i };
			pthread_create(&ids[i], NULL, is_larson ? larson : xmalloc_alone,
			               &state[i]);
		}
	} else {
		/* Half produce (each the work of two threads), half consume. */
		unsigned producers = threads / 2;
		steps_per_thread = total / producers;
		queue.producers_left = producers;
		for (unsigned i = 0; i < threads; i++) {
			state[i] = (struct thread_state){ .rng = 0x243f6a8885a308d3u * (i + 1),
				                          .index = i };
			pthread_create(&ids[i], NULL,
			               i < producers ? xmalloc_producer : xmalloc_consumer,
			               &state[i]);
		}
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_join(ids[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CALLGRIND_STOP_INSTRUMENTATION;
	if (is_larson)
		larson_teardown();

	uint64_t calls = 0;
	for (unsigned i = 0; i < threads; i++)
		calls += state[i].calls;
	printf("calls=%llu ns=%lld peak_rss_kib=%ld rss_before_kib=%ld peak_live_kib=%zu\n",
	       (unsigned long long)calls,
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
	       status_kib("VmHWM"), rss_before, peak_live_bytes >> 10);
	return 0;
}
