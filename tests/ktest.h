/*
 * tests/ktest.h - the on-target test framework.  Output is KTAP version 1,
 * the format of Linux's KUnit.
 *
 * A suite is a table of cases plus optional init/exit, registered with
 * KTEST_SUITE(); the linker gathers every suite into the .ktest_suites
 * section, so adding a test file to the build is all it takes to run it.
 *
 *   static void adds(struct ktest *t) { EXPECT_EQ(t, 1 + 1, 2); }
 *   static const struct ktest_case math_cases[] = { KTEST_CASE(adds) };
 *   KTEST_SUITE(math, math_cases, NULL, NULL);
 *
 * EXPECT_* records a failure (file:line, both expressions and both values)
 * and lets the case go on; ASSERT_* records it and abandons the case.  A
 * case that must fault runs the faulting code under ktest_expect_fault().
 * A case that cannot run on this machine (too little memory, no PSE) calls
 * ktest_skip() with the reason; KTAP reports it as "ok N name # SKIP reason".
 * What a case takes and must give back whatever happens (frames hoarded,
 * blocks held) is handed to ktest_defer(), which gives it back when the case
 * ends, passed, failed, abandoned or skipped.
 */
#ifndef TESTS_KTEST_H
#define TESTS_KTEST_H

#include "kernel/fault.h"
#ifdef ARENA386_HOST
/* The host build of the framework (tests/host/shared_suites_test.c, with
 * tests/host/fault_catch.c) runs the same suites on x86_64 Linux: a SIGSEGV
 * stands for the page fault. */
#include <setjmp.h>
typedef sigjmp_buf ktest_jmpbuf;
#define ktest_setjmp(buf)  sigsetjmp(buf, 1)
#define ktest_longjmp(buf) siglongjmp(buf, 1)
#else
#include "arch/i386/jmp.h"
typedef struct cpu_jmpbuf ktest_jmpbuf;
#define ktest_setjmp(buf)  cpu_setjmp(&(buf))
#define ktest_longjmp(buf) cpu_longjmp(&(buf), 1)
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KTEST_MAX_DEFERRED 8

struct ktest {
	const char *name;
	unsigned failures;
	ktest_jmpbuf abort;
	uint64_t seed;         /* the run's seed= value */
	char skip_reason[160]; /* non-empty: the case was skipped */
	unsigned deferred_count;
	struct {
		void (*fn)(void *arg);
		void *arg;
	} deferred[KTEST_MAX_DEFERRED];
};

struct ktest_case {
	const char *name;
	void (*run)(struct ktest *t);
};

/* A suite marked KTEST_EXPLICIT runs only when test= names it in full:
 * used for the runner's own checks, such as a suite that must fail. */
#define KTEST_EXPLICIT (1u << 0)
/* A suite marked KTEST_RUN_LAST runs after every other: for tests that
 * leave lasting marks, such as growing the kernel's arena to its limit. */
#define KTEST_RUN_LAST (1u << 1)
/* A suite marked KTEST_RUN_FIRST runs before the unmarked ones: the memory
 * foundations, which need the physical memory as boot left it (the heap
 * suites leave metadata mapped for good, wherever its frames fell, so that
 * a small machine may have no free 4 MiB run after them). */
#define KTEST_RUN_FIRST (1u << 2)

struct ktest_suite {
	const char *name;
	const struct ktest_case *cases;
	unsigned case_count;
	unsigned flags;
	int (*init)(void); /* non-zero: every case of the suite fails */
	void (*exit)(void);
	/* After every case, however it ended (an ASSERT abandons a case
	 * half-way): gives back what the suite's cases may hold, so that a
	 * failed case cannot starve the ones after it. */
	void (*case_exit)(void);
} __attribute__((aligned(8))); /* the section is an array: entries 8 apart */

#define KTEST_CASE(fn)  \
	{               \
#fn, fn \
	}

#define KTEST_SUITE_CASE_EXIT(suite_name, case_table, init_fn, exit_fn, suite_flags, case_exit_fn) \
	static const struct ktest_suite ktest_suite_##suite_name                                   \
	        __attribute__((used, section("ktest_suites"), aligned(8))) = {                     \
		        #suite_name, case_table, sizeof(case_table) / sizeof((case_table)[0]),     \
		        suite_flags, init_fn,    exit_fn,                                          \
		        case_exit_fn                                                               \
	        }
#define KTEST_SUITE_FLAGS(suite_name, case_table, init_fn, exit_fn, suite_flags) \
	KTEST_SUITE_CASE_EXIT(suite_name, case_table, init_fn, exit_fn, suite_flags, NULL)
#define KTEST_SUITE(suite_name, case_table, init_fn, exit_fn) \
	KTEST_SUITE_FLAGS(suite_name, case_table, init_fn, exit_fn, 0)

/* Failure reporting; 'fatal' abandons the case. */
void ktest_fail_int(struct ktest *t, const char *file, int line, const char *op, const char *lhs,
                    const char *rhs, long long a, long long b, bool fatal);
