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

# --- the server (.ci/demo-server.sh) -----------------------------------------------------
WORK_PREFIX=fhir
# shellcheck source=.ci/demo-server.sh
source "$ROOT/.ci/demo-server.sh"

# --- sign in once per role ---------------------------------------------------------------
ROLES=(director clinician client admin)
sign_in_demo_roles "${ROLES[@]}"

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
