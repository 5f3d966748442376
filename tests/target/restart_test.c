/*
 * tests/target/restart_test.c - suite "restart": the allocator's fast
 * paths interrupted at every instruction of their restartable sequences
 * (arch/i386/restart.h), by a handler that allocates and frees on the same
 * CPU list.
 *
 * The interrupt is a debug exception from an instruction breakpoint (DR0),
 * which strikes before the instruction at its address runs and enters like
 * any other vector: the entry moves the sequence back to its start (undoing
 * its bit operation if that has run), then the handler pops an object from
 * the list the sequence works on, or pushes one.  A breakpoint is set at
 * every byte of each sequence (it fires only at the bytes where an
 * instruction starts), so every instruction boundary is tried, and the
 * number that fired must be the sequence's instruction count.  After each
 * run: the call returned a block nobody else holds, the list holds no
 * block twice nor any block held, and kheap_check() finds the heap whole.
 * With the rewind taken out of restart_check these cases fail: the handler
 * and the sequence hand out one block twice, or a pushed block is lost.
 */
#include "arch/i386/cpu.h"
#include "arch/i386/restart.h"
#include "kernel/fault.h"
#include "mm/kheap.h"
#include "mm/kmalloc_internal.h"
#include "tests/ktest.h"
#include "tests/target/test_util.h"

/* What the handler does on the list the sequence works on. */
enum interference { PROBE, POP, PUSH };

static struct {
	enum interference what;
	size_t size; /* of the class */
	void *extra; /* PUSH: a block of the class the handler frees */
	void *got;   /* POP: the block the handler allocated */
	bool fired;  /* the breakpoint struck */
	uint32_t resumed_at, restarted_from;
} hit;

static bool on_breakpoint(struct trap_frame *f)
{
	uint32_t dr6 = read_dr6();
	write_dr7(0);
	write_dr6(0);
	if (!(dr6 & DR6_B0))
		return false; /* not ours: reported as usual */
	hit.fired = true;
	hit.resumed_at = f->eip;
	hit.restarted_from = f->restarted_from;
	if (hit.what == POP)
		hit.got = kmalloc(hit.size);
	else if (hit.what == PUSH)
		kfree(hit.extra);
	return true;
}

/* The calls that reach the sequences: every API call with each size
 * lookup (a size up to 4 KiB, and above), each of which inlines a TAKE or
 * a GIVE or both (gcc keeps kmalloc and kfree out of line; clang inlines
 * them into kcalloc, krealloc and kmemalign).  'size' is the class of the
 * sequence the driver runs and of the handler's interference; 'victim' the
 * size of a block made for the call to free or resize (0: none). */
enum call { MALLOC, MEMALIGN, CALLOC, REALLOC, FREE };

struct driver {
	const char *name;
	unsigned kind;
	size_t size;
	enum call call;
	size_t arg, victim;
};

static const struct driver drivers[] = {
	{ "kmalloc(32)", RESTART_TAKE, 32, MALLOC, 32, 0 },
	{ "kmalloc(5000)", RESTART_TAKE, 5000, MALLOC, 5000, 0 },
	{ "kfree(32 B)", RESTART_GIVE, 32, FREE, 0, 32 },
	{ "kmemalign(64, 64)", RESTART_TAKE, 64, MEMALIGN, 64, 0 },
	{ "kmemalign(8, 32)", RESTART_TAKE, 32, MEMALIGN, 32, 0 },
	{ "kmemalign(8, 5000)", RESTART_TAKE, 5000, MEMALIGN, 5000, 0 },
	{ "kcalloc(1, 32)", RESTART_TAKE, 32, CALLOC, 32, 0 },
	{ "kcalloc(1, 5000)", RESTART_TAKE, 5000, CALLOC, 5000, 0 },
	{ "krealloc(NULL, 32)", RESTART_TAKE, 32, REALLOC, 32, 0 },
	{ "krealloc(NULL, 5000)", RESTART_TAKE, 5000, REALLOC, 5000, 0 },
	{ "krealloc(32 B, 0)", RESTART_GIVE, 32, REALLOC, 0, 32 },
	{ "krealloc(32 B, 200)'s kmalloc", RESTART_TAKE, 200, REALLOC, 200, 32 },
	{ "krealloc(32 B, 200)'s kfree", RESTART_GIVE, 32, REALLOC, 200, 32 },
	{ "krealloc(32 B, 5000)'s kmalloc", RESTART_TAKE, 5000, REALLOC, 5000, 32 },
	{ "krealloc(5000 B, 200)'s kfree", RESTART_GIVE, 5000, REALLOC, 200, 5000 },
};

