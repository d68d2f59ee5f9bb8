#!/usr/bin/env python3
"""Load on real `circle serve` processes: open-loop latency, and audited write throughput
with one, two and three servers over one database (issue 16).

Starts the servers on the demo clinic (a fresh SQLite file, or a fresh PostgreSQL database
named circle_bench_<pid> that is dropped afterwards), signs in as the demo's director,
clinician and intake accounts, and then, per mode:

  latency     Open loop at constant arrival rates: requests are sent on a fixed schedule
              whatever the answers do, and each latency counts from the scheduled instant
              (so a stalled server shows up as latency, not as fewer requests). The mix is
              what signed-in staff do: 80 % reads (a client's chart through the API and as a
              page — both audited —, a group's members, the client list, the Today page,
              `me`) and 20 % writes (a new client, audited; a new room). `/healthz` is measured at the
              first rate in the same run: the ratio to it travels between machines better
              than milliseconds. Requests are spread round-robin over the servers.
  throughput  Closed loop: 16 workers creating clients (audited writes) back to back for a few seconds
              against the first server, then the first two, then all three (same database,
              same run): how far the audit chain's single head row lets writes grow with
              servers.

    cargo build --release -p circle
    python3 bench/load.py latency --db sqlite --rates 200,400,800 --seconds 8
    python3 bench/load.py latency --db postgres --servers 2 --rates 200,400,800
    python3 bench/load.py throughput --db postgres --seconds 8
    python3 bench/load.py kinds --db sqlite          # each kind alone: where the time goes

The client is Python threads: at the highest rates on a small machine it competes with the
servers for the same cores, which the figures include.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import queue
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PASSWORD = "circle-demo-2026"
STAFF = [
    ("director@demo.circle.test", "CIRCLEDEMODIRECTORTOTPSECRETAAAA"),
    ("clinician@demo.circle.test", "CIRCLEDEMOCLINICIANTOTPSECRETAAA"),
    ("intake@demo.circle.test", "CIRCLEDEMOINTAKETOTPSECRETAAAAAA"),
]


def totp(secret: str, at: float) -> str:
    key = base64.b32decode(secret)
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def binary() -> str:
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    path = os.path.join(target, "release", "circle")
    if not os.path.exists(path):
        sys.exit(f"{path} not found: run `cargo build --release -p circle` first")
    return path


class Server:
    def __init__(self, exe, url, workdir, name):
        self.proc = subprocess.Popen(
            [exe, "serve", "--demo", "--db", url, "--listen", "127.0.0.1:0",
             "--key-file", os.path.join(workdir, "demo.key"),
             "--audit-key-file", os.path.join(workdir, "demo-audit.key"),
             "--server-id", name],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            # Request log lines off: the benchmark measures serving, not logging.
            env={**os.environ, "CIRCLE_LOG": "warn"},
        )
        line = self.proc.stdout.readline()
        if "http://" not in line:
            self.proc.kill()
            sys.exit(f"server {name} did not start: {line!r}")
        hostport = line.split("http://")[1].strip().rstrip("/")
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def call(conn, method, path, token=None, body=None, cookie=False):
    headers = {}
    if token and cookie:
        headers["Cookie"] = f"circle_session={token}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    return r.status, payload


def sign_in(server, email, secret):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    status, body = call(conn, "POST", "/api/v1/auth/login", body={
        "email": email, "password": PASSWORD, "totp_code": totp(secret, time.time())})
    if status != 200:
        sys.exit(f"sign-in of {email} failed: {status} {body[:200]!r}")
    return json.loads(body)["token"]


class Mix:
    """The staff's requests, chosen by a counter (deterministic, no RNG)."""

    def __init__(self, servers, tokens):
        conn = http.client.HTTPConnection(servers[0].host, servers[0].port, timeout=30)
        _, body = call(conn, "GET", "/api/v1/clients?limit=200", tokens[0])
        self.clients = [c["id"] for c in json.loads(body)["items"]]
        _, body = call(conn, "GET", "/api/v1/groups?limit=200", tokens[0])
        self.groups = [g["id"] for g in json.loads(body)["items"]]
        self.tokens = tokens
        self.n = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.n += 1
            n = self.n
        token = self.tokens[n % len(self.tokens)]
        client = self.clients[n % len(self.clients)]
        group = self.groups[n % len(self.groups)]
        kind = n % 10
        # Writes as the director: a new client (audited) or a new room.
        if kind == 0:
            return ("POST", "/api/v1/clients", self.tokens[0], new_client(f"L{os.getpid()}-{n}"), False)
        if kind == 5:
            return ("POST", "/api/v1/rooms", self.tokens[0],
                    {"site": "Bench", "name": f"Room {os.getpid()}-{n}", "capacity": 8}, False)
        if kind in (1, 6):
            return ("GET", f"/api/v1/clients/{client}", self.tokens[0], None, False)
        if kind in (2, 7):
            return ("GET", f"/api/v1/groups/{group}/memberships", self.tokens[0], None, False)
        if kind == 3:
            return ("GET", "/api/v1/clients?limit=50", self.tokens[0], None, False)
        if kind == 4:
            return ("GET", "/today", token, None, True)
        if kind == 8:
            return ("GET", f"/clients/{client}", self.tokens[0], None, True)
        return ("GET", "/api/v1/me", token, None, False)


