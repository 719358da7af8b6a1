#!/usr/bin/env bash
# Build the FLAML benchmark environment at bench/.venv with uv on the machine's Python 3.11.
# Usage (from anywhere): bench/setup_flaml.sh
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${BENCH_DIR}/.venv"
PYTHON="${PYTHON:-python3}"

"${PYTHON}" -m uv --version >/dev/null 2>&1 || "${PYTHON}" -m pip install --quiet uv
"${PYTHON}" -m uv venv --python "${PYTHON}" "${VENV}"
"${PYTHON}" -m uv pip install --python "${VENV}/bin/python" -r "${BENCH_DIR}/requirements-flaml.txt"

"${VENV}/bin/python" - <<'PY'
from importlib.metadata import version

import flaml.automl  # noqa: F401  (fails here if an AutoML dependency is missing)
import lightgbm
import sklearn
import xgboost

print(
    f"bench/.venv ready: flaml {version('flaml')}, lightgbm {lightgbm.__version__}, "
    f"xgboost {xgboost.__version__}, scikit-learn {sklearn.__version__}"
)
PY
