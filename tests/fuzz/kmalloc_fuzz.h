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

#endif
