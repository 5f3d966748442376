/*
 * tests/target/smp_test.c - suite "smp": the CPUs started at boot
 * (kernel/smp.h): as many as the firmware lists (or cpus= allows), each
 * with its own per-CPU area, GDT and kernel stack below an unmapped guard
 * page.
 */
#include "arch/i386/apic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/ipi.h"
#include "arch/i386/paging.h"
#include "arch/i386/percpu.h"
#include "arch/i386/trap.h"
#include "kernel/fault.h"
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
	ktest_note(t, "%u online, %u listed, at most %u allowed", smp_cpus_online(), listed, limit);
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

struct where {
	unsigned index;
	uint8_t apic_id;
	uint32_t eflags;
};

static void note_where(void *arg)
{
	struct where *w = arg;
	w->index = this_cpu()->index;
	w->apic_id = apic_id();
	w->eflags = read_eflags();
}

static void calls_run_on_the_cpu_asked(struct ktest *t)
{
	if (smp_cpus_online() < 2)
		ktest_skip(t, "one CPU online");
	for (unsigned i = 1; i < smp_cpus_online(); i++) {
		struct where w = { .index = 99 };
		ASSERT_TRUE(t, ipi_call(i, note_where, &w));
		EXPECT_EQ(t, w.index, i);
		EXPECT_EQ(t, w.apic_id, percpu_areas[i].apic_id);
		EXPECT_EQ(t, w.eflags & EFLAGS_IF, 0); /* run with interrupts off */
	}
	EXPECT_FALSE(t, ipi_call(0, note_where, NULL));                 /* the caller */
	EXPECT_FALSE(t, ipi_call(smp_cpus_online(), note_where, NULL)); /* not online */
}

static void count_once(void *arg)
{
	__atomic_fetch_add(&((unsigned *)arg)[this_cpu()->index], 1, __ATOMIC_RELAXED);
}

static void call_others_runs_on_each_other_cpu_once(struct ktest *t)
{
	if (smp_cpus_online() < 2)
		ktest_skip(t, "one CPU online");
	unsigned counts[MAX_CPUS] = { 0 };
	for (unsigned round = 0; round < 100; round++)
		EXPECT_EQ(t, ipi_call_others(count_once, counts), smp_cpus_online() - 1);
	for (unsigned i = 0; i < MAX_CPUS; i++)
		EXPECT_EQ(t, counts[i], i == 0 || i >= smp_cpus_online() ? 0 : 100);
}

struct probe {
	struct fault_record rec;
	bool caught;
	uintptr_t guard;
};

static void touch_own_guard(void *arg)
{
	struct probe *p = arg;
	p->guard = this_cpu()->stack_guard;
	p->caught = fault_catch(ktest_write_byte, (void *)(p->guard + 8), &p->rec);
}

static void overflow_own_stack(void *arg)
{
	struct probe *p = arg;
	p->guard = this_cpu()->stack_guard;
	p->caught = fault_catch(ktest_overflow_stack, NULL, &p->rec);
}

/* Each CPU faults on its own guard page, and a runaway recursion there
 * is a double fault on that CPU's own fault task, caught and survived. */
static void each_cpu_faults_at_its_own_guard_page(struct ktest *t)
{
	if (smp_cpus_online() < 2)
		ktest_skip(t, "one CPU online");
	for (unsigned i = 1; i < smp_cpus_online(); i++) {
		struct probe p = { 0 };
		ASSERT_TRUE(t, ipi_call(i, touch_own_guard, &p));
		EXPECT_TRUE(t, p.caught);
		EXPECT_EQ(t, p.guard, percpu_areas[i].stack_guard);
		EXPECT_EQ(t, p.rec.vector, TRAP_PAGE_FAULT);
		EXPECT_EQ(t, p.rec.cr2, p.guard + 8);
		p = (struct probe){ 0 };
		ASSERT_TRUE(t, ipi_call(i, overflow_own_stack, &p));
		EXPECT_TRUE(t, p.caught);
		EXPECT_EQ(t, p.rec.vector, TRAP_DOUBLE_FAULT);
		EXPECT_GE(t, p.rec.cr2, p.guard);
		EXPECT_LT(t, p.rec.cr2, p.guard + PAGE_SIZE);
	}
	/* The CPUs still answer afterwards. */
	struct where w;
	for (unsigned i = 1; i < smp_cpus_online(); i++)
		EXPECT_TRUE(t, ipi_call(i, note_where, &w));
}

