/*
 * mm/kmalloc.h - the kernel's object allocator: what kernel code calls, and
 * what an OS developer lifting mm/ into their own kernel calls.
 *
 * Guarantees:
 *   - kmalloc(n) returns a block of at least n bytes, aligned to
 *     KMALLOC_ALIGN (_Alignof(max_align_t): 8 on i386, 16 on x86_64) when
 *     n >= KMALLOC_ALIGN, or NULL when it cannot be satisfied (out of
 *     memory, or a size no arena can hold) - never a short block.  Not
 *     zero-filled.  kmalloc(0) returns a unique pointer that kfree accepts.
 *   - kfree(NULL) does nothing.  kfree of a pointer the heap never handed
 *     out, of an interior pointer, or of a block already free is reported on
 *     the console ("kfree(%p): <reason>"), counted in bad_frees and otherwise
 *     ignored: the heap stays intact and no block is ever handed out twice.
 *   - kcalloc returns zeroed memory; NULL when nmemb * size overflows.
 *   - krealloc(NULL, n) is kmalloc(n); krealloc(p, 0) frees p and returns
 *     NULL; otherwise the common prefix is kept; on failure NULL is returned
 *     and p is untouched.
 *   - kmemalign(a, n): a must be a power of two from 8 to KMALLOC_MAX_ALIGN
 *     (256 MiB); any other alignment returns NULL.
 *   - ksize(p) is the usable size of p's block (>= what was asked), 0 for a
 *     pointer that is not the start of a live block (reported).  It is
 *     the class's size, within 1/16 of the request up to a page and a
 *     quarter above (up to KMALLOC_MAX_SMALL; larger blocks are whole
 *     pages), unless the class had no free object and the block was
 *     borrowed from one of the next four classes (at most a quarter, or
 *     four times the alignment, larger); a small block krealloc moved to
 *     grow it has at least a quarter more room than the one it left, and
 *     a large one grows in place when the pages after it are free.
 *   - Before any allocation fails for want of frames, the memory the heap
 *     holds idle is given back and the allocation tried again (counted in
 *     reclaims).
 *
 * Cost: kmalloc and kfree of blocks up to KMALLOC_MAX_SMALL are O(1) with no
 * loop, no division, no lock and no interrupt masking on their fast paths
 * (restartable sequences: see mm/kmalloc.c); callable with interrupts on or
 * off and from interrupt handlers, but not from NMI context (an NMI can
 * strike while this CPU holds one of the slow paths' locks).
 * Larger blocks come from the page heap (O(1) in free spans, O(pages) to
 * mark them).  Safe on every CPU: the fast paths touch only the running
 * CPU's lists (and the live bit, atomically), and a block may be freed on
 * any CPU; locks guard the refills, flushes and larger blocks (see
 * mm/kmalloc.c).
 *
 * On the host (libmm.a), a constructor sets the heap up before main: no
 * init call (libmm_malloc.so sets it up at its first call).  Threads play
 * the CPUs there (arch/host/env.h), and an allocation that fails also sets
 * errno to ENOMEM, as malloc does.
 * This header needs nothing but the C compiler's own headers, so that
 * "cc -Imm program.c build/host/libmm.a" works; the heap's internals are
 * in mm/kheap.h.
 */
#ifndef MM_KMALLOC_H
#define MM_KMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The alignment of every block of at least this size: _Alignof(max_align_t)
 * for the ABI's fundamental types, 8 on i386 (long long, double) and 16 on
 * x86_64.  (GCC's i386 max_align_t says 16 only for its __float128
 * extension, which kernels do not use.) */
#define KMALLOC_ALIGN       (sizeof(void *) == 8 ? 16u : 8u)
#define KMALLOC_MAX_SMALL   8192u
#define KMALLOC_MAX_CLASSES 100
#define KMALLOC_MAX_ALIGN   (256u << 20)

void *kmalloc(size_t size);
void kfree(void *ptr);
void *kcalloc(size_t nmemb, size_t size);
void *krealloc(void *ptr, size_t size);
void *kmemalign(size_t alignment, size_t size);
size_t ksize(const void *ptr);

struct kmalloc_class_stats {
	uint32_t size;       /* object size of the class */
	uint32_t span_pages; /* pages per span */
	uint64_t mallocs;    /* ever */
	uint64_t frees;      /* ever */
	uint64_t in_use;     /* objects held by callers now */
	uint64_t cached;     /* free objects on the CPU lists (all CPUs) and the transfer stack */
	uint32_t spans;      /* spans of this class now */
};

struct kmalloc_stats {
	uint64_t mapped_bytes;   /* the arena's memory backed by frames now */
	uint64_t in_use_bytes;   /* blocks held by callers, at their usable size */
	uint64_t idle_bytes;     /* mapped but not in use: cached, free objects, free pages */
	uint64_t released_bytes; /* given back to the frame pool by the scavenger */
	uint64_t mallocs;        /* successful kmalloc/kcalloc/kmemalign/krealloc allocations */
	uint64_t frees;          /* successful kfree (and krealloc's) */
	uint64_t bad_frees;      /* refused kfree/krealloc/ksize pointers */
	uint64_t failures;       /* allocations that returned NULL */
	uint64_t reclaims;       /* times idle memory went back to serve a request */
	uint64_t debug_reports;  /* problems kmalloc_debug found (below) */
	/* Free lists found broken (a link that decodes outside its span: a
	 * write after free, most likely), and the free objects abandoned with
	 * them: counted nowhere else, and never handed out again. */
	uint64_t broken_links, abandoned_objects;
	uint64_t large_in_use_bytes;
	uint32_t class_count;
	struct kmalloc_class_stats classes[KMALLOC_MAX_CLASSES];
};

void kmalloc_stats(struct kmalloc_stats *out);

/*
 * Debug modes, in the spirit of Linux's SLUB debugging (boot option
 * kmalloc_debug=poison,redzone,caller or all); set before kmalloc_init.
 *   POISON   a freed object is filled with 0x6b, a new one with 0xa5; the
 *            free pattern is checked when the object is handed out again:
 *            a write after free is reported with the first bad offset;
 *   REDZONE  8 bytes (16 on x86_64) of 0xbb after each small object,
 *            checked at kfree: an overflow is reported with how far it went;
 *   CALLER   who allocated and who last freed each object, in every report
 *            and in the leak report.
 * Reports are one line each, counted in debug_reports; the heap goes on.
 * With any mode on, every small allocation and free takes the slow path
 * (under its class's lock) and objects grow by the red zone and callers;
 * with none, nothing changes: the fast paths are the same code.
 * kmalloc_set_debug returns false, with a message, after kmalloc_init or
 * for unknown flags.
 */
#define KMALLOC_DEBUG_POISON  1u
#define KMALLOC_DEBUG_REDZONE 2u
#define KMALLOC_DEBUG_CALLER  4u
#define KMALLOC_DEBUG_ALL     7u
bool kmalloc_set_debug(unsigned flags);
unsigned kmalloc_debug_flags(void);

/* With kmalloc_debug on: prints every small object still live, one line
 * each with who allocated it (KMALLOC_DEBUG_CALLER), and every large block,
 * and returns how many there were.  0 and nothing printed with it off. */
unsigned kmalloc_report_leaks(void);

/* 0 when every invariant of the heap holds (page heap, spans, per-CPU
 * cache, live bits, counters); otherwise the number of problems, each
 * printed.  O(heap). */
int kheap_check(void);

#endif
