#!/usr/bin/env bash
# `npm test`: type check, import-direction check, unit + simulation tests, then the real-kernel tests
# (root). Without root the real-kernel part cannot run; that fails loudly unless TSWEAVE_SKIP_NETNS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
node scripts/check-imports.mjs
npx vitest run
if [ "$(id -u)" != 0 ]; then
  if [ "${TSWEAVE_SKIP_NETNS:-0}" = 1 ]; then
    echo "!!! SKIPPED: real-kernel tests (test/netns) need root; TSWEAVE_SKIP_NETNS=1 was set" >&2
    exit 0
  fi
  echo "tsweave: the real-kernel tests (test/netns) need root: run 'sudo npm test', or set TSWEAVE_SKIP_NETNS=1 to run only the unit tests" >&2
  exit 1
fi
TSWEAVE_BUILT=1 bash scripts/netns-test.sh
