/* kernel/shell.c - the serial shell (shell.h). */
#include "kernel/shell.h"
#include "arch/i386/apic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/machine.h"
#include "arch/i386/percpu.h"
#include "arch/i386/serial.h"
#include "arch/i386/trap.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/fault.h"
#include "kernel/memory.h"
#include "kernel/smp.h"
#include "lib/string.h"
#include "mm/kheap.h"
#include "mm/pmm.h"
#include "mm/vm.h"
#include "tests/kbench.h"
#include "tests/ktest.h"

#define LINE_MAX   100
#define ARGS_MAX   8
#define HELD_MAX   128 /* blocks alloc keeps */
#define ALLOC_MAX  64  /* blocks one alloc makes */
#define INPUT_RING 1024

/* ---- input: the UART drained into a ring ---- */

static struct {
	char buf[INPUT_RING];
	volatile uint32_t head, tail; /* head - tail bytes waiting */
	uint32_t dropped;
	bool timer; /* the APIC timer drains the UART */
} input;

/* Interrupts off, or from the timer's handler: one writer at a time. */
static void drain_uart(void)
{
	char c;
	while (serial_getc(&c)) {
		if (input.head - input.tail < INPUT_RING)
			input.buf[input.head++ % INPUT_RING] = c;
		else
			input.dropped++;
	}
}

static void drain_tick(struct trap_frame *frame)
{
	(void)frame;
	apic_eoi();
	drain_uart();
}

/* (Again) this CPU's timer drains the UART every millisecond: a command
 * (a test) may have taken the timer for itself. */
static void start_draining(void)
{
	if (!apic_present())
		return;
	trap_set_irq(APIC_TIMER_VECTOR, drain_tick);
	apic_timer_start(APIC_TIMER_VECTOR, apic_timer_ticks_per_ms());
	input.timer = true;
}

/* The next byte typed; waits (halted between timer ticks) for one. */
static char read_byte(void)
{
	for (;;) {
		uint32_t flags = irq_save();
		drain_uart();
		if (input.head != input.tail) {
			char c = input.buf[input.tail++ % INPUT_RING];
			irq_restore(flags);
			return c;
		}
		if (input.timer)
			__asm__ volatile("sti; hlt; cli" ::: "memory"); /* the next tick */
		else
			__asm__ volatile("pause");
		irq_restore(flags);
	}
}

/* ---- line editing ---- */

enum {
	CTRL_C = 0x03,
	BACKSPACE = 0x08,
	CTRL_U = 0x15,
	ESCAPE = 0x1b,
	DELETE = 0x7f,
};

/* Reads one line into 'line' (LINE_MAX): false when Ctrl-C abandoned it. */
static bool read_line(char *line)
{
	unsigned len = 0;
	bool after_cr = false;
	int escape = 0; /* 1: after ESC, 2: inside "ESC [" */
	for (;;) {
		char c = read_byte();
		bool was_cr = after_cr;
		after_cr = c == '\r';
		if (escape) { /* arrows and the like: ignored whole */
			escape = escape == 1 && c == '['    ? 2
			         : (c >= 0x40 && c <= 0x7e) ? 0
			                                    : escape;
			if (escape == 1)
				escape = 0;
			continue;
		}
		if (c == '\n' && was_cr)
			continue; /* the second half of a CR LF */
		if (c == '\r' || c == '\n') {
			kprintf("\n");
			line[len] = '\0';
			return true;
		}
		if (c == CTRL_C) {
			kprintf("^C\n");
			return false;
		}
		if (c == CTRL_U) {
			for (; len; len--)
				kprintf("\b \b");
		} else if (c == BACKSPACE || c == DELETE) {
			if (len) {
				len--;
				kprintf("\b \b");
			}
		} else if (c == ESCAPE) {
			escape = 1;
		} else if (c >= 0x20 && c < 0x7f && len < LINE_MAX - 1) {
			line[len++] = c;
			kprintf("%c", c);
		}
	}
}

/* ---- commands ---- */

struct command {
	const char *name, *args, *help;
	void (*run)(int argc, char **argv);
	int min_args, max_args; /* beyond the name */
};

static const struct command commands[];
static const unsigned command_count;
static uint64_t test_seed;

static struct {
	void *p;
	size_t size;
} held[HELD_MAX + 1]; /* by id, 1..HELD_MAX */

static bool parse_size(const char *s, uint64_t *out)
{
	return cmdline_parse_size(s, strlen(s), out);
}

static void cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (unsigned i = 0; i < command_count; i++)
		kprintf("  %-6s %-12s %s\n", commands[i].name, commands[i].args, commands[i].help);
	kprintf("  line editing: backspace, Ctrl-U erases the line, Ctrl-C abandons it\n");
}

