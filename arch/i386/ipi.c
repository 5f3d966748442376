/* arch/i386/ipi.c - the call-function primitive (ipi.h). */
#include "arch/i386/ipi.h"
#include "arch/i386/apic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/linkage.h"
#include "arch/i386/percpu.h"
#include "arch/i386/spinlock.h"
#include "arch/i386/trap.h"
#include <stddef.h>

void ipi_spurious_entry(void);
static void ipi_call_interrupt(struct trap_frame *frame);

unsigned ipi_cpus_online = 1;

void ipi_init(void)
{
	trap_set_irq(IPI_CALL_VECTOR, ipi_call_interrupt);
	trap_set_interrupt(APIC_SPURIOUS_VECTOR, ipi_spurious_entry);
}

void ipi_run_pending(void)
{
	struct percpu *self = this_cpu();
	uint32_t flags = irq_save(); /* not again from the interrupt meanwhile */
	uint32_t requested = __atomic_load_n(&self->call.requested, __ATOMIC_ACQUIRE);
	if (requested != self->call.taken) {
		/* Taken: the mailbox is free for the next call as this one runs,
		 * which may take long (and run later calls from its loop: their
		 * completions are their senders' own, so the order in which
		 * nested calls finish does not matter). */
		void (*fn)(void *arg) = self->call.fn;
		void *arg = self->call.arg;
		volatile uint32_t *completion = self->call.completion;
		self->call.taken = requested;
		__atomic_store_n(&self->tlb_clean, 0, __ATOMIC_SEQ_CST); /* before any access */
		__atomic_store_n(&self->call.busy, 0, __ATOMIC_RELEASE);
		fn(arg);
		__atomic_store_n(completion, 1, __ATOMIC_RELEASE);
	}
	irq_restore(flags);
}

static void ipi_call_interrupt(struct trap_frame *frame)
{
	(void)frame;
	apic_eoi();
	ipi_run_pending();
}

/* Claims 'target's mailbox and posts fn(arg); *completion becomes 1 when
 * fn has returned there. */
static void post(struct percpu *target, void (*fn)(void *arg), void *arg,
                 volatile uint32_t *completion)
{
	uint32_t free_box = 0;
	while (!__atomic_compare_exchange_n(&target->call.busy, &free_box, 1, false,
	                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		free_box = 0;
		ipi_run_pending();
		__asm__ volatile("pause");
	}
	*completion = 0;
	target->call.fn = fn;
	target->call.arg = arg;
	target->call.completion = completion;
	__atomic_store_n(&target->call.requested, target->call.requested + 1, __ATOMIC_RELEASE);
	apic_send_ipi(target->apic_id, IPI_CALL_VECTOR);
}

/* Waits for a completion, running this CPU's own calls as it spins. */
static void wait_done(volatile uint32_t *completion)
{
	while (!__atomic_load_n(completion, __ATOMIC_ACQUIRE)) {
		ipi_run_pending();
		__asm__ volatile("pause");
	}
}

bool ipi_post(unsigned cpu, void (*fn)(void *arg), void *arg, struct ipi_ticket *ticket)
{
	ticket->done = 1; /* waiting for a call that was not posted returns at once */
	if (cpu >= ipi_cpus_online || cpu == this_cpu()->index || !percpu_areas[cpu].online)
		return false;
	post(&percpu_areas[cpu], fn, arg, &ticket->done);
	return true;
}

void ipi_wait(struct ipi_ticket *ticket)
{
	wait_done(&ticket->done);
}

bool ipi_call(unsigned cpu, void (*fn)(void *arg), void *arg)
{
	struct ipi_ticket ticket;
	bool posted = ipi_post(cpu, fn, arg, &ticket);
	ipi_wait(&ticket);
	return posted;
}

unsigned ipi_call_many(uint32_t cpus, void (*fn)(void *arg), void *arg)
{
	volatile uint32_t done[MAX_CPUS];
	unsigned self = this_cpu()->index, ran = 0;
	cpus &= ~(1u << self);
	for (unsigned i = 0; i < ipi_cpus_online; i++)
		if ((cpus & (1u << i)) && percpu_areas[i].online)
			post(&percpu_areas[i], fn, arg, &done[i]);
	for (unsigned i = 0; i < ipi_cpus_online; i++)
		if ((cpus & (1u << i)) && percpu_areas[i].online) {
			wait_done(&done[i]);
			ran++;
		}
	return ran;
}

unsigned ipi_call_others(void (*fn)(void *arg), void *arg)
{
	return ipi_call_many(UINT32_MAX, fn, arg);
}

void spin_wait(spinlock_t *lock, uint16_t ticket)
{
	while (__atomic_load_n(&lock->owner, __ATOMIC_ACQUIRE) != ticket) {
		ipi_run_pending();
		__asm__ volatile("pause");
	}
}

/* ---- stopping the other CPUs ---- */

static struct {
	volatile uint32_t arrived;
	volatile uint32_t released;
	volatile uint32_t done[MAX_CPUS];
	uint32_t stopped; /* the CPUs posted to, bit i for CPU i */
} stop;

/* Runs on each stopped CPU; deliberately does not run its mailbox while
 * it spins, so that nothing changes this CPU's data until released. */
static void stop_here(void *unused)
{
	(void)unused;
	__atomic_fetch_add(&stop.arrived, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&stop.released, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
}

void ipi_stop_others(void)
{
	unsigned self = this_cpu()->index, posted = 0;
	stop.arrived = 0;
	stop.released = 0;
	stop.stopped = 0;
	for (unsigned i = 0; i < ipi_cpus_online; i++)
		if (i != self && percpu_areas[i].online) {
			post(&percpu_areas[i], stop_here, NULL, &stop.done[i]);
			stop.stopped |= 1u << i;
			posted++;
		}
	while (__atomic_load_n(&stop.arrived, __ATOMIC_ACQUIRE) != posted) {
		ipi_run_pending();
		__asm__ volatile("pause");
	}
}

void ipi_resume_others(void)
{
	__atomic_store_n(&stop.released, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < ipi_cpus_online; i++)
		if (stop.stopped & (1u << i))
			wait_done(&stop.done[i]);
}
