#!/usr/bin/env bash
# Third-party validation of what Circle emits (issue 15), run once per CI run, not per
# database leg: every FHIR resource type Circle serves for the demo clinic, read through
# the API as the demo accounts, and the NDJSON files of a full Bulk Data export, through
# two independent validators of FHIR R4 4.0.1 — PyPI fhir.resources 6.1.0 (pydantic 1
# models) and npm fhir 4.12.0 (pinned by crates/testkit/fhir/package-lock.json) — with the
# LOINC codes checked against ../shared/INTEROP.md; and the OpenAPI document through PyPI
# openapi-spec-validator.
#
#   bash .ci/fhir-validate.sh
#
# Environment: FHIR_INTEROP_MD (default ../shared/INTEROP.md), CARGO_TARGET_DIR.
# Anything required that is missing fails the run loudly; nothing skips itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

fail() { echo "FHIR VALIDATION FAILED: $*" >&2; exit 1; }

INTEROP="${FHIR_INTEROP_MD:-$ROOT/../shared/INTEROP.md}"
[ -f "$INTEROP" ] || fail "$INTEROP is missing (set FHIR_INTEROP_MD): the LOINC codes are checked against it"
VENV="$ROOT/.ci/.venv-fhir"    # ignored by .ci/.gitignore
started=$SECONDS

command -v cargo >/dev/null || fail "cargo is not installed"
command -v python3 >/dev/null || fail "python3 is required (fhir.resources, openapi-spec-validator)"
command -v node >/dev/null || fail "node is required (npm fhir)"

# --- validators (installed and pinned by .ci/test-deps) ---------------------------------
"$VENV/bin/python" -c 'import fhir.resources, pydantic, openapi_spec_validator
assert fhir.resources.__version__ == "6.1.0" and pydantic.VERSION.startswith("1.")' 2>/dev/null \
  || fail "fhir.resources 6.1.0 (pydantic 1) and openapi-spec-validator are missing from $VENV: run bash .ci/test-deps"
PY="$VENV/bin/python"
grep -q '"version": "4.12.0"' crates/testkit/fhir/node_modules/fhir/package.json 2>/dev/null \
  || fail "npm fhir 4.12.0 is missing from crates/testkit/fhir/node_modules: run bash .ci/test-deps"

# --- the server --------------------------------------------------------------------------
echo "== cargo build -p circle"
cargo build -p circle --locked
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug/circle"
[ -x "$BIN" ] || fail "$BIN was not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/circle-fhir.XXXXXX")
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -INT "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting circle serve --demo"
# Port 0: the kernel picks a free port and the first line of stdout says which.
"$BIN" serve --demo --db "sqlite://$WORK/demo.db" --listen 127.0.0.1:0 \
  --key-file "$WORK/master.key" --audit-key-file "$WORK/audit.key" \
  >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!

# Waits for the address line, then for /readyz, polling (no fixed sleep); gives up after
# 120 s or as soon as the server exits.
BASE=$("$PY" - "$WORK/server.out" "$SERVER_PID" <<'EOF'
import os, re, sys, time, urllib.request
out, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 120
base = None
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("the server exited before it was ready")
    if base is None:
        with open(out) as f:
            m = re.match(r"Circle is running at (http://[^/\s]+)/", f.readline())
        if m:
            base = m.group(1)
    if base is not None:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    print(base)
                    sys.exit(0)
        except OSError:
            pass
    time.sleep(0.2)
sys.exit("the server was not ready within 120 s")
EOF
) || { cat "$WORK/server.err" >&2; fail "the demo server did not become ready"; }
echo "   server at $BASE"

# --- sign in once per role ---------------------------------------------------------------
# The TOTP secrets of the staff accounts are the ones `serve --demo` prints; a code is
# single-use per 30-s step and account, so each account signs in exactly once.
ROLES=(director clinician client admin)
"$PY" - "$BASE" "$WORK/server.out" "$WORK" "${ROLES[@]}" <<'EOF' || fail "signing in the demo accounts failed"
import base64, hashlib, hmac, json, re, struct, sys, time, urllib.error, urllib.request

base, out, work, roles = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
printed = open(out).read()
if "password circle-demo-2026" not in printed:
    sys.exit("the server did not print the demo password it was expected to use")
secrets = dict(re.findall(r"^\s+(\S+@demo\.circle\.test)\s.*TOTP secret (\S+)$", printed, re.M))

def totp(secret, at):
    # RFC 6238: HMAC-SHA-1 over the 30-s step counter, dynamic truncation, 6 digits.
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"

for role in roles:
    email = f"{role}@demo.circle.test"
    body = {"email": email, "password": "circle-demo-2026"}
    if email in secrets:
        # Keep clear of a step boundary so the code is still current when it arrives.
        if 30 - time.time() % 30 < 2:
            time.sleep(2.5)
        body["totp_code"] = totp(secrets[email], time.time())
    elif role in ("director", "clinician", "admin"):
        sys.exit(f"the server printed no TOTP secret for {email}")
    req = urllib.request.Request(
        base + "/api/v1/auth/login",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            answer = json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"sign-in as {role} refused: {e.code} {e.read().decode(errors='replace')}")
    if answer.get("status") != "signed_in" or not answer.get("token"):
        sys.exit(f"sign-in as {role} did not sign in: status {answer.get('status')!r}")
    with open(f"{work}/{role}.token", "w") as f:
        f.write(answer["token"])
    print(f"   signed in as {role} ({answer.get('role')})")
EOF

