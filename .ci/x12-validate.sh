#!/usr/bin/env bash
# Third-party check of Circle's X12 837P claim file (issue 15), once per CI run against the
# demo clinic: the director downloads the last 60 days' 837P through the API, PyPI pyx12's
# `x12valid` validates it against the 005010X222A1 implementation guide (segments, loops,
# element sizes and code sets), and the file is compared with the billing CSV of the same
# dates: one service line per billable CSV line, modifier 95 exactly on telehealth lines.
#
#   bash .ci/x12-validate.sh
#
# pyx12 is pinned and installed into its own venv (.ci/.venv-x12) by this script.
# Anything required that is missing fails the run loudly; nothing skips itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
fail() { echo "X12 VALIDATION FAILED: $*" >&2; exit 1; }
started=$SECONDS

PYX12_VERSION=4.0.0
VENV="$ROOT/.ci/.venv-x12"    # ignored by .ci/.gitignore
if ! "$VENV/bin/python" -c "import pyx12; assert pyx12.__version__ == '$PYX12_VERSION'" 2>/dev/null; then
  command -v python3 >/dev/null || fail "python3 is required for pyx12"
  echo "== installing pyx12 $PYX12_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || fail "cannot create a venv (is python3-venv installed?)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "pyx12==$PYX12_VERSION" \
    || fail "pip could not install pyx12==$PYX12_VERSION"
fi
[ -x "$VENV/bin/x12valid" ] || fail "x12valid is missing from $VENV after installing pyx12"
PY="$VENV/bin/python"

WORK_PREFIX=x12
# shellcheck source=.ci/demo-server.sh
source "$ROOT/.ci/demo-server.sh"
sign_in_demo_roles director

"$PY" - "$BASE" "$WORK" <<'PYEOF' || fail "could not download the claim file and the CSV"
import csv, datetime, io, sys, urllib.error, urllib.request
base, work = sys.argv[1], sys.argv[2]
token = open(f"{work}/director.token").read().strip()
until = datetime.date.today()
since = until - datetime.timedelta(days=60)
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict((k.lower(), v) for k, v in r.headers.items()), r.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit(f"{path}: {e.code} {e.read().decode(errors='replace')}")
q = f"from={since}&until={until}"
s, h, x12 = get(f"/api/v1/billing/837p?{q}")
assert h["content-type"].startswith("application/edi-x12"), h["content-type"]
open(f"{work}/demo.837p.x12", "w").write(x12)
s, h, text = get(f"/api/v1/billing/export?{q}")
open(f"{work}/demo.billing.csv", "w").write(text)
print(f"   downloaded the 837P ({len(x12.splitlines())} segments) and the CSV for {since}..{until}")
PYEOF

# x12valid's exit status says nothing (pyx12 4.0.0's entry point exits 1 even when the
# file is valid): read its verdict line and its ERROR lines instead.
echo "== x12valid (pyx12 $PYX12_VERSION)"
"$VENV/bin/x12valid" "$WORK/demo.837p.x12" >"$WORK/x12valid.out" 2>&1 || true
cat "$WORK/x12valid.out"
grep -q "ERROR" "$WORK/x12valid.out" && fail "x12valid reported errors in the demo clinic's 837P"
grep -qx "$WORK/demo.837p.x12: OK" "$WORK/x12valid.out" || fail "x12valid did not say OK"

"$PY" - "$WORK" <<'PYEOF' || fail "the 837P does not match the billing CSV"
import csv, sys
work = sys.argv[1]
segs = [s.strip() for s in open(f"{work}/demo.837p.x12").read().split("~") if s.strip()]
rows = list(csv.DictReader(open(f"{work}/demo.billing.csv", newline="")))
billable = [r for r in rows if r["billable"] == "yes"]
sv1 = [s for s in segs if s.startswith("SV1*")]
assert billable, "the demo clinic has no billable line in the last 60 days"
assert len(sv1) == len(billable), f"{len(sv1)} service lines for {len(billable)} billable CSV lines"
tele_csv = sum(1 for r in billable if r["modifier"] == "95")
tele_x12 = sum(1 for s in sv1 if s.split("*")[1].endswith(":95"))
assert tele_csv == tele_x12, f"modifier 95 on {tele_x12} service lines, {tele_csv} telehealth CSV lines"
for r in billable:
    if r["modifier"] == "95":
        assert r["place_of_service"] in ("02", "10"), f"telehealth line at POS {r['place_of_service']}"
    else:
        assert r["place_of_service"] not in ("02", "10"), "an in-person line at a telehealth POS"
clm = [s for s in segs if s.startswith("CLM*")]
ids = [s.split("*")[1] for s in clm]
assert len(set(ids)) == len(ids), "a claim id repeats"
sessions = sum(1 for r in billable if r["line_type"] == "session")
rendering = sum(1 for s in segs if s.startswith("NM1*82*"))
assert rendering == sessions, f"{rendering} rendering providers for {sessions} session lines"
print(f"   {len(clm)} claims, {len(sv1)} service lines ({tele_x12} telehealth) match the CSV's "
      f"{len(billable)} billable of {len(rows)} lines")
PYEOF
echo "The demo clinic's 837P passed pyx12 x12valid ($((SECONDS - started)) s)"
