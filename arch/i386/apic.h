/*
 * arch/i386/apic.h - the local APIC: this CPU's APIC id, the
 * interprocessor interrupts that start the other CPUs, and its timer.
 *
 * The registers are a 4 KiB page at the physical address the firmware
 * names (0xFEE00000 everywhere in practice), identity-mapped uncached in
 * the fixed MMIO window; every CPU sees its own APIC at that address.
 */
#ifndef ARCH_I386_APIC_H
#define ARCH_I386_APIC_H

#include <stdbool.h>
#include <stdint.h>

/* Maps the registers at 'phys' and enables this CPU's APIC; false, with a
 * message, on a CPU without one (CPUID.01H:EDX.APIC) or an address outside
 * the MMIO window. */
bool apic_init(uint32_t phys);

/* Enables the APIC of the CPU that runs it (an application processor, once
 * apic_init has run on the boot CPU). */
void apic_enable_this_cpu(void);

bool apic_present(void);

/* This CPU's APIC id. */
uint8_t apic_id(void);

/* The INIT and STARTUP IPIs of the universal start-up algorithm: the target
 * resets, then starts in real mode at 'vector' << 12.  True when the APIC
 * reports the IPI delivered. */
bool apic_send_init(uint8_t target);
bool apic_send_startup(uint8_t target, uint8_t vector);

/* A fixed interrupt on 'vector' to the CPU with APIC id 'target'. */
bool apic_send_ipi(uint8_t target, uint8_t vector);

/* Ends the interrupt being handled (every vector but the spurious one). */
void apic_eoi(void);

/* This CPU's timer: interrupt 'vector' every 'count' ticks of the APIC's
 * clock (divided by 1; in QEMU a tick is a nanosecond of virtual time, one
 * guest instruction under -icount shift=0), until apic_timer_stop. */
#define APIC_TIMER_VECTOR 0xf1
void apic_timer_start(uint8_t vector, uint32_t count);
void apic_timer_stop(void);

/* The timer's ticks (divided by 1) in a millisecond, measured once against
 * the PIT (10 ms); at least 1. */
uint32_t apic_timer_ticks_per_ms(void);

/* The vector the APIC raises for a spurious interrupt: its entry only
 * returns. */
#define APIC_SPURIOUS_VECTOR 0xff

#endif
