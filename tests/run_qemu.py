#!/usr/bin/env python3
"""Boot arena386 in QEMU, stream its serial console, and judge the run.

The kernel prints its self-test results in KTAP version 1 (the format of
Linux's KUnit) and ends the run through the isa-debug-exit device: exit
status 33 means the kernel judged the run a success.  This runner trusts
nothing on its own: a run passes only when QEMU exits 33, the KTAP output is
complete (every plan matches its results), every result is "ok", no panic or
CPU exception was printed, and the timeout did not expire.  A triple fault
(QEMU exits 0 under -no-reboot) is a failure.

The last line printed is "N passed, N failed" (", N skipped" when any were
skipped), counting test cases; results that a plan promised but never came
count as failed, and a run that failed for any other reason counts at least
one failure.  Exit status 0 only for a passing run.

Uses only the Python standard library.
"""
import argparse
import dataclasses
import os
import re
import select
import subprocess
import sys
import time

QEMU_SUCCESS = 33  # (0x10 << 1) | 1, see arch/i386/machine.h
INDENT = "    "
RESULT_RE = re.compile(r"^(not ok|ok) (\d+)(?: (.*?))?(?: # (SKIP|TODO)\b.*)?$")
PLAN_RE = re.compile(r"^1\.\.(\d+)$")
CRASH_MARKERS = ("KERNEL PANIC", "CPU EXCEPTION")


@dataclasses.dataclass
class Verdict:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    problems: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return not self.problems and self.failed == 0

    def summary(self):
        line = f"{self.passed} passed, {self.failed} failed"
        if self.skipped:
            line += f", {self.skipped} skipped"
        return line


@dataclasses.dataclass
class _Suite:
    name: str
    plan: int = None
    results: list = dataclasses.field(default_factory=list)  # (number, ok, name, skip)


def judge(lines, exit_status, timed_out=False, timeout=None):
    """Judge a run from its console lines and QEMU's exit status."""
    v = Verdict()
    lines = [l.rstrip("\r\n").replace("\r", "") for l in lines]

    for l in lines:
        if any(m in l for m in CRASH_MARKERS):
            v.problems.append(f"kernel crashed: {l.strip()}")
            break

    try:
        start = lines.index("KTAP version 1")
    except ValueError:
        start = None
    if start is None:
        v.problems.append("no KTAP output (no 'KTAP version 1' line)")
        suites, top_plan, top_results = [], None, []
    else:
        suites, top_plan, top_results = _parse_ktap(lines[start + 1 :], v)

    missing = 0
    for s in suites:
        n = len(s.results)
        if s.plan is None:
            v.problems.append(f"suite {s.name}: no plan")
        elif n != s.plan:
            v.problems.append(f"suite {s.name}: plan 1..{s.plan} but {n} results")
            missing += max(0, s.plan - n)
        for i, (num, ok, name, skip) in enumerate(s.results):
            if num != i + 1:
                v.problems.append(f"suite {s.name}: result {num} out of order (expected {i + 1})")
            if skip:
                v.skipped += 1
            elif ok:
                v.passed += 1
            else:
                v.failed += 1
    if start is not None:
        if top_plan is None:
            v.problems.append("no top-level plan")
        elif len(top_results) != top_plan:
            v.problems.append(f"plan 1..{top_plan} but {len(top_results)} suite results")
            missing += max(0, top_plan - len(top_results))
        for s, (num, ok, name, skip) in zip(suites, top_results):
            cases_ok = all(r[1] or r[3] for r in s.results) and len(s.results) == s.plan
            if ok and not cases_ok:
                v.problems.append(f"suite {s.name} reported ok but has failed or missing cases")
    v.failed += missing

    if timed_out:
        v.problems.append(f"timeout: no exit after {timeout:g} s")
    elif exit_status == 0:
        v.problems.append("QEMU exited 0: triple fault or reset (the kernel never exits 0)")
    elif exit_status != QEMU_SUCCESS:
        v.problems.append(f"QEMU exit status {exit_status} (success is {QEMU_SUCCESS})")

    if v.problems and v.failed == 0:
        v.failed = 1
    return v


def _parse_ktap(lines, v):
    suites, top_plan, top_results = [], None, []
    current = None
    for l in lines:
        if l.startswith(INDENT):
            body = l[len(INDENT) :]
            if body == "KTAP version 1":
                current = _Suite(name=f"#{len(suites) + 1}")
                suites.append(current)
                continue
            if current is None:
                continue
            if body.startswith("# Subtest: "):
                current.name = body[len("# Subtest: ") :].strip()
            elif PLAN_RE.match(body):
                current.plan = int(PLAN_RE.match(body).group(1))
            elif RESULT_RE.match(body):
                m = RESULT_RE.match(body)
                current.results.append((int(m.group(2)), m.group(1) == "ok", m.group(3), m.group(4) == "SKIP"))
        else:
            m = PLAN_RE.match(l)
            if m and top_plan is None:
                top_plan = int(m.group(1))
                continue
            m = RESULT_RE.match(l)
            if m:
                top_results.append((int(m.group(2)), m.group(1) == "ok", m.group(3), m.group(4) == "SKIP"))
                current = None
    return suites, top_plan, top_results


def qemu_command(args):
    cmd = [args.qemu, "-m", args.mem, "-display", "none", "-monitor", "none",
           "-serial", "stdio", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if args.iso:
        cmd += ["-cdrom", args.iso, "-boot", "d"]
    else:
        cmd += ["-kernel", args.kernel]
        if args.append:
            cmd += ["-append", args.append]
    if args.icount:
        cmd += ["-icount", "shift=0"]
    return cmd


def run(args, echo=sys.stdout):
    """Boot once; returns (Verdict, console lines)."""
    cmd = qemu_command(args)
    log = open(args.log, "w") if args.log else None
    lines, partial = [], b""
    start = time.monotonic()
    timed_out = False
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    fd = proc.stdout.fileno()
    try:
        while True:
            left = args.timeout - (time.monotonic() - start)
            if left <= 0:
                timed_out = True
                proc.kill()
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            partial += chunk
            *complete, partial = partial.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                lines.append(line)
                if echo:
                    echo.write(line + "\n")
                    echo.flush()
                if log:
                    log.write(line + "\n")
    finally:
        if partial:
            lines.append(partial.decode("utf-8", "replace"))
            if log:
                log.write(lines[-1] + "\n")
        status = proc.wait()
        if log:
            log.close()
    return judge(lines, status, timed_out, args.timeout), lines


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--kernel", help="multiboot ELF, booted with -kernel")
    what.add_argument("--iso", help="GRUB ISO, booted with -cdrom")
    p.add_argument("--mem", default="256M", help="guest RAM (QEMU -m)")
    p.add_argument("--append", default="", help="kernel command line (not with --iso)")
    p.add_argument("--timeout", type=float, default=300, help="seconds before the run is killed")
    p.add_argument("--log", help="also write the console to this file")
    p.add_argument("--quiet", action="store_true", help="do not echo the console")
    p.add_argument("--icount", action="store_true", help="-icount shift=0: rdtsc counts instructions")
    p.add_argument("--qemu", default="qemu-system-i386")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.log:
        os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
    verdict, _ = run(args, echo=None if args.quiet else sys.stdout)
    for problem in verdict.problems:
        print(f"run_qemu: FAIL: {problem}")
    if args.log:
        print(f"run_qemu: console log in {args.log}")
    print(verdict.summary())
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
