/*
 * tests/fuzz/kmalloc_fuzz.c - kmalloc under arbitrary call sequences.
 *
 * An input is read as a sequence of operations on 64 cells: allocate
 * (kmalloc, kcalloc, kmemalign) with sizes from 0 to 2 MiB and some that
 * cannot be had, resize (krealloc), free, and three kinds of bad free -
 * an interior pointer of a live block, a pointer freed before and not
 * handed out again, a pointer into memory the heap never owned.  Every
 * block carries a pattern derived from its address and a tag; the pattern
 * is checked before the block is freed or moved and after every bad free,
 * so a block handed out twice, a copy that lost bytes or a bad free that
 * changed anything shows.  When the input ends, every block is checked and
 * freed, kheap_check() must find nothing, the bytes in use must be back
 * where they started, and every bad free must have been counted.
 *
 * Built two ways: with libFuzzer (make fuzz: clang -fsanitize=fuzzer),
 * where a problem aborts the run, and into a host test
 * (tests/host/kmalloc_fuzz_test.c, run by make test under ASan and UBSan)
 * that feeds it pseudo-random inputs and counts the problems.
 */
#include "tests/fuzz/kmalloc_fuzz.h"
#include "arch/host/setup.h"
#include "mm/kheap.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CELLS 64

struct block {
	uint8_t *p;
	size_t size;
	uint8_t tag;
};

struct input {
	const uint8_t *data;
	size_t left;
};

/* Each thread's own (the threaded mode runs one stream of operations per
 * thread). */
static __thread struct block cells[CELLS];
static __thread unsigned problems;
static __thread uint64_t bad_frees;     /* made on purpose */
static __thread uint8_t *freed;         /* the last block freed, for a double free */
static __thread struct fuzz_thread *me; /* threaded mode: this thread's */
static uint8_t not_heap[64];            /* memory the heap never owned */

#define EXPECT(cond, ...)                                                                        \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			problems++;                                                              \
			fprintf(stderr, "kmalloc_fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
		}                                                                                \
	} while (0)

static uint8_t next_byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->data++;
}

/* Mostly small sizes (the classes), some up to 64 KiB, a few up to 2 MiB
 * (large blocks), and now and then one that cannot be had. */
static size_t next_size(struct input *in)
{
	uint8_t kind = next_byte(in);
	size_t lo = next_byte(in), mid = next_byte(in);
	if (kind < 160)
		return lo | (kind & 0x0f) << 8; /* 0 .. 4 KiB */
	if (kind < 236)
		return lo | mid << 8; /* 0 .. 64 KiB */
	if (kind < 254)
		return (lo | mid << 8 | (size_t)next_byte(in) << 16) & 0x1fffff; /* .. 2 MiB */
	return kind == 254 ? SIZE_MAX - lo : ((size_t)1 << 40) + lo;
}

/* The pattern of byte i of a block: its address, its tag and i mixed. */
static inline uint8_t pattern(const struct block *b, size_t i)
{
	return (uint8_t)(((uintptr_t)b->p >> 4) + b->tag + i * 131 + (i >> 8));
}

/* Bytes checked and written: every one of a block up to 8 KiB, and of a
 * larger one its first and last 4 KiB and one byte in every 512. */
static inline bool sampled(size_t size, size_t i)
{
	return size <= 8192 || i < 4096 || i >= size - 4096 || i % 512 == 0;
}

static void fill(struct block *b)
{
	for (size_t i = 0; i < b->size; i = sampled(b->size, i + 1) ? i + 1 : (i | 511) + 1)
		b->p[i] = pattern(b, i);
}

/* Checks the first 'n' bytes of b's pattern, which may have moved to q. */
static void check_moved(const struct block *b, const uint8_t *q, size_t n, const char *when)
{
	size_t bad = 0, first_bad = 0;
	for (size_t i = 0; i < n; i = sampled(b->size, i + 1) ? i + 1 : (i | 511) + 1)
		if (q[i] != pattern(b, i) && !bad++)
			first_bad = i;
	EXPECT(bad == 0, "%s: block %p of %zu bytes: %zu bytes wrong, the first at %zu", when,
	       (void *)b->p, b->size, bad, first_bad);
}

static void check(const struct block *b, const char *when)
{
	check_moved(b, b->p, b->size, when);
}

static void release(struct block *b)
{
	if (!b->p)
		return;
	check(b, "before kfree");
	kfree(b->p);
	b->p = NULL;
}

static bool held_by_a_cell(const void *p)
{
	for (unsigned i = 0; i < CELLS; i++)
		if (cells[i].p == p)
			return true;
	return false;
}

