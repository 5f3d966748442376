#!/usr/bin/env python3
"""`make test`: every host test, then the on-target suite in several machines.

Stages, in order:
  1. host C tests (build/host/tests/*_test, built with ASan and UBSan);
  2. the host runner's own tests (tests/host/test_runner.py);
  3. the kernel under QEMU at 16 MiB, 256 MiB and 3 GiB of RAM, and the GRUB
     ISO at 256 MiB.
Each stage's console goes to build/logs/.  The last line sums every stage:
"N passed, N failed".  Exit status 0 only when nothing failed.
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

TARGET_RUNS = [
    # (name, memory, command line or None for the ISO)
    ("target-16M", "16M", ""),
    ("target-256M", "256M", ""),
    ("target-3G", "3G", ""),
    ("target-3G-arena3584M", "3G", "arena_limit=3584M"),
    ("iso-256M", "256M", None),
]


def last_summary(output):
    for line in reversed(output.splitlines()):
        m = SUMMARY_RE.match(line.strip())
        if m:
            return int(m.group(1)), int(m.group(2))
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
    passed, failed = counts if counts else (0, 0)
    problem = None
    if status is None:
        problem = f"timed out after {timeout} s"
    elif counts is None:
        problem = f"no 'N passed, N failed' line (exit status {status})"
    elif status != 0 and failed == 0:
        problem = f"exit status {status}"
    if problem:
        failed = max(failed, 1)
    return passed, failed, problem, time.monotonic() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--only", help="run only the stages whose name starts with this")
    args = p.parse_args()
    logdir = os.path.join(args.build, "logs")
    os.makedirs(logdir, exist_ok=True)

    stages = []
    for exe in sorted(glob.glob(os.path.join(args.build, "host", "tests", "*_test"))):
        stages.append(("host-" + os.path.basename(exe), [exe], 600))
    stages.append(("host-runner", [sys.executable, os.path.join(HERE, "host", "test_runner.py"),
                                   "--build", args.build], 600))

    total_passed = total_failed = 0
    failures = []
    for name, cmd, timeout in stages:
        if args.only and not name.startswith(args.only):
            continue
        passed, failed, problem, secs = run_program(name, cmd, logdir, timeout)
        print(f"{name:24s} {passed:6d} passed {failed:4d} failed  {secs:6.1f} s"
              + (f"  ({problem})" if problem else ""), flush=True)
        total_passed += passed
        total_failed += failed
        if failed:
            failures.append(name)

    for name, mem, append in TARGET_RUNS:
        if args.only and not name.startswith(args.only):
            continue
        argv = ["--mem", mem, "--timeout", "600", "--quiet",
                "--log", os.path.join(logdir, name + ".log")]
        if append is None:
            argv += ["--iso", os.path.join(args.build, "arena386.iso")]
        else:
            argv += ["--kernel", os.path.join(args.build, "kernel.elf"), "--append", append]
        start = time.monotonic()
        verdict, _ = run_qemu.run(run_qemu.parser().parse_args(argv), echo=None)
        secs = time.monotonic() - start
        note = "; ".join(verdict.problems)
        print(f"{name:24s} {verdict.passed:6d} passed {verdict.failed:4d} failed  {secs:6.1f} s"
              + (f"  ({note})" if note else ""), flush=True)
        total_passed += verdict.passed
        total_failed += verdict.failed
        if not verdict.ok:
            failures.append(name)

    if failures:
        print(f"failed stages: {', '.join(failures)} (logs in {logdir}/)")
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
