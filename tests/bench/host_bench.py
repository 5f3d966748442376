#!/usr/bin/env python3
"""The host half of `make bench`: libmm.a against glibc malloc and, when
their Debian packages are installed, mimalloc, jemalloc and tcmalloc, on the
same deterministic workloads (tests/bench/host/allocbench.c).

Columns, per workload and allocator:
  insn/call   instructions per call (a malloc, a free or a realloc is one),
              counted by valgrind's callgrind inside the allocator's entry
              points only, over the workload loop only;
  time        wall time of the loop relative to glibc (best of 3 runs);
  mem/live    (peak RSS - RSS before the loop) / peak live bytes, with every
              block written in full.
Prints a Markdown table (README keeps a copy) and, with --targets, the
issue's targets beside libmm's figures.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = [
    ("glibc", None),
    ("mimalloc", "libmimalloc.so.2"),
    ("jemalloc", "libjemalloc.so.2"),
    ("tcmalloc", "libtcmalloc_minimal.so.4"),
]
WORKLOADS = [
    ("churn32", "fixed 32-byte churn"),
    ("mixed", "mixed 8 B-4 KiB, random lifetimes, 100,000 cells"),
    ("large", "4 KiB-1 MiB blocks"),
    ("grow256", "256 MiB heap in 64 KiB-4 MiB blocks, freed, x3"),
    ("realloc", "realloc growth 16 B to 64 KiB"),
]
TARGETS = {"churn32": 20, "mixed": 30}
MEM_TARGET = {"mixed": 1.10}


def run(cmd, env):
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, check=True).stdout
    return dict(kv.split("=", 1) for kv in out.split())


def count(binary, workload, env, entry_points):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
               f"--callgrind-out-file={out}"]
        cmd += [f"--toggle-collect={f}" for f in entry_points]
        cmd += [binary, workload, "count"]
        figures = run(cmd, env)
        text = open(out).read()
        m = re.search(r"^totals:\s*(\d+)", text, re.M) or \
            re.search(r"^summary:\s*(\d+)", text, re.M)
        return int(m.group(1)) / int(figures["calls"])


def measure(name, binary, preload, workload, entry_points):
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = preload
    insn = count(binary, workload, env, entry_points)
    ns = min(float(run([binary, workload, "time"], env)["ns"]) for _ in range(3))
    mem = run([binary, workload, "memory"], env)
    growth = (int(mem["peak_rss_kib"]) - int(mem["rss_before_kib"])) * 1024
    return {"insn": insn, "ns": ns, "mem": growth / int(mem["peak_live"])}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--workloads", default=",".join(w for w, _ in WORKLOADS))
    args = p.parse_args()
    bench = os.path.join(args.build, "host", "bench")
    allocators = [("libmm", os.path.join(bench, "allocbench-mm"), None,
                   ["kmalloc", "kfree", "krealloc"])]
    for name, lib in PEERS:
        path = os.path.join(LIBDIR, lib) if lib else None
        if path and not os.path.exists(path):
            print(f"({name}: {path} not installed, skipped)")
            continue
        allocators.append((name, os.path.join(bench, "allocbench-libc"), path,
                           ["malloc", "free", "realloc"]))

    wanted = args.workloads.split(",")
    print("| workload | allocator | insn/call | time vs glibc | peak mem / peak live |")
    print("| --- | --- | ---: | ---: | ---: |")
    summary = []
    for workload, title in WORKLOADS:
        if workload not in wanted:
            continue
        rows = {}
        for name, binary, preload, entries in allocators:
            rows[name] = measure(name, binary, preload, workload, entries)
        base = rows.get("glibc", rows["libmm"])["ns"]
        for name, r in rows.items():
            print(f"| {title} | {name} | {r['insn']:.1f} | {r['ns'] / base:.2f} | "
                  f"{r['mem']:.2f} |", flush=True)
        mm = rows["libmm"]
        peers = {n: r for n, r in rows.items() if n != "libmm"}
        best = min(peers.items(), key=lambda kv: kv[1]["insn"]) if peers else None
        line = f"{workload}: libmm {mm['insn']:.1f} insn/call"
        if best:
            line += f", best peer {best[0]} {best[1]['insn']:.1f}"
        if workload in TARGETS:
            line += f" (target <= {TARGETS[workload]}: " \
                    f"{'met' if mm['insn'] <= TARGETS[workload] else 'MISSED'})"
        if workload in MEM_TARGET:
            line += f"; mem/live {mm['mem']:.2f} (target <= {MEM_TARGET[workload]}: " \
                    f"{'met' if mm['mem'] <= MEM_TARGET[workload] else 'MISSED'})"
        if workload in ("large", "grow256") and best:
            line += " (fewer than every peer: " + \
                    ("yes" if mm["insn"] < best[1]["insn"] else "NO") + ")"
        summary.append(line)
    print()
    for line in summary:
        print("bench host " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
