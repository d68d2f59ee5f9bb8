#!/usr/bin/env python3
"""Page render times on the demo clinic, measured against the real release server.

Starts `circle serve --demo` on a fresh SQLite database in a temporary directory, signs in
as each demo account (the demo's published TOTP secrets), walks each role's pages — the
navigation, then the first few links each page offers (charts, sessions, groups,
referrals), GETs only — and times every page over loopback. Figures are reported as the
median and 95th percentile, and as a ratio to the same server's `/healthz` (the baseline
measured in the same run: the machines are noisy, ratios travel better than milliseconds).

    cargo build --release -p circle && python3 bench/pages.py [--repeat 20]
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

PASSWORD = "circle-demo-2026"
ACCOUNTS = [
    ("director", "director@demo.circle.test", "CIRCLEDEMODIRECTORTOTPSECRETAAAA"),
    ("clinician", "clinician@demo.circle.test", "CIRCLEDEMOCLINICIANTOTPSECRETAAA"),
    ("intake", "intake@demo.circle.test", "CIRCLEDEMOINTAKETOTPSECRETAAAAAA"),
    ("admin", "admin@demo.circle.test", "CIRCLEDEMOADMINTOTPSECRETAAAAAAA"),
    ("client", "client@demo.circle.test", None),
]
# Links that change state or leave the signed-in workspace are never followed.
SKIP = re.compile(r"^/(sign-out|static/|api/|feed/)|\.(csv|ics)$|/download|/export")


def totp(secret: str, at: float) -> str:
    key = base64.b32decode(secret)
    msg = struct.pack(">Q", int(at) // 30)
    digest = hmac.new(key, msg, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: str, workdir: str):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "serve", "--demo", "--listen", f"127.0.0.1:{self.port}"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                status, _, _ = self.get("/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit("circle serve --demo exited before it was ready")
            time.sleep(0.2)
        sys.exit("circle serve --demo was not ready within 300 s")

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def get(self, path, cookie=None):
        headers = {"cookie": f"circle_session={cookie}"} if cookie else {}
        return self.request("GET", path, headers=headers)

    def login(self, email, secret):
        body = {"email": email, "password": PASSWORD}
        if secret:
            body["totp_code"] = totp(secret, time.time())
        status, _, raw = self.request(
            "POST",
            "/api/v1/auth/login",
            json.dumps(body),
            {"content-type": "application/json"},
        )
        if status != 200:
            sys.exit(f"sign-in as {email} failed with {status}")
        return json.loads(raw)["token"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def links(html: bytes):
    for href in re.findall(rb'href="([^"#]+)"', html):
        path = urllib.parse.urlsplit(href.decode()).path
        if path.startswith("/") and not SKIP.search(path):
            yield path


def pages_for(server, cookie, per_kind=3, limit=60):
    """The role's pages, breadth first from its home: at most `per_kind` of each kind of
    page (a path with its ids taken out), so a day of sessions does not crowd out charts,
    referrals and reports."""
    seen, kinds, order = set(), {}, []
    queue = ["/"]
    while queue and len(order) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        kind = re.sub(r"\d+", "{id}", path)
        if kinds.get(kind, 0) >= per_kind:
            continue
        status, headers, body = server.get(path, cookie)
        if status in (301, 302, 303, 307) and headers.get("location", "").startswith("/"):
            queue.insert(0, headers["location"])
            continue
        if status != 200 or not headers.get("content-type", "").startswith("text/html"):
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        order.append(path)
        queue.extend(p for p in dict.fromkeys(links(body)) if p not in seen)
    return order


def timed(server, path, cookie, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        status, _, _ = server.get(path, cookie)
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            return status, times
    return 200, times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="target/release/circle")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.path.exists(binary):
        sys.exit(f"{binary} is missing: cargo build --release -p circle")
    with tempfile.TemporaryDirectory() as work:
        server = Server(binary, work)
        try:
            _, base = timed(server, "/healthz", None, args.repeat * 5)
            baseline = statistics.median(base)
            print(f"baseline /healthz median {baseline:.2f} ms ({args.repeat * 5} requests)")
            print(f"{'role':<10} {'page':<42} {'median ms':>9} {'p95 ms':>8} {'× healthz':>9}")
            worst = 0.0
            for role, email, secret in ACCOUNTS:
                cookie = server.login(email, secret)
                for path in pages_for(server, cookie):
                    status, times = timed(server, path, cookie, args.repeat)
                    if status != 200:
                        continue
                    med = statistics.median(times)
                    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
                    worst = max(worst, p95)
                    print(f"{role:<10} {path:<42} {med:>9.2f} {p95:>8.2f} {med / baseline:>9.1f}")
            print(f"slowest page p95: {worst:.2f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
