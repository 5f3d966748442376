/*
 * kernel/console.c - the kernel's side of lib/console.h: kprintf's output
 * on the serial port, what a panic prints after its message (registers and
 * a backtrace), and kernel_stop.
 */
#include "kernel/console.h"
#include "arch/i386/cpu.h"
#include "arch/i386/ipi.h"
#include "arch/i386/layout.h"
#include "arch/i386/machine.h"
#include "arch/i386/percpu.h"
#include "arch/i386/serial.h"
#include <stdbool.h>
#include <stdint.h>

/* Terminals want "\r\n". */
static void serial_console_put(char c)
{
	if (c == '\n')
		serial_putc('\r');
	serial_putc(c);
}

extern char _kernel_start[], _kernel_end[];

/* A frame pointer can be followed: on the boot stack (inside the kernel
 * image) or on a started CPU's own kernel stack (kernel/smp.c). */
static bool on_a_kernel_stack(unsigned long ebp)
{
	if (ebp % 4)
		return false;
	if (ebp >= (uintptr_t)_kernel_start && ebp < (uintptr_t)_kernel_end)
		return true;
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		uintptr_t bottom = percpu_areas[i].stack_bottom;
		if (bottom && ebp - bottom < KERNEL_STACK_SIZE - 8)
			return true;
	}
	return false;
}

void print_backtrace(unsigned long ebp, unsigned max_frames)
{
	kprintf("backtrace:\n");
	/* Stop at the first frame pointer that leaves the kernel stacks, or
	 * at the %ebp = 0 that _start plants. */
	for (unsigned i = 0; i < max_frames && ebp; i++) {
		if (!on_a_kernel_stack(ebp)) {
			kprintf("  (frame pointer %p is on no kernel stack)\n", (void *)ebp);
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

/* One CPU's kprintf at a time, once other CPUs run (before that, no lock:
 * the per-CPU area may not be set up).  A plain test-and-set held for one
 * kprintf, which waits on nothing, so its spin need not answer calls; the
 * CPU that holds it may take it again (a fault while it prints, then the
 * report). */
#define NO_OWNER 0xffffffffu
static volatile uint32_t console_owner = NO_OWNER;
static uint32_t console_depth;

static unsigned long lock_console(void)
{
	uint32_t flags = irq_save();
	if (ipi_cpus_online > 1) {
		uint32_t me = this_cpu()->index, free_owner = NO_OWNER;
		if (__atomic_load_n(&console_owner, __ATOMIC_ACQUIRE) != me) {
			while (!__atomic_compare_exchange_n(&console_owner, &free_owner, me, false,
			                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				free_owner = NO_OWNER;
				__asm__ volatile("pause");
			}
		}
		console_depth++;
	}
	return flags;
}

static void unlock_console(unsigned long flags)
{
	if (ipi_cpus_online > 1 && console_owner == this_cpu()->index && --console_depth == 0)
		__atomic_store_n(&console_owner, NO_OWNER, __ATOMIC_RELEASE);
	irq_restore((uint32_t)flags);
}

void console_init(void)
{
	serial_init();
	console_set_output(serial_console_put);
	console_set_lock(lock_console, unlock_console);
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
