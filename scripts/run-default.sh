#!/usr/bin/env bash
# The main job on the embedded default: the quick sweep on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/agent run --sweep deploy/sweep.quick.yml --out results/quick "$@"
