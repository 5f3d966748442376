/*
 * kernel/kmain.c - boot: bring up the console and the CPU tables, read the
 * bootloader's information and the command line, print the boot
 * diagnostics, run the self-tests, and end the run with an exit status that
 * says whether everything passed.
 */
#include "arch/i386/cpuid.h"
#include "arch/i386/linkage.h"
#include "arch/i386/machine.h"
#include "arch/i386/percpu.h"
#include "arch/i386/pic.h"
#include "arch/i386/serial.h"
#include "boot/multiboot.h"
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/fault.h"
#include "kernel/kernel.h"
#include "kernel/map_demo.h"
#include "kernel/memory.h"
#include "kernel/shell.h"
#include "kernel/smp.h"
#include "lib/string.h"
#include "mm/inject.h"
#include "mm/kfence.h"
#include "mm/kmalloc.h"
#include "tests/kbench.h"
#include "tests/ktest.h"

struct bootinfo boot_info;
struct topology boot_topology;

static struct {
	char test[128];    /* suites to run: see ktest_run_all */
	char bench[128];   /* benchmarks to run after the tests: see kbench_run */
	uint64_t seed;     /* for randomized tests */
	uint64_t cpus;     /* at most this many CPUs online */
	const char *crash; /* deliberate failure, for testing the host runner */
	uint64_t shell;    /* 1: the serial shell after the tests */
	bool map_demo;     /* demo=map: make map's demonstration, then its map */
} options = { .test = "all", .seed = 1, .cpus = MAX_CPUS, .crash = "" };

static bool set_string(char *dst, size_t size, const char *value, size_t len)
{
	if (len == 0 || len >= size)
		return false;
	memcpy(dst, value, len);
	dst[len] = '\0';
	return true;
}

static bool set_test(const char *value, size_t len)
{
	return set_string(options.test, sizeof(options.test), value, len);
}

static bool set_bench(const char *value, size_t len)
{
	return set_string(options.bench, sizeof(options.bench), value, len);
}

static bool set_seed(const char *value, size_t len)
{
	return cmdline_parse_u64(value, len, &options.seed);
}

static bool set_cpus(const char *value, size_t len)
{
	uint64_t n;
	if (!cmdline_parse_u64(value, len, &n) || n < 1 || n > MAX_CPUS) {
		kprintf("cpus=%.*s: between 1 and %u\n", (int)len, value, MAX_CPUS);
		return false;
	}
	options.cpus = n;
	return true;
}

static bool set_shell(const char *value, size_t len)
{
	return cmdline_parse_u64(value, len, &options.shell) && options.shell <= 1;
}

static bool set_demo(const char *value, size_t len)
{
	options.map_demo = len == 3 && !memcmp(value, "map", 3);
	return options.map_demo;
}

/* Fault injection (mm/inject.h), from boot on: fail_frame=N and
 * fail_reserve=N make the Nth such event fail; fail_frame_ppm=P and
 * fail_reserve_ppm=P make each fail with probability P per million, drawn
 * from seed= (given first). */
static bool set_injection(struct mm_injector *in, const char *value, size_t len, bool ppm)
{
	uint64_t v;
	if (!cmdline_parse_u64(value, len, &v) || v > (ppm ? 1000000u : UINT32_MAX))
		return false;
	mm_inject_set(in, ppm ? in->countdown : (uint32_t)v, ppm ? (uint32_t)v : in->ppm,
	              (uint32_t)options.seed);
	return true;
}

static bool set_fail_frame(const char *value, size_t len)
{
	return set_injection(&mm_inject_frames, value, len, false);
}

static bool set_fail_reserve(const char *value, size_t len)
{
	return set_injection(&mm_inject_reserves, value, len, false);
}

static bool set_fail_frame_ppm(const char *value, size_t len)
{
	return set_injection(&mm_inject_frames, value, len, true);
}

static bool set_fail_reserve_ppm(const char *value, size_t len)
{
	return set_injection(&mm_inject_reserves, value, len, true);
}

