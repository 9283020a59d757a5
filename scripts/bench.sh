#!/usr/bin/env bash
# `npm run bench` (root): tsweave's data plane beside the references, measured the same way in one run.
#
# Simulated hosts (network namespaces h1, h2, …) on an underlay bridge in its own namespace, one
# "container" namespace on h1 and h2 (c1 10.32.0.1, c2 10.32.0.2), and for each overlay:
#   none           both containers on one plain bridge (the ceiling: no overlay at all)
#   vxlan          kernel VXLAN between the hosts, bridged to the containers (unencrypted reference)
#   tinc           tinc 1.0 switch mode, encrypted (its defaults), tap bridged to the container
#   nebula         Nebula 1.6, encrypted (cipher aes = AES-256-GCM), routed L3: containers behind the
#                  hosts by /32 routes and proxy ARP, the other container through unsafe_routes
#   wireguard-go   WireGuard in userspace (no kernel module here), configured with `wg`, routed the same way
#   tsweave-enc    tsweave launch --password … / attach (the real CLI, separate data dirs)
#   tsweave-relay  the same, encrypted, on three hosts: h1 and h2 cannot reach each other on the underlay,
#                  so the mesh relays through h3 (checked: h1 has no direct connection to h2)
#   tsweave-plain  the same without a password, on the sleeve (--no-fastdp)
#   tsweave-fastdp the same without a password, on the fast datapath (kernel VXLAN programmed by the router),
#                  container MTU BENCH_FASTDP_MTU (1450, as the VXLAN reference: same frames on the wire)
# The encrypted overlays' container (and tun) MTU is BENCH_ENC_MTU (1376) so all carry the same frames.
# It measures iperf3 TCP with 1 and 4 streams (BENCH_RUNS runs × BENCH_SECONDS s, median), ping RTT
# (average of 20), UDP 64-byte request/response rate (scripts/bench/udp_rr.py, one outstanding request)
# and CPU-seconds per GB of the overlay's processes on all hosts (/proc/PID/stat; kernel = n/a),
# then prints a table with ratios to tinc and VXLAN and writes it as JSON to bench-results/.
#
# Each overlay is set up and torn down in its own subshell (scripts/bench/*.sh): if its set-up fails, its
# row says "failed: reason" and the other overlays still run. Everything is named with a per-run prefix
# and removed on exit or Ctrl-C; processes are killed by PID.
#
# README table: `npm run bench:readme` (node scripts/bench/readme-table.mjs [bench-results/X.json],
# default the newest) rewrites the README's benchmark table, between its markers, from a run's JSON.
#
# Env: BENCH_SECONDS (10), BENCH_RUNS (3), BENCH_OVERLAYS (all of the above, in that order; a name may
#      repeat, e.g. "tsweave-enc tsweave-relay tsweave-enc tsweave-relay" interleaves two rows on a noisy
#      machine, and the medians take every run; a tsweave row may name a fast-path thread mode, e.g.
#      "tsweave-enc+split tsweave-enc+unified …", which sets TSWEAVE_DATAPLANE_THREAD_MODE for that row
#      and reports it as a row of its own),
#      BENCH_NO_BUILD=1 (skip `tsc` and the addon build), BENCH_RR_SECONDS (5), BENCH_ENC_MTU (1376),
#      BENCH_FASTDP_MTU (1450), BENCH_KEEP_LOGS=1 (copy routers' logs to bench-results/),
#      BENCH_RTT_HOPS=1 (tsweave rows: the ping round trip by stage, from perf sched: scripts/bench/rtt-hops.mjs).
set -euo pipefail
exec 3>&2 # log() writes here: each overlay's stderr is captured for its failure reason
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [ "$(id -u)" != 0 ]; then
  echo "bench: needs root (network namespaces, bridges, TAP devices); try: sudo npm run bench" >&2
  exit 1
fi

