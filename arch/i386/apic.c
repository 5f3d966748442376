/* arch/i386/apic.c - the local APIC (apic.h). */
#include "arch/i386/apic.h"
#include "arch/i386/cpuid.h"
#include "arch/i386/layout.h"
#include "arch/i386/paging.h"
#include "arch/i386/pit.h"

#define CPUID_APIC (1u << 9)

enum {
	REG_ID = 0x020,
	REG_EOI = 0x0b0,
	REG_SPURIOUS = 0x0f0,
	REG_ERROR = 0x280,
	REG_ICR_LOW = 0x300,
	REG_ICR_HIGH = 0x310,
	REG_LVT_TIMER = 0x320,
	REG_TIMER_INITIAL = 0x380,
	REG_TIMER_CURRENT = 0x390,
	REG_TIMER_DIVIDE = 0x3e0,
};

#define SPURIOUS_ENABLE  0x100u
#define SPURIOUS_VECTOR  APIC_SPURIOUS_VECTOR
#define ICR_PENDING      (1u << 12)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_INIT         (5u << 8)
#define ICR_STARTUP      (6u << 8)
#define LVT_MASKED       (1u << 16)
#define LVT_PERIODIC     (1u << 17)
#define DIVIDE_BY_1      0xbu

static volatile uint32_t *regs;

static inline uint32_t read_reg(unsigned reg)
{
	return regs[reg / 4];
}

static inline void write_reg(unsigned reg, uint32_t value)
{
	regs[reg / 4] = value;
}

bool apic_present(void)
{
	return regs != 0;
}

void apic_enable_this_cpu(void)
{
	write_reg(REG_SPURIOUS, SPURIOUS_ENABLE | SPURIOUS_VECTOR);
}

bool apic_init(uint32_t phys)
{
	if (!cpu_has(CPUID_APIC) || phys % PAGE_SIZE || phys < MMIO_WINDOW_BASE ||
	    phys >= MMIO_WINDOW_END)
		return false;
	if (!paging_map_physical(phys, phys, PAGE_SIZE, true))
		return false;
	regs = (volatile uint32_t *)(uintptr_t)phys;
	apic_enable_this_cpu();
	return true;
}

uint8_t apic_id(void)
{
	return (uint8_t)(read_reg(REG_ID) >> 24);
}

/* Sends one IPI and waits (a bounded while) for the APIC to deliver it. */
static bool send_ipi(uint8_t target, uint32_t command)
{
	write_reg(REG_ERROR, 0);
	write_reg(REG_ICR_HIGH, (uint32_t)target << 24);
	write_reg(REG_ICR_LOW, command);
	for (unsigned spins = 0; spins < 1000000; spins++) {
		if (!(read_reg(REG_ICR_LOW) & ICR_PENDING))
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

bool apic_send_init(uint8_t target)
{
	return send_ipi(target, ICR_INIT | ICR_LEVEL_ASSERT);
}

bool apic_send_startup(uint8_t target, uint8_t vector)
{
	return send_ipi(target, ICR_STARTUP | vector);
}

bool apic_send_ipi(uint8_t target, uint8_t vector)
{
	return send_ipi(target, vector); /* fixed delivery, physical destination */
}

void apic_eoi(void)
{
	write_reg(REG_EOI, 0);
}

void apic_timer_start(uint8_t vector, uint32_t count)
{
	write_reg(REG_TIMER_DIVIDE, DIVIDE_BY_1);
	write_reg(REG_LVT_TIMER, LVT_PERIODIC | vector);
	write_reg(REG_TIMER_INITIAL, count);
}

void apic_timer_stop(void)
{
	write_reg(REG_LVT_TIMER, LVT_MASKED);
	write_reg(REG_TIMER_INITIAL, 0);
}

uint32_t apic_timer_ticks_per_ms(void)
{
	static uint32_t per_ms;
	if (!per_ms) {
		write_reg(REG_TIMER_DIVIDE, DIVIDE_BY_1);
		write_reg(REG_LVT_TIMER, LVT_MASKED); /* one shot, no interrupt */
		write_reg(REG_TIMER_INITIAL, UINT32_MAX);
		pit_delay_us(10000);
		uint32_t elapsed = UINT32_MAX - read_reg(REG_TIMER_CURRENT);
		write_reg(REG_TIMER_INITIAL, 0);
		per_ms = elapsed / 10 ? elapsed / 10 : 1;
	}
	return per_ms;
}
