#!/usr/bin/env python3
"""The allocator's fast paths, checked in the built kernel's machine code.

kmalloc and kfree run without masking interrupts: their CPU-list steps are
restartable sequences (arch/i386/restart.h) listed in the restart_table
section.  Over `objdump -d` of the kernel this checks that
  - the fast path of kmalloc and of kfree - from the entry, every
    conditional branch not taken (a small size, a list neither empty nor
    full, a live block), to the return - contains no cli, sti, pushf, popf,
    int or call, runs through one restartable sequence, and holds one
    locked instruction, the sequence's;
  - every sequence in the table lies inside one function (the compiler may
    inline kmalloc and kfree elsewhere: each copy has its entry), starts,
    undoes from and ends on instruction boundaries, holds exactly one
    locked instruction, and writes this CPU's list (%fs:) once, with its
    last instruction (the commit).

Prints one line per problem and "N passed, N failed" (one case per check).
Exit status 0 only when every check passes.
"""
import argparse
import re
import struct
import subprocess
import sys

FORBIDDEN = ("cli", "sti", "pushf", "pushfl", "popf", "popfl", "int", "int3", "call", "calll")
FUNC_RE = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")


def objdump(args, check=True):
    return subprocess.run(["objdump"] + args, check=check, capture_output=True,
                          text=True).stdout


def functions(kernel):
    """{name: [(address, text)]} of every function in .text.  Static
    functions of one name in several files (each its own 'report') are
    told apart as name@address."""
    funcs, current = {}, None
    for line in objdump(["-d", "--no-show-raw-insn", "-j", ".text", kernel]).splitlines():
        m = FUNC_RE.match(line)
        if m:
            name = m.group(2)
            if name in funcs:
                name += "@" + m.group(1)
            current = funcs.setdefault(name, [])
            continue
        m = INSN_RE.match(line)
        if m and current is not None and not m.group(2).startswith("(bad)"):
            current.append((int(m.group(1), 16), m.group(2).strip()))
    return funcs


def restart_table(kernel):
    """[(begin, undo_from, end, kind)] from the restart_table section."""
    out = objdump(["-s", "-j", "restart_table", kernel], check=False)  # none: empty
    data = b""
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]{4,}) ((?:[0-9a-f]{1,8} ?){1,4})", line)
        if m and "Contents" not in line:
            data += bytes.fromhex(m.group(2).replace(" ", ""))
    return [struct.unpack_from("<4I", data, i) for i in range(0, len(data) - 15, 16)]


def fast_path(insns):
    """The instructions from the entry to a return, conditional branches
    not taken and jumps within the function followed; None if it leaves."""
    at = {a: i for i, (a, _) in enumerate(insns)}
    path, i = [], 0
    while i < len(insns) and len(path) < 200:
        addr, text = insns[i]
        path.append((addr, text))
        op = text.split()[0]
        if op.startswith("ret"):
            return path
        if op in ("jmp", "jmpl"):
            m = re.match(r"jmpl?\s+([0-9a-f]+)", text)
            if not m or int(m.group(1), 16) not in at:
                return None
            i = at[int(m.group(1), 16)]
            continue
        i += 1
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kernel", default="build/kernel.elf")
    args = p.parse_args()

    funcs = functions(args.kernel)
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
        path = fast_path(funcs.get(name, []))
        check(path is not None, f"{name}: no fast path from its entry to a return")
        if not path:
            continue
        bad = [f"{a:#x} {t}" for a, t in path if t.split()[0] in FORBIDDEN]
        check(not bad, f"{name}: its fast path masks interrupts or calls: {bad}")
        locks = [f"{a:#x} {t}" for a, t in path if t.startswith("lock")]
        check(len(locks) == 1, f"{name}: its fast path holds {len(locks)} locked "
                               f"instructions: {locks}")
        addrs = {a for a, _ in path}
        through = []
        for b, _, e, _ in table:
            inside = {a for a, _ in funcs[name] if b <= a < e}
            if inside and inside <= addrs:
                through.append((b, e))
        check(len(through) == 1, f"{name}: its fast path runs through {len(through)} "
                                 f"restartable sequences")
        check(all(any(b <= a < e for b, e in through) for a, t in path if t.startswith("lock")),
              f"{name}: a locked instruction of its fast path lies outside its sequence")
    for begin, undo_from, end, kind in table:
        where = holder(begin)
        check(where is not None and holder(end - 1) == where,
              f"sequence [{begin:#x}, {end:#x}) does not lie inside one function")
        if where is None:
            continue
        seq = [(a, t) for a, t in funcs[where] if begin <= a < end]
        locks = [t for _, t in seq if t.startswith("lock")]
        check(len(locks) == 1, f"sequence [{begin:#x}, {end:#x}) in {where}: "
                               f"{len(locks)} locked instructions: {locks}")
        check(bool(seq) and seq[0][0] == begin and any(a == undo_from for a, _ in seq)
              and end in {a for a, _ in funcs[where]} | {funcs[where][-1][0] + 1},
              f"sequence [{begin:#x}, {end:#x}): its bounds are not instruction boundaries")
        writes = [(a, t) for a, t in seq if re.search(r",%fs:", t)]
        check(len(writes) == 1 and writes[0] == seq[-1],
              f"sequence [{begin:#x}, {end:#x}) in {where}: the list is written by "
              f"{writes}, not once by its last instruction")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
