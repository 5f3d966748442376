/* tests/target/cpuid_test.c - suite "cpuid": what the boot found of the CPU. */
#include "arch/i386/cpuid.h"
#include "arch/i386/paging.h"
#include "tests/ktest.h"

static void the_boot_cpu_is_a_486_or_later(struct ktest *t)
{
	EXPECT_TRUE(t, boot_cpu.is_486); /* or the boot would have stopped */
	EXPECT_GE(t, boot_cpu.family, 4);
	/* Paging uses 4 MiB pages exactly when the CPU has them. */
	EXPECT_EQ(t, paging_has_pse(), cpu_has(CPUID_PSE));
}

static void missing_features_are_named(struct ktest *t)
{
	EXPECT_TRUE(t, cpu_missing_feature(CPUID_FPU | CPUID_TSC, CPUID_TSC) == NULL);
	EXPECT_STREQ(t, cpu_missing_feature(CPUID_FPU, CPUID_TSC), "TSC (time-stamp counter)");
	EXPECT_STREQ(t, cpu_missing_feature(0, CPUID_PSE | CPUID_TSC), "PSE (4 MiB pages)");
	EXPECT_STREQ(t, cpu_missing_feature(0, 1u << 30), "an unnamed CPUID feature");
}

static void feature_names_fit_their_buffer(struct ktest *t)
{
	char buf[16];
	cpu_feature_names(CPUID_FPU | CPUID_PSE | CPUID_TSC, buf, sizeof(buf));
	EXPECT_STREQ(t, buf, "fpu pse tsc");
	cpu_feature_names(0, buf, sizeof(buf));
	EXPECT_STREQ(t, buf, "");
	char small[6];
	cpu_feature_names(CPUID_FPU | CPUID_PSE | CPUID_TSC, small, sizeof(small));
	EXPECT_STREQ(t, small, "fpu p");
}

static const struct ktest_case cpuid_cases[] = {
	KTEST_CASE(the_boot_cpu_is_a_486_or_later),
	KTEST_CASE(missing_features_are_named),
	KTEST_CASE(feature_names_fit_their_buffer),
};
KTEST_SUITE(cpuid, cpuid_cases, NULL, NULL);
