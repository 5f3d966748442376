/*
 * arch/i386/cpuid.h - what this CPU is and what it can do.
 *
 * arena386 runs on an i486 or later: the kernel is built with -march=i486
 * and uses what the 486 added to the 386 (invlpg, CR0.WP, which makes the
 * kernel's own read-only pages fault; bswap, cmpxchg, xadd).  A 386 is told
 * apart from a 486 by the EFLAGS.AC bit, which only a 486 or later can set;
 * the CPUID instruction is there when EFLAGS.ID can be toggled (most 486s
 * from 1992 on, every later CPU).  Without CPUID the kernel assumes none of
 * the optional features below.
 *
 * Optional features and what uses them: PSE (4 MiB pages: the page tables
 * use them when present, 4 KiB pages otherwise) and the time-stamp counter
 * (the benchmarks only; they refuse to run without it).
 */
#ifndef ARCH_I386_CPUID_H
#define ARCH_I386_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CPUID leaf 1, %edx. */
#define CPUID_FPU (1u << 0)
#define CPUID_PSE (1u << 3)
#define CPUID_TSC (1u << 4)

struct cpu_info {
	bool is_486;     /* EFLAGS.AC can be set: an i486 or later */
	bool has_cpuid;  /* EFLAGS.ID can be toggled */
	char vendor[13]; /* "GenuineIntel", ...; "" without CPUID */
	unsigned family, model, stepping;
	uint32_t features; /* CPUID leaf 1 %edx; 0 without CPUID */
};

/* Filled in by cpu_identify() early at boot. */
extern struct cpu_info boot_cpu;

/* Identifies the CPU into boot_cpu.  Safe on a 386: it executes CPUID only
 * where EFLAGS.ID says it exists. */
void cpu_identify(void);

static inline bool cpu_has(uint32_t feature)
{
	return (boot_cpu.features & feature) == feature;
}

/*
 * The first feature of 'wanted' (a CPUID_* mask) that 'have' lacks, as
 * "PSE (4 MiB pages)"; NULL when nothing is missing.
 */
const char *cpu_missing_feature(uint32_t have, uint32_t wanted);

/* Writes "fpu pse tsc" for the known features in 'features' into buf. */
void cpu_feature_names(uint32_t features, char *buf, unsigned size);

#endif