static void cmd_mem(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct pmm_stats s;
	pmm_get_stats(&kernel_pmm, &s);
	kprintf("frames: %u total, %u free, %u reserved (%u KiB free, %u free 4 MiB slots, %u "
	        "bad frees refused)\n",
	        s.total_frames, s.free_frames, s.reserved_frames,
	        s.free_frames * (PAGE_SIZE / 1024), s.whole_slots, s.bad_frees);
	for (unsigned cpu = 0; cpu < smp_cpus_online(); cpu++)
		kprintf("  cpu %u caches %u frames\n", cpu,
		        __atomic_load_n(&kernel_pmm.cache[cpu].count, __ATOMIC_RELAXED));
}

static void cmd_vm(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "raw")) {
		shell_print_map();
		return;
	}
	if (argc == 2) {
		kprintf("vm: '%s': the only argument is raw\n", argv[1]);
		return;
	}
	vm_print_map();
}

static void cmd_arena(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	arena_print(&kernel_pageheap.arena, "kernel");
	ph_print(&kernel_pageheap, "kernel");
}

static void cmd_heap(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static struct kmalloc_stats st; /* large: not on the stack */
	kmalloc_stats(&st);
	unsigned cpus = smp_cpus_online();
	kprintf("heap: %llu KiB in use (%llu KiB in large blocks), %llu KiB mapped, %llu KiB idle, "
	        "%llu KiB released; %llu mallocs, %llu frees, %llu bad frees\n",
	        (unsigned long long)(st.in_use_bytes >> 10),
	        (unsigned long long)(st.large_in_use_bytes >> 10),
	        (unsigned long long)(st.mapped_bytes >> 10),
	        (unsigned long long)(st.idle_bytes >> 10),
	        (unsigned long long)(st.released_bytes >> 10), (unsigned long long)st.mallocs,
	        (unsigned long long)st.frees, (unsigned long long)st.bad_frees);
	kprintf("  class  spans   in use   cached  mallocs    frees  cached per cpu\n");
	for (unsigned i = 0; i < st.class_count; i++) {
		const struct kmalloc_class_stats *c = &st.classes[i];
		if (!c->spans && !c->mallocs)
			continue;
		kprintf("  %5u %6u %8llu %8llu %8llu %8llu ", c->size, c->spans,
		        (unsigned long long)c->in_use, (unsigned long long)c->cached,
		        (unsigned long long)c->mallocs, (unsigned long long)c->frees);
		for (unsigned cpu = 0; cpu < cpus; cpu++)
			kprintf(" %u", kmalloc_cached_on(cpu, i + 1));
		kprintf("\n");
	}
}

static void cmd_cpus(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	unsigned online = smp_cpus_online();
	kprintf("cpus: %u online (at most %u)\n", online, smp_cpu_limit());
	for (unsigned cpu = 0; cpu < online; cpu++) {
		uint64_t objects = 0, bytes = 0;
		for (unsigned cls = 1; cls <= kmalloc_class_count(); cls++) {
			uint32_t n = kmalloc_cached_on(cpu, cls);
			objects += n;
			bytes += (uint64_t)n * kmalloc_class_size(cls);
		}
		kprintf("  cpu %u (APIC id %u): %u frames cached, %llu free objects on its lists "
		        "(%llu KiB)\n",
		        cpu, percpu_areas[cpu].apic_id,
		        __atomic_load_n(&kernel_pmm.cache[cpu].count, __ATOMIC_RELAXED),
		        (unsigned long long)objects, (unsigned long long)(bytes >> 10));
	}
}

static void print_arena_line(void)
{
	const struct arena *a = &kernel_pageheap.arena;
	kprintf("  arena: used %p of [%p, %p), %llu KiB mapped\n", (void *)a->used,
	        (void *)a->start, (void *)a->end,
	        (unsigned long long)(a->stats.mapped_bytes >> 10));
}

static void cmd_alloc(int argc, char **argv)
{
	uint64_t size, count = 1;
	if (!parse_size(argv[1], &size) || size == 0 || size > kernel_pageheap.arena.limit) {
		kprintf("alloc: SIZE '%s' is not a size from 1 to the arena's limit (K, M, G "
		        "allowed)\n",
		        argv[1]);
		return;
	}
	if (argc == 3 && (!cmdline_parse_u64(argv[2], strlen(argv[2]), &count) || count == 0 ||
	                  count > ALLOC_MAX)) {
		kprintf("alloc: COUNT '%s' is not a number from 1 to %u\n", argv[2], ALLOC_MAX);
		return;
	}
	for (uint64_t n = 0; n < count; n++) {
		unsigned id = 1;
		while (id <= HELD_MAX && held[id].p)
			id++;
		if (id > HELD_MAX) {
			kprintf("alloc: the table is full (%u blocks held); free some first\n",
			        HELD_MAX);
			break;
		}
		void *p = kmalloc((size_t)size);
		if (!p) {
			kprintf("alloc: kmalloc(%llu) returned NULL\n", (unsigned long long)size);
			break;
		}
		held[id].p = p;
		held[id].size = (size_t)size;
		kprintf("  #%u %p %llu bytes (%zu usable)\n", id, p, (unsigned long long)size,
		        ksize(p));
	}
	print_arena_line();
}

