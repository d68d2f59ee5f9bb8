#!/usr/bin/env python3
"""Benchmark Circle's planner against the CP-SAT / HiGHS anchors, side by side in one run.

    python3 bench/run.py                       # the full table (small 1-5, medium 1-5, large 1-3)
    python3 bench/run.py --sizes small medium  # a subset
    python3 bench/run.py --no-anchors          # Circle only

Generates the instances with shared/bench/gen_instance.py, runs the planner (release build of
the `solve` example, which mounts crates/cli/src/plan.rs: the same code as `circle plan
solve`), and -- when the interpreter given by --python (default .venv/bin/python) has ortools
and highspy -- CP-SAT and HiGHS at the same time limit plus the LP bound, via
shared/bench/place_anchor.py. Every solution is scored by shared/bench/check_solution.py;
those scores are the ones in the table. Peak memory is the child process's max RSS.
Output: a Markdown table on stdout; raw JSON lines in bench-out/results.jsonl.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
OUT = ROOT / "bench-out"

# (size, seeds, time limits for Circle; anchors run at the largest limit of the row)
PLAN = {
    "small": ([1, 2, 3, 4, 5], [0.1]),
    "medium": ([1, 2, 3, 4, 5], [1.0]),
    "large": ([1, 2, 3], [1.0, 10.0]),
}


def run(cmd):
    """Run cmd; return (stdout, stderr, wall seconds, exit code)."""
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.stdout, p.stderr, time.monotonic() - start, p.returncode


def run_measured(cmd, timeout=None):
    """Run cmd; return (stdout, stderr, wall seconds, the child's own peak RSS in MiB, exit
    code). stderr goes to a temporary file so that neither pipe can fill and block. After
    `timeout` seconds the child is killed (HiGHS on large instances can run far past its
    time limit)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as err_file, tempfile.TemporaryFile() as out_file:
        p = subprocess.Popen(cmd, stdout=out_file, stderr=err_file)
        timer = None
        if timeout:
            timer = threading.Timer(timeout, p.kill)
            timer.start()
        _, status, usage = os.wait4(p.pid, 0)
        if timer:
            timer.cancel()
        out_file.seek(0)
        out = out_file.read()
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        err_file.seek(0)
        err = err_file.read()
    return out.decode(), err.decode(errors="replace"), wall, usage.ru_maxrss / 1024.0, p.returncode


def check(instance, solution):
    out, err, _, _ = run([sys.executable, str(SHARED / "check_solution.py"), str(instance), str(solution)])
    try:
        return json.loads(out)
    except ValueError:
        return {"feasible": False, "error": err.strip() or out.strip()}


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {}


def has_anchors(python):
    if not Path(python).exists():
        return False
    _, _, _, code = run([python, "-c", "import ortools, highspy"])
    return code == 0


def build_circle():
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "circle-planner", "--example", "solve"],
                   cwd=ROOT, check=True)
    return target / "release" / "examples" / "solve"