ALL_OVERLAYS="none vxlan tinc nebula wireguard-go tsweave-enc tsweave-relay tsweave-plain tsweave-fastdp"
S=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
RR_S=${BENCH_RR_SECONDS:-5}
ENC_MTU=${BENCH_ENC_MTU:-1376}
FASTDP_MTU=${BENCH_FASTDP_MTU:-1450}
OVERLAYS=${BENCH_OVERLAYS:-$ALL_OVERLAYS}
for o in $OVERLAYS; do
  case " $ALL_OVERLAYS " in *" ${o%%+*} "*) ;; *) echo "bench: unknown overlay $o (known: $ALL_OVERLAYS)" >&2; exit 2 ;; esac
  case $o in *+*) case ${o%%+*}+${o#*+} in tsweave-*+split | tsweave-*+unified) ;; *)
    echo "bench: $o: only a tsweave row takes a thread mode, +split or +unified" >&2; exit 2 ;; esac ;; esac
done
BASE="tb$$"
OUT_DIR="$ROOT/bench-results"
WORK=/tmp/$BASE
mkdir -p "$OUT_DIR" "$WORK"
trap 'rm -rf "$WORK"' EXIT # replaced by cleanup_all once the helpers are loaded
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

need() { command -v "$1" >/dev/null 2>&1; }
wants() { case " $OVERLAYS " in *" $1 "* | *" $1+"*) return 0 ;; esac; return 1; }
missing=()
need iperf3 || missing+=(iperf3)
need ping || missing+=(iputils-ping)
need python3 || missing+=(python3)
if wants tinc; then need tincd || missing+=(tinc); fi
if wants nebula; then need nebula || missing+=(nebula); fi
if wants wireguard-go; then
  need wireguard-go || missing+=(wireguard-go)
  need wg || missing+=(wireguard-tools)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # an empty or stale package list is the usual reason an install fails: refresh it once and retry;
  # a reference that still is not there fails its own row
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 || true; apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
    echo "bench: could not install ${missing[*]}; their rows will fail" >&2
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  npm run -s build >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log" >&2; exit 1; }
fi

source scripts/lib/topology.sh
for f in lib kernel tinc nebula wireguard-go tsweave; do source "scripts/bench/$f.sh"; done

cleanup_all() { # backstop: each overlay's subshell tears itself down, this catches what it could not
  local d
  for d in "$WORK"/*/; do
    [ -d "$d" ] || continue
    use_prefix "$(basename "$d")"
    teardown
  done
  rm -rf "$WORK"
}
trap cleanup_all EXIT
trap 'exit 130' INT TERM

# run_overlay NAME: set up, measure and tear down one overlay in a subshell, so a failure ends only this
# overlay (its row says why: the failing command and the last line it printed) and its EXIT trap
# removes its processes and namespaces. The subshell's stderr goes to a file (shown afterwards);
# log() writes to fd 3, the terminal.
run_overlay() {
  local rc err="$WORK/$1.stderr" at="$WORK/$1.failed-at"
  set +e
  (
    set -eE
    CUR=$1
    use_prefix "$1"
    trap 'rc=$?; printf "%s (exit %s)" "${BASH_COMMAND:0:100}" "$rc" >"$at"' ERR
    trap 'trap - ERR; teardown' EXIT
    trap 'exit 130' INT TERM
    case $1 in *+*) export TSWEAVE_DATAPLANE_THREAD_MODE=${1#*+} ;; esac
    case ${1%%+*} in
      none) bench_none ;;
      vxlan) bench_vxlan ;;
      tinc) bench_tinc ;;
      nebula) bench_nebula ;;
      wireguard-go) bench_wireguard_go ;;
      tsweave-enc) bench_tsweave enc ;;
      tsweave-plain) bench_tsweave plain ;;
      tsweave-fastdp) bench_tsweave fastdp ;;
      tsweave-relay) bench_tsweave_relay ;;
    esac
  ) 2>"$err"
  rc=$?
  set -e
  if [ -s "$err" ]; then sed 's/^/    /' "$err" >&2; fi
  if [ $rc -ge 128 ]; then exit $rc; fi
  if [ -s "$at" ]; then # an unexpected command failed (fail() records its own reason)
    record "$1" error "failed at \`$(cat "$at")\`: $(grep -v '^ *$' "$err" | tail -n 1 | cut -c1-160)"
  fi
  if [ $rc -ne 0 ]; then log "$1: failed (exit $rc); going on with the next overlay"; fi
}

log "overlays: $OVERLAYS; iperf3 ${RUNS} × ${S} s; machine: $(nproc) CPUs, $(uname -r), load $LOAD_START"
for o in $OVERLAYS; do
  log "== $o"
  run_overlay "$o"
done
BENCH_LOAD_START="$LOAD_START" BENCH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || true)" node scripts/bench/report.mjs "$RESULTS" "$OUT_DIR" "$S" "$RUNS" "$ENC_MTU" "$FASTDP_MTU"
