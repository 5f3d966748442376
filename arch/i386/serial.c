/* arch/i386/serial.c - polled 16550 UART driver for COM1. */
#include "arch/i386/serial.h"
#include "arch/i386/cpu.h"

enum {
	COM1 = 0x3f8,
	REG_DATA = 0, /* DLAB=0: transmit/receive; DLAB=1: divisor low */
	REG_IER = 1,  /* DLAB=0: interrupt enable; DLAB=1: divisor high */
	REG_FCR = 2,  /* FIFO control */
	REG_LCR = 3,  /* line control */
	REG_MCR = 4,  /* modem control */
	REG_LSR = 5,  /* line status */
	LCR_8N1 = 0x03,
	LCR_DLAB = 0x80,
	LSR_DATA_READY = 0x01,
	LSR_THR_EMPTY = 0x20,
	MCR_DTR_RTS_OUT2 = 0x0b,
	MCR_LOOPBACK = 0x10,
	BAUD_DIVISOR = 1, /* 115200 / 115200 */
};

static bool present;

bool serial_init(void)
{
	outb(COM1 + REG_IER, 0x00); /* polled: no interrupts */
	outb(COM1 + REG_LCR, LCR_DLAB);
	outb(COM1 + REG_DATA, BAUD_DIVISOR & 0xff);
	outb(COM1 + REG_IER, BAUD_DIVISOR >> 8);
	outb(COM1 + REG_LCR, LCR_8N1);
	outb(COM1 + REG_FCR, 0xc7); /* enable and clear FIFOs, 14-byte threshold */

	/* Loopback self-test: a byte written must come back. */
	outb(COM1 + REG_MCR, MCR_LOOPBACK | MCR_DTR_RTS_OUT2);
	outb(COM1 + REG_DATA, 0xae);
	present = inb(COM1 + REG_DATA) == 0xae;
	outb(COM1 + REG_MCR, MCR_DTR_RTS_OUT2);
	return present;
}

void serial_putc(char c)
{
	if (!present)
		return;
	while (!(inb(COM1 + REG_LSR) & LSR_THR_EMPTY))
		;
	outb(COM1 + REG_DATA, (uint8_t)c);
}

bool serial_getc(char *c)
{
	if (!present || !(inb(COM1 + REG_LSR) & LSR_DATA_READY))
		return false;
	*c = (char)inb(COM1 + REG_DATA);
	return true;
}

bool serial_present(void)
{
	return present;
}
