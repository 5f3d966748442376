/*
 * tests/target/kfence_test.c - suite "kfence": the guard-page sampler of
 * mm/kfence.h catching an overflow and a use after free at the faulting
 * access, naming the object, and letting the kernel go on; on every CPU.
 * Runs where the kernel was booted with kfence_sample=1 (the stage
 * target-256M-smp4-kfence of make test); skipped elsewhere.
 */
#include "arch/i386/ipi.h"
#include "kernel/smp.h"
#include "lib/console.h"
#include "lib/format.h"
#include "mm/kfence.h"
#include "mm/kheap.h"
#include "mm/vm.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

static char report[1024];

static void require_sampling(struct ktest *t)
{
	if (kfence_sample_every() != 1)
		ktest_skip(t, "boot with kfence_sample=1 to run these");
}

static struct kfence_stats kfence_now(void)
{
	struct kfence_stats st;
	kfence_get_stats(&st);
	return st;
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

/* Whether 'text' names "<label> <address>" for an address within the
 * first 64 bytes of 'fn' (the call inside it). */
static bool names_call(const char *text, const char *label, void *fn)
{
	char want[48];
	for (uintptr_t at = (uintptr_t)fn; at < (uintptr_t)fn + 64; at++) {
		ksnprintf(want, sizeof(want), "%s %p", label, (void *)at);
		if (test_contains(text, want))
			return true;
	}
	return false;
}

/* A sampled object: its own pages, its end against the unmapped guard. */
static void a_sampled_object_ends_at_a_guard_page(struct ktest *t)
{
	require_sampling(t);
	struct kfence_stats before = kfence_now();
	uint8_t *p = kmalloc(40);
	ASSERT_NE(t, (uintptr_t)p, 0);
	EXPECT_EQ(t, kfence_now().sampled, before.sampled + 1);
	EXPECT_EQ(t, ksize(p), 40);
	uintptr_t end = (uintptr_t)p + 40;
	EXPECT_EQ(t, end % PAGE_SIZE, 0);
	EXPECT_TRUE(t, vm_is_mapped((uintptr_t)p));
	EXPECT_FALSE(t, vm_is_mapped(end));
	memset(p, 0x5a, 40); /* all of it is the caller's */
	EXPECT_EQ(t, kheap_check(), 0);
	kfree(p);
	EXPECT_FALSE(t, vm_is_mapped((uintptr_t)p)); /* unmapped at once */
	EXPECT_EQ(t, kfence_now().frees, before.frees + 1);
	EXPECT_EQ(t, kfence_now().reports, before.reports);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* kmemalign's objects keep their alignment against the guard. */
static void an_aligned_object_keeps_its_alignment(struct ktest *t)
{
	require_sampling(t);
	void *p = kmemalign(256, 300);
	ASSERT_NE(t, (uintptr_t)p, 0);
	EXPECT_EQ(t, (uintptr_t)p % 256, 0);
	EXPECT_FALSE(t, vm_is_mapped(ALIGN_UP((uintptr_t)p + ksize(p), PAGE_SIZE)));
	kfree(p);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* One byte past the end: the write faults at once, the report names it and
 * the object, and the kernel goes on (the write lands on a page mapped for
 * it). */
static void an_overflow_faults_at_the_first_byte_past_the_end(struct ktest *t)
{
	require_sampling(t);
	struct kfence_stats before = kfence_now();
	volatile uint8_t *p = allocate_here(40);
	ASSERT_NE(t, (uintptr_t)p, 0);
	console_capture_start(report, sizeof(report));
	p[40] = 0x77;
	console_capture_stop();
	EXPECT_EQ(t, p[40], 0x77);
	EXPECT_EQ(t, kfence_now().reports, before.reports + 1);
	char want[96];
	ksnprintf(want, sizeof(want), "kfence: out-of-bounds write at %p (offset 40, past the end)",
	          (void *)(p + 40));
	EXPECT_TRUE(t, test_contains(report, want));
	ksnprintf(want, sizeof(want), "object %p (40 bytes, class", (void *)p);
	EXPECT_TRUE(t, test_contains(report, want));
	EXPECT_TRUE(t, names_call(report, "allocated by", (void *)allocate_here));
	if (!test_contains(report, want))
		ktest_note(t, "report: %.300s", report);
	kfree((void *)p);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* A read after kfree faults at once and names who allocated and who freed
 * the object; the read then gives zeroes. */
static void a_use_after_free_faults_at_once(struct ktest *t)
{
	require_sampling(t);
	struct kfence_stats before = kfence_now();
	volatile uint32_t *p = allocate_here(100);
	ASSERT_NE(t, (uintptr_t)p, 0);
	p[2] = 0x12345678;
	free_here((void *)p);
	console_capture_start(report, sizeof(report));
	uint32_t seen = p[2];
	console_capture_stop();
	EXPECT_EQ(t, seen, 0);
	EXPECT_EQ(t, kfence_now().reports, before.reports + 1);
	char want[96];
	ksnprintf(want, sizeof(want), "kfence: use after free: read at %p, offset 8",
	          (void *)(p + 2));
	EXPECT_TRUE(t, test_contains(report, want));
	EXPECT_TRUE(t, names_call(report, "allocated by", (void *)allocate_here));
	EXPECT_TRUE(t, names_call(report, "freed by", (void *)free_here));
	if (!test_contains(report, want))
		ktest_note(t, "report: %.300s", report);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* What the guard cannot see: a write just before the object (in its own
 * page) is found at kfree; a second kfree is refused. */
static void an_underflow_and_a_double_free_are_reported_at_kfree(struct ktest *t)
{
	require_sampling(t);
	struct kmalloc_stats st0, st1;
	kmalloc_stats(&st0);
	struct kfence_stats before = kfence_now();
	uint8_t *p = kmalloc(64);
	ASSERT_NE(t, (uintptr_t)p, 0);
	p[-3] = 1;
	console_capture_start(report, sizeof(report));
	kfree(p);
	kfree(p);
	console_capture_stop();
	EXPECT_EQ(t, kfence_now().reports, before.reports + 2);
	char want[96];
	ksnprintf(want, sizeof(want),
	          "kfence: underflow: 3 bytes before the object written: "
	          "object %p",
	          (void *)p);
	EXPECT_TRUE(t, test_contains(report, want));
	ksnprintf(want, sizeof(want), "kfence: kfree(%p): double free", (void *)p);
	EXPECT_TRUE(t, test_contains(report, want));
	if (!test_contains(report, want))
		ktest_note(t, "report: %.300s", report);
	kmalloc_stats(&st1);
	EXPECT_EQ(t, st1.bad_frees, st0.bad_frees + 1);
	EXPECT_EQ(t, st1.in_use_bytes, st0.in_use_bytes);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* Another CPU that read the object before it was freed (its TLB holds the
 * page) faults after: the unmapping reached it. */
struct remote_read {
	volatile uint32_t *p;
	uint32_t seen;
};

static void read_there(void *arg)
{
	struct remote_read *r = arg;
	r->seen = r->p[0];
}

static void a_use_after_free_faults_on_every_cpu(struct ktest *t)
{
	require_sampling(t);
	unsigned cpus = smp_cpus_online();
	if (cpus < 2)
		ktest_skip(t, "one CPU online");
	for (unsigned cpu = 1; cpu < cpus; cpu++) {
		struct kfence_stats before = kfence_now();
		struct remote_read r = { kmalloc(32), 0 };
		ASSERT_NE(t, (uintptr_t)r.p, 0);
		r.p[0] = 0xfeedf00d;
		ASSERT_TRUE(t, ipi_call(cpu, read_there, &r));
		EXPECT_EQ(t, r.seen, 0xfeedf00d);
		kfree((void *)r.p);
		console_capture_start(report, sizeof(report));
		ASSERT_TRUE(t, ipi_call(cpu, read_there, &r));
		console_capture_stop();
		EXPECT_EQ(t, r.seen, 0);
		EXPECT_EQ(t, kfence_now().reports, before.reports + 1);
		EXPECT_TRUE(t, test_contains(report, "kfence: use after free: read at"));
	}
	EXPECT_EQ(t, kheap_check(), 0);
}

/* More live objects than slots: the rest are ordinary objects, counted as
 * skipped; freed slots are reused oldest first, and nothing leaks. */
static void more_objects_than_slots_fall_back_to_the_heap(struct ktest *t)
{
	require_sampling(t);
	enum { N = KFENCE_SLOTS + 20 };
	static void *held[N];
	struct kmalloc_stats st0, st1;
	kmalloc_stats(&st0);
	struct kfence_stats before = kfence_now();
	for (unsigned i = 0; i < N; i++) {
		held[i] = kmalloc(24 + i % 200);
		ASSERT_NE(t, (uintptr_t)held[i], 0);
		memset(held[i], (int)i, 24 + i % 200);
	}
	struct kfence_stats full = kfence_now();
	EXPECT_EQ(t, full.live, KFENCE_SLOTS);
	EXPECT_GE(t, full.skipped, before.skipped + 20);
	unsigned bad = 0;
	for (unsigned i = 0; i < N; i++) {
		const uint8_t *b = held[i];
		for (unsigned j = 0; j < 24 + i % 200; j++)
			bad += b[j] != (uint8_t)i;
		kfree(held[i]);
	}
	EXPECT_EQ(t, bad, 0);
	EXPECT_EQ(t, kfence_now().live, 0);
	EXPECT_EQ(t, kfence_now().reports, before.reports);
	kmalloc_stats(&st1);
	EXPECT_EQ(t, st1.in_use_bytes, st0.in_use_bytes);
	EXPECT_EQ(t, kheap_check(), 0);
}

/* The leak report names a live sampled object and its caller, and passes
 * over a freed one's span (kept, its pages unmapped, until recycled). */
static void the_leak_report_names_live_sampled_objects_only(struct ktest *t)
{
	require_sampling(t);
	void *freed = allocate_here(72), *live = allocate_here(72);
	ASSERT_NE(t, (uintptr_t)freed, 0);
	ASSERT_NE(t, (uintptr_t)live, 0);
	free_here(freed);
	static char leaks[8192];
	console_capture_start(leaks, sizeof(leaks));
	unsigned n = kmalloc_report_leaks();
	console_capture_stop();
	EXPECT_GE(t, n, 1u);
	char want[96];
	ksnprintf(want, sizeof(want), "kmalloc: leak: object %p (", live);
	EXPECT_TRUE(t, test_contains(leaks, want));
	ksnprintf(want, sizeof(want), "%p", freed);
	EXPECT_FALSE(t, test_contains(leaks, want));
	EXPECT_TRUE(t, names_call(leaks, "allocated by", (void *)allocate_here));
	free_here(live);
	EXPECT_EQ(t, kheap_check(), 0);
}

static const struct ktest_case kfence_cases[] = {
	KTEST_CASE(a_sampled_object_ends_at_a_guard_page),
	KTEST_CASE(an_aligned_object_keeps_its_alignment),
	KTEST_CASE(an_overflow_faults_at_the_first_byte_past_the_end),
	KTEST_CASE(a_use_after_free_faults_at_once),
	KTEST_CASE(an_underflow_and_a_double_free_are_reported_at_kfree),
	KTEST_CASE(a_use_after_free_faults_on_every_cpu),
	KTEST_CASE(more_objects_than_slots_fall_back_to_the_heap),
	KTEST_CASE(the_leak_report_names_live_sampled_objects_only),
};
KTEST_SUITE(kfence, kfence_cases, NULL, NULL);
