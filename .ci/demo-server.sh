# The demo server the CI's third-party checks run against, shared by fhir-validate.sh and
# schemathesis.sh (sourced, not run). Expects ROOT, PY (a python3), fail() and
# WORK_PREFIX; builds `circle` (or takes $CIRCLE_BIN), starts `serve --demo` on a free port in a fresh SQLite
# database, waits until it is ready, and sets BIN, WORK, SERVER_PID and BASE. The EXIT
# trap stops the server and removes WORK. `sign_in_demo_roles ROLE...` signs each demo
# account in once and leaves its token in $WORK/ROLE.token.

# --- the server --------------------------------------------------------------------------
# .ci/run hands over the binary its test legs built (CIRCLE_BIN): `cargo build -p circle`
# resolves features differently from `cargo test --workspace` and would rebuild it.
if [ -n "${CIRCLE_BIN:-}" ]; then
  BIN="$CIRCLE_BIN"
else
  echo "== cargo build -p circle"
  cargo build -p circle --locked
  TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  BIN="$TARGET_DIR/debug/circle"
fi
[ -x "$BIN" ] || fail "$BIN was not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/circle-$WORK_PREFIX.XXXXXX")
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

# The TOTP secrets of the staff accounts are the ones `serve --demo` prints; a code is
# single-use per 30-s step and account, so each account signs in exactly once.
sign_in_demo_roles() {
"$PY" - "$BASE" "$WORK/server.out" "$WORK" "$@" <<'EOF' || fail "signing in the demo accounts failed"
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
}