/* A reader on another CPU, reading one word of a page over and over. */
struct reader {
	volatile uint32_t *page;
	uint32_t original;
	volatile bool started, stop, saw_other, finished;
	volatile uint32_t other;
	bool faulted;
	struct fault_record rec;
};

static void read_loop(void *arg)
{
	struct reader *r = arg;
	while (!r->stop) {
		uint32_t v = *r->page;
		if (v != r->original) {
			r->other = v;
			r->saw_other = true;
		}
		r->started = true;
		/* It runs as a call, interrupts off: calls posted here meanwhile
		 * (the shootdown) run from the loop, as from every wait loop
		 * (arch/i386/ipi.h). */
		ipi_run_pending();
		__asm__ volatile("pause");
	}
}

static void read_until_stopped(void *arg)
{
	struct reader *r = arg;
	r->faulted = fault_catch(read_loop, r, &r->rec);
	r->finished = true;
}

static void free_scratch(void *base)
{
	vm_free((uintptr_t)base, 8 * 1024 * 1024);
}

/* A page freed while another CPU reads it, its frame then handed to a new
 * owner: the reader faults at the shootdown and never reads the new
 * owner's data through a translation its TLB kept.  (QEMU keeps a TLB per
 * vCPU, as hardware does: without the shootdown, the reader goes on
 * reading the frame.) */
static void a_freed_page_is_never_read_through_a_stale_translation(struct ktest *t)
{
	if (smp_cpus_online() < 2)
		ktest_skip(t, "one CPU online");
	uintptr_t v = vm_reserve(0, 8 * 1024 * 1024, VM_TEST);
	ASSERT_NE(t, v, 0);
	ktest_defer(t, free_scratch, (void *)v);
	ASSERT_TRUE(t, vm_map(v, PAGE_SIZE));
	*(volatile uint32_t *)v = 0x0a0a0a0a;
	paddr_t old_frame, new_frame;
	bool large;
	ASSERT_TRUE(t, paging_translate(v, &old_frame, &large));

	struct reader r = { .page = (volatile uint32_t *)v, .original = 0x0a0a0a0a };
	struct ipi_ticket ticket;
	ASSERT_TRUE(t, ipi_post(1, read_until_stopped, &r, &ticket));
	/* Once it has read the page, its TLB holds the translation. */
	for (unsigned spins = 0; !r.started && !r.finished && spins < 10000000; spins++)
		__asm__ volatile("pause");
	if (!r.started) {
		r.stop = true;
		ipi_wait(&ticket);
		ktest_fail_msg(t, __FILE__, __LINE__, true,
		               "the reader never read the page: faulted %d (vector %u at eip %#x, "
		               "cr2 %p)",
		               r.faulted, r.rec.vector, r.rec.eip, (void *)r.rec.cr2);
	}
	uint32_t rounds = paging_shootdown_rounds();
	ASSERT_TRUE(t, vm_unused(v, PAGE_SIZE));
	EXPECT_EQ(t, paging_shootdown_rounds(), rounds + 1); /* one round for the call */
	/* The frame goes to a new owner, who writes there. */
	uintptr_t w = v + 4 * 1024 * 1024;
	ASSERT_TRUE(t, vm_map(w, PAGE_SIZE));
	ASSERT_TRUE(t, paging_translate(w, &new_frame, &large));
	*(volatile uint32_t *)w = 0xbbbbbbbb;
	for (unsigned i = 0; i < 2000 && !r.faulted; i++)
		__asm__ volatile("pause");
	r.stop = true;
	ipi_wait(&ticket);

	EXPECT_EQ(t, new_frame, old_frame); /* the frame was indeed reused */
	EXPECT_TRUE(t, r.faulted);
	EXPECT_EQ(t, r.rec.vector, TRAP_PAGE_FAULT);
	EXPECT_EQ(t, r.rec.cr2, v);
	EXPECT_FALSE(t, r.saw_other);
	if (r.saw_other)
		ktest_note(t, "the reader read %#x through a stale translation", r.other);
}

