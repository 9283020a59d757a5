#!/usr/bin/env bash
# Installs the Debian packages the real-kernel tests, the demo and the benchmarks use. Idempotent: does
# nothing when every tool is already there. Needs root (apt-get).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip       || need+=(iproute2)
have ping     || need+=(iputils-ping)
have arping   || need+=(iputils-arping)
have iperf3   || need+=(iperf3)
have tcpdump  || need+=(tcpdump)
have nsenter  || need+=(util-linux)
have dockerd  || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
have dig      || need+=(bind9-dnsutils)
have dnsmasq  || need+=(dnsmasq-base)
have socat    || need+=(socat)
have iperf    || need+=(iperf)
have iptables || need+=(iptables)   # mesh tests: a UDP-only block between two hosts
[ -x /usr/lib/cni/portmap ] || need+=(containernetworking-plugins)   # CNI tests: portmap in tsweave's chain
have podman   || need+=(podman)     # CNI test: podman 4 with its CNI backend as the runtime
have promtool || need+=(prometheus)   # metrics tests: promtool check metrics, a real Prometheus scraping
have chromium || need+=(chromium chromium-driver)   # topology page test (headless, playwright-core)
have conntrack || need+=(conntrack)   # nat-traversal test: flush a NAT's mappings
have mmdebstrap || need+=(mmdebstrap)   # image test: the Dockerfile's base images (build-base-image.sh)
/usr/bin/python3 -c 'import scapy' >/dev/null 2>&1 || need+=(python3-scapy)   # DNS fuzzing (weavedns test)
if [ "${TSWEAVE_BENCH_DEPS:-0}" = 1 ]; then
  have tincd   || need+=(tinc)
  have dnsperf || need+=(dnsperf)
fi

if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: missing packages (${need[*]}) and not root: cannot apt-get install" >&2
  exit 1
fi
echo "install-test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
