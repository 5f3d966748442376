/* arch/i386/pit.c - busy waits on the PIT's channel 2 (pit.h). */
#include "arch/i386/pit.h"
#include "arch/i386/cpu.h"

#define PIT_HZ        1193182u
#define PORT_CHANNEL2 0x42
#define PORT_COMMAND  0x43
#define PORT_GATE     0x61
#define GATE_ON       0x01 /* channel 2 counts */
#define SPEAKER_ON    0x02
#define OUT2          0x20 /* channel 2's output, high at terminal count */

void pit_delay_us(unsigned us)
{
	uint32_t count = (uint32_t)(((uint64_t)us * PIT_HZ + 999999) / 1000000);
	if (count == 0)
		count = 1;
	if (count > 0xffff)
		count = 0xffff;
	uint8_t gate = inb(PORT_GATE);
	outb(PORT_GATE, (uint8_t)((gate & ~SPEAKER_ON) & ~GATE_ON));
	outb(PORT_COMMAND, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
	outb(PORT_CHANNEL2, (uint8_t)count);
	outb(PORT_CHANNEL2, (uint8_t)(count >> 8));
	outb(PORT_GATE, (uint8_t)((gate & ~SPEAKER_ON) | GATE_ON));
	while (!(inb(PORT_GATE) & OUT2))
		__asm__ volatile("pause");
	outb(PORT_GATE, gate);
}
