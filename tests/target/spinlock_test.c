/*
 * tests/target/spinlock_test.c - suite "spinlock": ticket locks
 * (arch/i386/spinlock.h) keep every other CPU out, and restore the
 * interrupt flag as they found it.
 */
#include "arch/i386/ipi.h"
#include "arch/i386/percpu.h"
#include "arch/i386/spinlock.h"
#include "kernel/smp.h"
#include "tests/ktest.h"

static void restores_the_interrupt_flag(struct ktest *t)
{
	spinlock_t lock = SPINLOCK_INIT;
	uint32_t before = read_eflags();
	uint32_t flags = spin_lock_irqsave(&lock);
	EXPECT_EQ(t, read_eflags() & EFLAGS_IF, 0);
	EXPECT_TRUE(t, spin_is_locked(&lock));
	spin_unlock_irqrestore(&lock, flags);
	EXPECT_FALSE(t, spin_is_locked(&lock));
	EXPECT_EQ(t, read_eflags() & EFLAGS_IF, before & EFLAGS_IF);
	/* Tickets wrap at 16 bits. */
	lock = (spinlock_t){ 0xffff, 0xffff };
	flags = spin_lock_irqsave(&lock);
	spin_unlock_irqrestore(&lock, flags);
	EXPECT_EQ(t, lock.owner, 0);
	EXPECT_FALSE(t, spin_is_locked(&lock));
}

enum { ROUNDS = 500 }; /* each handoff takes a QEMU time slice without -icount */

static spinlock_t shared_lock = SPINLOCK_INIT;
static volatile unsigned shared_count;

/* A read, a pause (which lets another vCPU run under -icount), a write:
 * without the lock, increments would be lost. */
static void add_under_the_lock(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < ROUNDS; i++) {
		uint32_t flags = spin_lock_irqsave(&shared_lock);
		unsigned v = shared_count;
		__asm__ volatile("pause");
		shared_count = v + 1;
		spin_unlock_irqrestore(&shared_lock, flags);
	}
}

static void other_cpus_are_kept_out(struct ktest *t)
{
	if (smp_cpus_online() < 3)
		ktest_skip(t, "fewer than 3 CPUs online (2 must contend)");
	shared_count = 0;
	unsigned ran = ipi_call_others(add_under_the_lock, NULL);
	EXPECT_EQ(t, ran, smp_cpus_online() - 1);
	EXPECT_EQ(t, shared_count, ran * ROUNDS);
	EXPECT_FALSE(t, spin_is_locked(&shared_lock));
}

static const struct ktest_case spinlock_cases[] = {
	KTEST_CASE(restores_the_interrupt_flag),
	KTEST_CASE(other_cpus_are_kept_out),
};
KTEST_SUITE(spinlock, spinlock_cases, NULL, NULL);
