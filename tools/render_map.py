#!/usr/bin/python3
"""Draws arena386's address space from a map dump, as SVG and PNG.

The dump is what the kernel's shell prints for "vm raw" (and make map's
demonstration prints at its end), one fact per line, addresses in hex:

  map begin
  map region START END OWNER-NAME MAPPED-KIB   a run of 4 MiB slots of one owner
  map arena START USED END LIMIT-END           the arena: [START, USED) handed out,
                                               reservation up to END, never past LIMIT-END
  map arena-range BASE SIZE                    each reservation the arena holds
                                               (the first is its start; the others
                                               come from fallbacks when not contiguous)
  map meta BASE END PAGES-END LIVE-END PERSISTENT-BASE PERSISTENT-END
                                               the metadata reservation and how far
                                               its three parts are mapped
  map span START END STATE                     a run of arena pages in one state:
                                               small, large (in use), free (mapped),
                                               partly-released, released, hole
  map end

Other lines (the rest of a console log) are skipped.  Two panels: the whole
4 GiB space by owner, and the arena's window (its limit) with its
reservations and the state of every page.  Every drawn element carries an
SVG id naming what it stands for ("region-<start>", "span-<start>",
"range-<base>"), so that a test can find each one.

Usage: render_map.py DUMP OUT-BASENAME   (writes OUT.svg and OUT.png)
Needs Debian's python3-matplotlib (scripts/deps.sh installs it).
"""
import sys

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, smaller
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

GiB = 1 << 30
MiB = 1 << 20

OWNER_COLORS = {
    "kernel": "#4c72b0",
    "heap metadata": "#8172b2",
    "arena": "#55a868",
    "cpu stacks": "#937860",
    "firmware tables": "#da8bc3",
    "test": "#ccb974",
    "other": "#c44e52",
    "mmio": "#8c8c8c",
    "page tables": "#64b5cd",
}
STATE_COLORS = {
    "small": "#2ca02c",
    "large": "#1f77b4",
    "free": "#bcbd22",
    "partly-released": "#ff7f0e",
    "released": "#e8e8e8",
    "hole": "#ffffff",
}
STATE_NAMES = {
    "small": "in use: small-object spans",
    "large": "in use: large blocks",
    "free": "free, mapped",
    "partly-released": "free, partly released",
    "released": "free, released to the frame pool",
    "hole": "hole (never handed out)",
}


def parse(lines):
    dump = {"regions": [], "ranges": [], "spans": [], "arena": None, "meta": None}
    inside = False
    for line in lines:
        f = line.strip().split()
        if len(f) < 2 or f[0] != "map":
            continue
        kind = f[1]
        if kind == "begin":
            inside = True
            dump = {"regions": [], "ranges": [], "spans": [], "arena": None, "meta": None}
        elif kind == "end":
            inside = False
        elif not inside:
            continue
        elif kind == "region":
            start, end = int(f[2], 16), int(f[3], 16)
            dump["regions"].append((start, end, " ".join(f[4:-1]), int(f[-1])))
        elif kind == "arena":
            dump["arena"] = tuple(int(x, 16) for x in f[2:6])
        elif kind == "arena-range":
            dump["ranges"].append((int(f[2], 16), int(f[3], 16)))
        elif kind == "meta":
            dump["meta"] = tuple(int(x, 16) for x in f[2:8])
        elif kind == "span":
            dump["spans"].append((int(f[2], 16), int(f[3], 16), f[4]))
    if dump["arena"] is None:
        raise ValueError("no 'map arena' line: not a map dump")
    return dump


def box(ax, x0, x1, y, h, color, gid, edge="black", hatch=None, label=None):
    r = patches.Rectangle((x0, y), x1 - x0, h, facecolor=color, edgecolor=edge,
                          linewidth=0.6, hatch=hatch, label=label)
    r.set_gid(gid)
    ax.add_patch(r)
    return r


def whole_space(ax, dump):
    ax.set_title("the 4 GiB address space, by owner (darker: the part mapped; regions narrower "
                 "than the bar can show are widened)", fontsize=9, loc="left")
    regions = dump["regions"]
    least = 0.012  # GiB: the narrowest box drawn
    for i, (start, end, owner, mapped_kib) in enumerate(regions):
        color = OWNER_COLORS.get(owner, "#999999")
        x0 = min(start / GiB, 4 - least)
        x1 = max(end / GiB, x0 + least)
        box(ax, x0, x1, 0, 1, color, f"region-{start:#x}")
        if mapped_kib:
            frac = max(0.04, min(1.0, mapped_kib * 1024 / (end - start)))
            box(ax, x0, x1, 0, frac, "#222222", f"region-mapped-{start:#x}", edge="none")
        # Callouts, evenly spaced in address order, so that none overlap.
        lx = 0.25 + i * 3.5 / max(1, len(regions) - 1)
        ax.annotate(f"{owner}\n[{start:#x}, {end:#x})\n{(end - start) >> 20} MiB, "
                    f"{mapped_kib} KiB mapped",
                    xy=((x0 + x1) / 2, 1.0), xytext=(lx, 1.55), ha="center", va="bottom",
                    fontsize=6.5, arrowprops={"arrowstyle": "-", "linewidth": 0.5},
                    annotation_clip=False)
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 2.6)
    ax.set_yticks([])
    ax.set_xticks([i / 2 for i in range(9)])
    ax.set_xticklabels([f"{int(i * GiB / 2):#010x}" for i in range(9)], fontsize=7)


