#!/usr/bin/env bash
# API fuzzing: schemathesis against the running demo server's OpenAPI document, once
# anonymously and once signed in as each demo role. Every response must be documented
# (status code, content type, body schema) and none may be a server error.
#
#   bash .ci/schemathesis.sh
#
# Environment: SCHEMATHESIS_SEED (default fixed, so CI is reproducible),
# SCHEMATHESIS_MAX_EXAMPLES (per operation and phase, default 8), CARGO_TARGET_DIR.
# Anything required that is missing fails the run loudly; nothing skips itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

fail() { echo "SCHEMATHESIS FAILED: $*" >&2; exit 1; }

SCHEMATHESIS_VERSION=4.32.5
SEED="${SCHEMATHESIS_SEED:-20260101}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-8}"
VENV="$ROOT/.ci/.venv-schemathesis"    # ignored by .ci/.gitignore
started=$SECONDS

command -v cargo >/dev/null || fail "cargo is not installed"
command -v python3 >/dev/null || fail "python3 is required to run schemathesis"

# --- schemathesis, pinned, in its own venv ---------------------------------------------
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || fail "cannot create a venv (is python3-venv installed?)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" || fail "pip could not install schemathesis"
fi
PY="$VENV/bin/python"
ST="$VENV/bin/st"

# --- the server --------------------------------------------------------------------------
echo "== cargo build -p circle"
cargo build -p circle --locked
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug/circle"
[ -x "$BIN" ] || fail "$BIN was not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/circle-schemathesis.XXXXXX")
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
# The administrator runs last: fuzzing the account routes (disable, password and
# second-factor resets) may end other accounts' sessions, which would blind later runs.
ROLES=(director clinician intake client admin)
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

# --- fuzz ----------------------------------------------------------------------------------
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
run_st() {
  local who=$1; shift
  echo "== schemathesis as $who"
  # Logout is excluded: it would revoke the token in the middle of the run. One worker:
  # CPython before 3.13 can fail `ast.parse` in concurrent threads ("AST constructor
  # recursion depth mismatch", gh-106905), which Hypothesis calls while generating.
  # Responses may take up to 15 s: POST /api/v1/plan/proposals documents a solver time
  # limit of up to 10 s, and a fuzzer may ask for it.
  (cd "$WORK" && "$ST" run "$BASE/api/v1/openapi.json" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --max-response-time 15 \
    --request-timeout 30 \
    --exclude-path /api/v1/auth/logout \
    --generation-database none \
    --suppress-health-check all \
    --no-color \
    "$@")
}

passed=()
run_st anonymous || fail "schemathesis found problems in the anonymous run (above)"
passed+=(anonymous)
for role in "${ROLES[@]}"; do
  token=$(cat "$WORK/$role.token")
  run_st "$role" --header "Authorization: Bearer $token" \
    || fail "schemathesis found problems signed in as $role (above)"
  passed+=("$role")
done

stop_server
echo "schemathesis passed: ${#passed[@]} runs (${passed[*]}), checks $CHECKS, seed $SEED, in $((SECONDS - started))s"
