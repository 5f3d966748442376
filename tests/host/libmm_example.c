/*
 * tests/host/libmm_example.c - the host library as a user sees it, built
 * exactly as README says: cc -Imm libmm_example.c build/host/libmm.a.
 * No init call, only mm/kmalloc.h.  Prints "N passed, N failed".
 */
#include "kmalloc.h"
#include <stdio.h>
#include <string.h>

static unsigned passed, failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "not ok", what);
	ok ? passed++ : failed++;
}

int main(void)
{
	char *s = kmalloc(32);
	check(s != NULL, "kmalloc works with no init call");
	check(ksize(s) == 32, "the first block is of its size class like any other");
	strcpy(s, "arena386");
	check(strcmp(s, "arena386") == 0, "the block holds data");
	check((unsigned long)s % KMALLOC_ALIGN == 0, "aligned to max_align_t");
	s = krealloc(s, 100000);
	check(s && strcmp(s, "arena386") == 0, "krealloc keeps the prefix");
	int *z = kcalloc(1000, sizeof(int));
	int zero = 1;
	for (int i = 0; i < 1000; i++)
		zero &= z[i] == 0;
	check(zero, "kcalloc zeroes");
	void *a = kmemalign(1 << 16, 10);
	check(a && (unsigned long)a % (1 << 16) == 0, "kmemalign aligns");
	kfree(a);
	kfree(z);
	kfree(s);
	struct kmalloc_stats st;
	kmalloc_stats(&st);
	check(st.mallocs == 4 && st.frees == 4 && st.bad_frees == 0, "statistics add up");
	kfree(s); /* a double free: reported and ignored */
	kmalloc_stats(&st);
	check(st.bad_frees == 1 && kheap_check() == 0, "a double free is caught");
	printf("%u passed, %u failed\n", passed, failed);
	return failed != 0;
}
