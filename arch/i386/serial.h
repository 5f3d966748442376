/*
 * arch/i386/serial.h - the 16550 UART on COM1 (I/O port 0x3f8), 115200 8N1,
 * polled, both ways.  The only console of arena386: QEMU's -serial and a
 * null-modem cable both see it.
 */
#ifndef ARCH_I386_SERIAL_H
#define ARCH_I386_SERIAL_H

#include <stdbool.h>

/* Programs the UART.  Returns false when no UART answers the loopback test;
 * output is then discarded. */
bool serial_init(void);

/* Writes one byte, waiting for the transmit holding register to empty.
 * Safe with interrupts off; never allocates. */
void serial_putc(char c);

/* Takes one received byte into *c if the UART holds one (its FIFO keeps
 * 16); false when none has arrived, or there is no UART. */
bool serial_getc(char *c);

/* Whether a UART answered serial_init. */
bool serial_present(void);

#endif
