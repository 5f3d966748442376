/*
 * tests/bench/restart_bench.c - what the restartable sequences cost the
 * interrupt entry (arch/i386/restart.h): the whole round trip of an
 * interrupt that runs an empty C handler (int $vector, the common entry,
 * the rewind's test, iret), the rewind's test alone on an interrupted EIP
 * outside every sequence (what each interrupt pays), and the rewind of an
 * EIP inside one (what an interrupt that lands there pays on top).
 */
#include "arch/i386/cpu.h"
#include "arch/i386/restart.h"
#include "arch/i386/trap.h"
#include "tests/kbench.h"

#define BENCH_IRQ_VECTOR (IRQ_FIRST_VECTOR + 2)

static void empty_handler(struct trap_frame *frame)
{
	(void)frame;
}

/* The test, out of line as the entry has it (a call from its dispatch). */
static __attribute__((noinline)) void check(struct trap_frame *f)
{
	restart_check(f);
}

KBENCH(restart)
{
	enum { ROUNDS = 10000 };
	trap_set_irq(BENCH_IRQ_VECTOR, empty_handler);
	uint64_t t0 = rdtsc();
	for (unsigned i = 0; i < ROUNDS; i++)
		__asm__ volatile("int %0" : : "i"(BENCH_IRQ_VECTOR) : "memory");
	uint64_t total = rdtsc() - t0 - kbench_empty_loop(ROUNDS);
	kbench_report("irq_round_trip", total, ROUNDS, "insn/interrupt");

	/* An EIP outside every sequence: this function's own. */
	struct trap_frame f = { .eip = (uint32_t)(uintptr_t)check };
	t0 = rdtsc();
	for (unsigned i = 0; i < ROUNDS; i++) {
		f.eip = (uint32_t)(uintptr_t)check;
		check(&f);
	}
	uint64_t outside = rdtsc() - t0 - kbench_empty_loop(ROUNDS);
	kbench_report("restart_check_outside", outside, ROUNDS, "insn/interrupt");

	/* Inside the first sequence of the table, before its bit operation:
	 * moved back, nothing to undo. */
	const struct restart_entry *e = __start_restart_table;
	if (e == __stop_restart_table)
		return;
	t0 = rdtsc();
	for (unsigned i = 0; i < ROUNDS; i++) {
		f.eip = e->begin + 2;
		check(&f);
	}
	uint64_t inside = rdtsc() - t0 - kbench_empty_loop(ROUNDS);
	kbench_report("restart_rewind_inside", inside, ROUNDS, "insn/interrupt");
}
