# Shell helpers for simulated hosts in network namespaces (sourced by demo.sh and bench.sh).
#
#   underlay ns "$UL" with bridge br0 (10.200.0.0/24)         nothing here reaches the host's own network
#     ├── veth → host ns "$P-h1"  eth0 10.200.0.1/24           each host runs its own tsweave router
#     ├── veth → host ns "$P-h2"  eth0 10.200.0.2/24
#     └── …
#   container ns "$P-c1" … attached by `tsweave attach` from inside a host ns
#
# Every name starts with $P (unique per run) so cleanup removes exactly what this run made.

P=${P:-tsw$$}
UL="$P-ul"
TSWEAVE="${TSWEAVE:-node $(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/bin/tsweave}"
RUN_DIR=${RUN_DIR:-/tmp/$P}

topo_underlay() {
  mkdir -p "$RUN_DIR"
  ip netns add "$UL"
  ip -n "$UL" link set lo up
  ip -n "$UL" link add br0 type bridge
  ip -n "$UL" link set br0 up
}

# topo_host N [BRIDGE ADDR/LEN]: host namespace $P-hN with underlay address 10.200.0.N/24 on br0
# (or ADDR on BRIDGE, a bridge in "$UL" the caller made)
topo_host() {
  local n=$1 ns="$P-h$1"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  topo_nic "$n" "$P-u$n" eth0 "${2:-br0}" "${3:-10.200.0.$n/24}"
}

# topo_nic N OUTER IFNAME BRIDGE ADDR/LEN: one more underlay interface IFNAME in host N, its veth peer
# OUTER (a name with the $P prefix) on BRIDGE in the underlay namespace
topo_nic() {
  local ns="$P-h$1"
  ip link add "$2" type veth peer name "$3" netns "$ns"
  ip link set "$2" netns "$UL"
  ip -n "$UL" link set "$2" master "$4" up
  ip -n "$ns" addr add "$5" dev "$3"
  ip -n "$ns" link set "$3" up
}

# topo_container NAME: an empty network namespace standing in for a container
topo_container() {
  ip netns add "$P-$1"
  ip -n "$P-$1" link set lo up
}

# in_host N CMD...: run CMD inside host N's namespace
in_host() {
  local n=$1
  shift
  ip netns exec "$P-h$n" "$@"
}

# tsw N ARGS...: the tsweave CLI on host N (its own data dir)
tsw() {
  local n=$1
  shift
  TSWEAVE_DATA_DIR="$RUN_DIR/h$n" ip netns exec "$P-h$n" $TSWEAVE "$@"
}

topo_cleanup() {
  local ns pid pidf
  # Stop routers by the PID they recorded; never by name.
  for pidf in "$RUN_DIR"/h*/tsweave.pid; do
    [ -f "$pidf" ] || continue
    pid=$(cat "$pidf" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  sleep 0.3
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$RUN_DIR"
}
