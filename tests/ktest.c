/* tests/ktest.c - runs the registered suites and prints KTAP version 1. */
#include "tests/ktest.h"
#include "arch/i386/trap.h"
#include "lib/console.h"
#include "lib/format.h"
#include "lib/ratelimit.h"
#include "tests/select.h"
#include <stdarg.h>

extern const struct ktest_suite __start_ktest_suites[], __stop_ktest_suites[];

/* Nested KTAP lines are indented by four spaces per level. */
#define SUITE_INDENT "    "

bool ktest_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static void finish_failure(struct ktest *t, bool fatal)
{
	t->failures++;
	if (fatal)
		ktest_longjmp(t->abort);
}

void ktest_fail_int(struct ktest *t, const char *file, int line, const char *op, const char *lhs,
                    const char *rhs, long long a, long long b, bool fatal)
{
	kprintf(SUITE_INDENT "# %s: %s:%d: expected %s %s %s\n", t->name, file, line, lhs, op, rhs);
	kprintf(SUITE_INDENT "#   %s == %lld (0x%llx)\n", lhs, a, (unsigned long long)a);
	kprintf(SUITE_INDENT "#   %s == %lld (0x%llx)\n", rhs, b, (unsigned long long)b);
	finish_failure(t, fatal);
}

void ktest_fail_str(struct ktest *t, const char *file, int line, const char *lhs, const char *rhs,
                    const char *a, const char *b, bool fatal)
{
	kprintf(SUITE_INDENT "# %s: %s:%d: expected %s equal to %s\n", t->name, file, line, lhs,
	        rhs);
	kprintf(SUITE_INDENT "#   %s == \"%s\"\n", lhs, a);
	kprintf(SUITE_INDENT "#   %s == \"%s\"\n", rhs, b);
	finish_failure(t, fatal);
}

void ktest_fail_msg(struct ktest *t, const char *file, int line, bool fatal, const char *fmt, ...)
{
	kprintf(SUITE_INDENT "# %s: %s:%d: ", t->name, file, line);
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	finish_failure(t, fatal);
}

void ktest_skip(struct ktest *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(t->skip_reason, sizeof(t->skip_reason), fmt, ap);
	va_end(ap);
	if (!t->skip_reason[0])
		ksnprintf(t->skip_reason, sizeof(t->skip_reason), "skipped");
	ktest_longjmp(t->abort);
}

void ktest_defer(struct ktest *t, void (*fn)(void *arg), void *arg)
{
	if (t->deferred_count == KTEST_MAX_DEFERRED) {
		fn(arg);
		ktest_fail_msg(t, __FILE__, __LINE__, false,
		               "more than %d deferred actions; ran this one at once",
		               KTEST_MAX_DEFERRED);
		return;
	}
	t->deferred[t->deferred_count].fn = fn;
	t->deferred[t->deferred_count].arg = arg;
	t->deferred_count++;
}

void ktest_note(struct ktest *t, const char *fmt, ...)
{
	kprintf(SUITE_INDENT "# %s: ", t->name);
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
}

struct fault_record ktest_expect_fault_at(struct ktest *t, const char *file, int line,
                                          uint32_t vector, uintptr_t fault_addr, void (*fn)(void *),
                                          void *arg)
{
	struct fault_record rec = { 0 };
	if (!fault_catch(fn, arg, &rec)) {
		ktest_fail_msg(t, file, line, false, "expected exception %u (%s), none happened",
		               vector, trap_vector_name(vector));
		return (struct fault_record){ .vector = UINT32_MAX };
	}
	if (rec.vector != vector)
		ktest_fail_msg(t, file, line, false,
		               "expected exception %u (%s), got %u (%s) at eip %08x", vector,
		               trap_vector_name(vector), rec.vector, trap_vector_name(rec.vector),
		               rec.eip);
	else if (fault_addr != KTEST_ANY_ADDR && rec.cr2 != fault_addr)
		ktest_fail_msg(t, file, line, false, "expected the fault at %p, got it at %p",
		               (void *)fault_addr, (void *)rec.cr2);
	return rec;
}

void ktest_read_byte(void *addr)
{
	(void)*(volatile uint8_t *)addr;
}

void ktest_write_byte(void *addr)
{
	*(volatile uint8_t *)addr = 0x5a;
}

/* Deep enough for any stack; volatile so that the compiler can neither
 * bound nor flatten the recursion. */
static volatile unsigned recursion_limit = 0xffffffffu;

static unsigned __attribute__((noinline)) recurse(unsigned depth)
{
	volatile char frame[128];
	frame[0] = (char)depth;
	if (depth >= recursion_limit)
		return frame[0];
	return recurse(depth + 1) + frame[0];
}

void ktest_overflow_stack(void *unused)
{
	(void)unused;
	recurse(0);
}

static bool item_selects_suite(const char *item, size_t len, const void *entry)
{
	const struct ktest_suite *s = entry;
	size_t i = 0;
	for (; i < len; i++)
		if (s->name[i] != item[i])
			return false;
	/* A prefix selects a suite, unless the suite wants its full name. */
	return s->name[i] == '\0' || !(s->flags & KTEST_EXPLICIT);
}

