#!/usr/bin/env bash
# Installs everything the project needs, pinned: a Python venv (.venv) from requirements.lock and
# the npm packages (Aztec v0.63.1 artifacts, anvil, the js-libp2p/discv5 reference stack) from
# interop/js/package-lock.json. Idempotent: does nothing when both are already up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'

need_apt=()
# fastecdsa (a py-libp2p dependency) builds from source against GMP.
if ! printf '#include <gmp.h>\n' | cc -E - >/dev/null 2>&1; then need_apt+=(libgmp-dev); fi
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
# Prometheus (Debian's package, bookworm's version) scrapes a devnet in interop/test_prometheus_scrape.py.
PROMETHEUS_DEB=2.42.0+ds-5+deb12u1
command -v prometheus >/dev/null 2>&1 || need_apt+=("prometheus=$PROMETHEUS_DEB")
# headless Chromium drives the live epoch view's browser test (tests/node/test_live_view_chromium.py)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! cmp -s requirements.lock .venv/.requirements.lock; then
  echo "bootstrap: creating .venv from requirements.lock"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
  cp requirements.lock .venv/.requirements.lock
fi
if ! .venv/bin/python -c 'import node, p2p, proving' >/dev/null 2>&1; then
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
fi
# trio-typing (pulled in by py-libp2p) ships outdated `trio-stubs` that shadow trio's own inline
# types (e.g. no trio.TaskStatus); mypy must see trio's real annotations.
rm -rf .venv/lib/python3*/site-packages/trio-stubs

if [ ! -d interop/js/node_modules ] || ! cmp -s interop/js/package-lock.json interop/js/node_modules/.bootstrap-lock; then
  echo "bootstrap: installing npm packages (interop/js)"
  (cd interop/js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp interop/js/package-lock.json interop/js/node_modules/.bootstrap-lock
fi
