#!/usr/bin/env bash
# The main job: a whole local network on this machine (see README). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m node --devnet "$@"
