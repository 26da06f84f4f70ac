#!/usr/bin/env bash
# The prepared GPU check (issue 17 item 5): every CUDA path of the package in one command,
# under 8 minutes on one GPU. Each check runs in its own process with a time budget and
# reports pass / fail / skip with the reason; the report (runs/gpu_check/report.json and
# report.md, or --out DIR) is rewritten after every check.
#
#   scripts/gpu_check.sh              # run every check (exit 1 if any failed)
#   scripts/gpu_check.sh --dry-run    # list the checks and why each would skip here; run none
#   scripts/gpu_check.sh --only parity,cleanup --out runs/gpu_check_b
#
# Runs with whatever Python has torch: PYTHON (default python3 from PATH), the repo root put
# on PYTHONPATH; no project venv, no pip, no network. Checks whose imports are missing skip.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" "$ROOT/scripts/gpu_check.py" "$@"
