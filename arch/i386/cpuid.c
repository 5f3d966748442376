/* arch/i386/cpuid.c - identifying the CPU (cpuid.h). */
#include "arch/i386/cpuid.h"
#include "arch/i386/cpu.h"

#define EFLAGS_AC (1u << 18)
#define EFLAGS_ID (1u << 21)

struct cpu_info boot_cpu;

static const struct {
	uint32_t bit;
	const char *name;
	const char *meaning;
} feature_table[] = {
	{ CPUID_FPU, "fpu", "FPU (x87 floating point)" },
	{ CPUID_PSE, "pse", "PSE (4 MiB pages)" },
	{ CPUID_TSC, "tsc", "TSC (time-stamp counter)" },
};
#define FEATURE_COUNT (sizeof(feature_table) / sizeof(feature_table[0]))

/* Whether 'bit' of EFLAGS can be flipped; EFLAGS is restored afterwards. */
static bool eflags_bit_writable(uint32_t bit)
{
	uint32_t before = read_eflags();
	__asm__ volatile("pushl %0; popfl" : : "r"(before ^ bit) : "cc");
	uint32_t after = read_eflags();
	__asm__ volatile("pushl %0; popfl" : : "r"(before) : "cc");
	return (before ^ after) & bit;
}

static void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

void cpu_identify(void)
{
	struct cpu_info *cpu = &boot_cpu;
	*cpu = (struct cpu_info){ 0 };
	cpu->is_486 = eflags_bit_writable(EFLAGS_AC);
	cpu->family = cpu->is_486 ? 4 : 3;
	cpu->has_cpuid = cpu->is_486 && eflags_bit_writable(EFLAGS_ID);
	if (!cpu->has_cpuid)
		return;

	uint32_t max_leaf, b, c, d;
	cpuid(0, &max_leaf, &b, &c, &d);
	uint32_t name[3] = { b, d, c };
	__builtin_memcpy(cpu->vendor, name, sizeof(name));
	cpu->vendor[12] = '\0';
	if (max_leaf < 1)
		return;
	uint32_t a;
	cpuid(1, &a, &b, &c, &d);
	cpu->stepping = a & 0xf;
	cpu->model = (a >> 4) & 0xf;
	cpu->family = (a >> 8) & 0xf;
	if (cpu->family == 0xf)
		cpu->family += (a >> 20) & 0xff;
	if (cpu->family >= 6)
		cpu->model |= ((a >> 16) & 0xf) << 4;
	cpu->features = d;
}

const char *cpu_missing_feature(uint32_t have, uint32_t wanted)
{
	for (unsigned i = 0; i < FEATURE_COUNT; i++)
		if ((wanted & feature_table[i].bit) && !(have & feature_table[i].bit))
			return feature_table[i].meaning;
	return (wanted & ~have) ? "an unnamed CPUID feature" : NULL;
}

void cpu_feature_names(uint32_t features, char *buf, unsigned size)
{
	unsigned n = 0;
	if (size == 0)
		return;
	for (unsigned i = 0; i < FEATURE_COUNT; i++) {
		if (!(features & feature_table[i].bit))
			continue;
		for (const char *s = n ? " " : ""; *s && n + 1 < size; s++)
			buf[n++] = *s;
		for (const char *s = feature_table[i].name; *s && n + 1 < size; s++)
			buf[n++] = *s;
	}
	buf[n] = '\0';
}
