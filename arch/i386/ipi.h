/*
 * arch/i386/ipi.h - running a function on other CPUs: the call-function
 * primitive the SMP code is built on.
 *
 * Each CPU has a mailbox in its struct percpu.  A sender claims the
 * target's mailbox, posts the function and its argument with a new
 * sequence number, raises IPI_CALL_VECTOR there, and waits until the
 * target reports that sequence number done.  The function runs on the
 * target in interrupt context (interrupts off), or, when the target is
 * itself waiting in ipi_call, from that wait loop.
 *
 * No deadlock with interrupts off: a CPU that waits - to claim a mailbox
 * or for a call to finish - runs the calls posted to its own mailbox as it
 * spins, so two CPUs calling each other with interrupts off both finish.
 * A function run this way must not wait for the CPU that called it.
 */
#ifndef ARCH_I386_IPI_H
#define ARCH_I386_IPI_H

#include <stdbool.h>
#include <stdint.h>

#define IPI_CALL_VECTOR 0xf0

/* Installs the interrupt entries (once, on the boot CPU). */
void ipi_init(void);

/* Runs fn(arg) on online CPU 'cpu' (not the caller) and waits for it to
 * return; false when 'cpu' is not online or is the caller. */
bool ipi_call(unsigned cpu, void (*fn)(void *arg), void *arg);

/* ipi_call in two halves, for a caller that works while 'cpu' runs fn:
 * ipi_post (false: not posted, as ipi_call's) and ipi_wait on the caller's
 * ticket, which lives until the wait returns.  The mailbox is free again as
 * soon as the target takes the call: a call that runs long, calling
 * ipi_run_pending as it goes, lets later calls to its CPU (a TLB shootdown)
 * run meanwhile, each completing its own sender's ticket. */
struct ipi_ticket {
	volatile uint32_t done;
};
bool ipi_post(unsigned cpu, void (*fn)(void *arg), void *arg, struct ipi_ticket *ticket);
void ipi_wait(struct ipi_ticket *ticket);

/* Runs fn(arg) on every other online CPU, all at once, and waits for all
 * of them; returns how many ran it. */
unsigned ipi_call_others(void (*fn)(void *arg), void *arg);

/* The same for the CPUs whose bits are set in 'cpus' (bit i: CPU i),
 * the caller left out. */
unsigned ipi_call_many(uint32_t cpus, void (*fn)(void *arg), void *arg);

/* Stops every other online CPU where it stands: each runs a call that
 * spins, with interrupts off and without running other calls, until
 * ipi_resume_others; ipi_stop_others returns once all of them spin.  For a
 * caller that must read other CPUs' private data at rest (the heap's
 * checker); it must hold every lock those CPUs could be holding or waiting
 * to take with work half done, must not call or stop CPUs meanwhile, and
 * callers serialize. */
void ipi_stop_others(void);
void ipi_resume_others(void);

/* Runs what was posted to this CPU's mailbox, if anything (the wait loops
 * and the interrupt entry call it). */
void ipi_run_pending(void);

/* CPUs online (kernel/smp.c counts them as they start). */
extern unsigned ipi_cpus_online;

#endif
