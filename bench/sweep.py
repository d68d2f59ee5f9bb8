#!/usr/bin/env python3
"""The planner across the generator's space, against CP-SAT's long-run optimum.

    python3 bench/sweep.py                      # the 30-instance sweep, Circle at 1 s and 10 s
    python3 bench/sweep.py --anchors-only       # fill the CP-SAT cache, nothing else
    python3 bench/sweep.py --only n150-03 n1000-07

Instances (issue 17, part 1): 10 each at 150, 1,000 and 1,200 clients; for each size the
four generator knobs -- `--slack` 1.0-1.4, `--separations` 0.01-0.06, `--current` 0.3-0.8,
`--site-size` 250-600 -- are spread over their ranges by a Latin hypercube (every tenth of
each range used once per size, the pairing drawn from a fixed seed), and the instance seed
is the row number. Nothing here is chosen per instance.

Reference: `place_anchor.py cpsat --time-limit REF` (8 workers). Its result is cached in
bench/sweep-anchors.json under the instance file's SHA-256, so a rerun (or a rerun after a
planner change) costs only Circle's runs; pass --refresh-anchors to redo it. Where CP-SAT
does not prove its answer within REF, the optimum column says so and the best known value
is the larger of CP-SAT's score and any score Circle proves optimal.

Columns: Circle's score at 1 s and 10 s (`solve --threads 2 --seed 1`, scored by
check_solution.py), the bound and proof Circle reports at 10 s, CP-SAT's reference, and
the gaps. The last lines count the issue's targets. Raw JSON lines go to
bench-out/sweep.jsonl.
"""
import argparse
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

from run import OUT, ROOT, SHARED, build_circle, check, has_anchors, last_json_line, run_measured

CACHE = ROOT / "bench" / "sweep-anchors.json"
SIZES = [150, 1000, 1200]
PER_SIZE = 10
RANGES = {"slack": (1.0, 1.4), "separations": (0.01, 0.06), "current": (0.3, 0.8), "site-size": (250, 600)}


def design():
    """(name, clients, seed, knobs) for every instance of the sweep."""
    rng = random.Random(17)
    rows = []
    for n in SIZES:
        cols = {}
        for knob, (lo, hi) in RANGES.items():
            cells = list(range(PER_SIZE))
            rng.shuffle(cells)
            # The middle of each tenth of the range.
            cols[knob] = [lo + (hi - lo) * (k + 0.5) / PER_SIZE for k in cells]
        for i in range(PER_SIZE):
            knobs = {
                "slack": round(cols["slack"][i], 3),
                "separations": round(cols["separations"][i], 4),
                "current": round(cols["current"][i], 3),
                "site-size": int(round(cols["site-size"][i])),
            }
            rows.append((f"n{n}-{i + 1:02d}", n, i + 1, knobs))
    return rows


def generate(name, n, seed, knobs):
    path = OUT / "sweep" / f"{name}.json"
    args = [sys.executable, str(SHARED / "gen_instance.py"), "--clients", str(n), "--seed", str(seed)]
    for k, v in knobs.items():
        args += [f"--{k}", str(v)]
    with open(path, "w") as f:
        subprocess.run(args, stdout=f, check=True)
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def anchor(python, inst, reference, cache, refresh):
    key = digest(inst)
    hit = cache.get(key)
    if hit and not refresh and hit.get("limit", 0) >= reference:
        return hit
    sol = OUT / "sweep" / f"{inst.stem}.cpsat.json"
    out, err, wall, _, code = run_measured(
        ["nice", python, str(SHARED / "place_anchor.py"), "cpsat", str(inst), "--time-limit", str(reference),
         "--out", str(sol)])
    line = last_json_line(out)
    checked = check(inst, sol) if code == 0 else {"feasible": False}
    entry = {"instance": inst.stem, "limit": reference, "status": line.get("status"),
             "score": checked.get("score") if checked.get("feasible") else None,
             "bound": line.get("bound"), "seconds": line.get("seconds")}
    cache[key] = entry
    CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return entry


