/* kernel/console.c - kprintf over the serial port, panic. */
#include "kernel/console.h"
#include "arch/i386/cpu.h"
#include "arch/i386/machine.h"
#include "arch/i386/serial.h"
#include "kernel/format.h"
#include <stdint.h>

static unsigned long lines;

static void console_put(struct format_sink *sink, char c)
{
	(void)sink;
	if (c == '\n') {
		serial_putc('\r');
		lines++;
	}
	serial_putc(c);
}

unsigned long console_lines(void)
{
	return lines;
}

static struct format_sink console_sink = { console_put };

size_t kvprintf(const char *fmt, va_list ap)
{
	return kvformat(&console_sink, fmt, ap);
}

size_t kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
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

void panic_at(const char *file, int line, const char *fmt, ...)
{
	static int panicking;
	irq_save();
	kprintf("\nKERNEL PANIC at %s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	if (!panicking++) {
		uint32_t ebp, esp;
		__asm__ volatile("mov %%ebp, %0; mov %%esp, %1" : "=r"(ebp), "=r"(esp));
		kprintf("caller %p  esp %08x  ebp %08x  cr0 %08x  cr2 %08x  cr3 %08x\n",
		        __builtin_return_address(0), esp, ebp, read_cr0(), read_cr2(), read_cr3());
		print_backtrace(ebp, 16);
	}
	machine_exit(MACHINE_EXIT_FAILURE);
}