static void *call(const struct driver *d, void *victim)
{
	switch (d->call) {
	case MALLOC:
		return kmalloc(d->arg);
	case MEMALIGN:
		return kmemalign(d->size == 64 ? 64 : 8, d->arg);
	case CALLOC:
		return kcalloc(1, d->arg);
	case REALLOC:
		return krealloc(victim, d->arg);
	case FREE:
		kfree(victim);
		return NULL;
	}
	return NULL;
}

/* Runs the driver's call on 'victim'; the breakpoint at 'at' (0: none) is
 * armed for the call alone. */
static void *drive(const struct driver *d, uint32_t at, void *victim)
{
	if (at) {
		write_dr0(at);
		write_dr6(0);
		write_dr7(DR7_L0);
	}
	void *p = call(d, victim);
	write_dr7(0);
	return p;
}

/* Whether the driver's call runs through 'e' (a breakpoint at its start). */
static bool drives(const struct driver *d, const struct restart_entry *e)
{
	void *victim = d->victim ? kmalloc(d->victim) : NULL;
	hit = (typeof(hit)){ .what = PROBE };
	void *p = drive(d, e->begin, victim);
	kfree(p);
	return hit.fired;
}

/* The list of the class holds no block twice, and no block in 'held'
 * (n of them): all of it is allocated, with two more, and compared. */
static void expect_list_sound(struct ktest *t, size_t size, void *const *held, unsigned n)
{
	enum { MAX = 80 };
	static void *taken[MAX];
	uint32_t cached = cached_on(my_list(kmalloc_class_of(size)));
	unsigned k = cached + 2 < MAX ? cached + 2 : MAX;
	for (unsigned i = 0; i < k; i++) {
		taken[i] = kmalloc(size);
		EXPECT_NE(t, (uintptr_t)taken[i], 0);
		for (unsigned j = 0; j < i; j++)
			if (taken[j] == taken[i])
				ktest_fail_msg(t, __FILE__, __LINE__, false,
				               "%p handed out twice from the list", taken[i]);
		for (unsigned j = 0; j < n; j++)
			if (held[j] && held[j] == taken[i])
				ktest_fail_msg(t, __FILE__, __LINE__, false,
				               "%p is held and was handed out again", taken[i]);
	}
	for (unsigned i = 0; i < k; i++)
		kfree(taken[i]);
}

/* One run of driver 'd' with the breakpoint at 'at' and the handler doing
 * 'what'; false when the breakpoint did not fire (no instruction there). */
static bool interrupted_run(struct ktest *t, const struct driver *d, const struct restart_entry *e,
                            uint32_t at, enum interference what)
{
	/* The lists emptied, then a few objects on this one (a batch, less
	 * than half of what it holds), so that neither the pop nor the push
	 * leaves the sequence for a slow path. */
	kmalloc_drain();
	void *warm[4];
	for (unsigned i = 0; i < 4; i++)
		warm[i] = kmalloc(d->size);
	for (unsigned i = 0; i < 4; i++)
		kfree(warm[i]);
	void *victim = d->victim ? kmalloc(d->victim) : NULL;
	hit = (typeof(hit)){ .what = what, .size = d->size };
	hit.extra = what == PUSH ? kmalloc(d->size) : NULL;
	void *p = drive(d, at, victim);
	if (!hit.fired) {
		kfree(hit.extra);
		kfree(p);
		return false;
	}
	EXPECT_EQ(t, hit.resumed_at, e->begin);
	EXPECT_EQ(t, hit.restarted_from, at);
	if (d->kind == RESTART_TAKE)
		EXPECT_NE(t, (uintptr_t)p, 0);
	if (what == POP) {
		EXPECT_NE(t, (uintptr_t)hit.got, 0);
		EXPECT_NE(t, (uintptr_t)hit.got, (uintptr_t)p);
		if (victim)
			EXPECT_NE(t, (uintptr_t)hit.got, (uintptr_t)victim); /* held then */
	}
	void *held[2] = { p, hit.got };
	expect_list_sound(t, d->size, held, 2);
	kfree(p);
	kfree(hit.got);
	int problems = kheap_check();
	if (problems)
		ktest_fail_msg(t, __FILE__, __LINE__, false,
		               "%s interrupted at %#x (%s in the handler): kheap_check found %d "
		               "problems",
		               d->name, at, what == POP ? "a pop" : "a push", problems);
	return true;
}

/* With kmalloc_debug on, every list has no room: the sequences leave at
 * their first test, and the rest is the debug paths'. */
static void skip_if_debugging(struct ktest *t)
{
	if (kmalloc_debug_flags())
		ktest_skip(t, "kmalloc_debug is on: the lists have no room, the sequences never "
		              "commit");
}