def arena_window(ax, dump):
    a_start, a_used, a_end, a_limit = dump["arena"]
    lo, hi = a_start, max(a_limit, a_end)
    for base, size in dump["ranges"]:
        hi = max(hi, base + size)
    span = hi - lo
    lo, hi = lo - span // 40, hi + span // 40
    ax.set_title(f"the arena: [{a_start:#x}, {a_used:#x}) handed out, reserved to {a_end:#x}, "
                 f"limit {a_limit:#x}", fontsize=10, loc="left")
    # Row 2: reservations - the arena's own (first, then fallbacks) and other owners'.
    for start, end, owner, _ in dump["regions"]:
        if end > lo and start < hi and owner != "arena":
            box(ax, max(start, lo) / MiB, min(end, hi) / MiB, 2.2, 0.8,
                OWNER_COLORS.get(owner, "#999999"), f"window-region-{start:#x}", hatch="//")
            ax.text((max(start, lo) + min(end, hi)) / 2 / MiB, 3.05, owner, ha="center",
                    fontsize=7)
    for i, (base, size) in enumerate(dump["ranges"]):
        fallback = i > 0 and base != dump["ranges"][i - 1][0] + dump["ranges"][i - 1][1]
        box(ax, base / MiB, (base + size) / MiB, 2.2, 0.8,
            "#f2b134" if fallback else "#55a868", f"range-{base:#x}")
        ax.text((base + size / 2) / MiB, 3.05, "fallback" if fallback else "reservation",
                ha="center", fontsize=7)
    # Row 1: every page of [start, used) by state.
    least = (hi - lo) / MiB / 400  # the narrowest box drawn
    for start, end, state in dump["spans"]:
        box(ax, start / MiB, max(end / MiB, start / MiB + least), 1.0, 0.8,
            STATE_COLORS.get(state, "#999999"), f"span-{start:#x}", edge="#555555")
    ax.axvline(a_used / MiB, color="black", linestyle="--", linewidth=0.8)
    ax.axvline(a_limit / MiB, color="#c44e52", linestyle=":", linewidth=1.0)
    ax.text(a_used / MiB, 0.55, " used", fontsize=7)
    ax.text(a_limit / MiB, 0.55, " limit", fontsize=7, color="#c44e52")
    ax.set_xlim(lo / MiB, hi / MiB)
    ax.set_ylim(0.3, 3.5)
    ax.set_yticks([1.4, 2.6])
    ax.set_yticklabels(["pages", "reservations"], fontsize=8)
    step = 4 * MiB  # page-directory slots
    while (hi - lo) // step > 10:
        step *= 2
    ticks = list(range((lo + step - 1) // step * step, hi, step))
    ax.set_xticks([t / MiB for t in ticks])
    ax.set_xticklabels([f"{t:#x}" for t in ticks], fontsize=7)


def legend(fig, dump):
    handles = [patches.Patch(facecolor=c, edgecolor="black", label=o)
               for o, c in OWNER_COLORS.items()
               if any(r[2] == o for r in dump["regions"])]
    handles += [patches.Patch(facecolor="#222222", label="mapped (metadata, stacks, heap)")]
    handles += [patches.Patch(facecolor="#55a868", label="arena reservation"),
                patches.Patch(facecolor="#f2b134", label="arena fallback")]
    handles += [patches.Patch(facecolor=STATE_COLORS[s], edgecolor="#555555",
                              label=STATE_NAMES[s]) for s in STATE_COLORS]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)


def render(dump, out):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6.5),
                                      gridspec_kw={"height_ratios": [1, 1.3]})
    fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.22, hspace=0.55)
    whole_space(top, dump)
    arena_window(bottom, dump)
    legend(fig, dump)
    fig.suptitle("arena386: address space", fontsize=12, x=0.08, ha="left")
    fig.savefig(out + ".svg")
    fig.savefig(out + ".png", dpi=110)
    plt.close(fig)


def main(argv):
    if len(argv) != 3:
        print("usage: render_map.py DUMP OUT-BASENAME", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        try:
            dump = parse(f.read().splitlines())
        except ValueError as e:
            print(f"render_map: {argv[1]}: {e}", file=sys.stderr)
            return 1
    render(dump, argv[2])
    print(f"render_map: {argv[2]}.svg and {argv[2]}.png: {len(dump['regions'])} regions, "
          f"{len(dump['ranges'])} arena reservations, {len(dump['spans'])} runs of pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
