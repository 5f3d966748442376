#!/usr/bin/env python3
"""Tests of tests/run_qemu.py: its judgement on recorded console logs, and on
real kernel runs that fail on purpose (a failing suite, a panic, a CPU
exception, a stack overflow, a triple fault, a hang).

Last line: "N passed, N failed".
"""
import argparse
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import check_layers  # noqa: E402
import run_qemu  # noqa: E402

BUILD = "build"

GOOD_LOG = """\
arena386: booting
KTAP version 1
# seed=1
1..2
    KTAP version 1
    # Subtest: alpha
    1..2
    ok 1 first
    ok 2 second
ok 1 alpha
    KTAP version 1
    # Subtest: beta
    1..1
    ok 1 only # SKIP not here
ok 2 beta
"""


def judge(text, status=33, **kw):
    return run_qemu.judge(text.splitlines(), status, **kw)


class JudgeRecordedLogs(unittest.TestCase):
    def test_complete_run_passes(self):
        v = judge(GOOD_LOG)
        self.assertTrue(v.ok, v.problems)
        self.assertEqual((v.passed, v.failed, v.skipped), (2, 0, 1))
        self.assertEqual(v.summary(), "2 passed, 0 failed, 1 skipped")

    def test_carriage_returns_are_ignored(self):
        self.assertTrue(judge(GOOD_LOG.replace("\n", "\r\n")).ok)

    def test_not_ok_case_is_a_failure(self):
        v = judge(GOOD_LOG.replace("    ok 2 second", "    not ok 2 second").replace("ok 1 alpha", "not ok 1 alpha"), 3)
        self.assertFalse(v.ok)
        self.assertEqual((v.passed, v.failed), (1, 1))

    def test_suite_plan_mismatch(self):
        v = judge(GOOD_LOG.replace("    1..2", "    1..3"))
        self.assertFalse(v.ok)
        self.assertIn("suite alpha: plan 1..3 but 2 results", v.problems)
        self.assertEqual(v.failed, 1)  # the missing case

    def test_top_level_plan_mismatch(self):
        v = judge(GOOD_LOG.replace("\n1..2\n", "\n1..3\n"))
        self.assertFalse(v.ok)
        self.assertIn("plan 1..3 but 2 suite results", v.problems)

    def test_missing_result_truncated_log(self):
        truncated = GOOD_LOG.split("    ok 2 second")[0]
        v = judge(truncated, 0)
        self.assertFalse(v.ok)
        self.assertGreaterEqual(v.failed, 1)

    def test_suite_ok_despite_failed_case_is_caught(self):
        v = judge(GOOD_LOG.replace("    ok 2 second", "    not ok 2 second"))
        self.assertFalse(v.ok)
        self.assertIn("suite alpha reported ok but has failed or missing cases", v.problems)

    def test_panic_line_fails_the_run(self):
        v = judge(GOOD_LOG + "KERNEL PANIC at mm/x.c:1: boom\n")
        self.assertFalse(v.ok)
        self.assertTrue(any("kernel crashed" in p for p in v.problems))

    def test_triple_fault_exit_zero_fails(self):
        v = judge(GOOD_LOG, 0)
        self.assertFalse(v.ok)
        self.assertTrue(any("triple fault" in p for p in v.problems))

    def test_timeout_fails(self):
        v = judge(GOOD_LOG, -9, timed_out=True, timeout=5)
        self.assertFalse(v.ok)
        self.assertIn("timeout: no exit after 5 s", v.problems)

    def test_no_ktap_fails(self):
        v = judge("arena386: booting\n", 33)
        self.assertFalse(v.ok)
        self.assertEqual(v.failed, 1)

    def test_failure_exit_with_all_ok_fails(self):
        self.assertFalse(judge(GOOD_LOG, 3).ok)

    def test_suite_not_ok_with_every_case_ok_is_caught(self):
        v = judge(GOOD_LOG.replace("ok 1 alpha", "not ok 1 alpha"))
        self.assertFalse(v.ok)
        self.assertIn("suite alpha reported not ok but every case is ok", v.problems)

    def test_suite_block_without_header_is_caught(self):
        headless = GOOD_LOG.replace("    KTAP version 1\n    # Subtest: beta", "    # Subtest: beta", 1)
        v = judge(headless.replace("    ok 1 only # SKIP not here", "    not ok 1 only"), 33)
        self.assertFalse(v.ok)
        self.assertTrue(any("outside a block" in p for p in v.problems), v.problems)
        self.assertGreaterEqual(v.failed, 1)  # its not ok still counts

    def test_top_level_numbers_out_of_order_are_caught(self):
        v = judge(GOOD_LOG.replace("ok 2 beta", "ok 3 beta"))
        self.assertFalse(v.ok)
        self.assertIn("suite result 3 out of order (expected 2)", v.problems)

    def test_top_level_name_must_match_its_block(self):
        v = judge(GOOD_LOG.replace("ok 2 beta", "ok 2 gamma"))
        self.assertFalse(v.ok)
        self.assertIn("suite result 2 is named 'gamma' but its block is 'beta'", v.problems)

    def test_case_numbers_out_of_order_are_caught(self):
        v = judge(GOOD_LOG.replace("    ok 2 second", "    ok 3 second"))
        self.assertFalse(v.ok)
        self.assertIn("suite alpha: result 3 out of order (expected 2)", v.problems)

    def test_block_without_its_top_level_result_is_caught(self):
        v = judge(GOOD_LOG.replace("ok 1 alpha\n", "", 1))
        self.assertFalse(v.ok)
        self.assertIn("suite alpha: no top-level result", v.problems)

    def test_suite_result_without_a_block_is_caught(self):
        v = judge(GOOD_LOG.replace("\n1..2\n", "\n1..3\n") + "ok 3 ghost\n")
        self.assertFalse(v.ok)
        self.assertIn("suite result '3 ghost' without a suite block", v.problems)

    def test_second_top_level_plan_is_caught(self):
        v = judge(GOOD_LOG + "1..5\n")
        self.assertFalse(v.ok)
        self.assertTrue(any("after the first" in p for p in v.problems), v.problems)

    def test_empty_run_passes_only_with_its_plan(self):
        self.assertTrue(judge("KTAP version 1\n1..0\n").ok)
        self.assertFalse(judge("KTAP version 1\n").ok)

    def test_skipped_suite_is_counted(self):
        log = GOOD_LOG.replace("ok 2 beta", "ok 2 beta # SKIP every case skipped")
        v = judge(log)
        self.assertTrue(v.ok, v.problems)
        self.assertEqual(v.skipped, 1)


