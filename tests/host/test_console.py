#!/usr/bin/env python3
"""Tests of the ways to look inside the running kernel: the serial shell
(kernel/shell.c) driven through QEMU's serial port, the map renderer
(tools/render_map.py) on a recorded dump, and the gdb helpers
(tests/gdb/arena386.py) run by a batch-mode gdb against a kernel stopped at
a breakpoint.

Last line: "N passed, N failed".
"""
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = "build"
PROMPT = b"arena386> "
MAP_DUMP = os.path.join(HERE, "data", "map_dump.txt")
DEMO_APPEND = "test=none demo=map arena_step=4M arena_limit=64M"


def qemu(append, extra=(), stdin=subprocess.PIPE, serial=("-serial", "stdio")):
    cmd = ["qemu-system-i386", "-m", "128M", "-smp", "2", "-display", "none",
           "-monitor", "none", *serial, "-no-reboot",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-kernel", os.path.join(BUILD, "kernel.elf"), "-append", append, *extra]
    return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


class Session:
    """The kernel at its prompt, over QEMU's serial port on stdin/stdout."""

    def __init__(self):
        self.proc = qemu("test=none shell=1")
        self.out = b""
        self.read_until(PROMPT, 60)

    def read_until(self, marker, timeout=30):
        """Output up to and including the next 'marker' after what was read."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while marker not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} within {timeout} s; got "
                                     f"{self.out[-600:]!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"QEMU ended before {marker!r}: {self.out[-600:]!r}")
                self.out += chunk
        text, _, self.out = self.out.partition(marker)
        return text.decode("utf-8", "replace").replace("\r", "")

    def send(self, data):
        self.proc.stdin.write(data if isinstance(data, bytes) else data.encode())
        self.proc.stdin.flush()

    def run(self, line, timeout=60):
        """What 'line' printed, up to the next prompt (its echo first)."""
        self.send(line + "\r")
        return self.read_until(PROMPT, timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Shell(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Session()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_help_lists_every_command(self):
        out = self.s.run("help")
        for name in ("help", "mem", "vm", "arena", "heap", "cpus", "alloc", "free", "trim",
                     "check", "test", "bench", "fault", "halt"):
            self.assertRegex(out, rf"\n  {name} ", name)

    def test_mem_counts_frames_and_each_cpus_cache(self):
        out = self.s.run("mem")
        self.assertRegex(out, r"frames: \d+ total, \d+ free, \d+ reserved")
        self.assertIn("cpu 0 caches", out)
        self.assertIn("cpu 1 caches", out)
        self.assertIn("usage: mem", self.s.run("mem now"))

    def test_vm_prints_the_map_and_its_raw_form(self):
        out = self.s.run("vm")
        for owner in ("kernel", "heap metadata", "arena", "mmio", "page tables"):
            self.assertIn(owner, out)
        raw = self.s.run("vm raw")
        self.assertIn("map begin", raw)
        self.assertIn("map end", raw)
        self.assertRegex(raw, r"map region 0xfec00000 0xffc00000 mmio \d+")
        self.assertRegex(raw, r"map arena 0x[0-9a-f]+ 0x[0-9a-f]+ 0x[0-9a-f]+ 0x[0-9a-f]+")
        self.assertIn("the only argument is raw", self.s.run("vm cooked"))
        self.assertIn("usage: vm [raw]", self.s.run("vm raw raw"))

    def test_arena_summarizes_arena_and_page_heap(self):
        out = self.s.run("arena")
        self.assertIn("arena kernel: start", out)
        self.assertIn("pageheap kernel:", out)

    def test_heap_shows_classes_and_each_cpu(self):
        self.s.run("alloc 40 2")
        out = self.s.run("heap")
        self.assertRegex(out, r"heap: \d+ KiB in use")
        self.assertRegex(out, r"\n\s+40\s+\d+\s+\d+")  # the class of 40 bytes has a row
        self.assertIn("cached per cpu", out)
        self.s.run("free all")

    def test_cpus_lists_each_cpu_and_its_caches(self):
        out = self.s.run("cpus")
        self.assertIn("cpus: 2 online", out)
        self.assertRegex(out, r"cpu 1 \(APIC id 1\): \d+ frames cached, \d+ free objects")

    def test_alloc_and_free_keep_a_numbered_table(self):
        self.s.run("free all")
        out = self.s.run("alloc 100K 3")
        ids = re.findall(r"#(\d+) (0x[0-9a-f]+) 102400 bytes", out)
        self.assertEqual(len(ids), 3, out)
        self.assertIn("arena: used", out)
        out = self.s.run(f"free {ids[1][0]}")
        self.assertIn(f"#{ids[1][0]} {ids[1][1]} freed", out)
        self.assertIn("no block", self.s.run(f"free {ids[1][0]}"))  # twice
        self.assertIn("no block", self.s.run("free 999"))
        self.assertIn("no block", self.s.run("free x"))
        self.assertIn("usage: free ID|all", self.s.run("free"))
        out = self.s.run("free all")
        self.assertEqual(len(re.findall(r"freed", out)), 2, out)

    def test_alloc_refuses_bad_arguments(self):
        self.assertIn("SIZE 'zz' is not a size", self.s.run("alloc zz"))
        self.assertIn("SIZE '0' is not a size", self.s.run("alloc 0"))
        self.assertIn("SIZE '9G' is not a size", self.s.run("alloc 9G"))
        self.assertIn("COUNT '0' is not a number", self.s.run("alloc 8 0"))
        self.assertIn("COUNT '65' is not a number", self.s.run("alloc 8 65"))
        self.assertIn("usage: alloc SIZE [COUNT]", self.s.run("alloc"))

    def test_alloc_stops_at_a_full_table(self):
        self.s.run("free all")
        for _ in range(2):
            self.s.run("alloc 16 64")
        self.assertIn("the table is full", self.s.run("alloc 16"))
        out = self.s.run("free all")
        self.assertEqual(len(re.findall(r"freed", out)), 128)

    def test_trim_and_check(self):
        self.assertRegex(self.s.run("trim"), r"trim: \d+ KiB given back")
        self.assertIn("check: the heap is whole", self.s.run("check", 120))

    def test_test_runs_a_suite_and_refuses_an_unknown_one(self):
        out = self.s.run("test ratelimit", 120)
        self.assertRegex(out, r"test: [1-9]\d* passed, 0 failed")
        self.assertIn("names no suite", self.s.run("test nosuch"))

    def test_bench_runs_one_and_refuses_an_unknown_one(self):
        self.assertIn("bench calibrate_loop", self.s.run("bench calibrate", 120))
        self.assertIn("names no benchmark", self.s.run("bench nosuch"))

    def test_fault_is_reported_and_survived(self):
        out = self.s.run("fault")
        self.assertIn("page fault at 00000000 (not-present read, kernel mode)", out)
        self.assertIn("the shell goes on", out)
        self.assertIn("cpus: 2 online", self.s.run("cpus"))

    def test_unknown_command_and_too_many_arguments(self):
        self.assertIn("frobnicate: unknown command (help lists them)", self.s.run("frobnicate"))
        self.assertIn("too many arguments", self.s.run("free 1 2 3 4 5 6 7 8 9 10"))
        self.assertEqual(self.s.run("").strip(), "")  # an empty line: the prompt again

    def test_line_editing(self):
        # Backspace (DEL and BS) erases a character; Ctrl-U the line.
        self.assertIn("cpus: 2 online", self.s.run("cpux\x7fs"))
        self.assertIn("cpus: 2 online", self.s.run("cpux\x08s"))
        self.assertIn("cpus: 2 online", self.s.run("halt now\x15cpus"))
        # Ctrl-C abandons the line: nothing runs (halt would end QEMU).
        self.s.send("halt\x03")
        out = self.s.read_until(PROMPT)
        self.assertIn("^C", out)
        self.assertIn("cpus: 2 online", self.s.run("cpus"))
        # An arrow key's escape sequence is ignored whole.
        self.assertIn("cpus: 2 online", self.s.run("\x1b[Acpus"))

    def test_input_typed_while_a_command_runs_is_kept(self):
        # Three commands at once: the later two arrive while check runs.
        self.s.send("check\rcpus\rmem\r")
        first = self.s.read_until(PROMPT, 120)
        self.assertIn("the heap is whole", first)
        self.assertIn("cpus: 2 online", self.s.read_until(PROMPT))
        self.assertIn("frames:", self.s.read_until(PROMPT))

    def test_zz_halt_leaves_with_the_success_exit(self):  # last: it ends the session
        self.s.send("halt\r")
        self.assertIn(b"leaving with the success exit", self.s.proc.stdout.read())
        self.assertEqual(self.s.proc.wait(timeout=30), 33)


class ShellStart(unittest.TestCase):
    def test_without_a_uart_the_run_does_not_wait(self):
        # No serial port at all: the shell says so (to no one) and the run
        # ends with the self-tests' exit instead of waiting for input.
        p = qemu("test=none shell=1", serial=("-serial", "none"), stdin=subprocess.DEVNULL)
        try:
            self.assertEqual(p.wait(timeout=60), 33)
        finally:
            if p.poll() is None:
                p.kill()

    def test_make_run_starts_the_shell_only_on_a_terminal(self):
        out = subprocess.run(["make", "-n", "run"], cwd=TOP, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True).stdout
        self.assertNotIn("shell=1", out)
        self.assertNotIn("--interactive", out)


def render(dump, out):
    return subprocess.run(["/usr/bin/python3", os.path.join(TOP, "tools", "render_map.py"),
                           dump, out], capture_output=True, text=True)


@unittest.skipUnless(os.path.exists("/usr/bin/python3"), "no Debian python3")
class MapRenderer(unittest.TestCase):
    def test_the_picture_holds_every_region_of_the_dump(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "map")
            r = render(MAP_DUMP, out)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreater(os.path.getsize(out + ".png"), 10000)
            svg = open(out + ".svg").read()
            dump = open(MAP_DUMP).read()
            regions = re.findall(r"^map region (0x[0-9a-f]+|0) ", dump, re.M)
            spans = re.findall(r"^map span (0x[0-9a-f]+) ", dump, re.M)
            ranges = re.findall(r"^map arena-range (0x[0-9a-f]+) ", dump, re.M)
            self.assertGreaterEqual(len(ranges), 2)  # the demo's fallback
            for start in regions:
                self.assertIn(f'id="region-{int(start, 16):#x}"', svg)
            for start in spans:
                self.assertIn(f'id="span-{start}"', svg)
            for base in ranges:
                self.assertIn(f'id="range-{base}"', svg)
            names = {"small": "small-object spans", "large": "large blocks",
                     "free": "free, mapped", "partly-released": "partly released",
                     "released": "released to the frame pool", "hole": "never handed out"}
            for state in set(re.findall(r"^map span \S+ \S+ (\S+)", dump, re.M)):
                self.assertIn(names[state], svg)  # in the legend
            for owner in ("kernel", "heap metadata", "mmio", "page tables", "fallback"):
                self.assertIn(owner, svg)

    def test_a_log_without_a_map_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            junk = os.path.join(tmp, "junk.log")
            with open(junk, "w") as f:
                f.write("arena386: booting\n")
            r = render(junk, os.path.join(tmp, "map"))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not a map dump", r.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(shutil.which("gdb"), "no gdb")
class GdbHelpers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.qemu = qemu(DEMO_APPEND, extra=("-gdb", f"tcp:127.0.0.1:{port}", "-S"),
                        stdin=subprocess.DEVNULL)
        cmds = ["set architecture i386", "set pagination off",
                f"file {os.path.join(BUILD, 'kernel.elf')}",
                f"source {os.path.join(TOP, 'tests', 'gdb', 'arena386.py')}",
                f"target remote 127.0.0.1:{port}", "break shell_print_map", "continue",
                "echo @@arena\\n", "arena", "echo @@vmmap\\n", "vmmap", "echo @@heap\\n",
                "heap", "echo @@cpus\\n", "cpus",
                "echo @@live\\n", "span 'map_demo.c'::small[0]",
                "echo @@interior\\n", "span 'map_demo.c'::small[0]+4",
                "echo @@cached\\n", "span 'map_demo.c'::small[1]",
                "echo @@large\\n", "span 'map_demo.c'::held[3]+8192",
                "echo @@outside\\n", "span 0x1000", "echo @@usage\\n", "span",
                "echo @@end\\n", "kill"]
        args = ["gdb", "-batch", "-nx"]
        for c in cmds:
            args += ["-ex", c]
        out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=180)
        cls.out = out.stdout
        cls.qemu.kill()
        cls.qemu.wait()
        cls.parts = dict(re.findall(r"@@(\w+)\n(.*?)(?=@@)", cls.out, re.S))

    def part(self, name):
        self.assertIn(name, self.parts, self.out[-2000:])
        return self.parts[name]

    def test_arena(self):
        out = self.part("arena")
        self.assertRegex(out, r"arena: \[0x10000000, 0x[0-9a-f]+\) handed out")
        self.assertIn("1 fallbacks", out)
        self.assertIn("reservation 1:", out)

    def test_vmmap(self):
        out = self.part("vmmap")
        for owner in ("kernel", "heap metadata", "arena", "other", "mmio", "page tables"):
            self.assertIn(owner, out)

    def test_heap(self):
        out = self.part("heap")
        self.assertRegex(out, r"heap: \d+ classes, 2 CPUs")
        self.assertRegex(out, r"\n\s+24\s+\d+\s+\d+\s+\d+ \d+")

    def test_cpus(self):
        out = self.part("cpus")
        self.assertIn("cpus: 2 online", out)
        self.assertRegex(out, r"cpu 0 \(APIC id 0\): \d+ frames cached, 1 free objects")

    def test_span(self):
        self.assertIn("live (held by a caller)", self.part("live"))
        self.assertRegex(self.part("interior"), r"\(offset 4\): live")
        self.assertIn("free, cached on CPU 0's list", self.part("cached"))
        self.assertIn("a large block at", self.part("large"))
        self.assertIn("is not in the arena", self.part("outside"))
        self.assertIn("usage: span ADDR", self.part("usage"))


def main():
    from test_runner import run_module
    return run_module(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
