/*
 * arch/i386/pic.h - the legacy 8259 interrupt controllers, put out of the
 * way.  At reset they deliver IRQ 0-7 on vectors 8-15, the CPU's own
 * exception vectors: the first timer tick after an sti would look like a
 * double fault.  The kernel takes its interrupts through the local APIC,
 * so the 8259s are moved to vectors PIC_VECTOR_BASE.. and every line is
 * masked; what they can still raise (the spurious IRQ 7 and 15) is
 * acknowledged as the 8259 wants and otherwise ignored.
 */
#ifndef ARCH_I386_PIC_H
#define ARCH_I386_PIC_H

#define PIC_VECTOR_BASE 0x20 /* IRQ 0-7; IRQ 8-15 at 0x28 */

/* Remaps and masks both controllers and installs the spurious entries
 * (once, on the boot CPU, after the IDT is set up). */
void pic_disable(void);

#endif
