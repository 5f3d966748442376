/*
 * tests/host/threads_test.c - the host library under threads, built with
 * ThreadSanitizer (make test's host-threads_test): threads in the CPUs'
 * place (arch/host/env.h) allocate, reallocate, free their own blocks and
 * each other's, with every block's contents checked and a shadow map of
 * the live blocks (a block handed out twice is caught there); threads exit
 * and new ones take their slots; at the end every block is back, no
 * thread's list holds anything, and kheap_check() is clean.
 * Usage: threads_test [threads [operations [seed]]]; prints
 * "N passed, N failed".
 */
#include "arch/host/setup.h"
#include "mm/kheap.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 16
#define HELD        64  /* blocks a thread holds at most */
#define MAILBOX     256 /* blocks waiting for another thread to free them */
#define SHADOW_BITS 16  /* the shadow map: 64 Ki buckets */

static unsigned passed, failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "not ok", what);
	ok ? passed++ : failed++;
}

/* A block's first 16 bytes say who made it and how long it is; the rest
 * holds a byte of its tag.  Blocks of fewer than 16 bytes hold the byte. */
struct block {
	uint8_t *p;
	size_t size;
	uint64_t tag;
};

static void fill(const struct block *b)
{
	memset(b->p, (int)(b->tag & 0xff), b->size);
	if (b->size >= 16) {
		memcpy(b->p, &b->tag, 8);
		memcpy(b->p + 8, &b->size, 8);
	}
}

/* What byte k of block b holds. */
static uint8_t expected_byte(const struct block *b, size_t k)
{
	if (b->size >= 16 && k < 16) {
		uint8_t head[16];
		memcpy(head, &b->tag, 8);
		memcpy(head + 8, &b->size, 8);
		return head[k];
	}
	return (uint8_t)(b->tag & 0xff);
}

static int intact(const struct block *b)
{
	size_t from = 0;
	if (b->size >= 16) {
		uint64_t tag;
		size_t size;
		memcpy(&tag, b->p, 8);
		memcpy(&size, b->p + 8, 8);
		if (tag != b->tag || size != b->size)
			return 0;
		from = 16;
	}
	for (size_t i = from; i < b->size; i++)
		if (b->p[i] != (uint8_t)(b->tag & 0xff))
			return 0;
	return 1;
}

/* ---- the shadow map: every live block, once ---- */

static struct {
	pthread_mutex_t lock;
	uintptr_t *slots; /* open addressing; 0 empty, 1 deleted */
	size_t size;
} shadow = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

static size_t bucket(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15u >> (64 - SHADOW_BITS));
}

/* False when p is live already (handed out twice). */
static int shadow_add(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	pthread_mutex_lock(&shadow.lock);
	size_t i = bucket(p), free_at = SIZE_MAX;
	for (;; i = (i + 1) & (shadow.size - 1)) {
		if (shadow.slots[i] == p) {
			pthread_mutex_unlock(&shadow.lock);
			return 0;
		}
		if (shadow.slots[i] == 1 && free_at == SIZE_MAX)
			free_at = i;
		if (shadow.slots[i] == 0)
			break;
	}
	shadow.slots[free_at != SIZE_MAX ? free_at : i] = p;
	pthread_mutex_unlock(&shadow.lock);
	return 1;
}

/* False when p is not live. */
static int shadow_remove(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	pthread_mutex_lock(&shadow.lock);
	for (size_t i = bucket(p); shadow.slots[i]; i = (i + 1) & (shadow.size - 1))
		if (shadow.slots[i] == p) {
			shadow.slots[i] = 1;
			pthread_mutex_unlock(&shadow.lock);
			return 1;
		}
	pthread_mutex_unlock(&shadow.lock);
	return 0;
}

/* ---- the workers ---- */

struct mailbox {
	pthread_mutex_t lock;
	struct block blocks[MAILBOX];
	unsigned count;
};

struct worker {
	unsigned index, threads;
	uint64_t rng;
	uint32_t ops;
	struct block held[HELD];
	unsigned count;
	/* What it found. */
	unsigned broken, twice, unknown, nulls, sent, received;
};

static struct mailbox mailboxes[MAX_THREADS];
static struct worker workers[MAX_THREADS];

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mostly small, some up to 32 KiB (classes and whole pages), one in 64 up to 1 MiB. */
static size_t random_size(uint64_t *s)
{
	uint64_t r = next_random(s);
	if (r % 64 == 0)
		return 1 + (r >> 8) % 1048576;
	if (r % 8 == 1)
		return 1 + (r >> 8) % 32768;
	return 1 + (r >> 8) % 512;
}

static void take(struct worker *w, struct block *b)
{
	w->broken += !intact(b);
	w->unknown += !shadow_remove(b->p);
}

static void make(struct worker *w, struct block *b, void *p, size_t size)
{
	b->p = p;
	b->size = size;
	b->tag = next_random(&w->rng);
	w->twice += !shadow_add(p);
	fill(b);
}

static void receive_all(struct worker *w)
{
	struct mailbox *m = &mailboxes[w->index];
	struct block got[MAILBOX];
	pthread_mutex_lock(&m->lock);
	unsigned n = m->count;
	memcpy(got, m->blocks, n * sizeof(got[0]));
	m->count = 0;
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < n; i++) {
		take(w, &got[i]);
		kfree(got[i].p); /* freed on another thread than its own */
	}
	w->received += n;
}