static void every_sequence_is_interrupted_at_every_instruction(struct ktest *t)
{
	skip_if_debugging(t);
	const struct restart_entry *first = __start_restart_table, *last = __stop_restart_table;
	ASSERT_TRUE(t, last > first);
	kmalloc_trim();
	struct kmalloc_stats before;
	kmalloc_stats(&before);
	fault_set_debug_handler(on_breakpoint);
	unsigned tried = 0;
	for (const struct restart_entry *e = first; e < last; e++) {
		const struct driver *d = NULL;
		for (unsigned i = 0; i < sizeof(drivers) / sizeof(drivers[0]) && !d; i++)
			if (drivers[i].kind == (e->kind & 0xff) && drives(&drivers[i], e))
				d = &drivers[i];
		if (!d) {
			ktest_fail_msg(t, __FILE__, __LINE__, false,
			               "no call runs the sequence at [%#x, %#x)", e->begin, e->end);
			continue;
		}
		unsigned instructions = 0;
		for (uint32_t at = e->begin; at < e->end; at++) {
			bool pop = interrupted_run(t, d, e, at, POP);
			bool push = interrupted_run(t, d, e, at, PUSH);
			EXPECT_EQ(t, pop, push);
			instructions += pop;
		}
		/* As arch/i386/env.h writes them: mov, cmp, je, mov, mov, shr,
		 * the locked bit operation, (jnc,) the committing add or sub. */
		EXPECT_EQ(t, instructions, (e->kind & 0xff) == RESTART_TAKE ? 8u : 9u);
		ktest_note(t, "%s: sequence [%#x, %#x) interrupted at each of its %u instructions",
		           d->name, e->begin, e->end, instructions);
		tried++;
	}
	fault_set_debug_handler(NULL);
	EXPECT_EQ(t, tried, (unsigned)(last - first));
	kmalloc_trim();
	struct kmalloc_stats after;
	kmalloc_stats(&after);
	EXPECT_EQ(t, after.in_use_bytes, before.in_use_bytes);
	EXPECT_EQ(t, after.bad_frees, before.bad_frees);
}

/* A double free interrupted between its bit operation and its commit: the
 * undo sets the bit again, the free runs again, and one kfree wins.  Here
 * the handler frees the same block: the handler's kfree wins, the
 * interrupted one then finds the bit clear and reports a double free. */
static void *double_victim;
static bool free_victim_again(struct trap_frame *f)
{
	uint32_t dr6 = read_dr6();
	write_dr7(0);
	write_dr6(0);
	if (!(dr6 & DR6_B0))
		return false;
	hit.fired = true;
	hit.restarted_from = f->restarted_from;
	kfree(double_victim);
	return true;
}

static void a_free_interrupted_after_its_bit_loses_to_the_handlers(struct ktest *t)
{
	skip_if_debugging(t);
	/* kfree's own sequence (the compiler may have inlined others). */
	const struct driver *kfree_driver = &drivers[2];
	const struct restart_entry *give = NULL;
	fault_set_debug_handler(on_breakpoint);
	for (const struct restart_entry *e = __start_restart_table; e < __stop_restart_table; e++)
		if (!give && (e->kind & 0xff) == RESTART_GIVE && drives(kfree_driver, e))
			give = e;
	fault_set_debug_handler(NULL);
	ASSERT_TRUE(t, give != NULL);
	struct kmalloc_stats before;
	kmalloc_stats(&before);
	double_victim = kmalloc(32);
	ASSERT_NE(t, (uintptr_t)double_victim, 0);
	hit = (typeof(hit)){ .what = PROBE };
	fault_set_debug_handler(free_victim_again);
	write_dr0(give->undo_from); /* right after the btr */
	write_dr6(0);
	write_dr7(DR7_L0);
	kfree(double_victim);
	write_dr7(0);
	fault_set_debug_handler(NULL);
	ASSERT_TRUE(t, hit.fired);
	EXPECT_EQ(t, hit.restarted_from, give->undo_from);
	struct kmalloc_stats after;
	kmalloc_stats(&after);
	EXPECT_EQ(t, after.bad_frees, before.bad_frees + 1);
	EXPECT_EQ(t, after.in_use_bytes, before.in_use_bytes);
	void *held[1] = { NULL };
	expect_list_sound(t, 32, held, 0);
	EXPECT_EQ(t, kheap_check(), 0);
}

static const struct ktest_case restart_cases[] = {
	KTEST_CASE(every_sequence_is_interrupted_at_every_instruction),
	KTEST_CASE(a_free_interrupted_after_its_bit_loses_to_the_handlers),
};

KTEST_SUITE(restart, restart_cases, NULL, NULL);
