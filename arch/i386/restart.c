/* arch/i386/restart.c - the rewind of restartable sequences (restart.h). */
#include "arch/i386/restart.h"
#include "arch/i386/cpu.h"
#include "arch/i386/gdt.h"
#include "lib/console.h"

uint32_t restart_lo, restart_span;

void restart_init(void)
{
	uint32_t lo = UINT32_MAX, hi = 0;
	for (const struct restart_entry *e = __start_restart_table; e < __stop_restart_table; e++) {
		unsigned kind = e->kind & 0xff;
		if (!(e->begin < e->undo_from && e->undo_from < e->end) ||
		    (kind != RESTART_TAKE && kind != RESTART_GIVE))
			panic("restart table entry %u is malformed: [%#x, %#x, %#x), kind %#x",
			      (unsigned)(e - __start_restart_table), e->begin, e->undo_from, e->end,
			      e->kind);
		if (e->begin < lo)
			lo = e->begin;
		if (e->end > hi)
			hi = e->end;
	}
	restart_lo = lo;
	restart_span = hi > lo ? hi - lo : 0;
}

/* Bit 'bit' of the bitmap in the %gs segment, set or cleared atomically:
 * the same bit a sequence's bts or btr addressed. */
static void set_bit(uint32_t bit)
{
	__asm__ volatile("lock btsl %1, (%0)" : : "r"(gdt_gs_base), "r"(bit) : "memory", "cc");
}

static void clear_bit(uint32_t bit)
{
	__asm__ volatile("lock btrl %1, (%0)" : : "r"(gdt_gs_base), "r"(bit) : "memory", "cc");
}

void restart_rewind(struct trap_frame *f)
{
	for (const struct restart_entry *e = __start_restart_table; e < __stop_restart_table; e++) {
		if (f->eip - e->begin >= e->end - e->begin)
			continue;
		if (f->eip >= e->undo_from) {
			uint32_t bit = f->eax >> (e->kind >> 8);
			if ((e->kind & 0xff) == RESTART_TAKE)
				clear_bit(bit);
			else if (f->eflags & EFLAGS_CF)
				set_bit(bit);
		}
		f->restarted_from = f->eip;
		f->eip = e->begin;
		return;
	}
}
