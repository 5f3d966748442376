/*
 * tests/host/kmalloc_fuzz_replay.c - suite "kmalloc_fuzz" (host only): the
 * kmalloc fuzz harness (tests/fuzz/kmalloc_fuzz.c) fed pseudo-random inputs,
 * under ASan and UBSan: what `make fuzz` explores with coverage guidance,
 * replayed from fixed seeds by `make test`.
 */
#include "tests/fuzz/kmalloc_fuzz.h"
#include "tests/ktest.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The corpus make fuzz keeps, from the repository's root (make test's
 * working directory). */
#define CORPUS_DIR "tests/fuzz/corpus"

static uint64_t state;

static uint8_t random_byte(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (uint8_t)(state >> 24);
}

/* The heap's reports of the bad frees go to stdout: not wanted here
 * (problems are printed on stderr).  quiet() returns what unquiet() needs. */
static int quiet(void)
{
	fflush(stdout);
	int saved = dup(1), null = open("/dev/null", O_WRONLY);
	if (saved >= 0 && null >= 0)
		dup2(null, 1);
	if (null >= 0)
		close(null);
	return saved;
}

static void unquiet(int saved)
{
	fflush(stdout);
	if (saved >= 0) {
		dup2(saved, 1);
		close(saved);
	}
}

static uint8_t buf[1 << 16];

/* 'inputs' inputs of up to 'longest' bytes from 'seed'; with 'threads',
 * in the threaded mode. */
static unsigned replay(uint64_t seed, unsigned inputs, size_t longest, unsigned threads)
{
	unsigned problems = 0;
	state = seed;
	int saved = quiet();
	for (unsigned i = 0; i < inputs; i++) {
		size_t lo = random_byte(), hi = random_byte();
		size_t n = 1 + (lo | hi << 8) % longest;
		for (size_t j = 0; j < n; j++)
			buf[j] = random_byte();
		problems +=
		        threads ? kmalloc_fuzz_threads(buf, n, threads) : kmalloc_fuzz_one(buf, n);
	}
	unquiet(saved);
	return problems;
}

/* Every input make fuzz kept: what reached new coverage once must still
 * pass, alone and shared by three threads. */
static void replay_corpus(struct ktest *t, unsigned threads)
{
	DIR *dir = opendir(CORPUS_DIR);
	if (!dir)
		ktest_skip(t, "no " CORPUS_DIR " here (run from the repository's root)");
	unsigned inputs = 0, problems = 0, unreadable = 0;
	int saved = quiet();
	for (struct dirent *e; (e = readdir(dir));) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f) {
			unreadable++;
			continue;
		}
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		problems +=
		        threads ? kmalloc_fuzz_threads(buf, n, threads) : kmalloc_fuzz_one(buf, n);
		inputs++;
	}
	unquiet(saved);
	closedir(dir);
	ktest_note(t, "%u inputs from " CORPUS_DIR, inputs);
	EXPECT_EQ(t, unreadable, 0);
	EXPECT_EQ(t, problems, 0);
}

static void the_kept_corpus(struct ktest *t)
{
	replay_corpus(t, 0);
}

static void the_kept_corpus_on_three_threads(struct ktest *t)
{
	replay_corpus(t, 3);
}

static void short_inputs(struct ktest *t)
{
	EXPECT_EQ(t, replay(1, 3000, 64, 0), 0);
}

static void long_inputs(struct ktest *t)
{
	EXPECT_EQ(t, replay(2, 60, 4096, 0), 0);
}

static void long_inputs_on_three_threads(struct ktest *t)
{
	EXPECT_EQ(t, replay(3, 60, 4096, 3), 0);
}

static void an_empty_input(struct ktest *t)
{
	EXPECT_EQ(t, kmalloc_fuzz_one(NULL, 0), 0);
}

static const struct ktest_case kmalloc_fuzz_cases[] = {
	KTEST_CASE(short_inputs),
	KTEST_CASE(long_inputs),
	KTEST_CASE(an_empty_input),
	KTEST_CASE(the_kept_corpus),
	KTEST_CASE(long_inputs_on_three_threads),
	KTEST_CASE(the_kept_corpus_on_three_threads),
};
KTEST_SUITE(kmalloc_fuzz, kmalloc_fuzz_cases, NULL, NULL);
