#!/usr/bin/env python3
"""`make test`: every host test, then the on-target suite in several machines.

Stages, in order:
  1. host C tests (build/host/tests/*_test, built with ASan and UBSan);
  2. the host runner's own tests (tests/host/test_runner.py), the
     layers' one direction on every #include (tests/check_layers.py), and
     the allocator's fast paths in the kernel's machine code: no interrupt
     masking, no call, one locked instruction (tests/check_fastpath.py), and
     the console: the serial shell, the map renderer and the gdb helpers
     (tests/host/test_console.py);
  3. the kernel under QEMU (TARGET_RUNS): the smallest supported machine
     (8 MiB, also with 4 CPUs), 12 MiB, 16 MiB, 256 MiB (and with 4 CPUs: plain, in parallel
     under multi-threaded TCG, and in turns under -icount with a fixed
     seed), 3 GiB and 8 GiB (RAM above 4 GiB),
     the oldest supported CPU (486) and one without PSE, a 4 MiB arena, and
     the GRUB ISO at 256 MiB.
--sweep runs the long sweep instead (make sweep): every size from 8 MiB to
3 GiB, CPU models and the arena options.
Each stage's console goes to build/logs/.  The last line sums every stage:
"N passed, N failed" (", N skipped" when cases were skipped).  Exit status 0
only when nothing failed.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_qemu  # noqa: E402

SUMMARY_RE = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")

# (name, memory, command line or None for the ISO, CPU model or None, -smp or None);
# a name ending in -mttcg runs under multi-threaded TCG (the CPUs in parallel), one
# ending in -icount under -icount shift=0 (the CPUs in turn, in an order the seed fixes)
TARGET_RUNS = [
    ("target-8M-smallest", "8M", "", None, None),
    ("target-8M-smp4", "8M", "", None, "4"),
    ("target-12M", "12M", "", None, None),
    ("target-16M", "16M", "", None, None),
    ("target-256M", "256M", "", None, None),
    ("target-256M-smp4", "256M", "", None, "4"),
    ("target-256M-smp4-mttcg", "256M", "test=smp,topology,kmalloc_smp", None, "4"),
    ("target-256M-smp4-icount", "256M", "test=kmalloc_smp,spinlock seed=2", None, "4"),
    ("target-256M-cpu486", "256M", "", "486", None),
    ("target-256M-nopse", "256M", "", "pentium,-pse", None),
    ("target-64M-step4M", "64M", "arena_step=4M", None, None),
    ("target-256M-debug", "256M", "kmalloc_debug=all", None, None),
    ("target-256M-smp4-kfence", "256M", "kfence_sample=1 test=kfence", None, "4"),
    ("target-256M-arena4M", "256M", "arena_limit=4M", None, None),
    ("target-3G", "3G", "", None, None),
    ("target-3G-arena3584M", "3G", "arena_limit=3584M", None, None),
    ("target-8G-above4G", "8G", "", None, None),
    ("iso-256M", "256M", None, None, None),
]


def sweep_runs():
    """make sweep: every RAM size from the smallest supported machine up to
    3 GiB (each MiB to 64 MiB, then in steps), every CPU model QEMU has from
    the 486 on, RAM above 4 GiB, and the arena options that squeeze the
    self-tests."""
    sizes = list(range(8, 65)) + list(range(96, 1024, 32)) + list(range(1024, 3073, 256))
    runs = [(f"sweep-{m}M", f"{m}M", "", None, None) for m in sizes]
    runs += [(f"sweep-smp{n}", "256M", "", None, n) for n in ("2", "4", "4,sockets=4", "8")]
    runs += [(f"sweep-{m}-smp4", m, "", None, "4") for m in ("8M", "12M", "16M", "32M")]
    runs += [(f"sweep-smp{n}-mttcg", "256M", "", None, n) for n in ("2", "4", "8")]
    runs += [(f"sweep-cpu-{c}", "64M", "", c, None) for c in
             ("486", "pentium", "pentium,-pse", "pentium2", "pentium3", "qemu32", "qemu32,-pse",
              "coreduo", "n270", "athlon", "kvm32")]
    runs += [(f"sweep-{m}", m, "", None, None) for m in ("3584M", "4G", "8G")]
    runs += [("sweep-256M-smp4-debug", "256M", "kmalloc_debug=all", None, "4")]
    options = ["arena_limit=4M", "arena_limit=8M", "arena_limit=12M", "arena_base=8M",
               "arena_base=16M", "arena_base=0xF0000000", "arena_base=0xFF400000",
               "arena_limit=4G arena_step=4G", "arena_step=4M", "arena_limit=3584M"]
    runs += [(f"sweep-256M-{o.replace(' ', ',')}", "256M", o, None, None) for o in options]
    runs += [(f"sweep-8M-{o.replace(' ', ',')}", "8M", o, None, None) for o in options[:4]]
    return runs


CPUS_RE = re.compile(r"^smp: (\d+) of (\d+) CPUs online")


def cpus_online(lines):
    """The stage's CPU count as the kernel reported it ("4 CPUs"), or a
    note that it never said (a hang before, or no local APIC)."""
    for line in lines:
        m = CPUS_RE.match(line.strip())
        if m:
            n = int(m.group(1))
            return f"{n} CPU" + ("s" if n != 1 else "")
        if line.startswith("smp: no local APIC"):
            return "1 CPU (no local APIC)"
    return "CPUs not reported"


def last_summary(output):
    for line in reversed(output.splitlines()):
        m = SUMMARY_RE.match(line.strip())
        if m:
            return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    return None


def run_program(name, cmd, logdir, timeout):
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, text=True, errors="replace")
        output, status = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        output, status = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), None
    with open(os.path.join(logdir, name + ".log"), "w") as f:
        f.write(output)
    counts = last_summary(output)
    passed, failed, skipped = counts if counts else (0, 0, 0)
    problem = None
    if status is None:
        problem = f"timed out after {timeout} s"
    elif counts is None:
        problem = f"no 'N passed, N failed' line (exit status {status})"
    elif status != 0 and failed == 0:
        problem = f"exit status {status}"
    if problem:
        failed = max(failed, 1)
    return passed, failed, skipped, problem, time.monotonic() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--only", help="run only the stages whose name starts with this")
    p.add_argument("--sweep", action="store_true",
                   help="the long sweep of RAM sizes, CPU models and options instead")
    args = p.parse_args()
    logdir = os.path.join(args.build, "logs")
    os.makedirs(logdir, exist_ok=True)

    stages = []
    target_runs = sweep_runs() if args.sweep else TARGET_RUNS
    for exe in sorted(glob.glob(os.path.join(args.build, "host", "tests", "*_test"))):
        stages.append(("host-" + os.path.basename(exe), [exe], 600))
        if os.path.basename(exe) == "map_limit_test":  # its other mode (the shim's)
            stages.append(("host-map_limit_test-whole", [exe, "whole"], 600))
    stages.append(("host-runner", [sys.executable, os.path.join(HERE, "host", "test_runner.py"),
                                   "--build", args.build], 600))
    stages.append(("host-shim", [sys.executable, os.path.join(HERE, "host", "test_shim.py"),
                                 "--build", args.build], 900))
    stages.append(("host-layers", [sys.executable, os.path.join(HERE, "check_layers.py")], 60))
    stages.append(("host-console", [sys.executable, os.path.join(HERE, "host", "test_console.py"),
                                    "--build", args.build], 600))
    stages.append(("host-fastpath", [sys.executable, os.path.join(HERE, "check_fastpath.py"),
                                     "--kernel", os.path.join(args.build, "kernel.elf")], 60))

    totals = [0, 0, 0]
    failures = []

    def report(name, passed, failed, skipped, secs, note):
        print(f"{name:36s} {passed:6d} passed {failed:4d} failed {skipped:4d} skipped  {secs:6.1f} s"
              + (f"  ({note})" if note else ""), flush=True)
        totals[0] += passed
        totals[1] += failed
        totals[2] += skipped

    for name, cmd, timeout in ([] if args.sweep else stages):
        if args.only and not name.startswith(args.only):
            continue
        passed, failed, skipped, problem, secs = run_program(name, cmd, logdir, timeout)
        report(name, passed, failed, skipped, secs, problem)
        if failed:
            failures.append(name)

    for name, mem, append, cpu, smp in target_runs:
        if args.only and not name.startswith(args.only):
            continue
        argv = ["--mem", mem, "--timeout", "600", "--quiet",
                "--log", os.path.join(logdir, name + ".log")]
        if append is None:
            argv += ["--iso", os.path.join(args.build, "arena386.iso")]
        else:
            argv += ["--kernel", os.path.join(args.build, "kernel.elf"), "--append", append]
        if cpu:
            argv += ["--cpu", cpu]
        if smp:
            argv += ["--smp", smp]
        if name.endswith("-mttcg"):
            argv += ["--accel", "tcg,thread=multi"]
        if name.endswith("-icount"):
            argv += ["--icount"]
        start = time.monotonic()
        lines = []
        try:
            verdict, lines = run_qemu.run(run_qemu.parser().parse_args(argv), echo=None)
        except run_qemu.UsageError as e:
            verdict = run_qemu.Verdict(failed=1, problems=[str(e)])
        report(name, verdict.passed, verdict.failed, verdict.skipped,
               time.monotonic() - start, "; ".join([cpus_online(lines)] + verdict.problems))
        if not verdict.ok:
            failures.append(name)

    if failures:
        print(f"failed stages: {', '.join(failures)} (logs in {logdir}/)")
    summary = f"{totals[0]} passed, {totals[1]} failed"
    if totals[2]:
        summary += f", {totals[2]} skipped"
    print(summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
