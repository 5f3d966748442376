/* arch/host/setup.c - the host world under mm/ (setup.h). */
#define _GNU_SOURCE
#include "arch/host/setup.h"
#include "arch/host/vm_host.h"
#include "lib/console.h"
#include "mm/arena.h"
#include "mm/kheap.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void stdout_put(char c)
{
	putchar(c);
}

/* stderr a line at a time, straight to the file descriptor: stdio may
 * allocate, and the malloc shim is what it would allocate from. */
static __thread char line[256] __attribute__((tls_model("initial-exec")));
static __thread unsigned line_used __attribute__((tls_model("initial-exec")));

static void stderr_put(char c)
{
	line[line_used++] = c;
	if (c == '\n' || line_used == sizeof(line)) {
		for (unsigned done = 0; done < line_used;) {
			ssize_t n = write(2, line + done, line_used - done);
			if (n <= 0)
				break;
			done += (unsigned)n;
		}
		line_used = 0;
	}
}

/* One thread's kprintf at a time; the thread that holds the lock may
 * print again (a panic while it prints). */
static pthread_mutex_t console_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static unsigned long console_lock(void)
{
	pthread_mutex_lock(&console_mutex);
	return 0;
}

static void console_unlock(unsigned long state)
{
	(void)state;
	pthread_mutex_unlock(&console_mutex);
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
	console_set_lock(console_lock, console_unlock);
	console_set_panic_handler(abort_on_panic);
}

void host_console_to_stderr(void)
{
	host_console_init();
	console_set_output(stderr_put);
}

bool host_heap_try_init(void)
{
	static bool done;
	if (done)
		return true;
	uintptr_t window = vm_host_init();
	if (!window ||
	    !kmalloc_init(window + ARENA_DEFAULT_BASE, ARENA_DEFAULT_LIMIT, ARENA_DEFAULT_STEP)) {
		kprintf("host: the kernel heap cannot be set up\n");
		return false;
	}
	done = true;
	return true;
}

void host_heap_init(void)
{
	if (!host_heap_try_init())
		abort();
}

/* A call before the heap is set up is a bug, but under the malloc shim
 * (arch/host/malloc_shim.c has the definition that sets it up). */
__attribute__((weak)) bool host_heap_first_use(const char *call)
{
	panic("%s: the heap is used before kmalloc_init set it up", call);
}

/* The malloc shim sets itself up at its first call, which comes before
 * any constructor of its own. */
#ifndef ARENA386_SHIM
__attribute__((constructor)) static void host_setup(void)
{
	host_console_init();
#ifdef ARENA386_LIBMM
	host_heap_init();
#endif
}
#endif
