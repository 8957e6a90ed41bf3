#!/usr/bin/env bash
# Make a light agent's environment at DEST: a fresh venv with `edgeprune[agent]` only (no torch),
# installed from this checkout. Used by tests/e2e/test_light_agent.py and benchmarks/bench_onnx.py.
#   scripts/light-venv.sh DEST      then: DEST/bin/agent run --artifacts DIR --sweep FILE
set -euo pipefail
dest=${1:?usage: scripts/light-venv.sh DEST}
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
# a copy: pip builds a local project in place, which would leave build/ in the checkout
cp -r pyproject.toml README.md agent shared collector "$src"/
find "$src" -name __pycache__ -prune -exec rm -rf {} +
"$python" -m venv "$dest"
"$dest/bin/pip" install --quiet --progress-bar off "$src[agent]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$dest/bin/python" -c 'import agent.cli, onnxruntime' >/dev/null
