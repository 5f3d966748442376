#!/usr/bin/env python3
"""The threaded half of `make bench`: libmm_malloc.so against glibc malloc,
mimalloc, jemalloc and tcmalloc (each put in place with LD_PRELOAD, the same
binaries for all), on

- tests/bench/host/threadbench.c's larson and xmalloc workloads at 1, 2 and
  4 threads:
    insn/call  instructions per malloc or free, counted by callgrind inside
               malloc and free only.  Callgrind runs one thread at a time:
               it sees every instruction, but no contention (a lock is
               never found held by a thread running at the same moment) and
               no cache line moving between cores; wall time shows those.
    time       wall time relative to glibc's: the median of REPEATS runs,
               the allocators interleaved run by run (this machine is
               shared), with the spread (lowest-highest ratio);
    peak RSS   the process's peak resident set (VmHWM; median);
    growth / live  xmalloc only: how much the resident set grew during
               the workload (VmHWM less VmRSS before it) over the most
               bytes its blocks held at once (median): the queue between
               producers and consumers holds up to 64 batches, and how
               full it gets is the scheduler's doing and the allocators'
               speed, which the peak RSS carries and this does not;
- real programs: python3 building and dropping small objects
  (PYTHONMALLOC=malloc), gcc -O2 on a C file, perl on a hash: wall, user
  and system time, peak RSS and minor faults (medians of PROGRAM_REPEATS
  runs, and the least wall time of them: this machine's neighbours only
  ever add time), the instructions of the whole program (callgrind, one
  run), and where its time goes beyond them (cachegrind, one run:
  first-level data cache misses, last-level misses, mispredicted branches;
  deterministic, where wall time on a shared machine is not), and those
  counts weighed by cachegrind's manual's costs into estimated cycles
  (CYCLES_PER), compared with the best peer's as the wall time is.  The
  wall time is also compared round by round (one run of each allocator a
  round, interleaved): the median of libmm's ratios to the best peer's,
  with a confidence interval that assumes nothing of their distribution.
  Every allocator's run goes through env(1), glibc's too, so that each
  counts the same exec.  System time is the kernel's estimate from timer
  ticks (one run of gcc gives anything from 0.014 to 0.039 s): the summary
  gives the means, with their standard errors, and libmm's ratio to
  glibc's paired by round as the wall time's is (median and interval); minor
  faults, which are what the allocator changes there, are exact.
Prints Markdown tables (README keeps a copy).
"""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile

from host_bench import LIBDIR, PEERS  # the same peers, found the same way

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PYTHON_WORKLOAD = r'''
import sys
class Node:
    __slots__ = ("key", "value", "next")
    def __init__(self, key, value, nxt):
        self.key, self.value, self.next = key, value, nxt
total = 0
for rnd in range(int(sys.argv[1])):
    head = None
    for i in range(60000):
        head = Node(i, (str(i), [i] * (i % 5)), head)
    d = {}
    while head is not None:
        d[head.key % 5000] = head.value
        total += len(head.value[1])
        head = head.next
    del d
print(total)
'''

PERL_WORKLOAD = r'''
my $t = 0;
for my $r (1..6) { my %h; for my $i (1..150000) { my $k = "w" . (($i * 7919 + $r) % 60013);
  $h{$k} .= chr(65 + $i % 26); } $t += length($h{$_}) for keys %h; }
print "$t\n";
'''


def allocators(shim):
    found = [("libmm", shim)]
    for name, lib in PEERS:
        path = os.path.join(LIBDIR, lib) if lib else None
        if path and not os.path.exists(path):
            print(f"({name}: {path} not installed, skipped)")
            continue
        found.append((name, path))
    return found


def environment(preload, extra=None):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(extra or {})
    return env


def figures(text):
    return dict(kv.split("=", 1) for kv in text.split())