# --- read every resource type as each account -------------------------------------------
OUT="$WORK/resources"
mkdir -p "$OUT"
"$PY" - "$BASE" "$WORK" "$OUT" "${ROLES[@]}" <<'EOF' || fail "reading the FHIR API failed"
import json, sys, time, urllib.error, urllib.request
base, work, out, roles = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def get(path, token=None):
    req = urllib.request.Request(path if path.startswith("http") else base + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            ct = r.headers.get("content-type", "")
            if not ct.startswith("application/fhir+json"):
                sys.exit(f"{path}: content type {ct}")
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")

status, cs = get("/fhir/r4/metadata")
if status != 200:
    sys.exit(f"metadata: {status}")
json.dump(cs, open(f"{out}/CapabilityStatement.json", "w"))
types = [r["type"] for r in cs["rest"][0]["resource"]]
tokens = {role: open(f"{work}/{role}.token").read() for role in roles}
# Every resource once (by type and id), from whichever account may read it: the director
# (clinic-wide) reads nearly everything, the others add what only they see.
seen = {}
kept_bundle = False
for role in roles:
    for kind in types:
        url = f"/fhir/r4/{kind}?_count=1000"
        pages = 0
        t0 = time.monotonic()
        while url:
            status, b = get(url, tokens[role])
            if status in (403, 404):
                if not isinstance(b, dict) or b.get("resourceType") != "OperationOutcome":
                    sys.exit(f"{kind} as {role}: {status} without an OperationOutcome")
                seen.setdefault(("OperationOutcome", str(status)), b)
                break
            if status != 200:
                sys.exit(f"{kind} as {role}: {status} {b}")
            pages += 1
            if not kept_bundle and b.get("entry"):
                # One whole searchset Bundle is validated too (links, entries, search mode).
                json.dump(b, open(f"{out}/Bundle.json", "w"))
                kept_bundle = True
            for e in b.get("entry", []):
                r = e["resource"]
                seen.setdefault((r["resourceType"], r["id"]), r)
            url = next((l["url"] for l in b.get("link", []) if l["relation"] == "next"), None)
        print(f"   {role:9s} {kind:22s} {pages} page(s) in {time.monotonic() - t0:5.1f}s")
by_type = {}
for (kind, _), r in seen.items():
    by_type.setdefault(kind, []).append(r)
missing = [t for t in types if not by_type.get(t)]
if missing:
    sys.exit(f"the demo clinic emitted no {missing}: every type must be validated")
for kind, rs in by_type.items():
    with open(f"{out}/{kind}.ndjson", "w") as f:
        for r in rs:
            f.write(json.dumps(r) + "\n")
print(f"   {sum(len(v) for v in by_type.values())} resources of {len(by_type)} types")
EOF

# --- a full Bulk Data export of the demo clinic, as the clinic-wide director -----------------
EXPORT="$WORK/export"
mkdir -p "$EXPORT"
"$PY" - "$BASE" "$WORK" "$EXPORT" <<'EOF' || fail "the Bulk Data export failed"
import json, sys, time, urllib.parse, urllib.request
base, work, out = sys.argv[1], sys.argv[2], sys.argv[3]
token = open(f"{work}/director.token").read()
def call(url, method="GET", headers=None):
    req = urllib.request.Request(url, method=method, headers={"Authorization": "Bearer " + token, **(headers or {})})
    return urllib.request.urlopen(req, timeout=300)
q = urllib.parse.urlencode({"recipient": "CI validation", "purpose": "structural validation"})
t0 = time.monotonic()
with call(f"{base}/fhir/r4/$export?{q}", headers={"Prefer": "respond-async", "Accept": "application/fhir+json"}) as r:
    if r.status != 202:
        sys.exit(f"kick-off: {r.status}")
    status = r.headers["Content-Location"]
while True:
    with call(status) as r:
        if r.status == 200:
            manifest = json.load(r)
            break
        if r.status != 202:
            sys.exit(f"status: {r.status}")
    if time.monotonic() - t0 > 900:
        sys.exit("the export did not finish within 15 minutes")
    time.sleep(1)
files = manifest["output"] + manifest.get("error", [])
for n, o in enumerate(files):
    with call(o["url"]) as r:
        if r.headers.get("content-type") != "application/fhir+ndjson":
            sys.exit(f"{o['url']}: content type {r.headers.get('content-type')}")
        body = r.read().decode()
    lines = [l for l in body.splitlines() if l.strip()]
    if "count" in o and len(lines) != o["count"]:
        sys.exit(f"{o['type']}: {len(lines)} lines, manifest says {o['count']}")
    with open(f"{out}/export-{n:02d}-{o['type']}.ndjson", "w") as f:
        f.write(body)
    print(f"   export: {len(lines):6d} {o['type']}")
print(f"   export of {len(files)} files in {time.monotonic() - t0:.1f}s")
EOF
cp "$EXPORT"/*.ndjson "$OUT"/ || fail "the export wrote no files"

echo "== fhir.resources 6.1.0"
"$PY" crates/testkit/fhir/validate.py "$OUT" "$INTEROP" || fail "fhir.resources found invalid resources (above)"
echo "== npm fhir 4.12.0"
node crates/testkit/fhir/validate.js "$OUT" || fail "npm fhir found invalid resources (above)"

echo "== openapi-spec-validator"
"$PY" - "$BASE" <<'EOF' || fail "the OpenAPI document is not valid (above)"
import json, sys, urllib.request
from openapi_spec_validator import validate
with urllib.request.urlopen(sys.argv[1] + "/api/v1/openapi.json", timeout=30) as r:
    doc = json.load(r)
validate(doc)
print(f"   OpenAPI {doc.get('openapi')}: {len(doc['paths'])} paths valid")
EOF

stop_server
echo "FHIR validation passed in $((SECONDS - started))s"
