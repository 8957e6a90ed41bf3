#!/usr/bin/env bash
# The main job on the embedded default: `collector run` on a small emulated fleet, this machine
# as three device profiles (server, laptop, board: deploy/inventory.local.yml, no SSH), with the
# quick sweep; ends with results/fleet-quick/report.html. Extra arguments are passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/collector run --hosts deploy/inventory.local.yml "$@"
