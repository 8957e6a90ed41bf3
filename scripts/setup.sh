#!/usr/bin/env bash
# Make .venv in the checkout with everything edgeprune and its tests need.
# Idempotent: a rerun is a no-op unless pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "edgeprune needs Python >= 3.11 (found: $("$python" --version 2>&1)); set PYTHON=..." >&2
  exit 2
fi
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
stamp=.venv/.edgeprune-installed
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up .venv (torch is large: a few minutes the first time)..." >&2
"$python" -m venv .venv
.venv/bin/pip install --quiet --progress-bar off -c constraints.txt -e '.[full,analysis,collector,test]' 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true
.venv/bin/python -c 'import torch, torchvision, torch_pruning, agent.cli' >/dev/null
echo "$want" > "$stamp"
