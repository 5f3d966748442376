/* arch/i386/machine.c - leaving the machine: QEMU exit device, halt, reset. */
#include "arch/i386/machine.h"
#include "arch/i386/cpu.h"

void machine_exit(unsigned code)
{
	outb(QEMU_EXIT_PORT, (uint8_t)code);
	cpu_halt_forever();
}

void machine_triple_fault(void)
{
	/* An empty IDT makes the next exception unrecoverable: #GP cannot be
	 * delivered, nor can the resulting #DF, so the CPU shuts down. */
	static const struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) empty_idt = { 0, 0 };
	__asm__ volatile("lidt %0; int3" : : "m"(empty_idt));
	cpu_halt_forever();
}
