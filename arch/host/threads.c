/*
 * arch/host/threads.c - threads in the CPUs' place (arch/host/env.h): the
 * slots they take, the areas of the slots, and the locks' wait.
 *
 * A thread takes the lowest free slot at its first slow path in the heap
 * and keeps it until it exits, when a thread-specific value's destructor
 * hands its lists back (the heap's exit hook, kmalloc_cpu_exit) and frees
 * the slot.  A destructor run after ours (another library's, freeing
 * memory) attaches the thread again: the value is set again, so that the C
 * library runs ours once more.
 */
#define _GNU_SOURCE
#include "arch/host/env.h"
#include "arch/host/lock_elision.h"
#include "lib/console.h"
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

unsigned char host_cpu_areas[MM_MAX_CPUS][MM_CPU_AREA_BYTES] __attribute__((aligned(64))) MM_SPARSE;
/* The area of a thread without a slot: all zero, never written. */
static const unsigned char unattached[MM_CPU_AREA_BYTES] __attribute__((aligned(64)));
HOST_TLS uintptr_t host_cpu_base = (uintptr_t)unattached;
HOST_TLS int host_cpu_slot = -1;
uintptr_t host_bit_origin;

/* Bit i: slot i is some thread's. */
static uint64_t slots_taken;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static bool exit_key_made;
static uint32_t waits_reported;
/* The heap's (mm_set_cpu_hooks); NULL until it is set up. */
static bool (*cpu_init_hook)(void);
static void (*cpu_exit_hook)(void);

void mm_set_cpu_hooks(bool (*init)(void), void (*exit)(void))
{
	cpu_exit_hook = exit;
	__atomic_store_n(&cpu_init_hook, init, __ATOMIC_RELEASE);
}

/* A thread that never gets the lock within a few hundred tries gives way:
 * the holder may be descheduled, and spinning would only delay it. */
void host_lock_wait(mm_lock_t *lock)
{
	for (unsigned tries = 0;; tries++) {
		if (__atomic_load_n(&lock->held, __ATOMIC_RELAXED) == 0 &&
		    __atomic_exchange_n(&lock->held, 1, __ATOMIC_ACQUIRE) == 0)
			return;
		if (tries < 256)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

static void on_thread_exit(void *value)
{
	(void)value;
	if (host_cpu_slot < 0)
		return;
	if (cpu_exit_hook)
		cpu_exit_hook();
	unsigned slot = (unsigned)host_cpu_slot;
	host_cpu_slot = -1;
	host_cpu_base = (uintptr_t)unattached;
	__atomic_fetch_and(&slots_taken, ~((uint64_t)1 << slot), __ATOMIC_RELEASE);
}

static void make_exit_key(void)
{
	exit_key_made = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

static unsigned take_slot(void)
{
	for (;;) {
		uint64_t taken = __atomic_load_n(&slots_taken, __ATOMIC_ACQUIRE);
		if (~taken) {
			unsigned slot = (unsigned)__builtin_ctzll(~taken);
			if (__atomic_compare_exchange_n(&slots_taken, &taken,
			                                taken | (uint64_t)1 << slot, false,
			                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return slot;
			continue;
		}
		if (__atomic_fetch_add(&waits_reported, 1, __ATOMIC_RELAXED) == 0)
			kprintf("mm: more than %u threads use the heap at once: one waits for "
			        "another to exit\n",
			        MM_MAX_CPUS);
		sched_yield();
	}
}

/* From mm_cpu_index, for a thread without a slot. */
unsigned host_cpu_attach(void)
{
	unsigned slot = take_slot();
	/* Before this thread touches a live bit: a second thread puts the
	 * live bit's lock prefixes back (arch/host/lock_elision.h). */
	host_lock_elision_attach();
	host_cpu_slot = (int)slot;
	host_cpu_base = (uintptr_t)host_cpu_areas[slot];
	pthread_once(&exit_key_once, make_exit_key);
	if (exit_key_made)
		pthread_setspecific(exit_key, (void *)1);
	/* Lists of its own before its first call goes on (kmalloc_init sets
	 * up the first thread's itself, before it sets the hooks). */
	bool (*init)(void) = __atomic_load_n(&cpu_init_hook, __ATOMIC_ACQUIRE);
	if (init && !init())
		panic("mm: thread slot %u: no memory for its lists", slot);
	return slot;
}