def circle(binary, inst, limit, threads, seed):
    sol = OUT / "sweep" / f"{inst.stem}.circle-{limit:g}.json"
    out, err, wall, rss, code = run_measured(
        [str(binary), "solve", str(inst), "--time-limit", str(limit), "--threads", str(threads),
         "--seed", str(seed), "--out", str(sol)])
    if code != 0:
        raise SystemExit(f"{inst.name} at {limit} s failed: {err.strip()[-300:]}")
    checked = check(inst, sol)
    if not checked.get("feasible"):
        raise SystemExit(f"{inst.name} at {limit} s: infeasible solution {checked}")
    line = last_json_line(out)
    return {"limit": limit, "score": checked["score"], "wall": round(wall, 3), "rss_mib": round(rss, 1),
            "bound": line.get("bound"), "proven": bool(line.get("proven_optimal")),
            "timed_out": line.get("timed_out")}


def pct(a, b):
    """How far a is below b, in % of |b|."""
    return 100.0 * (b - a) / abs(b) if b else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                    help="interpreter with ortools for the CP-SAT reference")
    ap.add_argument("--reference", type=float, default=60, help="CP-SAT seconds for the reference")
    ap.add_argument("--refresh-anchors", action="store_true")
    ap.add_argument("--anchors-only", action="store_true")
    ap.add_argument("--only", nargs="+", help="instance names to run")
    ap.add_argument("--limits", nargs="+", type=float, default=[1.0, 10.0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1, help="Circle's search seed")
    a = ap.parse_args()
    if not has_anchors(a.python):
        raise SystemExit(f"{a.python} lacks ortools/highspy: run bench/run.sh once, or pip install ortools highspy")
    (OUT / "sweep").mkdir(parents=True, exist_ok=True)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    binary = None if a.anchors_only else build_circle()
    rows = []
    log = open(OUT / "sweep.jsonl", "w")
    for name, n, seed, knobs in design():
        if a.only and name not in a.only:
            continue
        inst = generate(name, n, seed, knobs)
        ref = anchor(a.python, inst, a.reference, cache, a.refresh_anchors)
        row = {"instance": name, "clients": n, "seed": seed, "knobs": knobs, "reference": ref, "circle": []}
        if binary:
            for limit in a.limits:
                row["circle"].append(circle(binary, inst, limit, a.threads, a.seed))
        rows.append(row)
        log.write(json.dumps(row) + "\n")
        log.flush()
        print(f"done {name}", file=sys.stderr)
    if a.anchors_only:
        return
    report(rows, a.limits)


def report(rows, limits):
    head = ["instance", "slack", "seps", "current", "site"] + [f"Circle {l:g} s" for l in limits] + [
        f"bound ({limits[-1]:g} s)", "proven", "CP-SAT reference", "gap to optimum " + " / ".join(f"{l:g} s" for l in limits),
        "Circle gap to own bound"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    at_first = within = proven = known = 0
    dishonest = []
    for r in rows:
        ref, runs = r["reference"], r["circle"]
        best = ref.get("score")
        proven_scores = [c["score"] for c in runs if c["proven"]]
        optimal = ref.get("status") == "OPTIMAL"
        if proven_scores:
            best = max(([best] if best is not None else []) + proven_scores)
            optimal = True
        last = runs[-1]
        if best is not None and last["bound"] is not None and last["bound"] < best:
            dishonest.append(r["instance"])
        if optimal:
            known += 1
        k = r["knobs"]
        gaps = " / ".join("–" if best is None else f"{pct(c['score'], best):.3f}%" for c in runs)
        ref_cell = "–" if ref.get("score") is None else (
            f"{ref['score']} ({'optimal' if ref.get('status') == 'OPTIMAL' else 'not proven, ≤ ' + str(round(ref['bound']))})")
        cells = [r["instance"], k["slack"], k["separations"], k["current"], k["site-size"]] + [
            str(c["score"]) for c in runs] + [str(last["bound"]), "yes" if last["proven"] else "no", ref_cell, gaps,
            f"{pct(last['score'], last['bound']):.3f}%" if last["bound"] else "–"]
        print("| " + " | ".join(str(x) for x in cells) + " |")
        if best is not None:
            at_first += runs[0]["score"] >= best
            within += all(pct(c["score"], best) <= 0.05 for c in runs)
        proven += last["proven"]
    n = len(rows)
    print()
    print(f"optimum (best known) at {limits[0]:g} s: {at_first}/{n}; within 0.05 % at every limit: {within}/{n}; "
          f"proven optimal at {limits[-1]:g} s: {proven}/{n}; optimum known (CP-SAT or Circle proof): {known}/{n}")
    if dishonest:
        print(f"BOUND BELOW THE BEST KNOWN SCORE on: {', '.join(dishonest)}")
    else:
        print("Circle's bound is at or above the best known score on every instance.")


if __name__ == "__main__":
    main()
