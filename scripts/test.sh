#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what it needs, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Base models trained by the tests go to a private cache, never the user's.
export EDGEPRUNE_CACHE=${EDGEPRUNE_CACHE:-$PWD/.edgeprune-cache/tests}
exec .venv/bin/python -m pytest "$@"