static bool selected(const char *filter, const struct ktest_suite *s)
{
	if (select_is(filter, "none"))
		return false;
	if (select_is(filter, "all"))
		return !(s->flags & KTEST_EXPLICIT);
	return select_any_item(filter, s, item_selects_suite);
}

static bool item_selects_some_suite(const char *item, size_t len)
{
	for (const struct ktest_suite *s = __start_ktest_suites; s < __stop_ktest_suites; s++)
		if (item_selects_suite(item, len, s))
			return true;
	return false;
}

bool ktest_check_filter(const char *filter)
{
	return select_check("test", filter, item_selects_some_suite);
}

enum case_outcome { CASE_PASSED, CASE_FAILED, CASE_SKIPPED };

/* Runs one case and what it deferred, and prints its result line.  Kept
 * apart from the suite loop so that an ASSERT's longjmp cannot clobber the
 * loop's state. */
static enum case_outcome run_case(const struct ktest_suite *s, const struct ktest_case *c,
                                  unsigned number, uint64_t seed)
{
	struct ktest t = { .name = c->name, .seed = seed };
	if (ktest_setjmp(t.abort) == 0)
		c->run(&t);
	while (t.deferred_count > 0) {
		t.deferred_count--;
		t.deferred[t.deferred_count].fn(t.deferred[t.deferred_count].arg);
	}
	if (s->case_exit)
		s->case_exit();
	ratelimit_flush(); /* inside the case's block, and a new burst for the next */
	if (t.failures) {
		kprintf(SUITE_INDENT "not ok %u %s\n", number, c->name);
		return CASE_FAILED;
	}
	if (t.skip_reason[0]) {
		kprintf(SUITE_INDENT "ok %u %s # SKIP %s\n", number, c->name, t.skip_reason);
		return CASE_SKIPPED;
	}
	kprintf(SUITE_INDENT "ok %u %s\n", number, c->name);
	return CASE_PASSED;
}

static struct ktest_totals run_suite(const struct ktest_suite *s, unsigned number, uint64_t seed)
{
	struct ktest_totals n = { 0, 0, 0 };
	kprintf(SUITE_INDENT "KTAP version 1\n");
	kprintf(SUITE_INDENT "# Subtest: %s\n", s->name);
	kprintf(SUITE_INDENT "1..%u\n", s->case_count);

	int init_error = s->init ? s->init() : 0;
	if (init_error)
		kprintf(SUITE_INDENT "# %s: init failed with %d\n", s->name, init_error);

	for (unsigned i = 0; i < s->case_count; i++) {
		enum case_outcome outcome = CASE_FAILED;
		if (init_error)
			kprintf(SUITE_INDENT "not ok %u %s\n", i + 1, s->cases[i].name);
		else
			outcome = run_case(s, &s->cases[i], i + 1, seed);
		n.passed += outcome == CASE_PASSED;
		n.failed += outcome == CASE_FAILED;
		n.skipped += outcome == CASE_SKIPPED;
	}
	if (s->exit && !init_error)
		s->exit();
	kprintf(SUITE_INDENT "# %s: pass:%u fail:%u skip:%u total:%u\n", s->name, n.passed,
	        n.failed, n.skipped, s->case_count);
	if (n.failed)
		kprintf("not ok %u %s\n", number, s->name);
	else if (n.skipped == s->case_count && s->case_count > 0)
		kprintf("ok %u %s # SKIP every case skipped\n", number, s->name);
	else
		kprintf("ok %u %s\n", number, s->name);
	return n;
}

static unsigned suite_pass(const struct ktest_suite *s)
{
	return s->flags & KTEST_RUN_FIRST ? 0 : s->flags & KTEST_RUN_LAST ? 2 : 1;
}

uint64_t ktest_stress_ops;

struct ktest_totals ktest_run_all(const char *filter, uint64_t seed)
{
	unsigned count = 0;
	for (const struct ktest_suite *s = __start_ktest_suites; s < __stop_ktest_suites; s++)
		count += selected(filter, s);

	kprintf("KTAP version 1\n");
	kprintf("# seed=%llu (set with seed=<n>)\n", (unsigned long long)seed);
	kprintf("1..%u\n", count);
	struct ktest_totals totals = { 0, 0, 0 };
	unsigned number = 0;
	/* Three passes: KTEST_RUN_FIRST suites, unmarked ones, KTEST_RUN_LAST. */
	for (unsigned pass = 0; pass < 3; pass++)
		for (const struct ktest_suite *s = __start_ktest_suites; s < __stop_ktest_suites;
		     s++)
			if (selected(filter, s) && suite_pass(s) == pass) {
				struct ktest_totals t = run_suite(s, ++number, seed);
				totals.passed += t.passed;
				totals.failed += t.failed;
				totals.skipped += t.skipped;
			}
	kprintf("# totals: %u suites, %u cases passed, %u failed, %u skipped\n", count,
	        totals.passed, totals.failed, totals.skipped);
	return totals;
}