/* Another CPU maps pages next to ours while we take their page table
 * away and install another: it writes its entries through the window onto
 * the table (a translation of its own, cached by its TLB), which must
 * reach the new table, not the frame of the old one. */
struct neighbour {
	uintptr_t first, second; /* pages it maps, one before the swap, one after */
	volatile bool warmed, go, done;
	bool mapped, faulted;
	struct fault_record rec;
};

static void touch_second(void *arg)
{
	struct neighbour *n = arg;
	*(volatile uint32_t *)n->second = 0x5ec04d;
}

static void map_around_a_swap(void *arg)
{
	struct neighbour *n = arg;
	/* Its TLB now holds the window onto the table as it is. */
	n->mapped = vm_map(n->first, PAGE_SIZE);
	n->warmed = true;
	while (!n->go) {
		ipi_run_pending(); /* the shootdowns of the swap */
		__asm__ volatile("pause");
	}
	n->mapped = n->mapped && vm_map(n->second, PAGE_SIZE);
	n->faulted = n->mapped && fault_catch(touch_second, n, &n->rec);
	n->done = true;
}

static void a_table_replaced_on_one_cpu_is_written_afresh_on_another(struct ktest *t)
{
	if (smp_cpus_online() < 2)
		ktest_skip(t, "one CPU online");
	uintptr_t v = vm_reserve(0, 8 * 1024 * 1024, VM_TEST);
	ASSERT_NE(t, v, 0);
	ktest_defer(t, free_scratch, (void *)v);
	uintptr_t w = v + 4 * 1024 * 1024;    /* the next table's 4 MiB */
	ASSERT_TRUE(t, vm_map(v, PAGE_SIZE)); /* a table for v's 4 MiB */
	paddr_t old_table = paging_table_frame(v);
	ASSERT_NE(t, old_table, 0);
	struct neighbour n = { .first = v + PAGE_SIZE, .second = v + 2 * PAGE_SIZE };
	struct ipi_ticket ticket;
	ASSERT_TRUE(t, ipi_post(1, map_around_a_swap, &n, &ticket));
	for (unsigned spins = 0; !n.warmed && spins < 100000000; spins++)
		__asm__ volatile("pause");
	EXPECT_TRUE(t, n.warmed);

	/* The table goes (its last pages unmapped), its frame goes to w's new
	 * table, and v's 4 MiB get a table in another frame. */
	ASSERT_TRUE(t, vm_unused(v, 2 * PAGE_SIZE));
	ASSERT_TRUE(t, vm_map(w, PAGE_SIZE));
	*(volatile uint32_t *)w = 0;
	ASSERT_TRUE(t, vm_map(v, PAGE_SIZE));
	paddr_t new_table = paging_table_frame(v);
	paddr_t w_table = paging_table_frame(w);
	n.go = true;
	ipi_wait(&ticket);

	EXPECT_NE(t, new_table, old_table);
	EXPECT_EQ(t, w_table, old_table); /* the frame was indeed reused */
	EXPECT_TRUE(t, n.mapped);
	EXPECT_FALSE(t, n.faulted);
	if (n.faulted)
		ktest_note(t, "cpu 1 faulted at %p (eip %#x): its entry went to the old table",
		           (void *)n.rec.cr2, n.rec.eip);
	EXPECT_EQ(t, *(volatile uint32_t *)n.second, 0x5ec04d);
	EXPECT_EQ(t, *(volatile uint32_t *)w, 0); /* w's table frame kept its own */
	EXPECT_TRUE(t, vm_is_mapped(n.second));
}

static const struct ktest_case smp_cases[] = {
	KTEST_CASE(as_many_cpus_online_as_listed_or_allowed),
	KTEST_CASE(each_cpu_has_its_own_area),
	KTEST_CASE(each_stack_lies_above_an_unmapped_guard),
	KTEST_CASE(calls_run_on_the_cpu_asked),
	KTEST_CASE(call_others_runs_on_each_other_cpu_once),
	KTEST_CASE(each_cpu_faults_at_its_own_guard_page),
	KTEST_CASE(a_freed_page_is_never_read_through_a_stale_translation),
	KTEST_CASE(a_table_replaced_on_one_cpu_is_written_afresh_on_another),
};
KTEST_SUITE(smp, smp_cases, NULL, NULL);
