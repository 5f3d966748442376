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
import math
import os
import re
import select
import shutil
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


def judge(lines, exit_status, timed_out=False, timeout=None):
    """Judge a run from its console lines and QEMU's exit status."""
    v = Verdict()
    lines = [l.rstrip("\r\n").replace("\r", "") for l in lines]

    for l in lines:
        if any(m in l for m in CRASH_MARKERS):
            v.problems.append(f"kernel crashed: {l.strip()}")
            break

    if "KTAP version 1" in lines:
        _KtapJudge(v).read(lines[lines.index("KTAP version 1") + 1 :])
    else:
        v.problems.append("no KTAP output (no 'KTAP version 1' line)")

    if timed_out:
        v.problems.append(f"timeout: no exit after {timeout:g} s")
    elif exit_status == 0:
        v.problems.append("QEMU exited 0: triple fault or reset (the kernel never exits 0)")
    elif exit_status != QEMU_SUCCESS:
        v.problems.append(f"QEMU exit status {exit_status} (success is {QEMU_SUCCESS})")

    if v.problems and v.failed == 0:
        v.failed = 1
    return v


class _KtapJudge:
    """Reads the KTAP after its first header strictly: the top-level plan
    before any suite; each suite a block of its own (header, '# Subtest:',
    plan, results numbered 1..n in order) closed by one top-level result that
    carries the suite's number and name and agrees with its cases.  Lines
    that are neither (the kernel's own diagnostics) are left alone."""

    def __init__(self, verdict):
        self.v = verdict
        self.top_plan = None
        self.suites_closed = 0
        self.block = None  # the open suite block: dict(name, plan, results)
        self.stray = False

    def read(self, lines):
        for l in lines:
            if l.startswith(INDENT):
                self._indented(l[len(INDENT) :])
            else:
                self._top(l)
        if self.block is not None:
            self._close_missing()
        if self.top_plan is None:
            self.v.problems.append("no top-level plan")
        elif self.suites_closed != self.top_plan:
            self.v.problems.append(f"plan 1..{self.top_plan} but {self.suites_closed} suite results")
            self.v.failed += max(0, self.top_plan - self.suites_closed)

    def _top(self, l):
        if l == "KTAP version 1":
            self.v.problems.append("a second top-level 'KTAP version 1' header")
            return
        m = PLAN_RE.match(l)
        if m:
            if self.top_plan is not None or self.suites_closed or self.block is not None:
                self.v.problems.append(f"top-level plan '{l}' after the first")
            else:
                self.top_plan = int(m.group(1))
            return
        m = RESULT_RE.match(l)
        if m:
            self._suite_result(int(m.group(2)), m.group(1) == "ok", m.group(3) or "", m.group(4))

    def _indented(self, body):
        if body == "KTAP version 1":
            if self.block is not None:
                self._close_missing()
            if self.top_plan is None:
                self.v.problems.append("a suite block before the top-level plan")
            self.block = {"name": f"#{self.suites_closed + 1}", "plan": None, "results": []}
            return
        is_ktap = body.startswith("# Subtest: ") or PLAN_RE.match(body) or RESULT_RE.match(body)
        if self.block is None:
            if is_ktap and not self.stray:
                self.stray = True
                self.v.problems.append(f"suite lines outside a block (no 'KTAP version 1' header): '{body}'")
            m = RESULT_RE.match(body)
            if m and m.group(1) == "not ok":
                self.v.failed += 1
            return
        b = self.block
        m = RESULT_RE.match(body)
        if body.startswith("# Subtest: "):
            b["name"] = body[len("# Subtest: ") :].strip()
        elif PLAN_RE.match(body):
            if b["plan"] is not None or b["results"]:
                self.v.problems.append(f"suite {b['name']}: a second plan '{body}'")
            else:
                b["plan"] = int(PLAN_RE.match(body).group(1))
        elif m:
            number, ok, skip = int(m.group(2)), m.group(1) == "ok", m.group(4) == "SKIP"
            if number != len(b["results"]) + 1:
                self.v.problems.append(
                    f"suite {b['name']}: result {number} out of order (expected {len(b['results']) + 1})")
            b["results"].append((ok, skip))
            if skip and ok:
                self.v.skipped += 1
            elif ok:
                self.v.passed += 1
            else:
                self.v.failed += 1

    def _suite_result(self, number, ok, name, directive):
        self.suites_closed += 1
        b, self.block = self.block, None
        if number != self.suites_closed:
            self.v.problems.append(f"suite result {number} out of order (expected {self.suites_closed})")
        if b is None:
            self.v.problems.append(f"suite result '{number} {name}' without a suite block")
            if not ok:
                self.v.failed += 1
            return
        if name != b["name"]:
            self.v.problems.append(f"suite result {number} is named '{name}' but its block is '{b['name']}'")
        n = len(b["results"])
        if b["plan"] is None:
            self.v.problems.append(f"suite {b['name']}: no plan")
        elif n != b["plan"]:
            self.v.problems.append(f"suite {b['name']}: plan 1..{b['plan']} but {n} results")
            self.v.failed += max(0, b["plan"] - n)
        cases_ok = all(r[0] for r in b["results"]) and n == b["plan"]
        if ok and not cases_ok:
            self.v.problems.append(f"suite {b['name']} reported ok but has failed or missing cases")
        if not ok and cases_ok:
            self.v.problems.append(f"suite {b['name']} reported not ok but every case is ok")
        if directive == "SKIP" and not all(r[1] for r in b["results"]):
            self.v.problems.append(f"suite {b['name']} reported skipped but ran cases")

    def _close_missing(self):
        b = self.block
        self.v.problems.append(f"suite {b['name']}: no top-level result")
        if b["plan"] is not None:
            self.v.failed += max(0, b["plan"] - len(b["results"]))
        self.block = None


