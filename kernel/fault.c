/* kernel/fault.c - the kernel's exception handler and fault catching. */
#include "kernel/fault.h"
#include "arch/i386/cpu.h"
#include "arch/i386/machine.h"
#include "arch/i386/percpu.h"
#include "arch/i386/serial.h"
#include "arch/i386/trap.h"
#include "kernel/console.h"
#include "lib/format.h"
#include "mm/kfence.h"

extern char kernel_stack_guard[];

/* One catcher per CPU: each catches the faults of what it runs. */
static struct catcher {
	bool armed;
	struct cpu_jmpbuf resume;
	struct fault_record record;
} catchers[MAX_CPUS];

static struct catcher *this_catcher(void)
{
	return &catchers[this_cpu()->index];
}

void fault_describe_page_error(uint32_t error, char *buf, unsigned size)
{
	ksnprintf(buf, size, "%s %s, %s mode%s",
	          (error & PF_PROTECTION) ? "protection" : "not-present",
	          (error & PF_FETCH)   ? "fetch"
	          : (error & PF_WRITE) ? "write"
	                               : "read",
	          (error & PF_USER) ? "user" : "kernel",
	          (error & PF_RESERVED) ? ", reserved bit set" : "");
}

static void report(const struct trap_frame *f)
{
	kprintf("\nCPU EXCEPTION %u (%s), error code %08x\n", f->vector,
	        trap_vector_name(f->vector), f->error);
	kprintf("  eip %08x  cs %04x  eflags %08x\n", f->eip, f->cs & 0xffff, f->eflags);
	if (f->restarted_from)
		kprintf("  (interrupted at %08x, inside a restartable sequence: moved to its "
		        "start)\n",
		        f->restarted_from);
	kprintf("  eax %08x  ebx %08x  ecx %08x  edx %08x\n", f->eax, f->ebx, f->ecx, f->edx);
	kprintf("  esi %08x  edi %08x  ebp %08x  esp %08x\n", f->esi, f->edi, f->ebp, f->esp);
	kprintf("  ds %04x  es %04x  fs %04x  gs %04x\n", f->ds & 0xffff, f->es & 0xffff,
	        f->fs & 0xffff, f->gs & 0xffff);
	kprintf("  cr0 %08x  cr2 %08x  cr3 %08x\n", read_cr0(), f->cr2, read_cr3());
	if (f->vector == TRAP_PAGE_FAULT) {
		char bits[64];
		fault_describe_page_error(f->error, bits, sizeof(bits));
		kprintf("  page fault at %08x: %s\n", f->cr2, bits);
	}
	const struct percpu *cpu = this_cpu();
	kprintf("  on cpu %u (APIC id %u)\n", cpu->index, cpu->apic_id);
	uintptr_t guard = cpu->stack_guard ? cpu->stack_guard : (uintptr_t)kernel_stack_guard;
	if (f->vector == TRAP_DOUBLE_FAULT && f->cr2 >= guard && f->cr2 < guard + 4096)
		kprintf("  kernel stack overflow on cpu %u: fault on the guard page [%p, %p)\n",
		        cpu->index, (void *)guard, (void *)(guard + 4096));
	print_backtrace(f->ebp, 16);
}

/* The exception being reported, or NO_REPORT. */
#define NO_REPORT UINT32_MAX
static uint32_t reporting = NO_REPORT;

/* Straight to the UART: the formatter may be what faulted. */
static void put_raw(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

static void put_raw_hex(uint32_t v)
{
	for (int shift = 28; shift >= 0; shift -= 4)
		serial_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

/*
 * An exception while an exception is being reported: the report's own code
 * or data is broken, and reporting this one the same way would fault again,
 * over and over.  One line with nothing but constant strings and hex, then
 * the failure exit.
 */
__attribute__((noreturn)) static void nested_fault(const struct trap_frame *f)
{
	put_raw("\r\nCPU EXCEPTION ");
	put_raw_hex(f->vector);
	put_raw(" at eip ");
	put_raw_hex(f->eip);
	put_raw(" (cr2 ");
	put_raw_hex(f->cr2);
	put_raw(") while reporting exception ");
	put_raw_hex(reporting);
	put_raw("; halting\r\n");
	machine_exit(MACHINE_EXIT_FAILURE);
}

static bool (*debug_handler)(struct trap_frame *frame);

void fault_set_debug_handler(bool (*handler)(struct trap_frame *frame))
{
	debug_handler = handler;
}

static const struct cpu_jmpbuf *kernel_trap(struct trap_frame *f)
{
	if (reporting != NO_REPORT)
		nested_fault(f);
	if (f->vector == TRAP_DEBUG && debug_handler && debug_handler(f))
		return NULL; /* resume at f->eip */
	/* A sampled object's guard or freed page: reported, mapped, retried. */
	if (f->vector == TRAP_PAGE_FAULT &&
	    kfence_handle_fault(f->cr2, (f->error & PF_WRITE) != 0, f->eip))
		return NULL;
	struct catcher *catcher = this_catcher();
	if (catcher->armed) {
		catcher->armed = false;
		catcher->record = (struct fault_record){ f->vector, f->error, f->eip, f->cr2 };
		return &catcher->resume;
	}
	reporting = f->vector;
	report(f);
	machine_exit(MACHINE_EXIT_FAILURE);
}

void fault_init(void)
{
	trap_init(kernel_trap);
}

bool fault_catch(void (*fn)(void *arg), void *arg, struct fault_record *out)
{
	struct catcher *catcher = this_catcher();
	if (catcher->armed)
		panic("fault_catch: nested call (fn %p)", (void *)fn);
	if (cpu_setjmp(&catcher->resume)) {
		*out = catcher->record;
		return true;
	}
	catcher->armed = true;
	fn(arg);
	catcher->armed = false;
	return false;
}