class LayerCheck(unittest.TestCase):
    """tests/check_layers.py refuses an include that reaches up or around."""

    def tree(self, files):
        import tempfile
        root = tempfile.mkdtemp()
        for path, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        return root

    def test_this_tree_keeps_its_layers(self):
        files, bad = check_layers.check(os.path.dirname(os.path.dirname(HERE)))
        self.assertGreater(files, 40)
        self.assertEqual(bad, [])

    def test_forbidden_includes_are_found(self):
        root = self.tree({
            "mm/arena.c": '#include "mm/arena.h"\n#include "lib/format.h"\n',
            "mm/kmalloc.c": '#include "arch/host/vm_host.h"\n',
            "mm/mm_env.h": '#include "lib/console.h"\n#include "arch/i386/env.h"\n'
                           '#include "kernel/console.h"\n',
            "lib/ratelimit.c": '#include "kernel/console.h"\n',
            "arch/i386/env.h": '#include "lib/string.h"\n#include "kernel/string.h"\n',
            "arch/i386/vm_backend.c": '#include "mm/vm_backend.h"\n#include "mm/kheap.h"\n',
            "arch/host/setup.c": '#include "mm/kheap.h"\n',
            "kernel/kmain.c": '#include "mm/kmalloc.h"\n#include "tests/ktest.h"\n',
        })
        files, bad = check_layers.check(root)
        self.assertEqual(files, 8)
        self.assertEqual(sorted(bad), sorted([
            ("mm/arena.c", "lib/format.h"),
            ("mm/kmalloc.c", "arch/host/vm_host.h"),
            ("mm/mm_env.h", "kernel/console.h"),
            ("lib/ratelimit.c", "kernel/console.h"),
            ("arch/i386/env.h", "kernel/string.h"),
            ("arch/i386/vm_backend.c", "mm/kheap.h"),
        ]))
        self.assertEqual(check_layers.main(["--root", root]), 1)


def boot(append, timeout=60, mem="64M", cpu=None, smp=None, machine=None):
    argv = ["--kernel", os.path.join(BUILD, "kernel.elf"), "--mem", mem, "--append", append,
            "--timeout", str(timeout), "--quiet"]
    if cpu:
        argv += ["--cpu", cpu]
    if smp:
        argv += ["--smp", smp]
    if machine:
        argv += ["--machine", machine]
    return run_qemu.run(run_qemu.parser().parse_args(argv), echo=None)


def runner(*argv):
    """run_qemu.py as a user runs it: (exit status, stdout, stderr)."""
    p = subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), "run_qemu.py"), *argv],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


