/* tests/host/fault_catch.c - SIGSEGV catching for the host tests. */
#define _GNU_SOURCE
#include "tests/host/fault_catch.h"
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>

static sigjmp_buf resume;
static volatile uintptr_t fault_addr;

static void on_segv(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)ctx;
	fault_addr = (uintptr_t)info->si_addr;
	siglongjmp(resume, 1);
}

bool host_fault_catch(void (*fn)(void *), void *arg, uintptr_t *addr)
{
	struct sigaction sa = { 0 }, old_segv, old_bus;
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	bool faulted = sigsetjmp(resume, 1) != 0;
	if (!faulted)
		fn(arg);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	if (faulted)
		*addr = fault_addr;
	return faulted;
}

void host_read_byte(void *addr)
{
	(void)*(volatile uint8_t *)addr;
}

void host_write_byte(void *addr)
{
	*(volatile uint8_t *)addr = 0x5a;
}
