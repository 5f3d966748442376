/*
 * kernel/fault.h - CPU exceptions seen by the kernel: the report printed for
 * an unexpected one, and a way to run code that is expected to fault.
 *
 * An unexpected exception prints "CPU EXCEPTION", the vector and its name,
 * the error code, EIP, CS, EFLAGS, the general registers, CR0/CR2/CR3 and,
 * for a page fault, the decoded error bits; then the run ends with the
 * failure exit.
 */
#ifndef KERNEL_FAULT_H
#define KERNEL_FAULT_H

#include <stdbool.h>
#include <stdint.h>

struct fault_record {
	uint32_t vector;
	uint32_t error;
	uint32_t eip;
	uintptr_t cr2; /* the faulting address, for a page fault */
};

/* Installs the kernel's exception handler (arch/i386/trap.h). */
void fault_init(void);

/*
 * Runs fn(arg).  If a CPU exception happens before it returns, fn is
 * abandoned at the faulting instruction, the exception is described in *out
 * and fault_catch returns true; otherwise it returns false.  Calls may not
 * nest.  A stack overflow inside fn (a page fault on the kernel stack's guard
 * page, delivered as a double fault) is caught too.
 */
bool fault_catch(void (*fn)(void *arg), void *arg, struct fault_record *out);

/* A handler for debug exceptions (#DB: breakpoints in the debug registers,
 * single steps), for tests that stop code at a chosen instruction: it sees
 * the frame (after the restartable sequences' rewind) and returns true to
 * resume there.  NULL (the default): a #DB is reported like any exception. */
struct trap_frame;
void fault_set_debug_handler(bool (*handler)(struct trap_frame *frame));

/* Decodes a page-fault error code: "not-present read, kernel mode" etc. */
void fault_describe_page_error(uint32_t error, char *buf, unsigned size);

#endif
