#!/usr/bin/env bash
# Real-kernel tests (network namespaces, bridges, TAPs, veths, Docker). Root only. Each test file creates
# its own uniquely named namespaces and removes them, even when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "netns tests need root" >&2
  exit 1
fi
bash scripts/install-test-deps.sh
[ "${TSWEAVE_BUILT:-0}" = 1 ] || npx tsc -p tsconfig.json
npx vitest run --config vitest.netns.config.ts "$@"
