#!/usr/bin/env bash
# `npm run bench` (root): tsweave's data plane beside the references, measured the same way in one run.
#
# Two simulated hosts (network namespaces h1, h2) on an underlay bridge in its own namespace, one
# "container" namespace on each host, and for each overlay:
#   none           both containers on one plain bridge (the ceiling: no overlay at all)
#   vxlan          kernel VXLAN between the hosts, bridged to the containers (unencrypted reference)
#   tinc           tinc 1.0 switch mode, encrypted (its defaults), tap bridged to the container
#   tsweave-enc    tsweave launch --password … / attach (the real CLI, separate data dirs)
#   tsweave-plain  the same without a password, on the sleeve (--no-fastdp)
#   tsweave-fastdp the same without a password, on the fast datapath (kernel VXLAN programmed by the router),
#                  container MTU BENCH_FASTDP_MTU (1450, as the VXLAN reference: same frames on the wire)
# it measures iperf3 TCP with 1 and 4 streams (BENCH_RUNS runs × BENCH_SECONDS s, median), ping RTT
# (average of 20), UDP 64-byte request/response rate (scripts/bench/udp_rr.py, one outstanding request)
# and CPU-seconds per GB of the overlay's processes on both hosts (/proc/PID/stat; kernel = n/a),
# then prints a table with ratios to tinc and VXLAN and writes it as JSON to bench-results/.
#
# Env: BENCH_SECONDS (10), BENCH_RUNS (3), BENCH_OVERLAYS ("none vxlan tinc tsweave-enc tsweave-plain tsweave-fastdp"),
#      BENCH_NO_BUILD=1 (skip `tsc` and the addon build), BENCH_RR_SECONDS (5), BENCH_ENC_MTU (1376),
#      BENCH_FASTDP_MTU (1450).
# Everything it creates is named with a per-run prefix and removed on exit; processes are killed by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [ "$(id -u)" != 0 ]; then
  echo "bench: needs root (network namespaces, bridges, TAP devices); try: sudo npm run bench" >&2
  exit 1
fi

S=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
RR_S=${BENCH_RR_SECONDS:-5}
ENC_MTU=${BENCH_ENC_MTU:-1376}
FASTDP_MTU=${BENCH_FASTDP_MTU:-1450}
OVERLAYS=${BENCH_OVERLAYS:-"none vxlan tinc tsweave-enc tsweave-plain tsweave-fastdp"}
BASE="tb$$"
OUT_DIR="$ROOT/bench-results"
WORK=/tmp/$BASE
mkdir -p "$OUT_DIR" "$WORK"
trap 'rm -rf "$WORK"' EXIT # replaced by cleanup_all once the topology helpers are loaded
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need iperf3 || missing+=(iperf3)
need ping || missing+=(iputils-ping)
need python3 || missing+=(python3)
case " $OVERLAYS " in *" tinc "*) need tincd || missing+=(tinc) ;; esac
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  npm run -s build >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log" >&2; exit 1; }
fi

source scripts/lib/topology.sh

# Per-overlay prefix: topology.sh's helpers read $P, $UL and $RUN_DIR at call time.
use_prefix() {
  local tag
  case $1 in none) tag=n ;; vxlan) tag=v ;; tinc) tag=t ;; tsweave-enc) tag=e ;; tsweave-fastdp) tag=f ;; *) tag=p ;; esac
  P="$BASE$tag" # interface names are "$P-u1", "$P-c1": at most 15 bytes
  UL="$P-ul"
  RUN_DIR="$WORK/$1"
  mkdir -p "$RUN_DIR"
}

