/*
 * tests/host/fault_catch.c - the kernel's fault_catch() (kernel/fault.h) for
 * the host tests: a SIGSEGV or SIGBUS while fn runs is reported as a page
 * fault (vector 14) at the faulting address, so that "touching released
 * memory faults there" is checked on the host as on target.
 */
#define _GNU_SOURCE
#include "arch/i386/trap.h"
#include "kernel/fault.h"
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>

static sigjmp_buf resume;
static volatile uintptr_t fault_addr;

static void on_fault(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)ctx;
	fault_addr = (uintptr_t)info->si_addr;
	siglongjmp(resume, 1);
}

bool fault_catch(void (*fn)(void *arg), void *arg, struct fault_record *out)
{
	struct sigaction sa = { 0 }, old_segv, old_bus;
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	bool faulted = sigsetjmp(resume, 1) != 0;
	if (!faulted)
		fn(arg);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	if (faulted)
		*out = (struct fault_record){ TRAP_PAGE_FAULT, 0, 0, fault_addr };
	return faulted;
}

const char *trap_vector_name(uint32_t vector)
{
	return vector == TRAP_PAGE_FAULT ? "Page Fault (SIGSEGV on the host)" : "CPU exception";
}
