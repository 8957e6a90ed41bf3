#!/usr/bin/env bash
# The main job on the embedded default: `collector run` on a one-host fleet, this machine
# (deploy/inventory.local.yml, no SSH), with the quick sweep. Extra arguments are passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/collector run --hosts deploy/inventory.local.yml "$@"
