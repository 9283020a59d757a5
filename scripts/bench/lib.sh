# Helpers for scripts/bench.sh (sourced after scripts/lib/topology.sh): per-overlay names, process
# bookkeeping by PID, container links (bridged or routed), CPU accounting and `measure`, which runs the
# same iperf3 / ping / UDP request-response series between containers c1 (10.32.0.1) and c2 (10.32.0.2)
# for every overlay. Expects ROOT, WORK, RESULTS, S, RUNS, RR_S from bench.sh.

# use_prefix OVERLAY: topology.sh's helpers read $P, $UL and $RUN_DIR at call time
use_prefix() {
  local tag
  case ${1%%+*} in # NAME+MODE (a tsweave row with a thread mode) is set up as NAME
    none) tag=n ;; vxlan) tag=v ;; tinc) tag=t ;; nebula) tag=b ;; wireguard-go) tag=g ;;
    tsweave-enc) tag=e ;; tsweave-fastdp) tag=f ;; tsweave-relay) tag=r ;; *) tag=p ;;
  esac
  P="$BASE$tag" # interface names are "$P-u1", "$P-c1", "$P-w1": at most 15 bytes
  UL="$P-ul"
  RUN_DIR="$WORK/$1"
  mkdir -p "$RUN_DIR"
}

