/*
 * tests/fuzz/kmalloc_fuzz.h - the kmalloc fuzz harness (kmalloc_fuzz.c),
 * shared by the libFuzzer build and the host test that replays it.
 */
#ifndef TESTS_FUZZ_KMALLOC_FUZZ_H
#define TESTS_FUZZ_KMALLOC_FUZZ_H

#include "mm/kmalloc.h"
#include <stdint.h>

/* Runs the operations 'data' encodes, then frees everything and checks
 * the heap; returns the number of problems found (each printed). */
unsigned kmalloc_fuzz_one(const uint8_t *data, size_t size);

/* The threaded mode: 'threads' threads (at most KMALLOC_FUZZ_MAX_THREADS),
 * each running the operations of its share of 'data' on cells of its own;
 * the operation that makes a double free instead passes a block to another
 * thread, which checks and frees it.  Then everything is freed and the
 * heap checked as in kmalloc_fuzz_one. */
#define KMALLOC_FUZZ_MAX_THREADS 4
unsigned kmalloc_fuzz_threads(const uint8_t *data, size_t size, unsigned threads);

#endif
