/* tests/kbench.c - runs the registered benchmarks (kbench.h). */
#include "tests/kbench.h"
#include "kernel/console.h"
#include <stdbool.h>

extern const struct kbench __start_kbench[], __stop_kbench[];

void kbench_report(const char *name, uint64_t numerator, uint64_t denominator, const char *unit)
{
	uint64_t hundredths = denominator ? numerator * 100 / denominator : 0;
	kprintf("bench %s %llu.%02llu %s\n", name, (unsigned long long)(hundredths / 100),
	        (unsigned long long)(hundredths % 100), unit);
}

static bool matches(const char *filter, const char *name)
{
	if (filter[0] == 'a' && filter[1] == 'l' && filter[2] == 'l' && filter[3] == '\0')
		return true;
	const char *p = filter;
	while (*p) {
		const char *n = name;
		while (*p && *p != ',' && *p == *n)
			p++, n++;
		if (*p == ',' || *p == '\0')
			return true; /* the item is a prefix of the name */
		while (*p && *p != ',')
			p++;
		if (*p == ',')
			p++;
	}
	return false;
}

unsigned kbench_run(const char *filter)
{
	unsigned ran = 0;
	kprintf("# benchmarks: guest instructions under QEMU -icount shift=0\n");
	for (const struct kbench *b = __start_kbench; b < __stop_kbench; b++) {
		if (!matches(filter, b->name))
			continue;
		kprintf("# bench: %s\n", b->name);
		b->run();
		ran++;
	}
	return ran;
}
