#!/bin/sh
# Sets up Aztec's ProvingBroker harness (../shared/anchor-broker, read-only) in a writable copy, idempotently:
# npm install from its lockfile and the private glibc its LMDB module needs. Prints the directory on stdout.
# ANCHOR_BROKER_DIR overrides the destination (default: /tmp/anchor-broker).
set -eu
SRC=${ANCHOR_BROKER_SRC:-$(cd "$(dirname "$0")/../.." && pwd)/shared/anchor-broker}
[ -d "$SRC" ] || SRC=/work/shared/anchor-broker
DST=${ANCHOR_BROKER_DIR:-/tmp/anchor-broker}
mkdir -p "$DST"
for f in README.md bench.mjs node-glibc package-lock.json package.json setup-glibc.sh; do
  cmp -s "$SRC/$f" "$DST/$f" 2>/dev/null || cp "$SRC/$f" "$DST/$f"
done
chmod +x "$DST/node-glibc" "$DST/setup-glibc.sh"
cd "$DST"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund >&2
fi
if [ ! -x sysroot/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ]; then
  sh ./setup-glibc.sh >&2
fi
./node-glibc -e 'process.exit(0)' >&2 || { echo "anchor-broker: node-glibc does not start in $DST" >&2; exit 1; }
echo "$DST"
