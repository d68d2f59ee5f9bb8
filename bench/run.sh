#!/usr/bin/env bash
# Benchmark the planner against the anchors; see bench/run.py for options.
# Sets up .venv with ortools and highspy on first use (PyPI), then runs the table.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import ortools, highspy' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q ortools highspy numpy
fi
exec python3 bench/run.py "$@"
