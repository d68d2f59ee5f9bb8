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

# --- the server (.ci/demo-server.sh) -----------------------------------------------------
WORK_PREFIX=schemathesis
# shellcheck source=.ci/demo-server.sh
source "$ROOT/.ci/demo-server.sh"

# --- sign in once per role ---------------------------------------------------------------
# The administrator runs last: fuzzing the account routes (disable, password and
# second-factor resets) may end other accounts' sessions, which would blind later runs.
ROLES=(director clinician intake client admin)
sign_in_demo_roles "${ROLES[@]}"

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
