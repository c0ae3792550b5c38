#!/usr/bin/env bash
# The test command.
#
#   scripts/test.sh            CI / before a merge: installs what is missing, then ruff, mypy --strict and
#                              every test (unit, property, simulation, and interop against Aztec's npm
#                              packages, anvil and js peers). Hypothesis runs its `ci` profile (no deadline, derandomized).
#   scripts/test.sh --fast     on every change (under 60 s): ruff, mypy --strict, and tests/ without the
#                              `slow` and `interop` marks on 4 pytest-xdist workers (many tests wait on
#                              sockets), Hypothesis profile
#                              `fast` (no deadline, fewer examples), a 4 s fuzz budget. Does not run the
#                              bootstrap unless .venv is missing.
#
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/p2p -k quote` or `scripts/test.sh --fast -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = "--fast" ]; then fast=1; shift; fi
if [ $fast = 0 ] || [ ! -x .venv/bin/python ]; then scripts/bootstrap.sh; fi
. .venv/bin/activate
echo "== ruff";  ruff check .
echo "== mypy --strict"; mypy
echo "== pytest"
if [ $fast = 1 ]; then
  export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-fast}"
  export FUZZ_BUDGET_SECONDS="${FUZZ_BUDGET_SECONDS:-4}"  # the CI run fuzzes every decoder for 20 s
  exec pytest -q -p no:cacheprovider -n 4 -m "not slow and not interop" tests "$@"
fi
# the full run is the CI run (`.ci/run` calls this on a clean clone): no Hypothesis deadlines there
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
exec pytest -q -p no:cacheprovider "$@"
