#!/usr/bin/env python3
"""The layers' one direction, checked on every #include.

Bottom up: lib/ (freestanding utilities), boot/ and arch/ (the machine),
mm/ (the memory manager), kernel/ (the top); tests/ may use anything.
A layer includes only itself and what lies below it, and mm/ has one door
out: mm/mm_env.h, the only file of mm/ that includes anything outside mm/
(lib/ headers and the world's arch/*/env.h).  arch/i386/ reaches mm/ only
for mm/vm_backend.h, the interface it implements under mm/; arch/host/ is
the host world that sets mm/ up, and may include mm/'s headers.

Prints one line per forbidden include and "N passed, N failed" (one case
per file).  Exit status 0 only when every file keeps to its layer.
"""
import argparse
import os
import re
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCES = (".c", ".h", ".S")


def allowed(path, target):
    """Whether file 'path' (relative to the top) may include 'target'."""
    top = path.split("/", 1)[0]
    if top in ("tests", "kernel"):
        return True
    if top == "lib":
        return target.startswith("lib/")
    if top == "boot":
        return target.startswith(("boot/", "arch/", "lib/"))
    if top == "arch":
        if target.startswith(("arch/", "lib/", "boot/")):
            return True
        if path.startswith("arch/host/"):
            return target.startswith("mm/")
        return target == "mm/vm_backend.h"
    if top == "mm":
        if target.startswith("mm/"):
            return True
        if path == "mm/mm_env.h":
            return target.startswith("lib/") or re.fullmatch(r"arch/\w+/env\.h", target)
        return False
    return True


def check(root):
    """Returns (files checked, [(file, include)] forbidden)."""
    files, bad = 0, []
    for folder in ("lib", "boot", "arch", "mm", "kernel"):
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for name in sorted(names):
                if not name.endswith(SOURCES):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                files += 1
                with open(full, encoding="utf-8", errors="replace") as f:
                    for target in INCLUDE_RE.findall(f.read()):
                        if not allowed(rel, target):
                            bad.append((rel, target))
    return files, bad


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = p.parse_args(argv)
    files, bad = check(args.root)
    for rel, target in bad:
        print(f"{rel}: includes \"{target}\", which its layer may not reach")
    failed = len({rel for rel, _ in bad})
    print(f"{files - failed} passed, {failed} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