/* False when the mailbox is full. */
static int send(struct worker *w, unsigned to, const struct block *b)
{
	struct mailbox *m = &mailboxes[to];
	pthread_mutex_lock(&m->lock);
	int ok = m->count < MAILBOX;
	if (ok)
		m->blocks[m->count++] = *b;
	pthread_mutex_unlock(&m->lock);
	w->sent += ok;
	return ok;
}

static void one_operation(struct worker *w)
{
	uint64_t r = next_random(&w->rng);
	unsigned op = (unsigned)(r % 8), i = w->count ? (unsigned)((r >> 8) % w->count) : 0;
	if (w->count < HELD && (op < 3 || w->count == 0)) {
		size_t size = random_size(&w->rng);
		void *p = (r >> 40) % 4 == 0   ? kcalloc(1, size)
		          : (r >> 40) % 4 == 1 ? kmemalign((size_t)16 << (r >> 44) % 6, size)
		                               : kmalloc(size);
		if (!p) {
			w->nulls++;
			return;
		}
		if ((r >> 40) % 4 == 0)
			for (size_t k = 0; k < size; k++)
				w->broken += ((uint8_t *)p)[k] != 0;
		make(w, &w->held[w->count++], p, size);
	} else if (op == 3 && w->count) {
		/* Reallocated: the prefix moves along. */
		struct block *b = &w->held[i];
		take(w, b);
		size_t size = random_size(&w->rng);
		uint8_t *p = krealloc(b->p, size);
		if (!p) {
			w->nulls++;
			w->twice += !shadow_add(b->p);
			return;
		}
		size_t kept = b->size < size ? b->size : size;
		for (size_t k = 0; k < kept; k++)
			w->broken += p[k] != expected_byte(b, k);
		make(w, b, p, size);
	} else if (op == 4 && w->count && w->threads > 1) {
		unsigned to =
		        (w->index + 1 + (unsigned)((r >> 16) % (w->threads - 1))) % w->threads;
		if (send(w, to, &w->held[i]))
			w->held[i] = w->held[--w->count];
	} else if (w->count) {
		take(w, &w->held[i]);
		kfree(w->held[i].p);
		w->held[i] = w->held[--w->count];
	}
	if (op == 7)
		receive_all(w);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	for (uint32_t n = 0; n < w->ops; n++)
		one_operation(w);
	while (w->count) {
		take(w, &w->held[w->count - 1]);
		kfree(w->held[--w->count].p);
	}
	return NULL;
}

/* One round: 'threads' threads, each 'ops' operations; then the mail left
 * over is freed by the main thread. */
static void round_of(unsigned threads, uint32_t ops, uint64_t seed)
{
	pthread_t ids[MAX_THREADS];
	for (unsigned i = 0; i < threads; i++) {
		workers[i] = (struct worker){ .index = i,
			                      .threads = threads,
			                      .rng = seed * 0x100000001b3u + i + 1,
			                      .ops = ops };
		pthread_create(&ids[i], NULL, work, &workers[i]);
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_join(ids[i], NULL);
	for (unsigned i = 0; i < threads; i++) {
		struct worker *w = &workers[i];
		w->threads = 1; /* nothing more to send */
		receive_all(w);
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) : 4;
	uint32_t ops = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 20000;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	if (threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "threads_test: 1 to %d threads\n", MAX_THREADS);
		return 2;
	}
	host_heap_init();
	shadow.size = (size_t)1 << SHADOW_BITS;
	shadow.slots = calloc(shadow.size, sizeof(uintptr_t));
	for (unsigned i = 0; i < MAX_THREADS; i++)
		pthread_mutex_init(&mailboxes[i].lock, NULL);
	struct kmalloc_stats before, after;
	kmalloc_stats(&before);

	/* Two rounds: the second one's threads take the slots the first
	 * one's gave back. */
	unsigned broken = 0, twice = 0, unknown = 0, sent = 0, received = 0;
	for (unsigned round = 0; round < 2; round++) {
		round_of(threads, ops, seed + round);
		for (unsigned i = 0; i < threads; i++) {
			broken += workers[i].broken;
			twice += workers[i].twice;
			unknown += workers[i].unknown;
			sent += workers[i].sent;
			received += workers[i].received;
		}
	}
	printf("# %u threads, %u operations each, 2 rounds, seed %llu: %u blocks passed "
	       "between threads\n",
	       threads, ops, (unsigned long long)seed, sent);
	check(broken == 0, "every block held its contents, through reallocations too");
	check(twice == 0, "no block was handed out while live");
	check(unknown == 0, "every block freed was live");
	check(received == sent, "every block passed to another thread was freed there");
	if (threads > 1)
		check(sent > 0, "blocks were passed between threads");

	/* Exited threads left nothing on their lists. */
	unsigned cached = 0;
	for (unsigned cpu = 1; cpu < MM_MAX_CPUS; cpu++)
		for (unsigned cls = 1; cls <= kmalloc_class_count(); cls++)
			cached += kmalloc_cached_on(cpu, cls);
	check(cached == 0, "exited threads handed their lists back");
	kmalloc_stats(&after);
	check(after.in_use_bytes == before.in_use_bytes, "every block is back");
	check(after.bad_frees == before.bad_frees, "no bad free was reported");
	check(kheap_check() == 0, "kheap_check() finds the heap whole");
	free(shadow.slots);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
