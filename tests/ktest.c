/* tests/ktest.c - runs the registered suites and prints KTAP version 1. */
#include "tests/ktest.h"
#include "arch/i386/trap.h"
#include "kernel/console.h"
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

static bool filter_item_matches(const char *item, size_t len, const struct ktest_suite *s)
{
	size_t i = 0;
	for (; i < len; i++)
		if (s->name[i] != item[i])
			return false;
	/* A prefix selects a suite, unless the suite wants its full name. */
	return s->name[i] == '\0' || !(s->flags & KTEST_EXPLICIT);
}

static bool selected(const char *filter, const struct ktest_suite *s)
{
	if (ktest_streq(filter, "none"))
		return false;
	if (filter[0] == '\0' || ktest_streq(filter, "all"))
		return !(s->flags & KTEST_EXPLICIT);
	const char *p = filter;
	while (*p) {
		const char *item = p;
		while (*p && *p != ',')
			p++;
		if (p > item && filter_item_matches(item, (size_t)(p - item), s))
			return true;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Runs one case; returns its number of failed checks.  Kept apart from the
 * suite loop so that an ASSERT's longjmp cannot clobber the loop's state. */
static unsigned run_case(const struct ktest_case *c, uint64_t seed)
{
	struct ktest t = { .name = c->name, .seed = seed };
	if (ktest_setjmp(t.abort) == 0)
		c->run(&t);
	return t.failures;
}

static struct ktest_totals run_suite(const struct ktest_suite *s, unsigned number, uint64_t seed)
{
	unsigned failed = 0, passed = 0;
	kprintf(SUITE_INDENT "KTAP version 1\n");
	kprintf(SUITE_INDENT "# Subtest: %s\n", s->name);
	kprintf(SUITE_INDENT "1..%u\n", s->case_count);

	int init_error = s->init ? s->init() : 0;
	if (init_error)
		kprintf(SUITE_INDENT "# %s: init failed with %d\n", s->name, init_error);

	for (unsigned i = 0; i < s->case_count; i++) {
		unsigned failures = init_error ? 1 : run_case(&s->cases[i], seed);
		if (failures)
			failed++;
		else
			passed++;
		kprintf(SUITE_INDENT "%sok %u %s\n", failures ? "not " : "", i + 1,
		        s->cases[i].name);
	}
	if (s->exit && !init_error)
		s->exit();
	kprintf(SUITE_INDENT "# %s: pass:%u fail:%u skip:0 total:%u\n", s->name, passed, failed,
	        s->case_count);
	kprintf("%sok %u %s\n", failed ? "not " : "", number, s->name);
	return (struct ktest_totals){ passed, failed };
}

static unsigned suite_pass(const struct ktest_suite *s)
{
	return s->flags & KTEST_RUN_FIRST ? 0 : s->flags & KTEST_RUN_LAST ? 2 : 1;
}

struct ktest_totals ktest_run_all(const char *filter, uint64_t seed)
{
	unsigned count = 0;
	for (const struct ktest_suite *s = __start_ktest_suites; s < __stop_ktest_suites; s++)
		count += selected(filter, s);

	kprintf("KTAP version 1\n");
	kprintf("# seed=%llu (set with seed=<n>)\n", (unsigned long long)seed);
	kprintf("1..%u\n", count);
	struct ktest_totals totals = { 0, 0 };
	unsigned number = 0;
	/* Three passes: KTEST_RUN_FIRST suites, unmarked ones, KTEST_RUN_LAST. */
	for (unsigned pass = 0; pass < 3; pass++)
		for (const struct ktest_suite *s = __start_ktest_suites; s < __stop_ktest_suites;
		     s++)
			if (selected(filter, s) && suite_pass(s) == pass) {
				struct ktest_totals t = run_suite(s, ++number, seed);
				totals.passed += t.passed;
				totals.failed += t.failed;
			}
	kprintf("# totals: %u suites, %u cases passed, %u failed\n", count, totals.passed,
	        totals.failed);
	return totals;
}