def callgrind(argv, env, toggles=()):
    """Instructions counted by callgrind: inside the toggled functions only
    (and between the program's start and stop requests), or the whole
    program when none are given."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes",
               f"--callgrind-out-file={out}.%p"]
        if toggles:
            cmd += ["--instr-atstart=no", "--collect-atstart=no"]
            cmd += [f"--toggle-collect={f}" for f in toggles]
        run = subprocess.run(cmd + argv, env=env, capture_output=True, text=True, check=True)
        total = 0  # every process of the run (gcc's cc1 and as)
        for name in os.listdir(tmp):
            text = open(os.path.join(tmp, name)).read()
            m = re.search(r"^totals:\s*(\d+)", text, re.M) or \
                re.search(r"^summary:\s*(\d+)", text, re.M)
            total += int(m.group(1)) if m else 0
        return total, run.stdout


# What cachegrind's manual gives as the rough cost of each event, in
# cycles: a first-level miss about 10, a last-level miss up to 200, a
# mispredicted branch 10 to 30.  Weighed so, the counts of one run make an
# estimate of its cycles that is the same from run to run: a ranking of the
# allocators by where the time goes, where this machine's wall time swings
# by more than the differences it is asked about.
CYCLES_PER = {"l1": 10, "ll_all": 200, "mispredicts": 20}


def cache_figures(argv, env):
    """Instructions, first-level (instruction and data) and last-level
    misses, and mispredicted branches of one run of argv under cachegrind
    (every process of it), in millions, and the estimated cycles they make
    (CYCLES_PER)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes",
               "--trace-children=yes", f"--cachegrind-out-file={tmp}/cg.%p"]
        run = subprocess.run(cmd + argv, env=env, capture_output=True, text=True, check=True)
        totals = {}
        for key, pattern in (("ir", r"I   refs:\s+([\d,]+)"),
                             ("i1", r"I1  misses:\s+([\d,]+)"),
                             ("d1", r"D1  misses:\s+([\d,]+)"),
                             ("ll", r"LLd misses:\s+([\d,]+)"),
                             ("ll_all", r"LL misses:\s+([\d,]+)"),
                             ("mispredicts", r"Mispredicts:\s+([\d,]+)")):
            totals[key] = sum(int(v.replace(",", "")) for v in re.findall(pattern, run.stderr))
        figures = {k: v / 1e6 for k, v in totals.items()}
        figures["cycles"] = (figures["ir"] + CYCLES_PER["l1"] * (figures["i1"] + figures["d1"]) +
                             CYCLES_PER["ll_all"] * figures["ll_all"] +
                             CYCLES_PER["mispredicts"] * figures["mispredicts"])
        return figures


