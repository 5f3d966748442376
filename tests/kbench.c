/* tests/kbench.c - runs the registered benchmarks (kbench.h). */
#include "tests/kbench.h"
#include "arch/i386/cpuid.h"
#include "lib/console.h"
#include "tests/select.h"
#include <stdbool.h>

extern const struct kbench __start_kbench[], __stop_kbench[];

void kbench_report(const char *name, uint64_t numerator, uint64_t denominator, const char *unit)
{
	uint64_t hundredths = denominator ? numerator * 100 / denominator : 0;
	kprintf("bench %s %llu.%02llu %s\n", name, (unsigned long long)(hundredths / 100),
	        (unsigned long long)(hundredths % 100), unit);
}

static bool item_selects_bench(const char *item, size_t len, const void *entry)
{
	const struct kbench *b = entry;
	for (size_t i = 0; i < len; i++)
		if (b->name[i] != item[i])
			return false;
	return true; /* the item is the name or a prefix of it */
}

static bool selected(const char *filter, const struct kbench *b)
{
	if (select_is(filter, "all"))
		return true;
	return !select_is(filter, "none") && select_any_item(filter, b, item_selects_bench);
}

static bool item_selects_some_bench(const char *item, size_t len)
{
	for (const struct kbench *b = __start_kbench; b < __stop_kbench; b++)
		if (item_selects_bench(item, len, b))
			return true;
	return false;
}

bool kbench_check_filter(const char *filter)
{
	if (!select_check("bench", filter, item_selects_some_bench))
		return false;
	/* Every figure is a count of rdtsc ticks. */
	const char *missing = cpu_missing_feature(boot_cpu.features, CPUID_TSC);
	if (missing && !select_is(filter, "none")) {
		kprintf("bench=%s: the benchmarks need the %s, which this CPU lacks\n", filter,
		        missing);
		return false;
	}
	return true;
}

unsigned kbench_run(const char *filter)
{
	unsigned ran = 0;
	kprintf("# benchmarks: guest instructions under QEMU -icount shift=0\n");
	for (const struct kbench *b = __start_kbench; b < __stop_kbench; b++) {
		if (!selected(filter, b))
			continue;
		kprintf("# bench: %s\n", b->name);
		b->run();
		ran++;
	}
	return ran;
}
