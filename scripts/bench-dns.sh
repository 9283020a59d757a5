#!/usr/bin/env bash
# weaveDNS benchmark: dnsperf against the tsweave DNS server and against dnsmasq serving the same names from
# a hosts file, both in one network namespace of our own, same run. In-domain A lookups only.
#
#   netns tsw-dnsbench-<pid>:  dnsperf ──▶ 127.0.0.1:53 tsweave (node)   |   dnsperf ──▶ 127.0.0.2:53 dnsmasq
#
# Two phases per server: saturation (as fast as answers come back, -q outstanding) and a fixed rate (-Q) for
# latency below saturation. Prints both and the ratios. Needs root, dnsperf, dnsmasq.
# Usage: sudo scripts/bench-dns.sh   (env: DURATION_S=5 NAMES=200 RATE_QPS=5000 OUTSTANDING=100 CLIENTS=4)
set -euo pipefail

DURATION_S=${DURATION_S:-5}
NAMES=${NAMES:-200}
RATE_QPS=${RATE_QPS:-5000}
OUTSTANDING=${OUTSTANDING:-100}
CLIENTS=${CLIENTS:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "bench-dns: needs root (creates a network namespace)" >&2; exit 1; }
for b in dnsperf dnsmasq ip node; do
  command -v "$b" >/dev/null || { echo "bench-dns: $b not found; apt-get install -y --no-install-recommends dnsperf dnsmasq-base" >&2; exit 1; }
done

NS="tsw-dnsbench-$$"
WORK=$(mktemp -d /tmp/tsw-dnsbench.XXXXXX)
SERVER_PID=""
DNSMASQ_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "$DNSMASQ_PID" ] && kill "$DNSMASQ_PID" 2>/dev/null || true
  [ -n "$SERVER_PID$DNSMASQ_PID" ] && wait $SERVER_PID $DNSMASQ_PID 2>/dev/null || true
  if ip netns list | grep -qw "$NS"; then
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$NS"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up

# Same names for both servers: nameK.weave.local → 10.32.(K/256).(K%256), one address each.
: > "$WORK/hosts"
: > "$WORK/queries.txt"
for ((k = 1; k <= NAMES; k++)); do
  echo "10.32.$((k / 256)).$((k % 256)) name$k.weave.local" >> "$WORK/hosts"
  echo "name$k.weave.local A" >> "$WORK/queries.txt"
done

cat > "$WORK/server.mts" <<TS
import { systemClock, systemRng } from '$ROOT/src/core/clock.ts';
import { createLogger } from '$ROOT/src/core/logger.ts';
import { DnsService } from '$ROOT/src/dns/service.ts';
import { DnsServer } from '$ROOT/src/io/dns-server.ts';
import { readFileSync } from 'node:fs';
const self = '00:00:00:00:00:01' as any;
const peers = { localName: self, localNickname: 'bench', reachablePeers: () => [self], isReachable: (p: unknown) => p === self,
  nicknameOf: () => 'bench', onPeersChanged: () => () => {} };
const logger = createLogger('warn');
const dns = new DnsService({ clock: systemClock, rng: systemRng, logger, peers });
for (const line of readFileSync('$WORK/hosts', 'utf8').trim().split('\n')) {
  const [addr, name] = line.split(' ');
  dns.addEntry('c-' + name, name!, addr!);
}
const server = new DnsServer({ handler: dns.resolver, logger, rng: systemRng }, { listenAddress: '127.0.0.1', port: 53, upstreams: [] });
await server.start();
console.log('READY');
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
TS

ip netns exec "$NS" node --import tsx "$WORK/server.mts" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
ip netns exec "$NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$WORK/hosts" --local-ttl=1 \
  --listen-address=127.0.0.2 --bind-interfaces --port=53 --pid-file= --user=root --log-facility=/dev/null &
DNSMASQ_PID=$!

for _ in $(seq 1 100); do
  grep -q READY "$WORK/server.log" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "tsweave DNS server died:"; cat "$WORK/server.log"; exit 1; }
  sleep 0.1
done
grep -q READY "$WORK/server.log" || { echo "tsweave DNS server did not start:"; cat "$WORK/server.log"; exit 1; }
sleep 0.3

# Sanity: both answer the same thing.
for s in 127.0.0.1 127.0.0.2; do
  got=$(ip netns exec "$NS" dig +short +time=2 +tries=1 @"$s" name1.weave.local A || true)
  [ "$got" = "10.32.0.1" ] || { echo "bench-dns: $s answered '$got' for name1.weave.local, expected 10.32.0.1" >&2; exit 1; }
done

run() { # server label extra-args... → prints "qps avg_ms lost"
  local s=$1; shift
  local out
  out=$(ip netns exec "$NS" dnsperf -s "$s" -d "$WORK/queries.txt" -l "$DURATION_S" -c "$CLIENTS" "$@" 2>&1)
  local qps lat lost
  qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  lat=$(awk '/Average Latency \(s\):/ {printf "%.3f", $4 * 1000}' <<<"$out")
  lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
  echo "$qps $lat $lost"
}

echo "dnsperf ${DURATION_S}s per phase, $NAMES names, $CLIENTS clients; $(nproc) CPUs; node $(node --version); $(dnsmasq --version | head -1)"
read -r t_qps t_lat t_lost < <(run 127.0.0.1 -q "$OUTSTANDING")
read -r d_qps d_lat d_lost < <(run 127.0.0.2 -q "$OUTSTANDING")
read -r t2_qps t2_lat t2_lost < <(run 127.0.0.1 -Q "$RATE_QPS")
read -r d2_qps d2_lat d2_lost < <(run 127.0.0.2 -Q "$RATE_QPS")

printf '\n%-34s %14s %14s %10s\n' "phase / server" "queries/s" "avg latency ms" "lost"
printf '%-34s %14s %14s %10s\n' "saturation (-q $OUTSTANDING): tsweave" "$t_qps" "$t_lat" "$t_lost"
printf '%-34s %14s %14s %10s\n' "saturation (-q $OUTSTANDING): dnsmasq" "$d_qps" "$d_lat" "$d_lost"
printf '%-34s %14s %14s %10s\n' "fixed rate (-Q $RATE_QPS): tsweave" "$t2_qps" "$t2_lat" "$t2_lost"
printf '%-34s %14s %14s %10s\n' "fixed rate (-Q $RATE_QPS): dnsmasq" "$d2_qps" "$d2_lat" "$d2_lost"
echo
awk -v a="$t_qps" -v b="$d_qps" 'BEGIN { printf "throughput ratio tsweave/dnsmasq: %.2f\n", a / b }'
awk -v a="$t_lat" -v b="$d_lat" 'BEGIN { printf "saturation latency ratio tsweave/dnsmasq: %.2f\n", a / b }'
awk -v a="$t2_lat" -v b="$d2_lat" 'BEGIN { printf "fixed-rate latency ratio tsweave/dnsmasq: %.2f\n", a / b }'