/* A new block in 'b' (freed first), checked for what every block must be. */
static void take(struct block *b, uint8_t *p, size_t size, size_t align, uint8_t tag)
{
	if (!p)
		return;
	EXPECT((uintptr_t)p % align == 0, "%p not aligned to %zu", (void *)p, align);
	EXPECT(size < KMALLOC_ALIGN || (uintptr_t)p % KMALLOC_ALIGN == 0, "%p of %zu bytes",
	       (void *)p, size);
	EXPECT(ksize(p) >= size, "ksize(%p) %zu for %zu bytes", (void *)p, ksize(p), size);
	EXPECT(!held_by_a_cell(p), "%p handed out twice", (void *)p);
	b->p = p;
	b->size = size;
	b->tag = tag;
	fill(b);
}

static void pass_on(struct block *b, unsigned to);
static void receive(void);

/* The operations of one stream, on this thread's cells. */
static void run_ops(struct input *in_)
{
	struct input in = *in_;
	while (in.left) {
		if (me)
			receive();
		uint8_t op = next_byte(&in), tag = next_byte(&in);
		struct block *b = &cells[next_byte(&in) % CELLS];
		switch (op % 10) {
		case 0:
		case 1:
		case 2: { /* kmalloc */
			size_t n = next_size(&in);
			release(b);
			uint8_t *p = kmalloc(n);
			EXPECT(!p == (n > (1u << 21)), "kmalloc(%zu) gave %p", n, (void *)p);
			take(b, p, n, 1, tag); /* kmalloc(0): a unique pointer, no bytes */
			break;
		}
		case 3: /* kfree */
			if (b->p)
				freed = b->p;
			release(b);
			break;
		case 4: { /* kcalloc */
			size_t nmemb = next_byte(&in), each = next_size(&in) % 8192;
			if (op & 0x80)
				nmemb = SIZE_MAX / (each ? each : 1) + 1; /* overflows */
			release(b);
			uint8_t *p = kcalloc(nmemb, each);
			size_t total;
			bool overflows = __builtin_mul_overflow(nmemb, each, &total);
			EXPECT(overflows ? !p : p != NULL, "kcalloc(%zu, %zu) gave %p", nmemb, each,
			       (void *)p);
			if (p) {
				size_t nonzero = 0;
				for (size_t i = 0; i < total; i++)
					nonzero += p[i] != 0;
				EXPECT(nonzero == 0, "kcalloc(%zu, %zu): %zu bytes not zero", nmemb,
				       each, nonzero);
				take(b, p, total, 1, tag);
			}
			break;
		}
		case 5: { /* krealloc */
			size_t n = next_size(&in);
			struct block old = *b;
			if (old.p && old.size)
				check(&old, "before krealloc");
			uint8_t *q = krealloc(b->p, n);
			if (!q) {
				/* krealloc(p, 0) frees p; any other failure keeps it */
				EXPECT(n == 0 || n > (1u << 21), "krealloc(%p, %zu) failed",
				       (void *)old.p, n);
				if (n == 0)
					b->p = NULL;
				else if (old.p)
					check(&old, "after a failed krealloc");
				break;
			}
			EXPECT(ksize(q) >= n, "krealloc to %zu: ksize %zu", n, ksize(q));
			size_t keep = old.size < n ? old.size : n;
			if (old.p)
				check_moved(&old, q, keep, "after krealloc");
			b->p = NULL; /* take() checks q against the other cells */
			take(b, q, n, 1, tag);
			break;
		}
		case 6: { /* kmemalign, alignments good and bad */
			size_t shift = next_byte(&in) % 26, n = next_size(&in) % (1u << 20);
			size_t align = (size_t)1 << shift;
			if (op & 0x80)
				align += 8 * (align > 8); /* not a power of two */
			release(b);
			uint8_t *p = kmemalign(align, n);
			bool valid = (align & (align - 1)) == 0 && align >= 8 &&
			             align <= KMALLOC_MAX_ALIGN;
			EXPECT(valid || !p, "kmemalign(%zu, %zu) gave %p", align, n, (void *)p);
			EXPECT(!valid || p || align + n > (1u << 22), "kmemalign(%zu, %zu) failed",
			       align, n);
			take(b, p, n, valid ? align : 1, tag);
			break;
		}
		case 7: /* an interior pointer of a live block */
			if (b->p && b->size > 1) {
				size_t lo = next_byte(&in), hi = next_byte(&in);
				size_t at = 1 + (lo | hi << 8) % (b->size - 1);
				kfree(b->p + at);
				bad_frees++;
				check(b, "after kfree of an interior pointer");
			}
			break;
		case 8:
			/* Threaded: the block goes to another thread, which checks
			 * and frees it (a block freed before may be another
			 * thread's again by now: no double free here). */
			if (me) {
				pass_on(b, tag);
			} else if (freed && !held_by_a_cell(freed)) {
				/* a block freed before, when no cell holds it again */
				kfree(freed);
				bad_frees++;
			}
			break;
		case 9: /* memory the heap never owned */
			kfree(not_heap + (next_byte(&in) % 8) * 8);
			bad_frees++;
			break;
		}
	}
	for (unsigned i = 0; i < CELLS; i++)
		release(&cells[i]);
}