void ktest_fail_str(struct ktest *t, const char *file, int line, const char *lhs, const char *rhs,
                    const char *a, const char *b, bool fatal);
void ktest_fail_msg(struct ktest *t, const char *file, int line, bool fatal, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* Abandons the case as skipped, with the reason (one line). */
__attribute__((noreturn, format(printf, 2, 3))) void ktest_skip(struct ktest *t, const char *fmt,
                                                                ...);

/* Runs fn(arg) when the case ends, however it ends; the last deferred runs
 * first.  Beyond KTEST_MAX_DEFERRED, fn runs at once and the case fails. */
void ktest_defer(struct ktest *t, void (*fn)(void *arg), void *arg);

/* Prints "# message" inside the running case's block. */
void ktest_note(struct ktest *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define KTEST_CMP_(t, op, a, b, fatal)                                                         \
	do {                                                                                   \
		long long ktest_a_ = (long long)(a), ktest_b_ = (long long)(b);                \
		if (!(ktest_a_ op ktest_b_))                                                   \
			ktest_fail_int(t, __FILE__, __LINE__, #op, #a, #b, ktest_a_, ktest_b_, \
			               fatal);                                                 \
	} while (0)

#define EXPECT_EQ(t, a, b) KTEST_CMP_(t, ==, a, b, false)
#define EXPECT_NE(t, a, b) KTEST_CMP_(t, !=, a, b, false)
#define EXPECT_LT(t, a, b) KTEST_CMP_(t, <, a, b, false)
#define EXPECT_LE(t, a, b) KTEST_CMP_(t, <=, a, b, false)
#define EXPECT_GE(t, a, b) KTEST_CMP_(t, >=, a, b, false)
#define EXPECT_TRUE(t, a)  KTEST_CMP_(t, ==, !!(a), 1, false)
#define EXPECT_FALSE(t, a) KTEST_CMP_(t, ==, !!(a), 0, false)
#define ASSERT_EQ(t, a, b) KTEST_CMP_(t, ==, a, b, true)
#define ASSERT_NE(t, a, b) KTEST_CMP_(t, !=, a, b, true)
#define ASSERT_LE(t, a, b) KTEST_CMP_(t, <=, a, b, true)
#define ASSERT_GE(t, a, b) KTEST_CMP_(t, >=, a, b, true)
#define ASSERT_TRUE(t, a)  KTEST_CMP_(t, ==, !!(a), 1, true)
#define ASSERT_FALSE(t, a) KTEST_CMP_(t, ==, !!(a), 0, true)

#define KTEST_STR_(t, a, b, fatal)                                                                \
	do {                                                                                      \
		const char *ktest_a_ = (a), *ktest_b_ = (b);                                      \
		if (!ktest_streq(ktest_a_, ktest_b_))                                             \
			ktest_fail_str(t, __FILE__, __LINE__, #a, #b, ktest_a_, ktest_b_, fatal); \
	} while (0)
#define EXPECT_STREQ(t, a, b) KTEST_STR_(t, a, b, false)
#define ASSERT_STREQ(t, a, b) KTEST_STR_(t, a, b, true)

bool ktest_streq(const char *a, const char *b);

/*
 * Runs fn(arg), which must raise CPU exception 'vector' (and, when
 * 'fault_addr' is not KTEST_ANY_ADDR, fault at that address: CR2).  Records
 * a failure, with the values seen, when it does not; returns the record so
 * that the case can check more (the error code, for instance).
 */
#define KTEST_ANY_ADDR UINTPTR_MAX
#define ktest_expect_fault(t, vector, fault_addr, fn, arg) \
	ktest_expect_fault_at(t, __FILE__, __LINE__, vector, fault_addr, fn, arg)
struct fault_record ktest_expect_fault_at(struct ktest *t, const char *file, int line,
                                          uint32_t vector, uintptr_t fault_addr, void (*fn)(void *),
                                          void *arg);

/* Helpers for fault tests: one volatile access at 'addr'; a recursion
 * that runs until the stack overflows (arg unused). */
void ktest_read_byte(void *addr);
void ktest_write_byte(void *addr);
void ktest_overflow_stack(void *unused);

/*
 * Runs the suites that 'filter' selects (tests/select.h: "all" selects
 * every suite not marked KTEST_EXPLICIT, which only its full name selects).
 * Prints the KTAP report and returns how many cases passed, failed and were
 * skipped.  ktest_check_filter says beforehand whether the filter can run.
 */
struct ktest_totals {
	unsigned passed, failed, skipped; /* cases */
};
bool ktest_check_filter(const char *filter);
struct ktest_totals ktest_run_all(const char *filter, uint64_t seed);

/* Operations for the long stress (boot option stress_ops=, make stress): 0,
 * the default, skips it. */
extern uint64_t ktest_stress_ops;

#endif