class UsageError(Exception):
    """A command line the runner cannot carry out: reported in one line."""


def check_args(args):
    """Refuses what the runner cannot honour, before QEMU starts."""
    if args.iso and args.append:
        raise UsageError("--append cannot be used with --iso: the ISO's command line is in "
                         "boot/grub.cfg (boot with --kernel to pass one)")
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout}: needs a positive number of seconds")
    image = args.iso or args.kernel
    if not os.path.isfile(image):
        raise UsageError(f"{image}: no such file (run make first)")
    if shutil.which(args.qemu) is None:
        raise UsageError(f"--qemu {args.qemu}: no such program")
    if args.smp is not None and not re.fullmatch(r"[1-9]\d*(,[a-z]+=\d+)*", args.smp):
        raise UsageError(f"--smp {args.smp}: needs a CPU count, as QEMU takes it (4, 4,sockets=4)")


def open_log(path):
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return open(path, "w")
    except OSError as e:
        raise UsageError(f"--log {path}: {e.strerror}") from None


def qemu_command(args):
    # Interactive: the terminal's keys go to the guest's UART, Ctrl-C included.
    serial = (["-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"]
              if getattr(args, "interactive", False) else ["-serial", "stdio"])
    cmd = [args.qemu, "-m", args.mem, "-display", "none", "-monitor", "none"] + serial + \
          ["-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if args.machine:
        cmd += ["-machine", args.machine]
    if args.accel:
        cmd += ["-accel", args.accel]
    if args.cpu:
        cmd += ["-cpu", args.cpu]
    if args.smp is not None:
        cmd += ["-smp", str(args.smp)]
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
    """Boot once; returns (Verdict, console lines).  Raises UsageError for a
    command line it cannot carry out."""
    check_args(args)
    cmd = qemu_command(args)
    log = open_log(args.log) if args.log else None
    lines, partial = [], b""
    start = time.monotonic()
    timed_out = False
    try:
        interactive = getattr(args, "interactive", False)
        proc = subprocess.Popen(cmd, stdin=None if interactive else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        if log:
            log.close()
        raise UsageError(f"cannot start {args.qemu}: {e.strerror}") from None
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
            if echo and interactive:  # as it comes: a prompt has no newline
                echo.buffer.write(chunk)
                echo.flush()
            partial += chunk
            *complete, partial = partial.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                lines.append(line)
                if echo and not interactive:
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
    p.add_argument("--interactive", action="store_true",
                   help="this terminal's input goes to the guest's serial port (the shell)")
    p.add_argument("--cpu", help="CPU model (QEMU -cpu), e.g. 486 or pentium,-pse")
    p.add_argument("--smp", help="CPUs (QEMU -smp), e.g. 4 or 4,sockets=4")
    p.add_argument("--machine", help="machine type and options (QEMU -machine), e.g. pc,acpi=off")
    p.add_argument("--accel", help="accelerator (QEMU -accel), e.g. tcg,thread=multi: CPUs in parallel")
    p.add_argument("--qemu", default="qemu-system-i386")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        verdict, _ = run(args, echo=None if args.quiet else sys.stdout)
    except UsageError as e:
        print(f"run_qemu: error: {e}", file=sys.stderr)
        return 2
    for problem in verdict.problems:
        print(f"run_qemu: FAIL: {problem}")
    if args.log:
        print(f"run_qemu: console log in {args.log}")
    print(verdict.summary())
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
