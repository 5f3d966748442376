/*
 * tests/host/shim_api.c - the calls of libmm_malloc.so against glibc's
 * documented behaviour, run with LD_PRELOAD by tests/host/test_shim.py:
 * results, alignment, errno, and that the calls are the shim's.
 * Prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned passed, failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "not ok", what);
	ok ? passed++ : failed++;
}

static int aligned_to(const void *p, size_t a)
{
	return p && (uintptr_t)p % a == 0;
}

/* Sizes the compiler cannot see, so that it lets the calls be made. */
static volatile size_t huge = SIZE_MAX / 2, eighth = SIZE_MAX / 8, quarter = SIZE_MAX / 4;

int main(void)
{
	Dl_info info;
	check(dladdr((void *)malloc, &info) && info.dli_fname &&
	              strstr(info.dli_fname, "libmm_malloc.so"),
	      "malloc is the shim's");

	void *a = malloc(0), *b = malloc(0);
	check(a && b && a != b, "malloc(0) gives distinct pointers");
	free(a);
	free(b);
	char *p = malloc(100);
	check(aligned_to(p, 16), "malloc aligns to 16");
	check(malloc_usable_size(p) >= 100, "malloc_usable_size covers the request");
	memset(p, 'x', 100);
	p = realloc(p, 100000);
	check(p && p[0] == 'x' && p[99] == 'x', "realloc keeps the contents");
	errno = 0;
	check(realloc(p, 0) == NULL, "realloc(p, 0) frees and gives NULL");
	check(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) is 0");

	errno = 0;
	check(malloc(huge) == NULL && errno == ENOMEM, "malloc of too much: NULL, ENOMEM");
	errno = 0;
	check(calloc(eighth, 16) == NULL && errno == ENOMEM,
	      "calloc whose size overflows: NULL, ENOMEM");
	int *z = calloc(1000, sizeof(int));
	int zero = z != NULL;
	for (int i = 0; z && i < 1000; i++)
		zero &= z[i] == 0;
	check(zero, "calloc zeroes");
	errno = 0;
	int *volatile kept = z;
	check(reallocarray(kept, quarter, 8) == NULL && errno == ENOMEM,
	      "reallocarray whose size overflows: NULL, ENOMEM");
	z = reallocarray(kept, 2000, sizeof(int));
	check(z && z[999] == 0, "reallocarray keeps the block it could not resize, and grows it");
	free(z);

	void *q = NULL;
	errno = 0;
	check(posix_memalign(&q, 24, 10) == EINVAL && errno == 0,
	      "posix_memalign(24): EINVAL returned, errno untouched");
	check(posix_memalign(&q, 4096, 10) == 0 && aligned_to(q, 4096), "posix_memalign(4096)");
	free(q);
	check(posix_memalign(&q, 1 << 20, 10) == 0 && aligned_to(q, 1 << 20),
	      "posix_memalign(1 MiB)");
	free(q);
	q = aligned_alloc(64, 64);
	check(aligned_to(q, 64), "aligned_alloc(64)");
	free(q);
	q = memalign(48, 10); /* glibc rounds up to a power of two */
	check(aligned_to(q, 64), "memalign(48) aligns to 64");
	free(q);
	errno = 0;
	check(memalign(SIZE_MAX / 2 + 2, 10) == NULL && errno == EINVAL,
	      "memalign of more than half the space: NULL, EINVAL");
	long page = sysconf(_SC_PAGESIZE);
	q = valloc(10);
	check(aligned_to(q, (size_t)page), "valloc aligns to a page");
	free(q);
	q = pvalloc(page + 1);
	check(aligned_to(q, (size_t)page) && malloc_usable_size(q) >= 2 * (size_t)page,
	      "pvalloc rounds the size up to pages");
	free(q);

	/* Many blocks, all sizes, freed out of order. */
	enum { N = 5000 };
	static char *blocks[N];
	int intact = 1;
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i * 7919 % 70000) + 1;
		blocks[i] = malloc(n);
		if (!blocks[i])
			intact = 0;
		else
			memset(blocks[i], i & 0xff, n);
	}
	for (int i = N - 1; i >= 0; i -= 2) {
		size_t n = (size_t)(i * 7919 % 70000) + 1;
		intact &= blocks[i][0] == (char)(i & 0xff) && blocks[i][n - 1] == (char)(i & 0xff);
		free(blocks[i]);
	}
	for (int i = 0; i < N; i += 2)
		free(blocks[i]);
	check(intact, "5000 blocks of 1 B to 70 KB keep their contents");
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
