/*
 * tests/target/kmalloc_debug_test.c - suite "kmalloc_debug": the debug
 * modes of mm/kmalloc.h, each finding the bug it is for and naming it in
 * one line.  Runs where the kernel was booted with kmalloc_debug=all (the
 * stage target-256M-debug of make test); skipped elsewhere.
 */
#include "lib/console.h"
#include "lib/format.h"
#include "mm/kheap.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

static char report[1024];

static void require_debug(struct ktest *t)
{
	if (kmalloc_debug_flags() != KMALLOC_DEBUG_ALL)
		ktest_skip(t, "boot with kmalloc_debug=all to run these");
}

static uint64_t reports(void)
{
	static struct kmalloc_stats st;
	kmalloc_stats(&st);
	return st.debug_reports;
}

/* The calls whose addresses the reports must name. */
static __attribute__((noinline)) void *allocate_here(size_t size)
{
	void *p = kmalloc(size);
	__asm__ volatile("" : : "r"(p) : "memory"); /* not a tail call */
	return p;
}

static __attribute__((noinline)) void free_here(void *p)
{
	kfree(p);
	__asm__ volatile("" : : : "memory");
}

static bool names_within(const char *text, const char *label, void (*fn)(void))
{
	char want[64];
	for (uintptr_t at = (uintptr_t)fn; at < (uintptr_t)fn + 64; at++) {
		ksnprintf(want, sizeof(want), "%s %p", label, (void *)at);
		if (test_contains(text, want))
			return true;
	}
	return false;
}

static void new_objects_are_poisoned_and_freed_ones_too(struct ktest *t)
{
	require_debug(t);
	uint8_t *p = kmalloc(64);
	ASSERT_NE(t, (uintptr_t)p, 0);
	unsigned odd = 0;
	for (unsigned i = 0; i < 64; i++)
		odd += p[i] != 0xa5;
	EXPECT_EQ(t, odd, 0u);
	kfree(p);
	for (unsigned i = sizeof(void *); i < 64; i++) /* the first word links the free list */
		odd += p[i] != 0x6b;
	EXPECT_EQ(t, odd, 0u);
	uint8_t *z = kcalloc(8, 8);
	ASSERT_NE(t, (uintptr_t)z, 0);
	for (unsigned i = 0; i < 64; i++)
		odd += z[i] != 0;
	EXPECT_EQ(t, odd, 0u); /* kcalloc still zeroes */
	kfree(z);
}

static void a_write_after_free_is_reported_at_its_offset(struct ktest *t)
{
	require_debug(t);
	uint64_t before = reports();
	uint8_t *p = allocate_here(40);
	ASSERT_NE(t, (uintptr_t)p, 0);
	free_here(p);
	p[12] = 0x77; /* after the free */
	console_capture_start(report, sizeof(report));
	uint8_t *q = kmalloc(40); /* the same object: spans hand out the last freed first */
	console_capture_stop();
	ASSERT_EQ(t, (uintptr_t)q, (uintptr_t)p);
	char want[96];
	ksnprintf(want, sizeof(want), "kmalloc: write after free: object %p (40 bytes, class",
	          (void *)p);
	EXPECT_TRUE(t, test_contains(report, want));
	EXPECT_TRUE(t, test_contains(report, "offset 12 holds 0x77, not the free pattern 0x6b"));
	EXPECT_TRUE(t, names_within(report, "allocated by", (void (*)(void))allocate_here));
	EXPECT_TRUE(t, names_within(report, "freed by", (void (*)(void))free_here));
	EXPECT_EQ(t, reports(), before + 1);
	if (!test_contains(report, want))
		ktest_note(t, "report: %.300s", report);
	kfree(q);
	EXPECT_EQ(t, kheap_check(), 0);
}

static void an_overflow_is_reported_with_its_reach(struct ktest *t)
{
	require_debug(t);
	uint64_t before = reports();
	uint8_t *p = allocate_here(40);
	ASSERT_NE(t, (uintptr_t)p, 0);
	EXPECT_EQ(t, ksize(p), 40u);
	p[40 + 2] = 0; /* three bytes past the end */
	console_capture_start(report, sizeof(report));
	free_here(p);
	console_capture_stop();
	char want[96];
	ksnprintf(want, sizeof(want), "kmalloc: redzone overwritten: object %p (40 bytes, class",
	          (void *)p);
	EXPECT_TRUE(t, test_contains(report, want));
	EXPECT_TRUE(t, test_contains(report, "written up to 3 bytes past its end"));
	EXPECT_TRUE(t, names_within(report, "allocated by", (void (*)(void))allocate_here));
	EXPECT_EQ(t, reports(), before + 1);
	if (!test_contains(report, want))
		ktest_note(t, "report: %.300s", report);
	/* The heap went on: the object is free and whole again. */
	void *again = kmalloc(40);
	EXPECT_EQ(t, (uintptr_t)again, (uintptr_t)p);
	kfree(again);
	EXPECT_EQ(t, reports(), before + 1);
	EXPECT_EQ(t, kheap_check(), 0);
}

static void a_double_free_is_refused_and_the_heap_goes_on(struct ktest *t)
{
	require_debug(t);
	void *p = kmalloc(100);
	ASSERT_NE(t, (uintptr_t)p, 0);
	kfree(p);
	console_capture_start(report, sizeof(report));
	kfree(p);
	console_capture_stop();
	EXPECT_TRUE(t, test_contains(report, "double free"));
	EXPECT_EQ(t, kheap_check(), 0);
}

static void the_leak_report_names_live_blocks_and_their_callers(struct ktest *t)
{
	require_debug(t);
	void *small = allocate_here(200), *large = allocate_here(100000);
	ASSERT_NE(t, (uintptr_t)small, 0);
	ASSERT_NE(t, (uintptr_t)large, 0);
	static char leaks[8192];
	console_capture_start(leaks, sizeof(leaks));
	unsigned n = kmalloc_report_leaks();
	console_capture_stop();
	EXPECT_GE(t, n, 2u);
	char want[96];
	ksnprintf(want, sizeof(want), "kmalloc: leak: object %p (200 bytes, class", small);
	EXPECT_TRUE(t, test_contains(leaks, want));
	ksnprintf(want, sizeof(want), "kmalloc: leak: large block %p", large);
	EXPECT_TRUE(t, test_contains(leaks, want));
	EXPECT_TRUE(t, names_within(leaks, "allocated by", (void (*)(void))allocate_here));
	kfree(small);
	kfree(large);
}

static const struct ktest_case kmalloc_debug_cases[] = {
	KTEST_CASE(new_objects_are_poisoned_and_freed_ones_too),
	KTEST_CASE(a_write_after_free_is_reported_at_its_offset),
	KTEST_CASE(an_overflow_is_reported_with_its_reach),
	KTEST_CASE(a_double_free_is_refused_and_the_heap_goes_on),
	KTEST_CASE(the_leak_report_names_live_blocks_and_their_callers),
};

KTEST_SUITE(kmalloc_debug, kmalloc_debug_cases, NULL, NULL);
