#!/usr/bin/env bash
# The test command (README, CI): installs what is missing, then lint, types, and every test
# (unit, property, simulation, and interop against Aztec's npm packages, anvil and js peers).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/p2p -k quote`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
. .venv/bin/activate
echo "== ruff";  ruff check .
echo "== mypy --strict"; mypy
echo "== pytest"
exec pytest -q -p no:cacheprovider "$@"
