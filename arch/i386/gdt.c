/* arch/i386/gdt.c - segment descriptors and task-state segments. */
#include "arch/i386/gdt.h"
#include "arch/i386/layout.h"

enum {
	ACCESS_CODE = 0x9a, /* present, ring 0, code, readable */
	ACCESS_DATA = 0x92, /* present, ring 0, data, writable */
	ACCESS_TSS = 0x89,  /* present, ring 0, available 32-bit TSS */
	FLAGS_4K_32 = 0xc,  /* 4 KiB granularity, 32-bit */
	GDT_ENTRIES = 5,
};

struct tss main_tss, double_fault_tss;
static uint64_t gdt[GDT_ENTRIES];

static uint64_t descriptor(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)access << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
	       (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

void gdt_init(void (*double_fault_eip)(void), uintptr_t double_fault_stack_top)
{
	gdt[GDT_KERNEL_CODE / 8] = descriptor(0, 0xfffff, ACCESS_CODE, FLAGS_4K_32);
	gdt[GDT_KERNEL_DATA / 8] = descriptor(0, 0xfffff, ACCESS_DATA, FLAGS_4K_32);
	gdt[GDT_MAIN_TSS / 8] =
	        descriptor((uintptr_t)&main_tss, sizeof(struct tss) - 1, ACCESS_TSS, 0);
	gdt[GDT_DOUBLE_FAULT_TSS / 8] =
	        descriptor((uintptr_t)&double_fault_tss, sizeof(struct tss) - 1, ACCESS_TSS, 0);

	main_tss.iomap_base = sizeof(struct tss); /* no I/O bitmap */
	double_fault_tss = (struct tss){
		.eip = (uintptr_t)double_fault_eip,
		.esp = double_fault_stack_top,
		.eflags = 0x2, /* interrupts off */
		.cs = GDT_KERNEL_CODE,
		.ss = GDT_KERNEL_DATA,
		.ds = GDT_KERNEL_DATA,
		.es = GDT_KERNEL_DATA,
		.fs = GDT_KERNEL_DATA,
		.gs = GDT_KERNEL_DATA,
		.iomap_base = sizeof(struct tss),
	};

	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) gdtr = { sizeof(gdt) - 1, (uintptr_t)gdt };

	__asm__ volatile("lgdt %0\n\t"
	                 "ljmp %1, $1f\n"
	                 "1:\n\t"
	                 "movw %w2, %%ax\n\t"
	                 "movw %%ax, %%ds\n\t"
	                 "movw %%ax, %%es\n\t"
	                 "movw %%ax, %%fs\n\t"
	                 "movw %%ax, %%gs\n\t"
	                 "movw %%ax, %%ss\n\t"
	                 "ltr %w3"
	                 :
	                 : "m"(gdtr), "i"(GDT_KERNEL_CODE), "r"(GDT_KERNEL_DATA), "r"(GDT_MAIN_TSS)
	                 : "eax", "memory");
}

void gdt_set_task_cr3(uint32_t cr3)
{
	main_tss.cr3 = cr3;
	double_fault_tss.cr3 = cr3;
}
