#!/usr/bin/env bash
# jsforce (Node) for tests/emulator/test_jsforce.py: a real client talking to the emulator unchanged.
# Installed from the npm registry into .cache/jsforce (git-ignored) with `npm ci`, from the package.json
# and package-lock.json in tests/emulator/jsforce, so every run tests the same client and dependencies
# (jsforce 3.9.5: the newest release that runs on Node 18/20; 3.10 needs Node 22). Without node and npm
# the test is skipped and says why.
set -euo pipefail
SRC="tests/emulator/jsforce"
DIR="${1:-.cache/jsforce}"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm not found: the jsforce test will be skipped" >&2
  exit 0
fi
mkdir -p "$DIR"
if cmp -s "$SRC/package-lock.json" "$DIR/package-lock.json" && [ -d "$DIR/node_modules/jsforce" ]; then
  exit 0
fi
cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
echo "installing jsforce (tests/emulator/jsforce/package-lock.json) into $DIR" >&2
npm ci --prefix "$DIR" --no-audit --no-fund --silent >/dev/null
