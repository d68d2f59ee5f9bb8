#!/usr/bin/env python3
"""Benchmark Circle's timetable solver against the CP-SAT anchor, in one run.

    python3 bench/timetable.py                  # the full table
    python3 bench/timetable.py --no-anchors     # Circle only (cached anchor figures still shown)
    python3 bench/timetable.py --rows small-1 medium-2-t1.25

Generates the instances with shared/bench/gen_timetable.py (with the generator's greedy
baseline), runs `circle-timetable` (release build of crates/timetable) at 1 s and 10 s, and
scores every timetable with shared/bench/check_timetable.py: those scores are the ones in
the table. The anchor is shared/bench/timetable_anchor.py (CP-SAT, 8 workers) at the time
limits of FORMAT-timetable.md: 60 s on small, 300 s on medium (both from the current
timetable), 120 s on large started from the greedy baseline. Anchor results are cached in
bench/timetable-anchor.json (keyed by instance, limit and start), so reruns only run
Circle; pass --refresh-anchors to measure them again. The anchor needs ortools in the
interpreter given by --python (default .venv/bin/python; `python3 -m venv .venv &&
.venv/bin/pip install ortools`). Peak memory is each child process's own max RSS.
Output: a Markdown table on stdout; raw JSON lines in bench-out/timetable.jsonl.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
OUT = ROOT / "bench-out" / "timetable"
CACHE = ROOT / "bench" / "timetable-anchor.json"
BINARY = ROOT / "target" / "release" / "circle-timetable"

# (size, seed, tightness); the anchor's time limit and start per size
ROWS = [("small", 1, 1.0), ("small", 2, 1.0), ("small", 3, 1.0), ("small", 1, 1.25),
        ("medium", 1, 1.0), ("medium", 2, 1.0), ("medium", 1, 1.25),
        ("large", 1, 1.0), ("large", 1, 1.25)]
ANCHOR = {"small": (60, "current"), "medium": (300, "current"), "large": (120, "baseline")}
LIMITS = [1, 10]
# The anchor figures of FORMAT-timetable.md (measured on a quieter machine), for the rows
# they cover: the targets are judged against the higher of these and this run's anchor.
FORMAT_FIGURES = {"small-1": -1860, "small-2": -5342, "small-3": 1424, "medium-1": 6600, "medium-2": 3862,
                  "large-1": -146529}


def row_name(size, seed, tight):
    return f"{size}-{seed}" + (f"-t{tight:g}" if tight != 1.0 else "")


def run_measured(cmd, timeout=None):
    """Run cmd at low priority; return (stdout, stderr, wall seconds, own peak RSS MiB, rc)."""
    start = time.monotonic()
    with open(OUT / "stderr.txt", "w+") as err:
        p = subprocess.Popen(["nice", "-n", "10", *map(str, cmd)], stdout=subprocess.PIPE, stderr=err, text=True)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return out, err.read(), time.monotonic() - start, usage.ru_maxrss / 1024, p.returncode


def check(instance, solution):
    p = subprocess.run([sys.executable, SHARED / "check_timetable.py", instance, solution],
                       capture_output=True, text=True)
    return json.loads(p.stdout)


def generate(size, seed, tight):
    name = row_name(size, seed, tight)
    inst, base = OUT / f"{name}.json", OUT / f"{name}.base.json"
    if not inst.exists() or not base.exists():
        subprocess.run([sys.executable, SHARED / "gen_timetable.py", "--size", size, "--seed", str(seed),
                        "--tightness", str(tight), "-o", inst, "--baseline", base], check=True)
    data = json.loads(inst.read_text())
    shape = f"{len(data['groups'])} / {len(data['clinicians'])} / {len(data['rooms']) - 1}"
    return inst, base, shape


def anchor(python, size, inst, base, refresh, allowed):
    limit, start = ANCHOR[size]
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    key = f"{inst.stem}|{limit}|{start}"
    if key in cache and not refresh:
        return cache[key]
    if not allowed:
        return None
    cmd = [python, SHARED / "timetable_anchor.py", inst, "--time-limit", limit, "--out", OUT / f"{inst.stem}.cpsat.json"]
    if start == "baseline":
        cmd += ["--start", base]
    out, err, wall, rss, rc = run_measured(cmd)
    if rc != 0 or not out.strip():
        print(f"anchor failed on {inst.stem}: {err[-500:]}", file=sys.stderr)
        return None
    result = json.loads(out.strip().splitlines()[-1])
    result.update(start=start, wall_seconds=round(wall, 1), measured=time.strftime("%Y-%m-%d"))
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    cache[key] = result
    CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return result


def circle(inst, limit, seed):
    sol = OUT / f"{inst.stem}.circle-{limit}.json"
    out, err, wall, rss, rc = run_measured([BINARY, inst, "--time-limit", limit, "--seed", seed, "--out", sol])
    if rc != 0:
        raise SystemExit(f"circle-timetable failed on {inst.stem}: {err}")
    report = json.loads(out)
    checked = check(inst, sol)
    return {"limit": limit, "score": checked["score"], "feasible": checked["feasible"],
            "violations": checked["violation_count"], "report_score": report["score"], "bound": report["bound"],
            "scheduled": checked["scheduled"], "unmet": checked["parts"]["unmet_minutes"],
            "seconds": round(report["seconds"], 2), "wall": round(wall, 2), "timed_out": report["timed_out"],
            "rss_mib": round(rss, 1), "greedy": report["greedy_score"]}


def fmt(x):
    return "—" if x is None else f"{x:,}".replace(",", ",").replace("-", "−")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--no-anchors", action="store_true", help="never run CP-SAT (cached figures are still shown)")
    ap.add_argument("--refresh-anchors", action="store_true")
    ap.add_argument("--rows", nargs="*", help="only these rows, e.g. small-1 medium-1-t1.25")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "circle-timetable"], cwd=ROOT, check=True)
    have_ortools = subprocess.run([a.python, "-c", "import ortools"], capture_output=True).returncode == 0 \
        if Path(a.python).exists() else False
    if not a.no_anchors and not have_ortools:
        print(f"note: no ortools in {a.python}; showing cached anchor figures only", file=sys.stderr)
    print("| instance (groups / clinicians / rooms) | baseline | Circle 1 s | Circle 10 s | Circle bound | gap at 10 s "
          "| CP-SAT this run (limit, start, status) | CP-SAT bound | CP-SAT in FORMAT | target | met "
          "| Circle peak RSS (MiB) | CP-SAT peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- | ---: | ---: |")
    with open(OUT.parent / "timetable.jsonl", "a") as log:
        for size, seed, tight in ROWS:
            name = row_name(size, seed, tight)
            if a.rows and name not in a.rows:
                continue
            inst, base, shape = generate(size, seed, tight)
            baseline = check(inst, base)["score"]
            runs = [circle(inst, limit, a.seed) for limit in LIMITS]
            anc = anchor(a.python, size, inst, base, a.refresh_anchors, have_ortools and not a.no_anchors)
            last = runs[-1]
            for r in runs:
                assert r["feasible"] and r["score"] == r["report_score"], (name, r)
            limit, start = ANCHOR[size]
            a_obj = anc and anc.get("objective")
            figures = [x for x in (a_obj, FORMAT_FIGURES.get(name)) if x is not None]
            ref = max(figures) if figures else None
            rss = max(r["rss_mib"] for r in runs)
            if ref is None:
                target, met = "—", "—"
            elif size == "small":
                target = "optimum at 1 s" if anc and anc.get("status") == "optimal" else "CP-SAT's best at 1 s"
                met = "yes" if runs[0]["score"] >= ref else "no"
            elif size == "medium":
                target, met = f"≥ {fmt(ref)} at 10 s", "yes" if last["score"] >= ref else "no"
            else:
                target = f"> {fmt(ref)} at 10 s, < 1 GiB"
                met = "yes" if last["score"] > ref and rss < 1024 else "no"
            print(f"| {name} ({shape}) | {fmt(baseline)} | {fmt(runs[0]['score'])} | {fmt(last['score'])} "
                  f"| {fmt(last['bound'])} | {fmt(last['bound'] - last['score'])} "
                  f"| {fmt(a_obj)} ({limit} s, {start}{', ' + anc['status'] if anc else ''}) "
                  f"| {fmt(anc and anc.get('bound'))} | {fmt(FORMAT_FIGURES.get(name))} | {target} | {met} "
                  f"| {rss:.0f} | {fmt(anc and anc.get('peak_rss_mb'))} |", flush=True)
            log.write(json.dumps({"instance": name, "baseline": baseline, "circle": runs, "anchor": anc,
                                  "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                           capture_output=True, text=True).stdout.strip(),
                                  "load": os.getloadavg()[0], "time": time.strftime("%Y-%m-%d %H:%M")}) + "\n")


if __name__ == "__main__":
    main()