def timed(runstat, argv, env):
    """Wall, user and system seconds, peak RSS (KiB) and minor faults of
    one run of argv (through runstat: see tests/bench/host/runstat.c)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cost")
        # runstat itself on glibc: only the program gets the allocator,
        # through env for every allocator (env's own faults count alike).
        env = dict(env)
        preload = env.pop("LD_PRELOAD", None)
        cmd = [runstat, out, "env"] + (["LD_PRELOAD=" + preload] if preload else []) + argv
        run = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        if run.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({run.returncode}): {run.stderr[-500:]}")
        return {k: float(v) for k, v in figures(open(out).read()).items()}


def mean_error(values):
    """The mean and its standard error."""
    mean = statistics.mean(values)
    error = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return mean, error


def spread(ratios):
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def median_interval(values, confidence=0.95):
    """The median of values and a confidence interval for it that assumes
    nothing of their distribution: the k-th smallest and k-th largest, with
    k the largest rank that a Binomial(n, 1/2) count falls below with
    probability at most (1 - confidence) / 2 (for 15 values, the 4th and the
    12th: 96.5%).  None for the bounds when there are too few values."""
    xs = sorted(values)
    n = len(xs)
    below, k = 0.0, 0  # below: the chance that the count is under k
    while k < n:
        chance = math.comb(n, k) / 2 ** n
        if below + chance > (1 - confidence) / 2:
            break
        below += chance
        k += 1
    if k == 0:
        return statistics.median(xs), None, None
    return statistics.median(xs), xs[k - 1], xs[n - k]


def threaded(bench, allocs, repeats, thread_counts):
    print("| workload | threads | allocator | insn/call | time vs glibc (spread) | peak RSS MiB | "
          "growth / live |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    summary = []
    for workload in ("larson", "xmalloc"):
        for n in thread_counts:
            rows = {}
            for name, preload in allocs:
                total, out = callgrind([bench, workload, str(n), "count"], environment(preload),
                                       ["malloc", "free"])
                rows[name] = {"insn": total / int(figures(out)["calls"]), "ns": [], "rss": [],
                              "growth": []}
            for _ in range(repeats):
                for name, preload in allocs:
                    f = figures(subprocess.run([bench, workload, str(n), "time"],
                                               env=environment(preload), capture_output=True,
                                               text=True, check=True).stdout)
                    rows[name]["ns"].append(int(f["ns"]))
                    rows[name]["rss"].append(int(f["peak_rss_kib"]))
                    if workload == "xmalloc":
                        rows[name]["growth"].append(
                            (int(f["peak_rss_kib"]) - int(f["rss_before_kib"])) /
                            int(f["peak_live_kib"]))
            base = rows.get("glibc", rows["libmm"])["ns"]
            for name, r in rows.items():
                ratios = [a / b for a, b in zip(r["ns"], base)]
                growth = f"{statistics.median(r['growth']):.2f}" if r["growth"] else "-"
                print(f"| {workload} | {n} | {name} | {r['insn']:.1f} | {spread(ratios)} | "
                      f"{statistics.median(r['rss']) / 1024:.1f} | {growth} |", flush=True)
            peers = {k: v for k, v in rows.items() if k != "libmm"}
            if peers:
                best = min(peers.items(), key=lambda kv: kv[1]["insn"])
                fewer = rows["libmm"]["insn"] < best[1]["insn"]
                line = (f"{workload} x{n}: libmm {rows['libmm']['insn']:.1f} insn/call, best "
                        f"peer {best[0]} {best[1]['insn']:.1f} (fewer than every peer: "
                        f"{'yes' if fewer else 'NO'})")
                if workload == "xmalloc":
                    mem = statistics.median(rows["libmm"]["rss"])
                    best_mem = min(statistics.median(v["rss"]) for v in peers.values())
                    line += (f"; peak RSS {mem / 1024:.1f} MiB, best peer "
                             f"{best_mem / 1024:.1f} (no more: {'yes' if mem <= best_mem else 'NO'})")
                    grow = statistics.median(rows["libmm"]["growth"])
                    best_grow = min(statistics.median(v["growth"]) for v in peers.values())
                    line += (f"; growth / live {grow:.2f}, best peer {best_grow:.2f} (no more: "
                             f"{'yes' if grow <= best_grow else 'NO'})")
                summary.append(line)
    return summary


def programs(runstat, allocs, repeats):
    tmp = tempfile.mkdtemp()
    script = os.path.join(tmp, "objects.py")
    with open(script, "w") as f:
        f.write(PYTHON_WORKLOAD)
    runs = [
        # Hash seeds fixed: the same run, call for call, under every
        # allocator and every count.
        ("python3, small objects", [sys.executable, script, "4"],
         {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}),
        ("gcc -O2 mm/pageheap.c", ["gcc", "-O2", "-I" + ROOT, "-DARENA386_HOST", "-c",
                                   os.path.join(ROOT, "mm", "pageheap.c"), "-o",
                                   os.path.join(tmp, "out.o")], {}),
        ("perl, a hash", ["perl", "-e", PERL_WORKLOAD],
         {"PERL_HASH_SEED": "0", "PERL_PERTURB_KEYS": "0"}),
    ]
    print("| program | allocator | wall vs glibc (spread) | least wall s | user s | sys s (mean) | "
          "peak RSS MiB | minor faults | instructions (M) | D1 misses (M) | LL misses (M) | "
          "mispredicts (M) | est. cycles (M) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    summary = []
    for title, argv, extra in runs:
        rows = {name: [] for name, _ in allocs}
        for _ in range(repeats):
            for name, preload in allocs:
                rows[name].append(timed(runstat, argv, environment(preload, extra)))
        insn = {name: callgrind(argv, environment(preload, extra))[0] for name, preload in allocs}
        cache = {name: cache_figures(argv, environment(preload, extra))
                 for name, preload in allocs}
        base = [r["wall"] for r in rows.get("glibc", rows["libmm"])]
        med = {}
        for name, rs in rows.items():
            m = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            m["least"] = min(r["wall"] for r in rs)
            m["sys_mean"], m["sys_error"] = mean_error([r["sys"] for r in rs])
            med[name] = m
            ratios = [r["wall"] / b for r, b in zip(rs, base)]
            c = cache[name]
            print(f"| {title} | {name} | {spread(ratios)} | {m['least']:.3f} | {m['user']:.3f} | "
                  f"{m['sys_mean']:.3f} | {m['rss'] / 1024:.1f} | {m['minflt']:.0f} | "
                  f"{insn[name] / 1e6:.0f} | {c['d1']:.1f} | {c['ll']:.2f} | "
                  f"{c['mispredicts']:.1f} | {c['cycles']:.0f} |", flush=True)
        peers = {k: v for k, v in med.items() if k != "libmm"}
        if peers and "glibc" in med:
            mm = med["libmm"]
            g = med["glibc"]
            line = (f"{title}: sys (mean) {mm['sys_mean']:.4f} +- {mm['sys_error']:.4f} s vs "
                    f"glibc {g['sys_mean']:.4f} +- {g['sys_error']:.4f} (no more: "
                    f"{'yes' if mm['sys_mean'] <= g['sys_mean'] else 'NO'}); minor faults "
                    f"{mm['minflt']:.0f} vs {g['minflt']:.0f}")
            # System time paired by round with glibc's, as wall time is
            # with the best peer's below: the machine's swings from round to
            # round are larger than the difference asked about.
            paired = [r["sys"] / b["sys"] for r, b in zip(rows["libmm"], rows["glibc"])
                      if b["sys"] > 0]
            mid, lo, hi = median_interval(paired)
            if lo is not None:
                verdict = "yes" if hi <= 1.0 else "NO" if lo > 1.0 else "undecided"
                line += (f"; sys paired by round with glibc's: median {mid:.3f}, 95% interval "
                         f"{lo:.3f}-{hi:.3f} (no more: {verdict})")
            for key, what in (("wall", "median wall"), ("least", "least wall")):
                best_name, best = min(peers.items(), key=lambda kv: kv[1][key])
                line += (f"; {what} {mm[key] / best[key]:.3f} of the best peer's ({best_name}) "
                         f"(within 5%: {'yes' if mm[key] <= 1.05 * best[key] else 'NO'})")
            # The runs are interleaved, one of each allocator a round: a
            # round's ratio to the best peer cancels what the machine did
            # to both in that round.
            best_name = min(peers, key=lambda k: peers[k]["wall"])
            paired = [r["wall"] / b["wall"] for r, b in zip(rows["libmm"], rows[best_name])]
            mid, lo, hi = median_interval(paired)
            if lo is not None:
                verdict = "yes" if hi <= 1.05 else "NO" if lo > 1.05 else "undecided"
                line += (f"; wall paired by round with {best_name}'s: median {mid:.3f}, 95% "
                         f"interval {lo:.3f}-{hi:.3f} (within 5%: {verdict})")
            best_name = min(peers, key=lambda k: cache[k]["d1"])
            line += (f"; D1 misses {cache['libmm']['d1']:.1f}M, best peer {best_name} "
                     f"{cache[best_name]['d1']:.1f}M")
            best_name = min(peers, key=lambda k: cache[k]["cycles"])
            ratio = cache["libmm"]["cycles"] / cache[best_name]["cycles"]
            line += (f"; estimated cycles {ratio:.3f} of the best peer's ({best_name}) "
                     f"(within 5%: {'yes' if ratio <= 1.05 else 'NO'})")
            summary.append(line)
    return summary


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--program-repeats", type=int, default=15)
    p.add_argument("--threads", default="1,2,4")
    p.add_argument("--only", choices=("threads", "programs"))
    args = p.parse_args()
    shim = os.path.abspath(os.path.join(args.build, "host", "libmm_malloc.so"))
    bench = os.path.join(args.build, "host", "bench", "threadbench")
    allocs = allocators(shim)
    summary = []
    if args.only != "programs":
        summary += threaded(bench, allocs, args.repeats,
                            [int(n) for n in args.threads.split(",")])
        print()
    if args.only != "threads":
        summary += programs(os.path.join(args.build, "host", "bench", "runstat"), allocs,
                            args.program_repeats)
        print()
    for line in summary:
        print("bench host " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