unsigned kmalloc_fuzz_one(const uint8_t *data, size_t size)
{
	host_heap_init(); /* the first input sets the heap up */
	struct input in = { data, size };
	struct kmalloc_stats before, after;
	problems = 0;
	bad_frees = 0;
	freed = NULL;
	me = NULL;
	kmalloc_stats(&before);
	run_ops(&in);
	EXPECT(kheap_check() == 0, "the heap's invariants");
	kmalloc_stats(&after);
	EXPECT(after.in_use_bytes == before.in_use_bytes, "in use %llu, %llu before",
	       (unsigned long long)after.in_use_bytes, (unsigned long long)before.in_use_bytes);
	EXPECT(after.bad_frees - before.bad_frees == bad_frees, "%llu bad frees counted, %llu made",
	       (unsigned long long)(after.bad_frees - before.bad_frees),
	       (unsigned long long)bad_frees);
	return problems;
}

/* ---- the threaded mode ---- */

#define MAILBOX 32

struct fuzz_thread {
	pthread_t id;
	struct input in;
	pthread_mutex_t lock;
	struct block mail[MAILBOX]; /* blocks passed to this thread */
	unsigned mail_count;
	unsigned problems;
	uint64_t bad_frees;
};

static struct fuzz_thread fuzz_threads[KMALLOC_FUZZ_MAX_THREADS];
static unsigned fuzz_thread_count;

/* Cell b's block to thread 'to' (modulo the count; itself included), which
 * checks and frees it; kept when that mailbox is full. */
static void pass_on(struct block *b, unsigned to)
{
	if (!b->p)
		return;
	struct fuzz_thread *t = &fuzz_threads[to % fuzz_thread_count];
	pthread_mutex_lock(&t->lock);
	if (t->mail_count < MAILBOX) {
		t->mail[t->mail_count++] = *b;
		b->p = NULL;
	}
	pthread_mutex_unlock(&t->lock);
}

static void receive_into(struct fuzz_thread *t)
{
	struct block mail[MAILBOX];
	pthread_mutex_lock(&t->lock);
	unsigned n = t->mail_count;
	memcpy(mail, t->mail, n * sizeof(mail[0]));
	t->mail_count = 0;
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < n; i++)
		release(&mail[i]); /* checked, then freed here: a remote free */
}

static void receive(void)
{
	receive_into(me);
}

static void *fuzz_thread_main(void *arg)
{
	struct fuzz_thread *t = arg;
	me = t;
	problems = 0;
	bad_frees = 0;
	freed = NULL;
	run_ops(&t->in);
	receive();
	t->problems = problems;
	t->bad_frees = bad_frees;
	return NULL;
}

unsigned kmalloc_fuzz_threads(const uint8_t *data, size_t size, unsigned threads)
{
	host_heap_init();
	if (threads < 1 || threads > KMALLOC_FUZZ_MAX_THREADS)
		threads = KMALLOC_FUZZ_MAX_THREADS;
	struct kmalloc_stats before, after;
	problems = 0;
	kmalloc_stats(&before);
	fuzz_thread_count = threads;
	/* Each thread a share of the input, in order. */
	for (unsigned i = 0; i < threads; i++) {
		struct fuzz_thread *t = &fuzz_threads[i];
		size_t from = size * i / threads, to = size * (i + 1) / threads;
		*t = (struct fuzz_thread){ .in = { data + from, to - from } };
		pthread_mutex_init(&t->lock, NULL);
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&fuzz_threads[i].id, NULL, fuzz_thread_main, &fuzz_threads[i]);
	uint64_t made = 0;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(fuzz_threads[i].id, NULL);
		problems += fuzz_threads[i].problems;
		made += fuzz_threads[i].bad_frees;
	}
	/* Blocks passed to a thread after it finished. */
	for (unsigned i = 0; i < threads; i++) {
		receive_into(&fuzz_threads[i]);
		pthread_mutex_destroy(&fuzz_threads[i].lock);
	}
	EXPECT(kheap_check() == 0, "the heap's invariants, after %u threads", threads);
	kmalloc_stats(&after);
	EXPECT(after.in_use_bytes == before.in_use_bytes, "in use %llu, %llu before",
	       (unsigned long long)after.in_use_bytes, (unsigned long long)before.in_use_bytes);
	EXPECT(after.bad_frees - before.bad_frees == made, "%llu bad frees counted, %llu made",
	       (unsigned long long)(after.bad_frees - before.bad_frees), (unsigned long long)made);
	return problems;
}

#ifdef KMALLOC_FUZZ_LIBFUZZER
#include <stdlib.h>

/* KMALLOC_FUZZ_THREADS=N in the environment: the threaded mode, with N
 * threads (make fuzz FUZZ_THREADS=N). */
static unsigned threads_wanted;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *n = getenv("KMALLOC_FUZZ_THREADS");
	threads_wanted = n ? (unsigned)atoi(n) : 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned found = threads_wanted ? kmalloc_fuzz_threads(data, size, threads_wanted)
	                                : kmalloc_fuzz_one(data, size);
	if (found)
		abort();
	return 0;
}
#endif
