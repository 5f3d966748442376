/*
 * arch/host/malloc_shim.c - libmm_malloc.so: the C library's allocation
 * calls over kmalloc, for trying the heap on real programs:
 *
 *     LD_PRELOAD=build/host/libmm_malloc.so python3 ...
 *
 * Every name below is exported; nothing else is (malloc_shim.map, and the
 * rest is built with hidden visibility).  Each call behaves as glibc's:
 * the same results for the same arguments, errno set where glibc sets it
 * (ENOMEM for memory that cannot be had, EINVAL for an alignment refused).
 * The heap is set up at the first call, from whichever thread, with its
 * mappings kept whole (arch/host/vm_host.h); its diagnostics go to stderr,
 * a line at a time.  Around fork every lock of the heap is held, so that
 * the child finds none held by a thread it does not have.  While one thread
 * alone uses the heap, its live-bit operations run without their lock
 * prefix (arch/host/lock_elision.h).
 */
#define _GNU_SOURCE
#include "arch/host/lock_elision.h"
#include "arch/host/setup.h"
#include "arch/host/vm_host.h"
#include "mm/kheap.h"
#include "mm/vm.h"
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* Free pages the page heap keeps mapped at least (see host_heap_first_use). */
#define SHIM_KEEP_FREE_PAGES ((32u << 20) / PAGE_SIZE)

/* ---- set-up ---- */

static uint32_t state; /* 0 not set up, 1 setting up, 2 ready, 3 failed */

static void before_fork(void)
{
	host_lock_elision_before_fork();
	kheap_hold();
}

static void after_fork_in_parent(void)
{
	kheap_release();
	host_lock_elision_after_fork(false);
}

static void after_fork_in_child(void)
{
	kheap_release();
	host_lock_elision_after_fork(true);
}

/* The heap's slow paths call this while it is not set up (mm_heap_first_use;
 * its tables are empty until then, so the first call of any kind gets
 * here): the first thread sets it up, the others wait for it. */
bool host_heap_first_use(const char *call)
{
	(void)call;
	uint32_t expected = 0;
	if (__atomic_compare_exchange_n(&state, &expected, 1, false, __ATOMIC_ACQUIRE,
	                                __ATOMIC_ACQUIRE)) {
		host_console_to_stderr();
		vm_host_keep_mappings_whole();
		bool ok = host_heap_try_init();
		/* In user space a page given back costs an madvise, then a
		 * fault when it is used again: keep more free memory mapped
		 * than a kernel does, up to what glibc's malloc lets sit at
		 * the top of its heap (32 MiB) before it trims.  Under the
		 * page heap's lock: once kmalloc_init has returned, other
		 * threads may be in the heap already. */
		if (ok) {
			mm_irq_flags_t held = ph_lock(&kernel_pageheap);
			kernel_pageheap.scavenge_threshold_pages = SHIM_KEEP_FREE_PAGES;
			ph_unlock(&kernel_pageheap, held);
			pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
			/* Only this thread has used the heap yet (or, if another
			 * has, host_lock_elision_start finds so). */
			if (kmalloc_debug_flags() == 0)
				host_lock_elision_start();
		}
		__atomic_store_n(&state, ok ? 2 : 3, __ATOMIC_RELEASE);
	}
	while ((expected = __atomic_load_n(&state, __ATOMIC_ACQUIRE)) == 1)
		__builtin_ia32_pause();
	return expected == 2;
}

/* With LIBMM_MALLOC_REPORT set, at exit: what the heap holds and has
 * done, whether the lock prefixes were taken out (and put back), and the
 * heap's checker, on stderr.  Exact when no other thread is in the heap
 * then. */
__attribute__((destructor)) static void report_at_exit(void)
{
	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != 2 || !getenv("LIBMM_MALLOC_REPORT"))
		return;
	static struct kmalloc_stats st MM_SPARSE; /* 6 KiB: not on a stack it may not fit */
	kmalloc_stats(&st);
	kprintf("libmm_malloc: %llu KiB mapped, %llu KiB in use, %llu KiB idle; %llu mallocs, "
	        "%llu frees, %llu bad frees, %llu failed\n",
	        (unsigned long long)(st.mapped_bytes >> 10),
	        (unsigned long long)(st.in_use_bytes >> 10),
	        (unsigned long long)(st.idle_bytes >> 10), (unsigned long long)st.mallocs,
	        (unsigned long long)st.frees, (unsigned long long)st.bad_frees,
	        (unsigned long long)st.failures);
	struct host_lock_elision le;
	host_lock_elision_get(&le);
	if (le.not_elided)
		kprintf("libmm_malloc: lock prefixes: %u recorded, %u in place, never taken "
		        "out: %s\n",
		        le.sites, le.locked, le.not_elided);
	else
		kprintf("libmm_malloc: lock prefixes: %u recorded, %u in place, taken out while "
		        "one thread used the heap%s\n",
		        le.sites, le.locked,
		        le.restored ? ", put back when a second thread came" : "");
	kprintf("libmm_malloc: kheap_check: %d problems\n", kheap_check());
}

static void *or_enomem(void *p)
{
	if (!p)
		errno = ENOMEM;
	return p;
}

/* ---- the calls ---- */

/* malloc and free are kmalloc and kfree themselves, under second names
 * (MM_SECOND_NAMES in arch/host/env.h): kmalloc sets errno when it fails
 * (mm_note_no_memory), and both take their slow paths before the heap is
 * set up, which set it up. */

EXPORT void *calloc(size_t nmemb, size_t size)
{
	return kcalloc(nmemb, size);
}

/* As glibc's: realloc(p, 0) frees p and returns NULL, as krealloc does;
 * a pointer krealloc refuses (reported) gives NULL and ENOMEM. */
EXPORT void *realloc(void *ptr, size_t size)
{
	void *p = krealloc(ptr, size);
	return p || !size ? p : or_enomem(p);
}

EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, total);
}

/* glibc's memalign: an alignment that is not a power of two is rounded up
 * to one; above half the address space it is refused (EINVAL); at most the
 * quantum, it is malloc. */
static void *aligned(size_t alignment, size_t size)
{
	if (alignment > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (alignment & (alignment - 1))
		alignment = (size_t)1 << (64 - __builtin_clzll(alignment));
	if (alignment <= KMALLOC_ALIGN)
		return kmalloc(size);
	if (alignment > KMALLOC_MAX_ALIGN) {
		errno = ENOMEM;
		return NULL;
	}
	return or_enomem(kmemalign(alignment, size));
}

EXPORT void *memalign(size_t alignment, size_t size)
{
	return aligned(alignment, size);
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
	return aligned(alignment, size);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
	if (alignment % sizeof(void *) || (alignment & (alignment - 1)) || alignment == 0)
		return EINVAL;
	int saved = errno; /* posix_memalign returns its error, errno untouched */
	void *p = aligned(alignment, size);
	int error = p ? 0 : errno;
	errno = saved;
	if (p)
		*out = p;
	return error;
}

EXPORT void *valloc(size_t size)
{
	return aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

EXPORT void *pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (size > SIZE_MAX - page) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned(page, size ? (size + page - 1) & ~(page - 1) : page);
}

EXPORT size_t malloc_usable_size(void *ptr)
{
	return ptr ? ksize(ptr) : 0;
}
