/*
 * tests/bench/smp_bench.c - the call-function primitive (arch/i386/ipi.h):
 * one call to one other CPU, and one round to every other CPU.  Under
 * -icount the clock advances with every CPU's instructions, so a figure is
 * the guest instructions of the whole exchange, on all CPUs.
 */
#include "arch/i386/cpu.h"
#include "arch/i386/ipi.h"
#include "arch/i386/spinlock.h"
#include "kernel/console.h"
#include "kernel/smp.h"
#include "lib/format.h"
#include "tests/kbench.h"

static void nothing(void *arg)
{
	(void)arg;
}

KBENCH(ipi)
{
	enum { ROUNDS = 1000 };
	unsigned cpus = smp_cpus_online();
	if (cpus < 2) {
		kprintf("# ipi: one CPU online (run with -smp 4): skipped\n");
		return;
	}
	ipi_call(1, nothing, NULL); /* warm */
	uint64_t t0 = rdtsc();
	for (unsigned i = 0; i < ROUNDS; i++)
		ipi_call(1, nothing, NULL);
	uint64_t one = rdtsc() - t0 - kbench_empty_loop(ROUNDS);
	kbench_report("ipi_call_one", one, ROUNDS, "insn/call");
	t0 = rdtsc();
	for (unsigned i = 0; i < ROUNDS; i++)
		ipi_call_others(nothing, NULL);
	uint64_t all = rdtsc() - t0 - kbench_empty_loop(ROUNDS);
	char name[32];
	ksnprintf(name, sizeof(name), "ipi_round_to_%u_cpus", cpus - 1);
	kbench_report(name, all, ROUNDS, "insn/round");
}

KBENCH(spinlock)
{
	enum { ROUNDS = 10000 };
	spinlock_t lock = SPINLOCK_INIT;
	uint64_t t0 = rdtsc();
	for (unsigned i = 0; i < ROUNDS; i++) {
		uint32_t flags = spin_lock_irqsave(&lock);
		spin_unlock_irqrestore(&lock, flags);
	}
	uint64_t total = rdtsc() - t0 - kbench_empty_loop(ROUNDS);
	kbench_report("spinlock_round_trip", total, ROUNDS, "insn");
}
