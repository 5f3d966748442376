/* tests/bench/calibrate_bench.c - checks that rdtsc counts instructions:
 * a loop of known length must report its own instruction count. */
#include "arch/i386/cpu.h"
#include "tests/kbench.h"

KBENCH(calibrate)
{
	unsigned n = 100000;
	uint64_t t0 = rdtsc();
	/* 3 instructions per iteration: nop, dec, jnz */
	__asm__ volatile("1: nop; dec %0; jnz 1b" : "+r"(n));
	uint64_t t1 = rdtsc();
	kbench_report("calibrate_loop", t1 - t0, 100000, "insn/iteration");
}