BG_PIDS=()
DAEMON_PIDS=()
kill_daemons() {
  local pid
  for pid in "${DAEMON_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${DAEMON_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  DAEMON_PIDS=()
}
kill_bg() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  BG_PIDS=()
}
cleanup_all() {
  kill_bg
  kill_daemons
  local x
  for x in none vxlan tinc tsweave-enc tsweave-plain tsweave-fastdp; do
    [ -d "$WORK/$x" ] || continue
    use_prefix "$x"
    topo_cleanup >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup_all EXIT
trap 'exit 130' INT TERM

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
log() { printf '\033[1m[bench %s]\033[0m %s\n' "$(date +%T)" "$*" >&2; }

# veth from container ns $P-$1 (as eth0, address $2, mtu $3) to namespace $4, attached to bridge $5 there
container_link() {
  local c=$1 addr=$2 mtu=$3 ns=$4 br=$5 v="$P-$1"
  ip link add "$v" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$P-$c"
  ip link set "$v" netns "$ns"
  ip -n "$ns" link set "$v" master "$br" up
  ip -n "$P-$c" addr add "$addr" dev eth0
  ip -n "$P-$c" link set eth0 up
}

cpu_ticks() { # sum of utime+stime over PIDs (whole thread groups)
  local t=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# measure NAME PIDS...: everything between container c1 (10.32.0.1) and c2 (10.32.0.2)
measure() {
  local name=$1
  shift
  local pids=("$@") c1="$P-c1" c2="$P-c2"
  # wait until the path works (MAC learning, connection confirmation)
  local ok=0 i
  for i in $(seq 1 60); do
    if ip netns exec "$c1" ping -c 1 -W 1 -q 10.32.0.2 >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  if [ $ok != 1 ]; then
    log "$name: no connectivity between the containers; skipping"
    record "$name" error "no connectivity"
    return
  fi
  ip netns exec "$c1" ping -c 5 -i 0.1 -q 10.32.0.2 >/dev/null 2>&1 || true
  local rtt
  rtt=$(ip netns exec "$c1" ping -c 20 -i 0.2 -q 10.32.0.2 | awk -F/ '/^rtt|^round-trip/ { print $5 }')
  record "$name" rtt_ms "$rtt"
  log "$name: ping RTT ${rtt} ms"

  ip netns exec "$c2" python3 "$ROOT/scripts/bench/udp_rr.py" server 10.32.0.2 7001 &
  BG_PIDS+=($!)
  sleep 0.3
  local rr
  rr=$(ip netns exec "$c1" python3 "$ROOT/scripts/bench/udp_rr.py" client 10.32.0.2 7001 "$RR_S")
  record "$name" udp_rr "${rr%% *}"
  log "$name: UDP 64 B request/response ${rr%% *}/s (lost ${rr##* })"
  kill_bg

  ip netns exec "$c2" iperf3 -s -B 10.32.0.2 -p 5201 >/dev/null 2>&1 &
  BG_PIDS+=($!)
  sleep 0.5
  local streams run c0 c1t json
  for streams in 1 4; do
    for run in $(seq 1 "$RUNS"); do
      c0=$(cpu_ticks "${pids[@]}")
      json="$RUN_DIR/iperf-$streams-$run.json"
      if ! timeout $((S + 30)) ip netns exec "$c1" iperf3 -c 10.32.0.2 -p 5201 -t "$S" -P "$streams" -J >"$json" 2>&1; then
        log "$name: iperf3 -P $streams run $run failed: $(head -c 300 "$json")"
        record "$name" error "iperf3 -P $streams run $run failed"
        continue
      fi
      c1t=$(cpu_ticks "${pids[@]}")
      read -r bps bytes < <(node -e '
        const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const r = j.end && j.end.sum_received; console.log(r ? r.bits_per_second : 0, r ? r.bytes : 0);' "$json")
      if [ "$bytes" = 0 ]; then
        log "$name: iperf3 -P $streams run $run reported nothing: $(head -c 300 "$json")"
        record "$name" error "iperf3 -P $streams run $run reported nothing"
        continue
      fi
      record "$name" "tcp${streams}_gbps" "$(node -e "console.log(($bps / 1e9).toFixed(3))")"
      if [ ${#pids[@]} -gt 0 ]; then
        record "$name" "cpu_s_per_gb_tcp$streams" "$(node -e "console.log((($c1t - $c0) / $HZ / ($bytes / 1e9)).toFixed(2))")"
      fi
      log "$name: TCP -P $streams run $run: $(node -e "console.log(($bps / 1e9).toFixed(2))") Gbit/s, overlay CPU $(((c1t - c0)))/$HZ s"
    done
  done
  kill_bg
}

two_hosts_and_containers() {
  topo_underlay
  topo_host 1
  topo_host 2
  topo_container c1
  topo_container c2
}

bench_none() {
  use_prefix none
  topo_underlay
  topo_container c1
  topo_container c2
  container_link c1 10.32.0.1/12 1500 "$UL" br0
  container_link c2 10.32.0.2/12 1500 "$UL" br0
  measure none
  topo_cleanup
}

bench_vxlan() {
  use_prefix vxlan
  two_hosts_and_containers
  local n m
  for n in 1 2; do
    m=$((3 - n))
    ip -n "$P-h$n" link add vx0 type vxlan id 42 local "10.200.0.$n" remote "10.200.0.$m" dstport 4789 dev eth0
    ip -n "$P-h$n" link add brv type bridge
    ip -n "$P-h$n" link set vx0 master brv up
    ip -n "$P-h$n" link set brv up
    container_link "c$n" "10.32.0.$n/12" 1450 "$P-h$n" brv
  done
  measure vxlan
  topo_cleanup
}

bench_tinc() {
  use_prefix tinc
  two_hosts_and_containers
  local n m d pids=()
  for n in 1 2; do
    d="$RUN_DIR/tinc$n"
    mkdir -p "$d/hosts"
    {
      echo "Name = h$n"
      echo "Mode = switch"
      echo "DeviceType = tap"
      echo "Interface = tinc0"
      echo "AddressFamily = ipv4"
      [ "$n" = 2 ] && echo "ConnectTo = h1"
    } >"$d/tinc.conf"
    printf 'Address = 10.200.0.%s\nPort = 655\n' "$n" >"$d/hosts/h$n"
    tincd -c "$d" -K2048 </dev/null >/dev/null 2>&1
  done
  cp "$RUN_DIR/tinc1/hosts/h1" "$RUN_DIR/tinc2/hosts/h1"
  cp "$RUN_DIR/tinc2/hosts/h2" "$RUN_DIR/tinc1/hosts/h2"
  for n in 1 2; do
    d="$RUN_DIR/tinc$n"
    ip netns exec "$P-h$n" tincd -c "$d" -D --pidfile="$d/pid" --logfile="$d/log" &
    pids+=($!)
    DAEMON_PIDS+=($!)
  done
  for n in 1 2; do
    for _ in $(seq 1 50); do ip -n "$P-h$n" link show tinc0 >/dev/null 2>&1 && break; sleep 0.1; done
    ip -n "$P-h$n" link add brt type bridge
    ip -n "$P-h$n" link set tinc0 mtu "$ENC_MTU" master brt up
    ip -n "$P-h$n" link set brt up
    container_link "c$n" "10.32.0.$n/12" "$ENC_MTU" "$P-h$n" brt
  done
  # tinc sends frames larger than the discovered path MTU over its TCP meta connection until PMTU
  # discovery ends (a few seconds): wait for it (SIGUSR2 dumps the nodes, with "pmtu N (min N max N)").
  ip netns exec "$P-c1" ping -c 2 -W 1 -q 10.32.0.2 >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    kill -USR2 "${pids[0]}" 2>/dev/null || true
    sleep 0.5
    grep -Eq ' h2 at .*pmtu ([0-9]+) \(min \1 max \1\)' "$RUN_DIR/tinc1/log" && break
  done
  measure tinc "${pids[@]}"
  kill_daemons
  topo_cleanup
}

bench_tsweave() { # $1 = enc | plain | fastdp
  use_prefix "tsweave-$1"
  two_hosts_and_containers
  local opts=(--mtu "$ENC_MTU") n want=established
  case $1 in
    enc) opts+=(--password "bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')") ;;
    plain) opts+=(--no-fastdp) ;;
    fastdp) opts=(--mtu "$FASTDP_MTU"); want='established.*fastdp' ;;
  esac
  tsw 1 launch "${opts[@]}" --nickname h1 >/dev/null
  tsw 2 launch "${opts[@]}" --nickname h2 10.200.0.1 >/dev/null
  tsw 1 attach 10.32.0.1/12 "$P-c1" >/dev/null
  tsw 2 attach 10.32.0.2/12 "$P-c2" >/dev/null
  for _ in $(seq 1 100); do
    tsw 1 status connections 2>/dev/null | grep -q "$want" && tsw 2 status connections 2>/dev/null | grep -q "$want" && break
    sleep 0.2
  done
  local pids=()
  for n in 1 2; do pids+=("$(cat "$RUN_DIR/h$n/tsweave.pid")"); done
  measure "tsweave-$1" "${pids[@]}"
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then cp "$RUN_DIR"/h1/tsweave.log "$OUT_DIR/tsweave-$1-h1.log" || true; fi
  topo_cleanup
}

log "overlays: $OVERLAYS; iperf3 ${RUNS} × ${S} s; machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
for o in $OVERLAYS; do
  log "== $o"
  case $o in
    none) bench_none ;;
    vxlan) bench_vxlan ;;
    tinc) bench_tinc ;;
    tsweave-enc) bench_tsweave enc ;;
    tsweave-plain) bench_tsweave plain ;;
    tsweave-fastdp) bench_tsweave fastdp ;;
    *) echo "bench: unknown overlay $o" >&2; exit 2 ;;
  esac
done
node scripts/bench/report.mjs "$RESULTS" "$OUT_DIR" "$S" "$RUNS" "$ENC_MTU"
