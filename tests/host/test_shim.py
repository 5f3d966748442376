#!/usr/bin/env python3
"""libmm_malloc.so as a user tries it (make test's host-shim stage).

- it exports malloc and its kin, and nothing else;
- tests/host/shim_api.c, run with LD_PRELOAD, checks each call against
  glibc's behaviour (results, alignment, errno);
- tests/host/shim_threads.c: the fast paths' lock prefixes are out while
  one thread uses the heap, and back in before a second thread goes on,
  whenever it comes (eight runs), in a forked child too; the contents of
  every block and the heap's checker (LIBMM_MALLOC_REPORT) say that
  nothing was lost;
- real programs from Debian, on the shim and on glibc's malloc, give the
  same output, and the shim prints nothing: python3 on a generated
  workload (threads, a subprocess, blocks up to 8 MiB), gcc compiling one
  of mm/'s files (the same object file), and perl on a generated text.
Prints "N passed, N failed".
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

EXPORTS = {"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
           "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size"}

PYTHON_WORKLOAD = r'''
import hashlib, json, random, subprocess, sys, threading
random.seed(int(sys.argv[1]))
def job(n, out):
    rng = random.Random(n)
    d = {}
    for i in range(30000):
        k = "k%d" % rng.randrange(50000)
        d[k] = [k * (i % 9), i, {"x": str(i) * (i % 5)}]
        if i % 3 == 0:
            d.pop("k%d" % rng.randrange(50000), None)
    out[n] = hashlib.sha256(json.dumps(sorted(d.items())).encode()).hexdigest()
out = {}
threads = [threading.Thread(target=job, args=(n, out)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
for n in sorted(out): print(n, out[n])
print(subprocess.run([sys.executable, "-c", "print(sum(range(10**6)))"],
                     capture_output=True, text=True).stdout.strip())
blocks = [bytearray(1 << k) for k in range(24)]
print(sum(len(b) for b in blocks))
objs = [[i, str(i), (i,)] for i in range(300000)]
del objs[::2]
print(len(objs), objs[-1])
'''

PERL_WORKLOAD = r'''
my %h; my @l;
for my $i (1..200000) { my $k = "w" . (($i * 7919) % 50021); $h{$k} .= chr(65 + $i % 26); push @l, $k x ($i % 4) if $i % 5 == 0; }
my $n = 0; $n += length($h{$_}) for sort keys %h;
print scalar(keys %h), " ", $n, " ", scalar(@l), "\n";
'''


# The statics libmm_malloc.so touches in every process (class tables, the
# classes' central lists, the page heap, the vm map's slot tables): 32 KiB
# today, 8 pages.
HOT_BSS_MAX = 40 << 10


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    args = p.parse_args()
    shim = os.path.abspath(os.path.join(args.build, "host", "libmm_malloc.so"))
    api = os.path.join(args.build, "host", "shim", "shim_api")
    threads = os.path.join(args.build, "host", "shim", "shim_threads")
    passed = failed = 0

    def check(ok, what, detail=""):
        nonlocal passed, failed
        print(("ok " if ok else "not ok ") + what)
        if not ok and detail:
            for line in detail.splitlines()[:20]:
                print("#   " + line)
        passed += bool(ok)
        failed += not ok

    nm = subprocess.run(["nm", "-D", "--defined-only", shim], capture_output=True, text=True)
    names = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
    check(nm.returncode == 0 and names == EXPORTS,
          "libmm_malloc.so exports malloc and its kin, nothing else",
          "extra: %s; missing: %s" % (sorted(names - EXPORTS), sorted(EXPORTS - names)))

    # What a process faults in at its start: the small statics that every
    # call uses share a few pages of .bss; the large arrays touched a word
    # or an area at a time (MM_SPARSE) lie after them, in .bss.sparse.
    headers = subprocess.run(["readelf", "-SW", shim], capture_output=True, text=True).stdout
    sizes = {m.group(1): int(m.group(2), 16) for m in
             re.finditer(r"\]\s+(\.\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", headers)}
    symbols = subprocess.run(["nm", "-S", shim], capture_output=True, text=True).stdout
    sparse = [n for n in ("mapped_bits", "detached", "host_cpu_areas")
              if not re.search(r"^[0-9a-f]+ [0-9a-f]+ [bB] " + n + "$", symbols, re.M)]
    check(".bss.sparse" in sizes and sizes.get(".bss", 1 << 30) <= HOT_BSS_MAX and
          sizes[".bss.sparse"] >= 512 << 10 and not sparse,
          f"libmm_malloc.so: .bss at most {HOT_BSS_MAX >> 10} KiB, the sparse arrays after it",
          f"sections: .bss {sizes.get('.bss')}, .bss.sparse {sizes.get('.bss.sparse')}; "
          f"not found: {sparse}")

    env = dict(os.environ, LD_PRELOAD=shim)
    r = subprocess.run([api], env=env, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and r.stdout.rstrip().endswith(" 0 failed"),
          "shim_api: every call behaves as glibc's", r.stdout + r.stderr)

    def reports(argv):
        """argv on the shim with its report at exit: the exit status and,
        per process, (prefixes in place, recorded, put back, problems),
        where the process's heap figures hold together (in use within
        what is mapped, no bad free, no failure)."""
        e = dict(env, LIBMM_MALLOC_REPORT="1")
        run = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=120)
        found, lines = [], run.stderr.splitlines()
        for i, line in enumerate(lines):
            h = re.match(r"libmm_malloc: (\d+) KiB mapped, (\d+) KiB in use, \d+ KiB idle; "
                         r"\d+ mallocs, \d+ frees, 0 bad frees, 0 failed$", line)
            m = re.match(r"libmm_malloc: lock prefixes: (\d+) recorded, (\d+) in place, "
                         r"taken out", lines[i + 1] if i + 1 < len(lines) else "")
            c = re.match(r"libmm_malloc: kheap_check: (\d+) problems",
                         lines[i + 2] if i + 2 < len(lines) else "")
            if h and m and c and int(h.group(2)) <= int(h.group(1)):
                found.append((int(m.group(2)), int(m.group(1)), "put back" in lines[i + 1],
                              int(c.group(1))))
        return run.returncode, found, run.stderr

    rc, found, err = reports([threads, "single"])
    check(rc == 0 and len(found) == 1 and found[0][0] == 0 and found[0][1] > 0 and
          not found[0][2] and found[0][3] == 0,
          "shim_threads single: the lock prefixes stay out, the heap checks clean", err)
    for seed in range(1, 9):
        rc, found, err = reports([threads, "join", str(seed)])
        check(rc == 0 and len(found) == 1 and found[0][0] == found[0][1] and found[0][2] and
              found[0][3] == 0,
              f"shim_threads join {seed}: threads come while the main thread runs; every "
              "prefix back in, every block whole, the heap clean", err)
    rc, found, err = reports([threads, "fork"])
    back = sorted(f[2] for f in found)
    check(rc == 0 and len(found) == 2 and back == [False, True] and
          all(f[3] == 0 for f in found) and all(f[0] == (f[1] if f[2] else 0) for f in found),
          "shim_threads fork: the child that starts threads puts the prefixes back, "
          "the parent keeps them out", err)

    def same(name, argv, stdin=None, cwd=None, outputs=()):
        """argv on glibc and on the shim: the same stdout, files and exit
        status; nothing on the shim's stderr that glibc's run did not print."""
        results = []
        for preload in (None, shim):
            e = dict(os.environ)
            if preload:
                e["LD_PRELOAD"] = preload
            run = subprocess.run(argv, env=e, input=stdin, capture_output=True, cwd=cwd,
                                 timeout=600)
            files = []
            for f in outputs:
                with open(os.path.join(cwd, f), "rb") as fh:
                    files.append(fh.read())
            results.append((run, files))
        (g, gf), (s, sf) = results
        ok = (g.returncode == s.returncode and g.stdout == s.stdout and gf == sf and
              s.stderr == g.stderr)
        check(ok, name, "glibc: %r %r\nshim: %r %r" % (g.returncode, g.stderr[-300:],
                                                     s.returncode, s.stderr[-300:]))

    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "workload.py")
        with open(script, "w") as f:
            f.write(PYTHON_WORKLOAD)
        same("python3: threads, a subprocess and big blocks give glibc's output",
             [sys.executable, script, "1"])
        same("python3 with PYTHONMALLOC=malloc (every object from the shim)",
             ["env", "PYTHONMALLOC=malloc", sys.executable, script, "2"])
        gcc = shutil.which("gcc")
        if gcc:
            src = os.path.join(ROOT, "mm", "pageheap.c")
            same("gcc -O2 compiles mm/pageheap.c to the same object file",
                 [gcc, "-O2", "-I" + ROOT, "-DARENA386_HOST", "-c", src, "-o", "out.o"],
                 cwd=tmp, outputs=["out.o"])
        else:
            print("# gcc not installed: skipped")
        perl = shutil.which("perl")
        if perl:
            same("perl: a hash of 50,000 keys and a list give glibc's output",
                 [perl, "-e", PERL_WORKLOAD])
        else:
            print("# perl not installed: skipped")

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
