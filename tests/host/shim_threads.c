/*
 * tests/host/shim_threads.c - the shim's lock prefixes taken out and put
 * back (arch/host/lock_elision.h), run with LD_PRELOAD and
 * LIBMM_MALLOC_REPORT by tests/host/test_shim.py, which reads the shim's
 * report at exit.
 *
 *   shim_threads single       one thread: the prefixes stay out
 *   shim_threads join SEED    the main thread allocates and frees without a
 *                             pause while THREADS more start, one by one,
 *                             at moments that SEED varies: each frees
 *                             blocks the others allocated (through a
 *                             mailbox), and every block's contents are
 *                             checked; the prefixes go back in at the
 *                             first of them
 *   shim_threads fork         one thread forks; the child starts threads
 *                             (its prefixes go back in), the parent does
 *                             not (its stay out)
 *
 * Exits 0 when every block held what was written in it; the heap's own
 * checks (a false double free, a live bit lost) are the report's.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS  200000
#define HELD    64
#define MAILBOX 256

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A block of 'size' bytes filled from 'tag'; its first word is the size. */
static unsigned char *make_block(size_t size, unsigned tag)
{
	unsigned char *p = malloc(size);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	memset(p + sizeof(size), (int)(tag & 0xff), size - sizeof(size));
	return p;
}

static int bad_blocks;

/* Counts the block in bad_blocks if it no longer holds what was written. */
static void check_block(const unsigned char *p)
{
	size_t size;
	memcpy(&size, p, sizeof(size));
	unsigned char tag = p[sizeof(size)];
	for (size_t i = sizeof(size); i < size; i++) {
		if (p[i] != tag) {
			__atomic_fetch_add(&bad_blocks, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

static void check_and_free(unsigned char *p)
{
	check_block(p);
	free(p);
}

/* Blocks passed between threads: whoever takes one frees it. */
static struct {
	pthread_mutex_t lock;
	unsigned char *slots[MAILBOX];
	unsigned count;
} mailbox = { PTHREAD_MUTEX_INITIALIZER, { 0 }, 0 };

static void post(unsigned char *p)
{
	pthread_mutex_lock(&mailbox.lock);
	if (mailbox.count < MAILBOX) {
		mailbox.slots[mailbox.count++] = p;
		p = NULL;
	}
	pthread_mutex_unlock(&mailbox.lock);
	if (p)
		check_and_free(p);
}

static void take_one(void)
{
	unsigned char *p = NULL;
	pthread_mutex_lock(&mailbox.lock);
	if (mailbox.count)
		p = mailbox.slots[--mailbox.count];
	pthread_mutex_unlock(&mailbox.lock);
	if (p)
		check_and_free(p);
}

/* Allocates and frees for 'rounds': blocks of 16 B - 2 KiB held a while,
 * every eighth one posted for another thread to free. */
static void churn(uint64_t seed, unsigned rounds)
{
	unsigned char *held[HELD] = { 0 };
	for (unsigned r = 0; r < rounds; r++) {
		unsigned i = (unsigned)(rng_next(&seed) % HELD);
		if (held[i] && r % 8 == 0) {
			check_block(held[i]);
			post(held[i]);
		} else if (held[i]) {
			check_and_free(held[i]);
		}
		held[i] = make_block(16 + (size_t)(rng_next(&seed) % 2033), (unsigned)r);
		if (r % 8 == 4)
			take_one();
	}
	for (unsigned i = 0; i < HELD; i++)
		if (held[i])
			check_and_free(held[i]);
}

static void *worker(void *arg)
{
	churn((uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15u | 1, ROUNDS / 4);
	return NULL;
}

static int stop_main;

static void *starter(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg | 1;
	pthread_t t[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		/* A pause of 0-2 ms: the first new thread comes at a
		 * different point of the main thread's loop each run. */
		usleep((useconds_t)(rng_next(&seed) % 2000));
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&stop_main, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int run_join(uint64_t seed)
{
	/* The heap is set up, and its prefixes out, before any thread. */
	free(make_block(64, 1));
	pthread_t s;
	/* The first thread to attach after the main one (the starter, if
	 * pthread_create allocates, or else a worker) comes while the main
	 * thread runs. */
	pthread_create(&s, NULL, starter, (void *)(uintptr_t)seed);
	unsigned rounds = 0;
	while (!__atomic_load_n(&stop_main, __ATOMIC_ACQUIRE)) {
		churn(seed + rounds, 1000);
		rounds++;
	}
	pthread_join(s, NULL);
	while (mailbox.count)
		take_one();
	return bad_blocks;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "single") == 0) {
		churn(12345, ROUNDS);
		while (mailbox.count)
			take_one();
		return bad_blocks != 0;
	}
	if (argc >= 3 && strcmp(argv[1], "join") == 0)
		return run_join(strtoull(argv[2], NULL, 10)) != 0;
	if (argc >= 2 && strcmp(argv[1], "fork") == 0) {
		churn(7, ROUNDS / 8);
		fflush(NULL);
		pid_t child = fork();
		if (child == 0) /* exit, not _exit: the child reports too */
			exit(run_join(99) != 0);
		churn(8, ROUNDS / 8);
		int status;
		waitpid(child, &status, 0);
		while (mailbox.count)
			take_one();
		return bad_blocks != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	fprintf(stderr, "usage: shim_threads single | join SEED | fork\n");
	return 2;
}