static void free_held(unsigned id)
{
	kprintf("  #%u %p freed\n", id, held[id].p);
	kfree(held[id].p);
	held[id].p = NULL;
}

static void cmd_free(int argc, char **argv)
{
	(void)argc;
	if (!strcmp(argv[1], "all")) {
		for (unsigned id = 1; id <= HELD_MAX; id++)
			if (held[id].p)
				free_held(id);
		print_arena_line();
		return;
	}
	const char *digits = argv[1][0] == '#' ? argv[1] + 1 : argv[1];
	uint64_t id;
	if (!cmdline_parse_u64(digits, strlen(digits), &id) || id < 1 || id > HELD_MAX ||
	    !held[id].p) {
		kprintf("free: no block '%s' in the table (alloc lists the ids; 'free all')\n",
		        argv[1]);
		return;
	}
	free_held((unsigned)id);
	print_arena_line();
}

static void cmd_trim(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	uint64_t bytes = kmalloc_trim();
	kprintf("trim: %llu KiB given back to the frame pool\n", (unsigned long long)(bytes >> 10));
	print_arena_line();
}

static void cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int problems = kheap_check();
	if (problems)
		kprintf("check: %d problems (above)\n", problems);
	else
		kprintf("check: the heap is whole\n");
}

static void cmd_test(int argc, char **argv)
{
	const char *filter = argc == 2 ? argv[1] : "all";
	if (!ktest_check_filter(filter)) {
		kprintf("test: '%s' names no suite that can run (help: test [SUITE])\n", filter);
		return;
	}
	struct ktest_totals t = ktest_run_all(filter, test_seed);
	kprintf("test: %u passed, %u failed\n", t.passed, t.failed);
}

static void cmd_bench(int argc, char **argv)
{
	const char *filter = argc == 2 ? argv[1] : "all";
	if (!kbench_check_filter(filter)) {
		kprintf("bench: '%s' names no benchmark\n", filter);
		return;
	}
	kbench_run(filter);
}

static volatile int *volatile unmapped_page;

static void touch_unmapped(void *arg)
{
	(void)arg;
	(void)*unmapped_page;
}

static void cmd_fault(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct fault_record r;
	unmapped_page = NULL; /* the NULL page is never mapped */
	if (!fault_catch(touch_unmapped, NULL, &r)) {
		kprintf("fault: reading %p did not fault\n", (void *)unmapped_page);
		return;
	}
	char bits[64];
	fault_describe_page_error(r.error, bits, sizeof(bits));
	kprintf("fault: CPU exception %u (%s) at eip %08x: page fault at %08x (%s); caught, "
	        "the shell goes on\n",
	        r.vector, trap_vector_name(r.vector), r.eip, (uint32_t)r.cr2, bits);
}

static void cmd_halt(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kprintf("halt: leaving with the success exit\n");
	machine_exit(MACHINE_EXIT_SUCCESS);
}

static const struct command commands[] = {
	{ "help", "", "this list", cmd_help, 0, 0 },
	{ "mem", "", "frames: total, free, reserved, per-CPU caches", cmd_mem, 0, 0 },
	{ "vm", "[raw]", "the address-space map with owners (raw: for tools)", cmd_vm, 0, 1 },
	{ "arena", "", "the arena and its page heap", cmd_arena, 0, 0 },
	{ "heap", "", "kmalloc's statistics per size class, per CPU", cmd_heap, 0, 0 },
	{ "cpus", "", "CPUs online and what each holds in its caches", cmd_cpus, 0, 0 },
	{ "alloc", "SIZE [COUNT]", "kmalloc blocks, kept in the table by id", cmd_alloc, 1, 2 },
	{ "free", "ID|all", "kfree a block of the table", cmd_free, 1, 1 },
	{ "trim", "", "give every idle frame back (kmalloc_trim)", cmd_trim, 0, 0 },
	{ "check", "", "run kheap_check", cmd_check, 0, 0 },
	{ "test", "[SUITE]", "run self-tests (all of them by default)", cmd_test, 0, 1 },
	{ "bench", "[NAME]", "run benchmarks (all of them by default)", cmd_bench, 0, 1 },
	{ "fault", "", "touch an unmapped page and show the report", cmd_fault, 0, 0 },
	{ "halt", "", "leave QEMU with the success exit", cmd_halt, 0, 0 },
};
static const unsigned command_count = sizeof(commands) / sizeof(commands[0]);