/* kmalloc_debug=poison,redzone,caller or all (mm/kmalloc.h). */
static bool set_kmalloc_debug(const char *value, size_t len)
{
	static const char *const names[] = { "poison", "redzone", "caller" };
	unsigned flags = 0;
	for (size_t at = 0; at < len;) {
		size_t n = 0;
		while (at + n < len && value[at + n] != ',')
			n++;
		unsigned flag = n == 3 && !memcmp(value + at, "all", 3) ? KMALLOC_DEBUG_ALL : 0;
		for (unsigned i = 0; i < 3; i++)
			if (strlen(names[i]) == n && !memcmp(value + at, names[i], n))
				flag = 1u << i;
		if (!flag) {
			kprintf("kmalloc_debug=%.*s: '%.*s' is not poison, redzone, caller or "
			        "all\n",
			        (int)len, value, (int)n, value + at);
			return false;
		}
		flags |= flag;
		at += n + 1;
	}
	return flags && kmalloc_set_debug(flags);
}

/* kfence_sample=N: one small allocation in N on guarded pages (mm/kfence.h). */
static bool set_kfence_sample(const char *value, size_t len)
{
	uint64_t every;
	if (!cmdline_parse_u64(value, len, &every) || every > UINT32_MAX) {
		kprintf("kfence_sample=%.*s: not a count of allocations\n", (int)len, value);
		return false;
	}
	return kfence_set_sample((uint32_t)every);
}

static bool set_stress_ops(const char *value, size_t len)
{
	return cmdline_parse_u64(value, len, &ktest_stress_ops);
}

static bool set_arena_limit(const char *value, size_t len)
{
	uint64_t v;
	return cmdline_parse_size(value, len, &v) && heap_config_set_limit(v);
}

static bool set_arena_step(const char *value, size_t len)
{
	uint64_t v;
	return cmdline_parse_size(value, len, &v) && heap_config_set_step(v);
}

static bool set_arena_base(const char *value, size_t len)
{
	uint64_t v;
	return cmdline_parse_size(value, len, &v) && heap_config_set_base(v);
}

static const char *const crash_kinds[] = { "panic",    "triple", "hang",         "fault",
	                                   "overflow", "nested", "early_kmalloc" };

static bool set_crash(const char *value, size_t len)
{
	for (unsigned i = 0; i < sizeof(crash_kinds) / sizeof(crash_kinds[0]); i++) {
		size_t n = 0;
		while (crash_kinds[i][n] && n < len && crash_kinds[i][n] == value[n])
			n++;
		if (n == len && crash_kinds[i][n] == '\0') {
			options.crash = crash_kinds[i];
			return true;
		}
	}
	return false;
}

static const struct cmdline_option kernel_options[] = {
	{ "test", set_test },
	{ "bench", set_bench },
	{ "seed", set_seed },
	{ "cpus", set_cpus },
	{ "crash", set_crash },
	{ "shell", set_shell },
	{ "demo", set_demo },
	{ "kmalloc_debug", set_kmalloc_debug },
	{ "kfence_sample", set_kfence_sample },
	{ "stress_ops", set_stress_ops },
	{ "fail_frame", set_fail_frame },
	{ "fail_reserve", set_fail_reserve },
	{ "fail_frame_ppm", set_fail_frame_ppm },
	{ "fail_reserve_ppm", set_fail_reserve_ppm },
	{ "arena_limit", set_arena_limit },
	{ "arena_step", set_arena_step },
	{ "arena_base", set_arena_base },
};

/* Volatile, so that the compiler cannot see the NULL store and replace it
 * with a trap instruction of its own. */
static volatile int *volatile null_page;

/* Deliberate failures: the host runner's tests check that each is caught. */
static void crash_if_asked(void)
{
	if (!strcmp(options.crash, "panic"))
		panic("deliberate panic (crash=panic)");
	if (!strcmp(options.crash, "triple"))
		machine_triple_fault();
	if (!strcmp(options.crash, "hang"))
		for (;;)
			__asm__ volatile("hlt");
	if (!strcmp(options.crash, "fault"))
		*null_page = 1; /* the NULL page is never mapped */
	if (!strcmp(options.crash, "overflow"))
		ktest_overflow_stack(NULL); /* the recursion the fault tests use */
	if (!strcmp(options.crash, "nested")) {
		/* An invalid opcode whose report then faults: its backtrace
		 * follows %ebp into the stack's unmapped guard page. */
		extern char kernel_stack_guard[];
		__asm__ volatile("movl %0, %%ebp; ud2" : : "r"(kernel_stack_guard));
	}
}

