#!/usr/bin/env python3
"""`make bench`: boot the kernel under QEMU -icount shift=0 (rdtsc counts
guest instructions) with bench=all and no tests, and print every
"bench <name> <value> <unit>" line it reports, plus the targets the issues
set.  Figures only: nothing here passes or fails but the run itself.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_qemu  # noqa: E402

# name -> the targets the issues set for it ("<="), oldest first
TARGETS = {
    "pmm_frame_alloc_free": [30],
    "vm_map_unused_4k": [40],
    "paging_map_unmap_4m_pse": [100],
    "kmalloc_kfree_pair_8": [24],
    "kmalloc_kfree_pair_32": [24, 40],  # 40: without masking interrupts, every check kept
    "kmalloc_kfree_pair_128": [24],
    "kmalloc_mixed_per_op": [44.5],
    "kmalloc_mixed_worst_op": [500],
}


# The debug modes whose cost make bench reports (the same kernel booted with
# each), and the figures it reports for them.
DEBUG_MODES = ["kmalloc_debug=poison", "kmalloc_debug=redzone", "kmalloc_debug=caller",
               "kmalloc_debug=all", "kfence_sample=100", "kfence_sample=1"]
DEBUG_FIGURES = {"kmalloc_kfree_pair_32", "kmalloc_kfree_pair_1024", "kmalloc_mixed_per_op",
                 "kmalloc_mixed_worst_op"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--mem", default="2G")
    p.add_argument("--filter", default="all")
    args = p.parse_args()
    argv = ["--kernel", os.path.join(args.build, "kernel.elf"), "--mem", args.mem,
            "--append", f"test=none bench={args.filter}", "--icount", "--quiet",
            "--timeout", "1200", "--log", os.path.join(args.build, "logs", "bench.log")]
    os.makedirs(os.path.join(args.build, "logs"), exist_ok=True)
    verdict, lines = run_qemu.run(run_qemu.parser().parse_args(argv), echo=None)
    # The SMP figures need other CPUs: the same kernel at -smp 4.
    if args.filter == "all":
        smp_argv = ["--kernel", os.path.join(args.build, "kernel.elf"), "--mem", "256M",
                    "--append", "test=none bench=ipi,spinlock,shootdown,kmalloc_smp", "--icount", "--quiet", "--smp", "4",
                    "--timeout", "600", "--log", os.path.join(args.build, "logs", "bench-smp4.log")]
        smp_verdict, smp_lines = run_qemu.run(run_qemu.parser().parse_args(smp_argv), echo=None)
        lines += smp_lines
        verdict.problems += smp_verdict.problems
    for line in lines:
        if line.startswith("bench "):
            fields = line.split()
            if len(fields) < 4:
                print(line)
                continue
            _, name, value, unit = fields[:4]
            note = "".join(f"  (target <= {t}: {'met' if float(value) <= t else 'MISSED'})"
                           for t in TARGETS.get(name, []))
            print(f"{line}{note}")
    # The concurrent workload at -smp 4 against the same work at -smp 1.
    per_op = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "bench" and fields[1].startswith("kmalloc_concurrent_per_op_"):
            per_op[fields[1].rsplit("_", 1)[1]] = float(fields[2])
    if "1cpu" in per_op and "4cpu" in per_op:
        ratio = per_op["4cpu"] / per_op["1cpu"]
        print(f"bench kmalloc_concurrent_ratio_4cpu_to_1cpu {ratio:.3f} x"
              f"  (target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})")
    # What each debug mode costs: the kmalloc figures again, booted with it.
    if args.filter == "all":
        for mode in DEBUG_MODES:
            mode_argv = ["--kernel", os.path.join(args.build, "kernel.elf"), "--mem", args.mem,
                         "--append", f"test=none bench=kmalloc_pair,kmalloc_mixed {mode}",
                         "--icount", "--quiet", "--timeout", "1200",
                         "--log", os.path.join(args.build, "logs", f"bench-{mode.replace('=', '-')}.log")]
            mode_verdict, mode_lines = run_qemu.run(run_qemu.parser().parse_args(mode_argv), echo=None)
            verdict.problems += mode_verdict.problems
            for line in mode_lines:
                fields = line.split()
                if line.startswith("bench ") and fields[1] in DEBUG_FIGURES:
                    print(f"bench {fields[1]}[{mode}] {' '.join(fields[2:])}")
    if not verdict.ok:
        print("run_bench: the benchmark run failed: " + "; ".join(verdict.problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
