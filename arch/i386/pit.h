/*
 * arch/i386/pit.h - short busy waits timed by the 8254 PIT's channel 2
 * (the speaker's, gated through port 0x61), which needs no interrupt and
 * works on every PC, a 486 included.  Under QEMU -icount the waits are in
 * virtual time: deterministic.
 */
#ifndef ARCH_I386_PIT_H
#define ARCH_I386_PIT_H

/* Waits about 'us' microseconds (at most 54,925, one count of the PIT). */
void pit_delay_us(unsigned us);

#endif