/* Stops on a CPU older than the i486 (cpuid.h), and names what it found. */
static void check_cpu(void)
{
	cpu_identify();
	const struct cpu_info *cpu = &boot_cpu;
	if (!cpu->is_486)
		kernel_stop("this is an i386-class CPU (EFLAGS.AC cannot be set); arena386 needs "
		            "an i486 or later (invlpg, CR0.WP)");
	char names[64];
	cpu_feature_names(cpu->features, names, sizeof(names));
	if (cpu->has_cpuid)
		kprintf("cpu: %s family %u model %u stepping %u; features: %s\n", cpu->vendor,
		        cpu->family, cpu->model, cpu->stepping, names[0] ? names : "none");
	else
		kprintf("cpu: i486 without CPUID; optional features (PSE, TSC) assumed absent\n");
}

ASMLINKAGE void kmain(uint32_t magic, const struct multiboot_info *mbi)
{
	console_init();
	fault_init();
	pic_disable(); /* before anything enables interrupts */
	kprintf("\narena386: booting\n");
	check_cpu();

	enum bootinfo_error error = bootinfo_parse(magic, mbi, &boot_info);
	if (error == BOOTINFO_BAD_MAGIC)
		panic("multiboot: %s: %08x", bootinfo_error_message(error), magic);
	if (error != BOOTINFO_OK)
		panic("multiboot: %s (info at %p, flags %08x)", bootinfo_error_message(error),
		      (const void *)mbi, mbi->flags);

	kprintf("command line: \"%s\"\n", boot_info.cmdline);
	cmdline_parse(boot_info.cmdline, kernel_options,
	              sizeof(kernel_options) / sizeof(kernel_options[0]));
	bootinfo_print(&boot_info);
	if (!strcmp(options.crash, "early_kmalloc"))
		kmalloc(16); /* before memory_init sets the heap up: a panic */
	if (boot_info.usable_bytes < MEMORY_MIN_USABLE)
		kernel_stop("%llu KiB of usable RAM; the kernel needs a machine with 8 MiB "
		            "(at least %llu KiB usable)",
		            (unsigned long long)(boot_info.usable_bytes >> 10),
		            MEMORY_MIN_USABLE >> 10);
	memory_init(&boot_info);
	topology_find(&boot_topology);
	topology_print(&boot_topology);
	smp_start(&boot_topology, (unsigned)options.cpus);
	memory_boot_done(); /* the other CPUs' stacks are taken */
	memory_print();
	heap_print();
	crash_if_asked();

	/* A selection that runs nothing by mistake must not pass as a run. */
	bool test_ok = ktest_check_filter(options.test);
	bool bench_ok = !options.bench[0] || kbench_check_filter(options.bench);
	if (!test_ok || !bench_ok) {
		kprintf("arena386: nothing run: the %s= value cannot be run as it stands\n",
		        test_ok ? "bench" : "test");
		machine_exit(MACHINE_EXIT_FAILURE);
	}
	unsigned failed = ktest_run_all(options.test, options.seed).failed;
	if (options.bench[0])
		kbench_run(options.bench);
	if (options.map_demo)
		map_demo();
	ratelimit_flush();
	if (kmalloc_debug_flags())
		kprintf("# leak report (kmalloc_debug, kfence_sample): %u blocks live\n",
		        kmalloc_report_leaks());
	if (options.shell) {
		kprintf("arena386: self-tests %s\n", failed ? "FAILED" : "passed");
		shell_run(options.seed); /* returns only when there is no UART */
	}
	kprintf("# end of run:\n");
	heap_print();
	kprintf("arena386: %s\n", failed ? "self-tests FAILED" : "self-tests passed");
	machine_exit(failed ? MACHINE_EXIT_FAILURE : MACHINE_EXIT_SUCCESS);
}