class RealKernelRuns(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(BUILD, "kernel.elf")):
            self.fail("build/kernel.elf is missing: run make first")

    def test_failing_expectation_reported_with_both_values(self):
        v, lines = boot("test=ktest_must_fail")
        self.assertFalse(v.ok)
        self.assertEqual((v.passed, v.failed, v.skipped), (3, 3, 1))
        text = "\n".join(lines)
        self.assertIn("    not ok 1 fails_expect_eq", text)
        self.assertIn("expected answer == 42", text)
        self.assertIn("answer == 41 (0x29)", text)
        self.assertIn("42 == 42 (0x2a)", text)
        self.assertIn('"left" == "left"', text)
        self.assertIn("not ok 1 ktest_must_fail", text)
        # The case abandoned by its ASSERT gave back what it deferred.
        self.assertIn("    not ok 4 assert_fails_holding_something", text)
        self.assertIn("    ok 5 what_the_failed_case_held_came_back", text)
        # So did a skipped one, and the suite's per-case tear-down ran.
        self.assertIn("    ok 6 skipped_case_defers_two_actions # SKIP deliberately", text)
        self.assertIn("    ok 7 the_skipped_case_was_torn_down", text)

    def test_arena_base_in_the_metadata_is_moved_with_a_message(self):
        v, lines = boot("test=none arena_base=8M")
        self.assertTrue(v.ok, v.problems)
        self.assertTrue(any(l.startswith("arena: 0x00800000 is taken (the heap's metadata is at")
                            and "the arena starts at 0x" in l for l in lines), lines)

    def test_selected_suite_runs_alone(self):
        v, lines = boot("test=format")
        self.assertTrue(v.ok, v.problems)
        self.assertIn("1..1", lines)

    def test_test_none_runs_nothing(self):
        v, lines = boot("test=none")
        self.assertTrue(v.ok, v.problems)
        self.assertEqual(v.passed, 0)
        self.assertIn("1..0", lines)

    def test_panic_is_a_failure(self):
        v, lines = boot("crash=panic")
        self.assertFalse(v.ok)
        self.assertTrue(any("KERNEL PANIC at kernel/kmain.c" in l for l in lines))

    def test_unexpected_page_fault_is_reported(self):
        v, lines = boot("crash=fault")
        self.assertFalse(v.ok)
        text = "\n".join(lines)
        self.assertIn("CPU EXCEPTION 14 (Page Fault)", text)
        self.assertIn("page fault at 00000000: not-present write, kernel mode", text)
        for reg in ("eip ", "eflags ", "eax ", "esp ", "cr0 ", "cr2 00000000", "cr3 "):
            self.assertIn(reg, text)

    def test_stack_overflow_is_reported_not_a_triple_fault(self):
        v, lines = boot("crash=overflow")
        self.assertFalse(v.ok)
        text = "\n".join(lines)
        self.assertIn("CPU EXCEPTION 8 (Double Fault)", text)
        self.assertIn("kernel stack overflow", text)

    def test_triple_fault_is_a_failure(self):
        v, _ = boot("crash=triple")
        self.assertFalse(v.ok)
        self.assertTrue(any("triple fault" in p for p in v.problems), v.problems)

    def test_hang_times_out(self):
        v, _ = boot("crash=hang", timeout=3)
        self.assertFalse(v.ok)
        self.assertIn("timeout: no exit after 3 s", v.problems)

    def test_cpus_are_found_in_the_madt_and_the_mp_table(self):
        for smp, machine, says in (("1", None, "cpus: 1 in the ACPI MADT, APIC ids 0"),
                                   ("2", None, "cpus: 2 in the ACPI MADT, APIC ids 0 1"),
                                   ("4", None, "cpus: 4 in the ACPI MADT, APIC ids 0 1 2 3"),
                                   ("4,sockets=4", None, "cpus: 4 in the ACPI MADT"),
                                   # SeaBIOS's MP table lists one CPU per package.
                                   ("4", "pc,acpi=off", "cpus: 1 in the MP table"),
                                   ("4,sockets=4", "pc,acpi=off",
                                    "cpus: 4 in the MP table, APIC ids 0 1 2 3")):
            with self.subTest(smp=smp, machine=machine):
                v, lines = boot("test=topology", smp=smp, machine=machine)
                self.assertTrue(v.ok, v.problems)
                self.assertIn(says, "\n".join(lines))

    def test_every_listed_cpu_comes_online_up_to_cpus(self):
        for smp, append, says in (("1", "", "smp: 1 of 1 CPUs online"),
                                  ("2", "", "smp: 2 of 2 CPUs online"),
                                  ("4", "", "smp: 4 of 4 CPUs online"),
                                  ("4,sockets=4", "", "smp: 4 of 4 CPUs online"),
                                  ("4", "cpus=2", "smp: 2 of 4 CPUs online")):
            with self.subTest(smp=smp, append=append):
                v, lines = boot("test=smp " + append, smp=smp)
                self.assertTrue(v.ok, v.problems)
                self.assertTrue(any(l.startswith(says) for l in lines), lines[-12:])
                self.assertFalse(any("did not start" in l for l in lines))

    def test_heap_used_before_set_up_is_a_panic_that_says_so(self):
        v, lines = boot("crash=early_kmalloc")
        self.assertFalse(v.ok)
        self.assertTrue(any("KERNEL PANIC" in l and
                            "kmalloc: the heap is used before kmalloc_init set it up" in l
                            for l in lines), lines[-8:])

    def test_fault_inside_the_report_gets_one_line_and_a_halt(self):
        v, lines = boot("crash=nested", timeout=20)
        self.assertFalse(v.ok)
        self.assertFalse(any("timeout" in p for p in v.problems), v.problems)
        self.assertTrue(any("QEMU exit status 3" in p for p in v.problems), v.problems)
        nested = [l for l in lines if "while reporting exception" in l]
        self.assertEqual(len(nested), 1, nested)
        self.assertEqual(sum("CPU EXCEPTION 6 (Invalid Opcode)" in l for l in lines), 1)

    def test_selections_that_select_nothing_fail_the_run(self):
        for append, says in (("test=bogus", "'bogus' selects nothing"),
                             ("test=,,,", "an empty name in the list"),
                             ("test=all,none", "'all' must stand alone"),
                             ("test=pmm=vm", "'pmm=vm' is not a name"),
                             ("test=none bench=nosuch", "'nosuch' selects nothing")):
            with self.subTest(append=append):
                v, lines = boot(append)
                self.assertFalse(v.ok)
                self.assertTrue(any(says in l for l in lines), lines[-5:])

    def test_skipped_cases_are_reported_as_skips(self):
        v, lines = boot("test=vm", cpu="pentium,-pse")
        self.assertTrue(v.ok, v.problems)
        self.assertGreaterEqual(v.skipped, 1)
        self.assertTrue(any(l.startswith("    ok ") and "# SKIP CPU without PSE" in l for l in lines))
        self.assertTrue(any("skip:%d" % v.skipped in l for l in lines))

    def test_oldest_cpu_boots_and_refuses_benchmarks_without_a_tsc(self):
        v, lines = boot("test=format bench=all", cpu="486")
        self.assertFalse(v.ok)
        text = "\n".join(lines)
        self.assertIn("cpu: GenuineIntel family 4", text)
        self.assertIn("the benchmarks need the TSC (time-stamp counter), which this CPU lacks", text)
        self.assertNotIn("CPU EXCEPTION", text)

    def test_too_little_memory_stops_with_one_line(self):
        v, lines = boot("", mem="7M")
        self.assertFalse(v.ok)
        stops = [l for l in lines if l.startswith("arena386: cannot run:")]
        self.assertEqual(len(stops), 1, lines[-5:])
        self.assertIn("needs a machine with 8 MiB", stops[0])
        self.assertFalse(any("KERNEL PANIC" in l for l in lines))


