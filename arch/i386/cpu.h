/*
 * arch/i386/cpu.h - single-instruction wrappers for the i386 CPU.
 *
 * Everything here is a thin inline around one instruction; policy lives in
 * the callers.  Callable with interrupts on or off.
 */
#ifndef ARCH_I386_CPU_H
#define ARCH_I386_CPU_H

#include <stdint.h>

#define EFLAGS_IF (1u << 9)
#define CR0_PG    (1u << 31)
#define CR0_WP    (1u << 16)
#define CR4_PSE   (1u << 4)

static inline void outb(uint16_t port, uint8_t value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t value;
	__asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline uint32_t read_cr0(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline uint32_t read_cr2(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint32_t read_cr3(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline uint32_t read_cr4(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr0(uint32_t v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

/* Loading CR3 also flushes every non-global TLB entry. */
static inline void write_cr3(uint32_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline void write_cr4(uint32_t v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static inline void invlpg(uintptr_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline uint32_t read_eflags(void)
{
	uint32_t v;
	__asm__ volatile("pushfl; popl %0" : "=r"(v));
	return v;
}

/* Disables interrupts and returns the previous EFLAGS, for irq_restore(). */
static inline uint32_t irq_save(void)
{
	uint32_t flags;
	__asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) : : "memory");
	return flags;
}

static inline void irq_restore(uint32_t flags)
{
	__asm__ volatile("pushl %0; popfl" : : "r"(flags) : "memory", "cc");
}

/* Debug registers: DR0 holds a breakpoint's address, DR7 arms it (bit 0,
 * local enable; type and length 0: instruction execution), DR6 says which
 * fired.  An instruction breakpoint is a fault: the #DB frame's EIP is the
 * instruction, not yet run. */
#define DR7_L0    1u
#define DR6_B0    1u
#define EFLAGS_CF (1u << 0)
#define EFLAGS_TF (1u << 8)

static inline void write_dr0(uint32_t v)
{
	__asm__ volatile("mov %0, %%dr0" : : "r"(v));
}

static inline void write_dr7(uint32_t v)
{
	__asm__ volatile("mov %0, %%dr7" : : "r"(v));
}

static inline uint32_t read_dr6(void)
{
	uint32_t v;
	__asm__ volatile("mov %%dr6, %0" : "=r"(v));
	return v;
}

static inline void write_dr6(uint32_t v)
{
	__asm__ volatile("mov %0, %%dr6" : : "r"(v));
}

/* Under QEMU -icount shift=0 the TSC counts guest instructions. */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

__attribute__((noreturn)) static inline void cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif
