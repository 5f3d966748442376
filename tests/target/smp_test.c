/*
 * tests/target/smp_test.c - suite "smp": the CPUs started at boot
 * (kernel/smp.h): as many as the firmware lists (or cpus= allows), each
 * with its own per-CPU area, GDT and kernel stack below an unmapped guard
 * page.
 */
#include "arch/i386/apic.h"
#include "arch/i386/percpu.h"
#include "arch/i386/trap.h"
#include "kernel/kernel.h"
#include "kernel/smp.h"
#include "mm/vm.h"
#include "tests/ktest.h"

static void as_many_cpus_online_as_listed_or_allowed(struct ktest *t)
{
	unsigned listed = boot_topology.cpu_count, limit = smp_cpu_limit();
	if (!apic_present())
		ktest_skip(t, "no local APIC: the boot CPU alone");
	EXPECT_EQ(t, smp_cpus_online(), listed < limit ? listed : limit);
	ktest_note(t, "%u online, %u listed, at most %u allowed", smp_cpus_online(), listed,
	           limit);
}

static void each_cpu_has_its_own_area(struct ktest *t)
{
	EXPECT_EQ(t, (uintptr_t)this_cpu(), (uintptr_t)&percpu_areas[0]); /* the boot CPU */
	for (unsigned i = 0; i < smp_cpus_online(); i++) {
		const struct percpu *cpu = &percpu_areas[i];
		EXPECT_TRUE(t, cpu->online);
		EXPECT_EQ(t, cpu->index, i);
		EXPECT_EQ(t, (uintptr_t)cpu->self, (uintptr_t)cpu);
		/* Its GDT's per-CPU segment starts at its own area. */
		uint64_t d = cpu->gdt[GDT_PERCPU / 8];
		uint32_t base = (uint32_t)((d >> 16) & 0xffffff) | (uint32_t)(d >> 56) << 24;
		EXPECT_EQ(t, base, (uintptr_t)cpu);
		/* Its APIC id is listed by the firmware, once. */
		unsigned seen = 0;
		for (unsigned j = 0; j < boot_topology.cpu_count; j++)
			seen += boot_topology.apic_ids[j] == cpu->apic_id;
		EXPECT_EQ(t, seen, boot_topology.source[0] == 'n' ? 0 : 1);
		for (unsigned j = 0; j < i; j++)
			EXPECT_NE(t, percpu_areas[j].apic_id, cpu->apic_id);
	}
	if (apic_present())
		EXPECT_EQ(t, apic_id(), percpu_areas[0].apic_id);
}

/* Every other CPU's stack lies below an unmapped guard page of its own. */
static void each_stack_lies_above_an_unmapped_guard(struct ktest *t)
{
	if (smp_cpus_online() < 2)
		ktest_skip(t, "one CPU online");
	for (unsigned i = 1; i < smp_cpus_online(); i++) {
		const struct percpu *cpu = &percpu_areas[i];
		EXPECT_EQ(t, cpu->stack_bottom, cpu->stack_guard + PAGE_SIZE);
		EXPECT_EQ(t, vm_owner_at(cpu->stack_guard), VM_CPU_STACKS);
		EXPECT_FALSE(t, vm_is_mapped(cpu->stack_guard));
		EXPECT_EQ(t, vm_mapped_pages(cpu->stack_bottom, KERNEL_STACK_SIZE),
		          KERNEL_STACK_SIZE / PAGE_SIZE);
		ktest_expect_fault(t, TRAP_PAGE_FAULT, cpu->stack_guard + 8, ktest_write_byte,
		                   (void *)(cpu->stack_guard + 8));
	}
}

static const struct ktest_case smp_cases[] = {
	KTEST_CASE(as_many_cpus_online_as_listed_or_allowed),
	KTEST_CASE(each_cpu_has_its_own_area),
	KTEST_CASE(each_stack_lies_above_an_unmapped_guard),
};
KTEST_SUITE(smp, smp_cases, NULL, NULL);
