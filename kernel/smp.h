/*
 * kernel/smp.h - starting the other CPUs.
 *
 * The boot CPU maps its local APIC, then starts each CPU the firmware lists
 * (kernel/topology.h), up to cpus=N, with the universal start-up algorithm:
 * INIT, 10 ms, STARTUP, 200 us, STARTUP, each IPI sending the CPU to the
 * real-mode trampoline (arch/i386/ap_boot.S) copied to AP_TRAMPOLINE_ADDR.
 * Each CPU gets its own kernel stack (KERNEL_STACK_SIZE, in the VM_CPU_STACKS
 * reservation, with an unmapped guard page below it), its own GDT, TSSs,
 * double-fault task and per-CPU area (%fs), and loads the kernel's page
 * directory and IDT.  A CPU that does not report online within 100 ms is
 * named and left out; the kernel goes on with the others.
 *
 * The CPUs started wait halted, interrupts on, for work posted with the
 * call-function primitive (arch/i386/ipi.h).
 */
#ifndef KERNEL_SMP_H
#define KERNEL_SMP_H

#include "kernel/topology.h"

/* Starts up to 'max_cpus' CPUs in all (the boot CPU included); prints one
 * line per CPU and the count online.  Returns the count online. */
unsigned smp_start(const struct topology *t, unsigned max_cpus);

/* CPUs online (1 before smp_start), and the most smp_start was allowed. */
unsigned smp_cpus_online(void);
unsigned smp_cpu_limit(void);

#endif
