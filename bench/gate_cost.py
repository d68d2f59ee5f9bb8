#!/usr/bin/env python3
"""The access gate's cost (issue 13): requests per second on a chart page and a write
route, this tree against the last commit before the gate landed, in one run.

Builds both in release (`-p circle`): this tree into CARGO_TARGET_DIR (default the
repository's `target`), the pre-gate commit in a detached `git worktree` under --work
with a target directory of its own (--old-target). Each binary is copied out under --work.
Never let the two trees share a target directory: cargo hashes workspace crates by their
path inside the workspace, so one tree's crates would pass for the other's. Starts each as `circle serve --demo` on its own port and
SQLite file, signs in as the demo clinician (published TOTP secret), then measures in
interleaved rounds (old/new, then new/old, ...) so drift of a shared machine falls on
both alike:

- the chart page `/clients/{id}` of a client in the clinician's caseload (GET), and
- a measure administration, `POST /api/v1/clients/{id}/measures` (a GAD-7 of all zeros,
  on a second client, so the chart read does not grow with the writes).

Each round runs `--concurrency` keep-alive connections for `--seconds` and counts the
answers (every one must be 200 or 201). Prints requests per second per round and the
ratio new/old: the median of the per-round ratios.

    python3 bench/gate_cost.py [--rounds 5] [--seconds 5] [--concurrency 4]
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = "circle-demo-2026"
CLINICIAN = ("clinician@demo.circle.test", "CIRCLEDEMOCLINICIANTOTPSECRETAAA")
GATE_FILE = "crates/store/src/access.rs"
GAD7_ZEROS = json.dumps({"instrument": "gad7", "answers": {str(i): 0 for i in range(1, 8)}})


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", repo, *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def totp(secret: str, at: float) -> str:
    key = base64.b32decode(secret)
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(tree: str, target: str, keep_as: str) -> str:
    """Builds `tree` into `target` and copies the binary to `keep_as`, so a later build into
    the same target directory (sharing its compiled dependencies) cannot replace it."""
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    run(["cargo", "build", "--release", "--locked", "-p", "circle"], cwd=tree, env=env)
    binary = os.path.join(target, "release", "circle")
    if not os.path.exists(binary):
        sys.exit(f"the build left no {binary}")
    shutil.copy2(binary, keep_as)
    return keep_as


class Server:
    def __init__(self, name: str, binary: str, workdir: str):
        self.name = name
        self.port = free_port()
        self.log = open(os.path.join(workdir, "serve.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--demo", "--listen", f"127.0.0.1:{self.port}"],
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"{name}: circle serve --demo exited before it was ready")
            time.sleep(0.2)
        sys.exit(f"{name}: circle serve --demo was not ready within 600 s")

    def request(self, method, path, body=None, token=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {}
        if token and path.startswith("/api/"):
            headers["authorization"] = f"Bearer {token}"
        elif token:
            # The pages' session cookie carries the same sign-in token.
            headers["cookie"] = f"circle_session={token}"
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            if own:
                conn.close()

    def login(self):
        email, secret = CLINICIAN
        body = json.dumps({"email": email, "password": PASSWORD, "totp_code": totp(secret, time.time())})
        status, raw = self.request("POST", "/api/v1/auth/login", body)
        if status != 200:
            sys.exit(f"{self.name}: sign-in as {email} failed with {status}: {raw[:200]!r}")
        return json.loads(raw)["token"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def caseload(server, token):
    status, raw = server.request("GET", "/api/v1/clients?limit=200", token=token)
    if status != 200:
        sys.exit(f"{server.name}: the clinician's client list answered {status}")
    body = json.loads(raw)
    items = body["items"] if isinstance(body, dict) else body
    return [c["id"] for c in items]


def rate(server, method, path, body, token, seconds, concurrency, want):
    """Requests per second over `concurrency` keep-alive connections for `seconds`."""
    counts = [0] * concurrency
    bad = []
    stop = time.perf_counter() + seconds

    def worker(n):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            while time.perf_counter() < stop:
                status, _ = server.request(method, path, body, token, conn)
                if status != want:
                    bad.append(status)
                    return
                counts[n] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if bad:
        sys.exit(f"{server.name}: {method} {path} answered {bad[0]}, expected {want}")
    return sum(counts) / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "circle-gate-cost"),
                    help="where the pre-gate worktree and its target directory live (kept, so a second run does not rebuild)")
    ap.add_argument("--old-target", default=None,
                    help="the pre-gate build's target directory (default: old-target under --work)")
    args = ap.parse_args()
    args.old_target = args.old_target or os.path.join(args.work, "old-target")

    repo = git(os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--show-toplevel")
    added = git(repo, "log", "--diff-filter=A", "--format=%H", "--", GATE_FILE).split()
    if not added:
        sys.exit(f"no commit added {GATE_FILE}")
    old_commit = git(repo, "rev-parse", f"{added[-1]}^")
    new_commit = git(repo, "rev-parse", "HEAD")
    dirty = git(repo, "status", "--porcelain", "--untracked-files=no")
    print(f"new: {new_commit[:10]}{' (with uncommitted changes)' if dirty else ''}; "
          f"old: {old_commit[:10]} (the parent of {added[-1][:10]}, which added {GATE_FILE})")

    os.makedirs(args.work, exist_ok=True)
    old_tree = os.path.join(args.work, "old")
    if not os.path.isdir(old_tree):
        run(["git", "-C", repo, "worktree", "add", "--detach", old_tree, old_commit])
    elif git(old_tree, "rev-parse", "HEAD") != old_commit:
        run(["git", "-C", old_tree, "checkout", "--detach", old_commit])
    new_target = os.environ.get("CARGO_TARGET_DIR", os.path.join(repo, "target"))
    binaries = {
        "old": build(old_tree, args.old_target, os.path.join(args.work, "circle-old")),
        "new": build(repo, new_target, os.path.join(args.work, "circle-new")),
    }

    with tempfile.TemporaryDirectory() as old_dir, tempfile.TemporaryDirectory() as new_dir:
        servers = {"old": Server("old", binaries["old"], old_dir)}
        try:
            servers["new"] = Server("new", binaries["new"], new_dir)
            tokens = {k: s.login() for k, s in servers.items()}
            # The same demo clinic on both: a client both show the clinician's chart of.
            lists = {k: caseload(s, tokens[k]) for k, s in servers.items()}
            both = [c for c in lists["old"] if c in lists["new"]]
            if len(both) < 2:
                sys.exit(f"the clinician's caseloads differ: {lists}")
            chart_client, write_client = both[0], both[1]
            routes = [
                ("chart page", "GET", f"/clients/{chart_client}", None, 200),
                ("measure write", "POST", f"/api/v1/clients/{write_client}/measures", GAD7_ZEROS, 201),
            ]
            for _, method, path, body, want in routes:
                for k, s in servers.items():
                    status, raw = s.request(method, path, body, tokens[k])
                    if status != want:
                        sys.exit(f"{k}: {method} {path} answered {status}: {raw[:200]!r}")
                    if method == "GET":
                        # The demo seed may differ between the commits: show how alike
                        # the two pages are.
                        print(f"{k}: {path} is {len(raw)} bytes")
            print(f"{args.rounds} rounds × {args.seconds:g} s × {args.concurrency} connections per server and route")
            results = {(name, k): [] for name, *_ in routes for k in servers}
            for r in range(args.rounds):
                order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
                for name, method, path, body, want in routes:
                    for k in order:
                        rps = rate(servers[k], method, path, body, tokens[k],
                                   args.seconds, args.concurrency, want)
                        results[(name, k)].append(rps)
                line = "  ".join(
                    f"{name}: old {results[(name, 'old')][-1]:.0f} new {results[(name, 'new')][-1]:.0f} req/s"
                    for name, *_ in routes)
                print(f"round {r + 1}: {line}", flush=True)
            print(f"{'route':<14} {'old req/s':>10} {'new req/s':>10} {'new/old':>8}")
            for name, *_ in routes:
                old, new = results[(name, "old")], results[(name, "new")]
                ratio = statistics.median(n / o for n, o in zip(new, old))
                print(f"{name:<14} {statistics.median(old):>10.0f} {statistics.median(new):>10.0f} {ratio:>8.3f}")
        finally:
            for s in servers.values():
                s.stop()


if __name__ == "__main__":
    main()
