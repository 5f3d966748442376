/* arch/i386/pic.c - the legacy 8259s remapped and masked (pic.h). */
#include "arch/i386/pic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/trap.h"

#define MASTER_COMMAND 0x20
#define MASTER_DATA    0x21
#define SLAVE_COMMAND  0xa0
#define SLAVE_DATA     0xa1
#define ICW1_INIT_ICW4 0x11 /* edge-triggered, cascaded, ICW4 follows */
#define ICW4_8086      0x01

void pic_master_spurious_entry(void);
void pic_slave_spurious_entry(void);

void pic_disable(void)
{
	/* The initialization sequence, ICW1 to ICW4, on each controller. */
	outb(MASTER_COMMAND, ICW1_INIT_ICW4);
	outb(SLAVE_COMMAND, ICW1_INIT_ICW4);
	outb(MASTER_DATA, PIC_VECTOR_BASE);
	outb(SLAVE_DATA, PIC_VECTOR_BASE + 8);
	outb(MASTER_DATA, 1u << 2); /* the slave hangs off IRQ 2 */
	outb(SLAVE_DATA, 2);        /* ... which is its cascade identity */
	outb(MASTER_DATA, ICW4_8086);
	outb(SLAVE_DATA, ICW4_8086);
	outb(MASTER_DATA, 0xff); /* every line masked */
	outb(SLAVE_DATA, 0xff);
	for (unsigned v = 0; v < 8; v++) {
		trap_set_interrupt(PIC_VECTOR_BASE + v, pic_master_spurious_entry);
		trap_set_interrupt(PIC_VECTOR_BASE + 8 + v, pic_slave_spurious_entry);
	}
}
