#!/usr/bin/env python3
"""The allocator's fast paths, checked in the built kernel's machine code.

kmalloc and kfree run without masking interrupts: their CPU-list steps are
restartable sequences (arch/i386/restart.h) listed in the restart_table
section.  Over `objdump -d` of the kernel this checks that
  - kmalloc and kfree contain no cli, sti, pushf, popf, int or call (their
    slow paths are reached by a jump, and are functions of their own);
  - every locked instruction in them lies inside a restartable sequence,
    and each sequence holds exactly one (so no path runs two);
  - each sequence lies inside kmalloc, kfree or kmemalign, and kmalloc and
    kfree have at least one each;
  - each sequence ends right after its committing instruction, which
    writes %fs: (this CPU's list), and no other instruction of it writes
    the list.

Prints one line per problem and "N passed, N failed" (one case per check).
Exit status 0 only when every check passes.
"""
import argparse
import re
import struct
import subprocess
import sys

FORBIDDEN = ("cli", "sti", "pushf", "pushfl", "popf", "popfl", "int", "int3", "call", "calll")
HOLDERS = ("kmalloc", "kfree", "kmemalign")
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")


def objdump(args):
    return subprocess.run(["objdump"] + args, check=True, capture_output=True,
                          text=True).stdout


def function_insns(kernel, name):
    """[(address, text)] of the function's instructions."""
    out = objdump(["-d", "--no-show-raw-insn", f"--disassemble={name}", kernel])
    insns = []
    for line in out.splitlines():
        m = INSN_RE.match(line)
        if m and not m.group(2).startswith("(bad)"):
            insns.append((int(m.group(1), 16), m.group(2).strip()))
    return insns


def restart_table(kernel):
    """[(begin, undo_from, end, kind)] from the restart_table section."""
    out = objdump(["-s", "-j", "restart_table", kernel])
    data = b""
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]{4,}) ((?:[0-9a-f]{1,8} ?){1,4})", line)
        if m and "Contents" not in line:
            data += bytes.fromhex(m.group(2).replace(" ", ""))
    return [struct.unpack_from("<4I", data, i) for i in range(0, len(data) - 15, 16)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kernel", default="build/kernel.elf")
    args = p.parse_args()

    funcs = {name: function_insns(args.kernel, name) for name in HOLDERS}
    table = restart_table(args.kernel)
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("check_fastpath: " + what)

    def holder(addr):
        for name, insns in funcs.items():
            if insns and insns[0][0] <= addr <= insns[-1][0]:
                return name
        return None

    check(len(table) > 0, "the restart_table section is empty")
    for name in ("kmalloc", "kfree"):
        insns = funcs[name]
        check(len(insns) > 0, f"{name}: not found")
        bad = [f"{a:#x} {t}" for a, t in insns if t.split()[0] in FORBIDDEN]
        check(not bad, f"{name}: masks interrupts or calls: {bad}")
        outside = [f"{a:#x} {t}" for a, t in insns
                   if t.startswith("lock") and not any(b <= a < e for b, _, e, _ in table)]
        check(not outside, f"{name}: locked instructions outside a restartable sequence: "
                           f"{outside}")
        check(any(holder(b) == name for b, _, _, _ in table),
              f"{name}: no restartable sequence")
    for begin, undo_from, end, kind in table:
        where = holder(begin)
        check(where is not None and holder(end - 1) == where,
              f"sequence [{begin:#x}, {end:#x}) lies outside {', '.join(HOLDERS)}")
        if where is None:
            continue
        seq = [(a, t) for a, t in funcs[where] if begin <= a < end]
        locks = [t for _, t in seq if t.startswith("lock")]
        check(len(locks) == 1, f"sequence [{begin:#x}, {end:#x}) in {where}: "
                               f"{len(locks)} locked instructions: {locks}")
        check(any(a == undo_from for a, _ in seq) and seq and seq[0][0] == begin,
              f"sequence [{begin:#x}, {end:#x}): its bounds are not instruction boundaries")
        writes = [(a, t) for a, t in seq if re.search(r",%fs:", t)]
        check(len(writes) == 1 and writes[0] == seq[-1],
              f"sequence [{begin:#x}, {end:#x}) in {where}: the list is written by "
              f"{writes}, not once by its last instruction")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
