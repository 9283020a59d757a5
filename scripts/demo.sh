#!/usr/bin/env bash
# `npm run demo`: two simulated hosts (network namespaces) on this machine, one encrypted tsweave overlay
# between them, a "container" on each, status and a ping across. Cleans up after itself. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo: needs root (it creates network namespaces, bridges and a TAP device); try: sudo npm run demo" >&2
  exit 1
fi
[ -f dist/src/entry/tsweave.js ] || npx tsc -p tsconfig.json
command -v ping >/dev/null || bash scripts/install-test-deps.sh
source scripts/lib/topology.sh
trap topo_cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PW="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

say "two hosts, h1 (10.200.0.1) and h2 (10.200.0.2), on an underlay bridge in its own namespace"
topo_underlay
topo_host 1
topo_host 2
topo_container c1
topo_container c2

say "h1\$ tsweave launch --password … --nickname h1"
tsw 1 launch --password "$PW" --nickname h1
say "h2\$ tsweave launch --password … --nickname h2 10.200.0.1"
tsw 2 launch --password "$PW" --nickname h2 10.200.0.1

say "attach a container on each host"
tsw 1 attach 10.32.0.1/12 "$P-c1"
tsw 2 attach 10.32.0.2/12 "$P-c2"

# Established on both ends, as each side's topology gossip reports it (batched for up to a second).
for i in $(seq 1 75); do
  peers=$(tsw 1 status peers)
  echo "$peers" | grep -q established && ! echo "$peers" | grep -q pending && break
  sleep 0.2
done
say "h1\$ tsweave status"
tsw 1 status
say "h1\$ tsweave status connections"
tsw 1 status connections
say "h1\$ tsweave status peers"
tsw 1 status peers

say "c1 (on h1) pings c2 (on h2) across the encrypted overlay"
ip netns exec "$P-c1" ping -c 3 -W 2 10.32.0.2

say "done; cleaning up"