class RunnerCommandLine(unittest.TestCase):
    """Each command line the runner cannot carry out gets one line, no traceback."""

    def check_refused(self, says, *argv):
        status, out, err = runner(*argv)
        self.assertEqual(status, 2, (out, err))
        self.assertNotIn("Traceback", err + out)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(says, err)

    def test_iso_with_append(self):
        self.check_refused("--append cannot be used with --iso", "--iso",
                           os.path.join(BUILD, "arena386.iso"), "--append", "test=none")

    def test_missing_qemu(self):
        self.check_refused("--qemu /nonexistent: no such program", "--kernel",
                           os.path.join(BUILD, "kernel.elf"), "--qemu", "/nonexistent")

    def test_timeout_not_a_number(self):
        self.check_refused("--timeout nan: needs a positive number", "--kernel",
                           os.path.join(BUILD, "kernel.elf"), "--timeout", "nan")

    def test_log_that_cannot_be_written(self):
        self.check_refused("--log /proc/nope/x.log:", "--kernel",
                           os.path.join(BUILD, "kernel.elf"), "--log", "/proc/nope/x.log",
                           "--append", "test=none")

    def test_missing_kernel(self):
        self.check_refused("no such file", "--kernel", "/nonexistent/kernel.elf")


class CountingResult(unittest.TextTestResult):
    pass


def run_module(module):
    """Runs a test module's cases, its BUILD set from --build; prints the
    stage's last line, "N passed, N failed"; returns the exit status."""
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    args, _ = p.parse_known_args()
    module.BUILD = args.build
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    return run_module(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