BG_PIDS=()     # clients/servers of one measurement
DAEMON_PIDS=() # the overlay's own processes (tincd, nebula, wireguard-go)
kill_pids() {
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
kill_bg() { kill_pids "${BG_PIDS[@]}"; BG_PIDS=(); }
kill_daemons() { kill_pids "${DAEMON_PIDS[@]}"; DAEMON_PIDS=(); }
# teardown: everything of the current overlay (its processes by PID, its namespaces by prefix, and the
# UAPI sockets a killed wireguard-go leaves, which live outside the namespaces)
teardown() {
  kill_bg
  kill_daemons
  topo_cleanup >/dev/null 2>&1 || true
  rm -f /var/run/wireguard/"$P"-w[0-9].sock
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
log() { printf '\033[1m[bench %s]\033[0m %s\n' "$(date +%T)" "$*" >&3; }
# fail REASON: this overlay's row becomes "failed: REASON"; ends the overlay's subshell (bench.sh run_overlay)
fail() {
  record "$CUR" error "$*"
  log "$CUR: failed: $*"
  exit 1
}

# container_link C ADDR MTU NS BRIDGE: veth from container ns $P-C (as eth0, address ADDR, mtu MTU) to
# namespace NS, attached to BRIDGE there (the L2 overlays)
container_link() {
  local c=$1 addr=$2 mtu=$3 ns=$4 br=$5 v="$P-$1"
  ip link add "$v" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$P-$c"
  ip link set "$v" netns "$ns"
  ip -n "$ns" link set "$v" master "$br" up
  ip -n "$P-$c" addr add "$addr" dev eth0
  ip -n "$P-$c" link set eth0 up
}

# routed_container N MTU: container c$N (10.32.0.N/12) behind host h$N for the routed L3 overlays:
# a /32 route to it on the host, and proxy ARP on the host's end so the container's ARP for the other
# container (same /12) is answered by the host, which forwards by its route into the overlay
routed_container() {
  local n=$1 mtu=$2 h="$P-h$1" v="$P-c$1"
  ip link add "$v" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$P-c$n"
  ip link set "$v" netns "$h"
  ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1 "net.ipv4.conf.$v.proxy_arp=1"
  ip -n "$h" link set "$v" up
  ip -n "$h" route add "10.32.0.$n/32" dev "$v"
  ip -n "$P-c$n" addr add "10.32.0.$n/12" dev eth0
  ip -n "$P-c$n" link set eth0 up
}

two_hosts_and_containers() {
  topo_underlay
  topo_host 1
  topo_host 2
  topo_container c1
  topo_container c2
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds; status 1 on timeout
wait_for() {
  local n=$(($1 * 5))
  shift
  while [ "$n" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
    n=$((n - 1))
  done
  return 1
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

ctx_switches() { # context switches (voluntary + not) of every thread of PIDS: how often they slept and were woken
  local pid
  for pid in "$@"; do cat "/proc/$pid/task/"*/status 2>/dev/null; done |
    awk '/^(nonvoluntary_|voluntary_)ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# udp_drops: UDP datagrams the hosts' kernels dropped for a full receive buffer (RcvbufErrors of every
# host namespace): an overlay daemon that falls behind loses packets here, and TCP over it slows down
udp_drops() {
  local t=0 ns v
  for ns in $(ip netns list | awk '{ print $1 }' | grep "^$P-h[0-9]*$" || true); do
    v=$(ip netns exec "$ns" awk '/^Udp: / { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# rtt_hops NAME PIDS...: where a ping's round trip goes, stage by stage (scripts/bench/rtt-hops.mjs), from
# the scheduler's wake-ups during 50 pings; tsweave overlays only (the stages are its routers' threads,
# PIDS), needs perf
rtt_hops() {
  case $1 in tsweave-*) ;; *) return 0 ;; esac
  local hops data="$RUN_DIR/sched.data"
  if ! command -v perf >/dev/null 2>&1; then
    log "$1: BENCH_RTT_HOPS: no perf here"
    return 0
  fi
  if perf sched record -q -a -o "$data" -- ip netns exec "$P-c1" ping -c 50 -i 0.02 -q 10.32.0.2 >/dev/null 2>&1; then
    hops=$(perf sched timehist -w -i "$data" 2>/dev/null | node "$ROOT/scripts/bench/rtt-hops.mjs" "$(IFS=,; echo "${*:2}")")
  else
    hops="perf sched record failed"
  fi
  rm -f "$data"
  record "$1" info_rtt_hops "$hops"
  log "$1: ping round trip by stage: $hops"
}

# measure NAME PIDS...: everything between container c1 (10.32.0.1) and c2 (10.32.0.2); PIDS are the
# overlay's processes on all hosts, whose CPU time per GB carried is recorded
measure() {
  local name=$1
  shift
  local pids=("$@") c1="$P-c1" c2="$P-c2"
  record "$name" info_load "$(cut -d' ' -f1 /proc/loadavg)"
  # wait until the path works (MAC learning, connection confirmation)
  if ! wait_for 30 ip netns exec "$c1" ping -c 1 -W 1 -q 10.32.0.2; then
    fail "no connectivity between the containers"
  fi
  ip netns exec "$c1" ping -c 5 -i 0.1 -q 10.32.0.2 >/dev/null 2>&1 || true
  local rtt
  rtt=$(ip netns exec "$c1" ping -c 20 -i 0.2 -q 10.32.0.2 | awk -F/ '/^rtt|^round-trip/ { print $5 }')
  record "$name" rtt_ms "$rtt"
  log "$name: ping RTT ${rtt} ms"
  if [ -n "${BENCH_RTT_HOPS:-}" ]; then rtt_hops "$name" "${pids[@]}"; fi

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
  local streams run c0 c1t x0 x1 json bps bytes drops0
  drops0=$(udp_drops)
  for streams in 1 4; do
    for run in $(seq 1 "$RUNS"); do
      c0=$(cpu_ticks "${pids[@]}")
      x0=$(ctx_switches "${pids[@]}")
      json="$RUN_DIR/iperf-$streams-$run.json"
      # --foreground: Ctrl-C reaches iperf3 (timeout would otherwise put it in its own process group)
      if ! timeout --foreground $((S + 30)) ip netns exec "$c1" iperf3 -c 10.32.0.2 -p 5201 -t "$S" -P "$streams" -J >"$json" 2>&1; then
        log "$name: iperf3 -P $streams run $run failed: $(head -c 300 "$json")"
        record "$name" error "iperf3 -P $streams run $run failed"
        continue
      fi
      c1t=$(cpu_ticks "${pids[@]}")
      x1=$(ctx_switches "${pids[@]}")
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
        record "$name" "ctxsw_per_mb_tcp$streams" "$(node -e "console.log((($x1 - $x0) / ($bytes / 1e6)).toFixed(2))")"
      fi
      log "$name: TCP -P $streams run $run: $(node -e "console.log(($bps / 1e9).toFixed(2))") Gbit/s, overlay CPU $((c1t - c0))/$HZ s"
    done
  done
  kill_bg
  record "$name" info_udp_drops "$(($(udp_drops) - drops0))"
  log "$name: the underlay dropped $(($(udp_drops) - drops0)) UDP datagrams for full receive buffers during iperf3"
}