def fmt(v, spec=""):
    if v is None:
        return "–"
    return format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", choices=list(PLAN), default=list(PLAN))
    ap.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                    help="interpreter with ortools and highspy for the anchors")
    ap.add_argument("--no-anchors", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1, help="Circle's search seed")
    ap.add_argument("--anchor-timeout", type=float, default=300,
                    help="kill an anchor after this many seconds of wall clock (model building included)")
    ap.add_argument("--reference", type=float, default=60,
                    help="also run CP-SAT this long on small/medium for the proven optimum (0: skip)")
    a = ap.parse_args()

    anchors = not a.no_anchors and has_anchors(a.python)
    if not a.no_anchors and not anchors:
        print(f"note: {a.python} lacks ortools/highspy; running Circle only", file=sys.stderr)
    (OUT / "instances").mkdir(parents=True, exist_ok=True)
    binary = build_circle()
    results = []
    log = open(OUT / "results.jsonl", "w")
    for size in a.sizes:
        seeds, limits = PLAN[size]
        for seed in seeds:
            inst = OUT / "instances" / f"{size}-{seed}.json"
            with open(inst, "w") as f:
                subprocess.run([sys.executable, str(SHARED / "gen_instance.py"), "--size", size, "--seed", str(seed)],
                               stdout=f, check=True)
            row = {"instance": f"{size}-{seed}", "circle": []}
            for limit in limits:
                sol = OUT / f"{size}-{seed}.circle-{limit:g}.json"
                out, err, wall, rss, code = run_measured(
                    [str(binary), "solve", str(inst), "--time-limit", str(limit), "--threads", str(a.threads),
                     "--seed", str(a.seed), "--out", str(sol)])
                line = last_json_line(out)
                checked = check(inst, sol) if code == 0 else {"feasible": False, "error": err.strip()}
                row["circle"].append({"limit": limit, "wall": round(wall, 3), "rss_mib": round(rss, 1),
                                      "reported": line, "checked": checked})
            if anchors:
                limit = max(limits)
                for solver in ("cpsat", "highs"):
                    sol = OUT / f"{size}-{seed}.{solver}.json"
                    out, err, wall, rss, code = run_measured(
                        [a.python, str(SHARED / "place_anchor.py"), solver, str(inst), "--time-limit", str(limit),
                         "--out", str(sol)], timeout=a.anchor_timeout)
                    line = last_json_line(out)
                    checked = check(inst, sol) if code == 0 else {"feasible": False, "error": err.strip()[-300:] or f"exit {code}"}
                    row[solver] = {"limit": limit, "wall": round(wall, 3), "reported": line, "checked": checked,
                                   "exit": code}
                out, err, wall, rss, code = run_measured([a.python, str(SHARED / "place_anchor.py"), "bound", str(inst)])
                row["lp"] = last_json_line(out)
                if a.reference and size != "large":
                    # CP-SAT with a long limit: the proven optimum, to say "optimal" honestly.
                    out, err, wall, rss, code = run_measured(
                        [a.python, str(SHARED / "place_anchor.py"), "cpsat", str(inst), "--time-limit",
                         str(a.reference)])
                    row["reference"] = last_json_line(out)
            results.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(f"done {row['instance']}", file=sys.stderr)

    def score(entry):
        c = entry.get("checked", {}) if entry else {}
        return c.get("score") if c.get("feasible") else None

    head = ["instance", "Circle limit", "Circle score", "Circle s", "peak MiB", "proven"]
    if anchors:
        head += ["CP-SAT score", "CP-SAT s", "HiGHS score", "HiGHS s", "anchor limit", "LP bound",
                 "Circle gap to LP", "CP-SAT gap to LP", "optimum (CP-SAT, long)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in results:
        lp = row.get("lp", {}).get("objective")
        for c in row["circle"]:
            s = score(c)
            cells = [row["instance"], f"{c['limit']:g} s", fmt(s), f"{c['wall']:.2f}", f"{c['rss_mib']:.0f}",
                     "yes" if c["reported"].get("proven_optimal") else "no"]
            if anchors:
                cp, hi = row.get("cpsat"), row.get("highs")
                gap = lambda v: None if v is None or lp is None else f"{100 * (lp - v) / abs(lp):.2f}%"
                def anchor(e):
                    if not e:
                        return ["–", "–"]
                    if e.get("exit") not in (0, None):
                        return [f"none (killed at {e['wall']:.0f} s wall)", "–"]
                    secs = fmt(e["reported"].get("seconds"))
                    if score(e) is None:
                        return [f"none ({e['reported'].get('status', '?')})", secs]
                    return [fmt(score(e)), secs]
                cells += anchor(cp) + anchor(hi) + [
                          f"{cp['limit']:g} s" if cp else "–",
                          fmt(lp if lp is None else round(lp)), fmt(gap(s)), fmt(gap(score(cp)))]
                ref = row.get("reference")
                if ref and ref.get("status") == "OPTIMAL":
                    cells.append(f"{round(ref['objective'])} ({ref['seconds']:.1f} s)")
                elif ref:
                    cells.append(f"≤ {round(ref['bound'])} (not proven)")
                else:
                    cells.append("–")
            print("| " + " | ".join(str(x) for x in cells) + " |")


if __name__ == "__main__":
    main()
