/*
 * arch/i386/restart.h - restartable sequences: short runs of kernel code
 * that an interrupt moves back to their start rather than splitting.
 *
 * The allocator's fast paths (arch/i386/env.h, used by mm/kmalloc.c) update
 * this CPU's free-object stack without masking interrupts.  Each is a
 * sequence that reads what it needs, does at most one locked bit operation
 * (the object's live bit), and ends in a single store that commits it.
 * Every exception and interrupt entry calls restart_check() before any
 * handler runs: when the interrupted EIP lies inside a sequence, it moves
 * EIP back to the sequence's start, first undoing the bit operation if that
 * has run.  The handler then finds every stack and bit as if the sequence
 * had not begun, may allocate and free on the same stacks itself, and the
 * sequence runs again from its start (restartable atomic sequences,
 * Bershad, Redell and Ellis, 1992).  Nothing on the fast path pays for it.
 *
 * The sequences' bounds come from the code: each sequence emits one entry
 * into the restart_table section (linker.ld) naming the labels of its
 * start, the instruction after its bit operation, and its end (just after
 * the committing store).  The interrupted object is always in %eax.
 *
 *   kind TAKE (pop):  bts sets the object's bit, then the commit.  Between
 *                     the two, the undo clears the bit again.
 *   kind GIVE (push): btr clears the object's bit (CF: it was set), then
 *                     the commit.  Between the two, when CF says the bit
 *                     was set, the undo sets it again.
 *
 * The bitmap lies in the %gs segment (gdt_set_gs_base): bit n of it stands
 * for address n << shift.
 */
#ifndef ARCH_I386_RESTART_H
#define ARCH_I386_RESTART_H

#include "arch/i386/trap.h"
#include <stdint.h>

#define RESTART_TAKE 1
#define RESTART_GIVE 2
/* The same, for the assembly text of the sequences' table entries. */
#define RESTART_STRING_(x) #x
#define RESTART_STRING(x)  RESTART_STRING_(x)

struct restart_entry {
	uint32_t begin;     /* first instruction: where an interrupted run goes back to */
	uint32_t undo_from; /* first instruction after the bit operation */
	uint32_t end;       /* first instruction after the commit */
	uint32_t kind;      /* RESTART_TAKE or RESTART_GIVE, | shift << 8 */
};

/* The table entry of a sequence, in the assembly of its inline asm:
 * begin, undo_from and end are label references ("1b"); kind a number; shift
 * an assembler expression. */
#define RESTART_ENTRY(begin, undo_from, end, kind, shift)                                        \
	".pushsection restart_table, \"a\"\n\t.balign 4\n\t.long " begin ", " undo_from ", " end \
	", " kind " + ((" shift ") << 8)\n\t.popsection\n\t"

/* The lowest start and the span of every sequence, for the entries' first
 * test (restart_init computes them from the table). */
extern uint32_t restart_lo, restart_span;

/* Checks the table (each entry well formed) and computes its bounds. */
void restart_init(void);

/* Moves an interrupted sequence back to its start (with its undo), noting
 * the interrupted EIP in frame->restarted_from. */
void restart_rewind(struct trap_frame *frame);

/* On every entry, before any handler: one subtraction and one comparison
 * when the interrupted code is not near a sequence. */
static inline void restart_check(struct trap_frame *frame)
{
	if (__builtin_expect(frame->eip - restart_lo < restart_span, 0))
		restart_rewind(frame);
}

/* The table, for tests and benchmarks. */
extern const struct restart_entry __start_restart_table[], __stop_restart_table[];

#endif
