/* arch/host/lock_elision.c - the fast paths' lock prefixes, out while one
 * thread uses the heap (see lock_elision.h). */
#define _GNU_SOURCE
#include "arch/host/lock_elision.h"
#include "lib/console.h"
#include <link.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOCK_PREFIX 0xf0
#define DS_PREFIX   0x3e

/* Each entry: the site's distance from the entry itself (no relocation,
 * in a shared object too).  Absent where nothing records a site (every
 * build but the shim's): both NULL. */
extern const int32_t __start_host_lock_sites[] __attribute__((weak, visibility("hidden")));
extern const int32_t __stop_host_lock_sites[] __attribute__((weak, visibility("hidden")));
/* This object's own ELF header, where the loader mapped it. */
extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

/* Everything below, under the mutex (attaches are rare: once a thread). */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned attaches;
/* Why the prefixes were never taken out; NULL once they were. */
static const char *not_elided = "the heap is not set up";
static bool restored;
/* The executable segment holding the sites, whole, and its protection. */
static uintptr_t text_start, text_end;
static int text_prot;

static unsigned char *site(const int32_t *entry)
{
	return (unsigned char *)entry + *entry;
}

static unsigned count_sites(unsigned char prefix)
{
	unsigned n = 0;
	for (const int32_t *e = __start_host_lock_sites; e < __stop_host_lock_sites; e++)
		n += *site(e) == prefix;
	return n;
}

static int membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

/* The loaded segment that holds the first site, from the program headers
 * after this object's ELF header. */
static bool find_text(void)
{
	const ElfW(Ehdr) *eh = &__ehdr_start;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	uintptr_t bias = 0;
	bool have_bias = false;
	for (unsigned i = 0; i < eh->e_phnum && !have_bias; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
			bias = (uintptr_t)eh - ph[i].p_vaddr;
			have_bias = true;
		}
	}
	uintptr_t any = (uintptr_t)site(__start_host_lock_sites);
	uintptr_t page = (uintptr_t)getpagesize();
	for (unsigned i = 0; i < eh->e_phnum && have_bias; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		uintptr_t start = bias + ph[i].p_vaddr, end = start + ph[i].p_memsz;
		if (any < start || any >= end)
			continue;
		text_start = start & ~(page - 1);
		text_end = (end + page - 1) & ~(page - 1);
		text_prot = PROT_EXEC | (ph[i].p_flags & PF_R ? PROT_READ : 0);
		for (const int32_t *e = __start_host_lock_sites; e < __stop_host_lock_sites; e++)
			if ((uintptr_t)site(e) < text_start || (uintptr_t)site(e) >= text_end)
				return false;
		return true;
	}
	return false;
}

/* Every site holding 'from' to 'to', the segment writable meanwhile:
 * false (nothing written) when it cannot be made so.  Protecting it again
 * cannot split a mapping either; if it fails all the same, the code is
 * left writable, which changes nothing the heap relies on. */
static bool write_sites(unsigned char from, unsigned char to)
{
	if (mprotect((void *)text_start, text_end - text_start, text_prot | PROT_WRITE) != 0)
		return false;
	for (const int32_t *e = __start_host_lock_sites; e < __stop_host_lock_sites; e++)
		if (*site(e) == from)
			__atomic_store_n(site(e), to, __ATOMIC_RELAXED);
	mprotect((void *)text_start, text_end - text_start, text_prot);
	return true;
}

void host_lock_elision_start(void)
{
	pthread_mutex_lock(&mutex);
	unsigned sites = (unsigned)(__stop_host_lock_sites - __start_host_lock_sites);
	int barriers = sites && attaches == 1 ? membarrier(MEMBARRIER_CMD_QUERY) : 0;
	if (sites == 0)
		not_elided = "no lock prefix is recorded in this build";
	else if (attaches != 1)
		not_elided = "another thread used the heap first";
	else if (barriers < 0 || !(barriers & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) ||
	         membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) != 0)
		not_elided = "the kernel has no membarrier SYNC_CORE";
	else if (!find_text())
		not_elided = "the code's segment was not found";
	else if (count_sites(LOCK_PREFIX) != sites)
		not_elided = "a recorded site holds no lock prefix";
	else if (!write_sites(LOCK_PREFIX, DS_PREFIX))
		not_elided = "the code cannot be made writable";
	else
		not_elided = NULL;
	pthread_mutex_unlock(&mutex);
}

void host_lock_elision_attach(void)
{
	pthread_mutex_lock(&mutex);
	if (attaches < 2)
		attaches++;
	if (!not_elided && !restored && attaches > 1) {
		for (unsigned tries = 0; !write_sites(DS_PREFIX, LOCK_PREFIX); tries++) {
			if (tries == 0)
				kprintf("libmm_malloc: the heap's code cannot be made writable to "
				        "put its lock prefixes back: a second thread waits\n");
			sched_yield();
		}
		if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) != 0 &&
		    (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) != 0 ||
		     membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) != 0))
			kprintf("libmm_malloc: membarrier failed after the lock prefixes were "
			        "put back\n");
		restored = true;
	}
	pthread_mutex_unlock(&mutex);
}

void host_lock_elision_before_fork(void)
{
	pthread_mutex_lock(&mutex);
}

void host_lock_elision_after_fork(bool child)
{
	if (child && !not_elided && !restored)
		membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE);
	pthread_mutex_unlock(&mutex);
}

void host_lock_elision_get(struct host_lock_elision *out)
{
	pthread_mutex_lock(&mutex);
	out->sites = (unsigned)(__stop_host_lock_sites - __start_host_lock_sites);
	out->locked = count_sites(LOCK_PREFIX);
	out->restored = restored;
	out->not_elided = not_elided;
	pthread_mutex_unlock(&mutex);
}
