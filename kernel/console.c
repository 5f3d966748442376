/*
 * kernel/console.c - the kernel's side of lib/console.h: kprintf's output
 * on the serial port, what a panic prints after its message (registers and
 * a backtrace), and kernel_stop.
 */
#include "kernel/console.h"
#include "arch/i386/cpu.h"
#include "arch/i386/machine.h"
#include "arch/i386/serial.h"
#include <stdint.h>

/* Terminals want "\r\n". */
static void serial_console_put(char c)
{
	if (c == '\n')
		serial_putc('\r');
	serial_putc(c);
}

extern char _kernel_start[], _kernel_end[];

void print_backtrace(unsigned long ebp, unsigned max_frames)
{
	kprintf("backtrace:\n");
	/* Frames live on kernel stacks inside the kernel image; stop at the
	 * first frame pointer that leaves it, or at the %ebp = 0 that _start
	 * plants. */
	for (unsigned i = 0; i < max_frames && ebp; i++) {
		if (ebp < (uintptr_t)_kernel_start || ebp >= (uintptr_t)_kernel_end || ebp % 4) {
			kprintf("  (frame pointer %p leaves the kernel image)\n", (void *)ebp);
			break;
		}
		const unsigned long *frame = (const unsigned long *)ebp;
		kprintf("  #%u %p\n", i, (void *)frame[1]);
		ebp = frame[0];
	}
}

__attribute__((noreturn)) static void kernel_panic_handler(void *caller, int nested)
{
	irq_save();
	if (!nested) {
		uint32_t ebp, esp;
		__asm__ volatile("mov %%ebp, %0; mov %%esp, %1" : "=r"(ebp), "=r"(esp));
		kprintf("caller %p  esp %08x  ebp %08x  cr0 %08x  cr2 %08x  cr3 %08x\n", caller,
		        esp, ebp, read_cr0(), read_cr2(), read_cr3());
		print_backtrace(ebp, 16);
	}
	machine_exit(MACHINE_EXIT_FAILURE);
}

void console_init(void)
{
	serial_init();
	console_set_output(serial_console_put);
	console_set_panic_handler(kernel_panic_handler);
}

void kernel_stop(const char *fmt, ...)
{
	irq_save();
	kprintf("arena386: cannot run: ");
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	machine_exit(MACHINE_EXIT_FAILURE);
}
