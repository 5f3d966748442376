/* arch/host/setup.c - the host world under mm/ (setup.h). */
#include "arch/host/setup.h"
#include "arch/host/vm_host.h"
#include "lib/console.h"
#include "mm/arena.h"
#include "mm/kheap.h"
#include <stdio.h>
#include <stdlib.h>

static void stdout_put(char c)
{
	putchar(c);
}

__attribute__((noreturn)) static void abort_on_panic(void *caller, int nested)
{
	(void)caller;
	(void)nested;
	fflush(stdout);
	abort();
}

void host_console_init(void)
{
	console_set_output(stdout_put);
	console_set_panic_handler(abort_on_panic);
}

void host_heap_init(void)
{
	static int done;
	if (done++)
		return;
	uintptr_t window = vm_host_init();
	if (!window ||
	    !kmalloc_init(window + ARENA_DEFAULT_BASE, ARENA_DEFAULT_LIMIT, ARENA_DEFAULT_STEP)) {
		fprintf(stderr, "host: the kernel heap cannot be set up\n");
		abort();
	}
}

__attribute__((constructor)) static void host_setup(void)
{
	host_console_init();
#ifdef ARENA386_LIBMM
	host_heap_init();
#endif
}
