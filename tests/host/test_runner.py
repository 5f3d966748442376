#!/usr/bin/env python3
"""Tests of tests/run_qemu.py: its judgement on recorded console logs, and on
real kernel runs that fail on purpose (a failing suite, a panic, a CPU
exception, a stack overflow, a triple fault, a hang).

Last line: "N passed, N failed".
"""
import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
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


def boot(append, timeout=60, mem="64M"):
    argv = ["--kernel", os.path.join(BUILD, "kernel.elf"), "--mem", mem, "--append", append,
            "--timeout", str(timeout), "--quiet"]
    return run_qemu.run(run_qemu.parser().parse_args(argv), echo=None)


class RealKernelRuns(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(BUILD, "kernel.elf")):
            self.fail("build/kernel.elf is missing: run make first")

    def test_failing_expectation_reported_with_both_values(self):
        v, lines = boot("test=ktest_must_fail")
        self.assertFalse(v.ok)
        self.assertEqual((v.passed, v.failed), (1, 2))
        text = "\n".join(lines)
        self.assertIn("    not ok 1 fails_expect_eq", text)
        self.assertIn("expected answer == 42", text)
        self.assertIn("answer == 41 (0x29)", text)
        self.assertIn("42 == 42 (0x2a)", text)
        self.assertIn('"left" == "left"', text)
        self.assertIn("not ok 1 ktest_must_fail", text)

    def test_selected_suite_runs_alone(self):
        v, lines = boot("test=kprintf")
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


class CountingResult(unittest.TextTestResult):
    pass


def main():
    global BUILD
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    args, rest = p.parse_known_args()
    BUILD = args.build
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