static void execute(char *line)
{
	char *argv[ARGS_MAX + 1];
	int argc = 0;
	for (char *p = line; *p;) {
		while (*p == ' ')
			*p++ = '\0';
		if (!*p)
			break;
		if (argc == ARGS_MAX + 1) {
			kprintf("%s: too many arguments\n", argv[0]);
			return;
		}
		argv[argc++] = p;
		while (*p && *p != ' ')
			p++;
	}
	if (!argc)
		return;
	for (unsigned i = 0; i < command_count; i++) {
		const struct command *c = &commands[i];
		if (strcmp(argv[0], c->name))
			continue;
		if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
			kprintf("%s: usage: %s %s\n", c->name, c->name, c->args);
			return;
		}
		c->run(argc, argv);
		return;
	}
	kprintf("%s: unknown command (help lists them)\n", argv[0]);
}

void shell_run(uint64_t seed)
{
	if (!serial_present()) {
		kprintf("shell: no UART to read from; not started\n");
		return;
	}
	test_seed = seed;
	kprintf("shell: type help for the commands; halt leaves\n");
	static char line[LINE_MAX];
	for (;;) {
		start_draining();
		if (input.dropped) {
			kprintf("shell: %u bytes of input lost (the ring was full)\n",
			        input.dropped);
			input.dropped = 0;
		}
		kprintf("arena386> ");
		if (read_line(line))
			execute(line);
	}
}

/* ---- the map, for tools/render_map.py ---- */

static const char *span_state(const struct span *s)
{
	if (s->state == SPAN_IN_USE)
		return s->small.size_class ? "small" : "large";
	if (s->released_pages == s->npages)
		return "released";
	return s->released_pages ? "partly-released" : "free";
}

void shell_print_map(void)
{
	kprintf("map begin\n");
	for (uint64_t v = 0; v < VM_SPACE_SIZE;) {
		enum vm_owner owner = vm_owner_at((uintptr_t)v);
		uint64_t end = v, mapped = 0;
		while (end < VM_SPACE_SIZE && vm_owner_at((uintptr_t)end) == owner) {
			mapped += vm_mapped_pages((uintptr_t)end, SLOT_SIZE);
			end += SLOT_SIZE;
		}
		if (owner != VM_FREE)
			kprintf("map region %#llx %#llx %s %llu\n", (unsigned long long)v,
			        (unsigned long long)end, vm_owner_name(owner),
			        (unsigned long long)(mapped * PAGE_SIZE >> 10));
		v = end;
	}
	/* The arena held still while it is walked. */
	mm_irq_flags_t flags = ph_lock(&kernel_pageheap);
	const struct arena *a = &kernel_pageheap.arena;
	kprintf("map arena %#lx %#lx %#lx %#llx\n", (unsigned long)a->start, (unsigned long)a->used,
	        (unsigned long)a->end, (unsigned long long)(a->start + a->limit));
	for (unsigned i = 0; i < a->range_count; i++)
		kprintf("map arena-range %#lx %#llx\n", (unsigned long)a->ranges[i].base,
		        (unsigned long long)a->ranges[i].size);
	kprintf("map meta %#lx %#lx %#lx %#lx %#lx %#lx\n", (unsigned long)a->meta_base,
	        (unsigned long)a->meta_end, (unsigned long)a->pages_mapped_end,
	        (unsigned long)a->live_prefix_end, (unsigned long)a->persistent_base,
	        (unsigned long)a->persistent_mapped_end);
	/* The arena's pages in runs of one state: a span's kind, or a hole. */
	const char *run_state = NULL;
	uintptr_t run_start = a->start;
	for (uintptr_t p = a->start; p < a->used;) {
		const struct span *s = a->pages[(p - a->start) / PAGE_SIZE].span;
		const char *state = s && s->start == p ? span_state(s) : "hole";
		uintptr_t next =
		        s && s->start == p ? p + (uintptr_t)s->npages * PAGE_SIZE : p + PAGE_SIZE;
		if (run_state && strcmp(state, run_state)) {
			kprintf("map span %#lx %#lx %s\n", (unsigned long)run_start,
			        (unsigned long)p, run_state);
			run_start = p;
		}
		run_state = state;
		p = next;
	}
	if (run_state)
		kprintf("map span %#lx %#lx %s\n", (unsigned long)run_start, (unsigned long)a->used,
		        run_state);
	ph_unlock(&kernel_pageheap, flags);
	kprintf("map end\n");
}
