/* arch/i386/gdt.c - segment descriptors and task-state segments, per CPU. */
#include "arch/i386/gdt.h"
#include "arch/i386/percpu.h"

enum {
	ACCESS_CODE = 0x9a,  /* present, ring 0, code, readable */
	ACCESS_DATA = 0x92,  /* present, ring 0, data, writable */
	ACCESS_TSS = 0x89,   /* present, ring 0, available 32-bit TSS */
	FLAGS_4K_32 = 0xc,   /* 4 KiB granularity, 32-bit */
	FLAGS_BYTE_32 = 0x4, /* byte granularity, 32-bit */
};

_Static_assert(GDT_PERCPU / 8 < GDT_ENTRIES, "every selector has its entry");
_Static_assert(__builtin_offsetof(struct percpu, double_fault_stack_top) ==
                       PERCPU_DOUBLE_FAULT_STACK_TOP,
               "trap_entry.S finds the fault stack there");
_Static_assert(__builtin_offsetof(struct percpu, self) == PERCPU_SELF, "this_cpu() reads there");
_Static_assert(__builtin_offsetof(struct percpu, mm) == 0, "mm/'s offsets are %fs offsets");

struct percpu percpu_areas[MAX_CPUS];
static uint32_t task_cr3;
uintptr_t gdt_gs_base;

static uint64_t descriptor(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)access << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

void gdt_init(struct percpu *cpu, void (*double_fault_eip)(void))
{
	uint64_t *gdt = cpu->gdt;
	cpu->self = cpu;
	cpu->double_fault_stack_top = (uintptr_t)cpu->double_fault_stack + FAULT_STACK_SIZE;
	gdt[GDT_KERNEL_CODE / 8] = descriptor(0, 0xfffff, ACCESS_CODE, FLAGS_4K_32);
	gdt[GDT_KERNEL_DATA / 8] = descriptor(0, 0xfffff, ACCESS_DATA, FLAGS_4K_32);
	gdt[GDT_MAIN_TSS / 8] =
	        descriptor((uintptr_t)&cpu->main_tss, sizeof(struct tss) - 1, ACCESS_TSS, 0);
	gdt[GDT_DOUBLE_FAULT_TSS / 8] = descriptor((uintptr_t)&cpu->double_fault_tss,
	                                           sizeof(struct tss) - 1, ACCESS_TSS, 0);
	gdt[GDT_PERCPU / 8] =
	        descriptor((uintptr_t)cpu, sizeof(struct percpu) - 1, ACCESS_DATA, FLAGS_BYTE_32);
	gdt[GDT_MM_BITS / 8] = descriptor(gdt_gs_base, 0xfffff, ACCESS_DATA, FLAGS_4K_32);

	cpu->main_tss = (struct tss){ .cr3 = task_cr3, .iomap_base = sizeof(struct tss) };
	cpu->double_fault_tss = (struct tss){
		.cr3 = task_cr3,
		.eip = (uintptr_t)double_fault_eip,
		.esp = cpu->double_fault_stack_top,
		.eflags = 0x2, /* interrupts off */
		.cs = GDT_KERNEL_CODE,
		.ss = GDT_KERNEL_DATA,
		.ds = GDT_KERNEL_DATA,
		.es = GDT_KERNEL_DATA,
		.fs = GDT_PERCPU,
		.gs = GDT_MM_BITS,
		.iomap_base = sizeof(struct tss),
	};

	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) gdtr = { sizeof(cpu->gdt) - 1, (uintptr_t)gdt };

	__asm__ volatile("lgdt %0\n\t"
	                 "ljmp %1, $1f\n"
	                 "1:\n\t"
	                 "movw %w2, %%ax\n\t"
	                 "movw %%ax, %%ds\n\t"
	                 "movw %%ax, %%es\n\t"
	                 "movw %%ax, %%ss\n\t"
	                 "movw %w4, %%fs\n\t"
	                 "movw %w5, %%gs\n\t"
	                 "ltr %w3"
	                 :
	                 : "m"(gdtr), "i"(GDT_KERNEL_CODE), "r"(GDT_KERNEL_DATA), "r"(GDT_MAIN_TSS),
	                   "r"(GDT_PERCPU), "r"(GDT_MM_BITS)
	                 : "eax", "memory");
}

void gdt_set_task_cr3(uint32_t cr3)
{
	task_cr3 = cr3;
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		percpu_areas[i].main_tss.cr3 = cr3;
		percpu_areas[i].double_fault_tss.cr3 = cr3;
	}
}

void gdt_set_gs_base(uintptr_t base)
{
	gdt_gs_base = base;
	uint64_t entry = descriptor(base, 0xfffff, ACCESS_DATA, FLAGS_4K_32);
	for (unsigned i = 0; i < MAX_CPUS; i++)
		percpu_areas[i].gdt[GDT_MM_BITS / 8] = entry;
	/* A segment register caches its descriptor: load it again. */
	__asm__ volatile("movw %w0, %%gs" : : "r"(GDT_MM_BITS) : "memory");
}
