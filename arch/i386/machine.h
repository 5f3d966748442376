/*
 * arch/i386/machine.h - ending a run.
 *
 * Under QEMU an isa-debug-exit device at I/O port 0xf4 turns a write of v into
 * exit status (v << 1) | 1: MACHINE_EXIT_SUCCESS gives 33, MACHINE_EXIT_FAILURE
 * gives 3.  A triple fault under -no-reboot exits 0, which the host runner
 * therefore reads as a failure.  Without the device (real hardware) the CPU
 * halts with interrupts off.
 */
#ifndef ARCH_I386_MACHINE_H
#define ARCH_I386_MACHINE_H

#define QEMU_EXIT_PORT       0xf4
#define MACHINE_EXIT_SUCCESS 0x10
#define MACHINE_EXIT_FAILURE 0x01

/* Never returns. */
__attribute__((noreturn)) void machine_exit(unsigned code);

/* Deliberately triple-faults the CPU (for testing the host runner). */
__attribute__((noreturn)) void machine_triple_fault(void);

#endif
