/* arch/i386/trap.c - the IDT and the dispatch of CPU exceptions (trap.h). */
#include "arch/i386/trap.h"
#include "arch/i386/cpu.h"
#include "arch/i386/gdt.h"
#include "arch/i386/layout.h"
#include "arch/i386/linkage.h"
#include "arch/i386/percpu.h"
#include "arch/i386/restart.h"

enum {
	GATE_INTERRUPT_32 = 0x8e, /* present, ring 0, interrupts off on entry */
	GATE_TASK = 0x85,         /* present, ring 0, task gate */
};

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t zero;
	uint8_t type;
	uint16_t offset_high;
} __attribute__((packed));

extern const uint32_t trap_stub_table[TRAP_EXCEPTION_COUNT];
extern const uint32_t irq_stub_table[IRQ_VECTORS];
void double_fault_entry(void);
ASMLINKAGE void trap_dispatch(struct trap_frame *frame);
ASMLINKAGE void irq_dispatch(struct trap_frame *frame);
ASMLINKAGE void double_fault_dispatch(void);

static struct idt_gate idt[256];
static trap_handler_fn trap_handler;
static void (*irq_handlers[IRQ_VECTORS])(struct trap_frame *frame);

static const char *const vector_names[TRAP_EXCEPTION_COUNT] = {
	"Divide Error",
	"Debug",
	"Non-Maskable Interrupt",
	"Breakpoint",
	"Overflow",
	"BOUND Range Exceeded",
	"Invalid Opcode",
	"Device Not Available",
	"Double Fault",
	"Coprocessor Segment Overrun",
	"Invalid TSS",
	"Segment Not Present",
	"Stack-Segment Fault",
	"General Protection",
	"Page Fault",
	"Reserved",
	"x87 Floating-Point Error",
	"Alignment Check",
	"Machine Check",
	"SIMD Floating-Point",
	"Virtualization",
	"Control Protection",
	[22 ... 27] = "Reserved",
	"Hypervisor Injection",
	"VMM Communication",
	"Security",
	"Reserved",
};

const char *trap_vector_name(uint32_t vector)
{
	return vector < TRAP_EXCEPTION_COUNT ? vector_names[vector] : "Reserved";
}

void trap_set_interrupt(unsigned vector, void (*entry)(void))
{
	uint32_t offset = (uintptr_t)entry;
	idt[vector] = (struct idt_gate){
		.offset_low = offset & 0xffff,
		.selector = GDT_KERNEL_CODE,
		.type = GATE_INTERRUPT_32,
		.offset_high = offset >> 16,
	};
}

void trap_set_irq(unsigned vector, void (*handler)(struct trap_frame *frame))
{
	unsigned i = vector - IRQ_FIRST_VECTOR;
	if (i >= IRQ_VECTORS)
		return;
	irq_handlers[i] = handler;
	trap_set_interrupt(vector, (void (*)(void))(uintptr_t)irq_stub_table[i]);
}

static void load_idt(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

void trap_init(trap_handler_fn handler)
{
	trap_handler = handler;
	restart_init();
	gdt_init(&percpu_areas[0], double_fault_entry);

	for (unsigned v = 0; v < TRAP_EXCEPTION_COUNT; v++) {
		uint32_t offset = trap_stub_table[v];
		idt[v] = (struct idt_gate){
			.offset_low = offset & 0xffff,
			.selector = GDT_KERNEL_CODE,
			.type = GATE_INTERRUPT_32,
			.offset_high = offset >> 16,
		};
	}
	idt[TRAP_DOUBLE_FAULT] = (struct idt_gate){
		.selector = GDT_DOUBLE_FAULT_TSS,
		.type = GATE_TASK,
	};

	load_idt();
}

void trap_init_cpu(struct percpu *cpu)
{
	gdt_init(cpu, double_fault_entry);
	load_idt();
}

ASMLINKAGE void trap_dispatch(struct trap_frame *frame)
{
	frame->cr2 = read_cr2();
	/* Ring 0 to ring 0: the CPU pushed no %esp; the interrupted stack
	 * continues right above the frame. */
	frame->esp = (uintptr_t)&frame->eflags + sizeof(frame->eflags);
	frame->restarted_from = 0;
	restart_check(frame);
	const struct cpu_jmpbuf *resume = trap_handler(frame);
	if (resume)
		cpu_longjmp(resume, 1);
}

ASMLINKAGE void irq_dispatch(struct trap_frame *frame)
{
	frame->restarted_from = 0;
	restart_check(frame);
	irq_handlers[frame->vector - IRQ_FIRST_VECTOR](frame);
}

/*
 * Runs in the double-fault task.  The interrupted task's registers are in
 * main_tss; rebuild a frame from them, and if the handler resumes, load the
 * resume context into main_tss so that the task switch back lands there.
 */
ASMLINKAGE void double_fault_dispatch(void)
{
	struct tss *t = &this_cpu()->main_tss;
	struct trap_frame frame = {
		.gs = t->gs,
		.fs = t->fs,
		.es = t->es,
		.ds = t->ds,
		.edi = t->edi,
		.esi = t->esi,
		.ebp = t->ebp,
		.ebx = t->ebx,
		.edx = t->edx,
		.ecx = t->ecx,
		.eax = t->eax,
		.vector = TRAP_DOUBLE_FAULT,
		.error = 0,
		.eip = t->eip,
		.cs = t->cs,
		.eflags = t->eflags,
		.esp = t->esp,
		.cr2 = read_cr2(),
	};
	const struct cpu_jmpbuf *resume = trap_handler(&frame);
	if (!resume) /* a double fault cannot go on where it struck */
		for (;;)
			__asm__ volatile("cli; hlt");

	t->ebx = resume->ebx;
	t->esi = resume->esi;
	t->edi = resume->edi;
	t->ebp = resume->ebp;
	t->esp = resume->esp;
	t->eip = resume->eip;
	t->eflags = resume->eflags;
	t->eax = 1; /* cpu_setjmp returns 1 */
	t->cs = GDT_KERNEL_CODE;
	t->ss = t->ds = t->es = GDT_KERNEL_DATA;
	t->fs = GDT_PERCPU;
	t->gs = GDT_MM_BITS;
}