def new_client(record):
    # A synthetic person: the record number is the only thing that varies.
    return {"record_number": record, "given_name": "Bench", "family_name": "Load",
            "date_of_birth": "1984-01-01", "referral_source": "program_admission"}


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def open_loop(servers, rate, seconds, pick, workers=48):
    """Sends rate*seconds requests on schedule; returns (latencies in ms, errors)."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    work = queue.Queue()
    for i in range(total):
        work.put((start + i / rate, i))
    latencies, errors = [], [0]
    lock = threading.Lock()
    kinds = {}

    def worker():
        conns = {}
        while True:
            try:
                due, i = work.get_nowait()
            except queue.Empty:
                return
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            server = servers[i % len(servers)]
            method, path, token, body, cookie = pick()
            conn = conns.get(server.port)
            if conn is None:
                conn = conns[server.port] = http.client.HTTPConnection(
                    server.host, server.port, timeout=30)
            try:
                status, _ = call(conn, method, path, token, body, cookie)
                ok = status < 400
            except (OSError, http.client.HTTPException):
                conns.pop(server.port, None)
                status, ok = "io", False
            took = (time.perf_counter() - due) * 1000
            with lock:
                latencies.append(took)
                if not ok:
                    errors[0] += 1
                    what = f"{method} {path.split('/')[3] if path.count('/') > 2 else path} {status}"
                    kinds[what] = kinds.get(what, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if kinds:
        print(f"    errors: {kinds}")
    return latencies, errors[0]


def closed_loop_writes(servers, token, seconds, workers=16):
    stop = time.perf_counter() + seconds
    done, errors = [0], [0]
    lock = threading.Lock()

    def worker(w):
        server = servers[w % len(servers)]
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        n = 0
        while time.perf_counter() < stop:
            n += 1
            # A new client: one audited write (the audit entry is chained in the same
            # transaction).
            status, _ = call(conn, "POST", "/api/v1/clients", token,
                             new_client(f"T{os.getpid() % 10000}-{len(servers)}-{w}-{n}"))
            with lock:
                if status == 201:
                    done[0] += 1
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / seconds, errors[0]


def kinds(server, mix, rounds=60):
    """Each kind of request of the mix, sent one at a time: where a request's time goes
    when nothing queues (serial work per kind, the client's overhead included)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    per = {}
    for _ in range(rounds * 10):
        method, path, token, body, cookie = mix.next()
        shape = "/".join("{id}" if p.isdigit() else p for p in path.split("?")[0].split("/"))
        t = time.perf_counter()
        call(conn, method, path, token, body, cookie)
        per.setdefault(f"{method} {shape}", []).append((time.perf_counter() - t) * 1000)
    total = sum(sum(v) for v in per.values())
    print("  request                                   n   median ms   share of the work")
    for k, v in sorted(per.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {k:40s} {len(v):3d} {statistics.median(v):10.2f} {sum(v) / total:12.0%}")
    print(f"  mean serial work per request: {total / sum(len(v) for v in per.values()):.2f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["latency", "throughput", "kinds"])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--servers", type=int, default=1)
    ap.add_argument("--rates", default="200,400,800")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--binary", help="the circle binary (default: the release build)")
    ap.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL",
                                                   "postgres://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    exe = args.binary or binary()
    workdir = tempfile.mkdtemp(prefix="circle-load-")
    if args.db == "sqlite":
        url = f"sqlite://{workdir}/bench.db"
        if args.mode == "throughput" or args.servers > 1:
            sys.exit("several servers need PostgreSQL: --db postgres")
    else:
        name = f"circle_bench_{os.getpid()}"
        subprocess.run(["psql", args.pg, "-qc", f"CREATE DATABASE {name}"], check=True)
        parsed = urllib.parse.urlsplit(args.pg)
        url = urllib.parse.urlunsplit(parsed._replace(path=f"/{name}"))
    count = 3 if args.mode == "throughput" else args.servers
    servers = []
    try:
        servers.append(Server(exe, url, workdir, "b1"))
        for i in range(2, count + 1):
            servers.append(Server(exe, url, workdir, f"b{i}"))
        tokens = [sign_in(servers[0], e, s) for e, s in STAFF]
        print(f"{args.mode} on {args.db}, {count} server(s), binary {exe}")
        if args.mode == "throughput":
            base = None
            for n in (1, 2, 3):
                rate, errors = closed_loop_writes(servers[:n], tokens[0], args.seconds)
                base = base or rate
                print(f"  {n} server(s): {rate:7.1f} audited writes/s  ({rate / base:.2f}x)  errors {errors}")
            return
        mix = Mix(servers, tokens)
        if args.mode == "kinds":
            kinds(servers[0], mix)
            return
        rates = [int(r) for r in args.rates.split(",")]
        health = lambda: ("GET", "/healthz", None, None, False)  # noqa: E731
        lat, err = open_loop(servers, rates[0], args.seconds, health)
        h50, h99 = percentile(lat, 0.5), percentile(lat, 0.99)
        print(f"  /healthz at {rates[0]}/s: p50 {h50:.2f} ms  p95 {percentile(lat, 0.95):.2f} ms  "
              f"p99 {h99:.2f} ms  errors {err}")
        print("  rate/s   p50 ms   p95 ms   p99 ms   p50/healthz  p99/healthz  errors  sent")
        for rate in rates:
            lat, err = open_loop(servers, rate, args.seconds, mix.next)
            p50, p95, p99 = (percentile(lat, p) for p in (0.5, 0.95, 0.99))
            print(f"  {rate:6d} {p50:8.2f} {p95:8.2f} {p99:8.2f} {p50 / h50:12.1f} {p99 / h99:12.1f}"
                  f" {err:7d} {len(lat):5d}")
    finally:
        for s in servers:
            s.stop()
        if args.db == "postgres":
            subprocess.run(["psql", args.pg, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


if __name__ == "__main__":
    main()
