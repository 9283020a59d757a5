# Nebula for scripts/bench.sh (sourced): a routed L3 overlay, encrypted with its defaults (Noise with
# `cipher: aes`, i.e. AES-256-GCM; Curve25519 certificates from nebula-cert).
#
# Each host gets overlay address 10.100.0.N on its tun; its certificate also carries the container's
# 10.32.0.N/32 as a subnet, and the other host reaches that container through `tun.unsafe_routes` (Nebula
# installs the route on its tun). The container is routed behind the host (routed_container: /32 route
# and proxy ARP), so the same measurements run between c1 and c2. No lighthouse discovery: each host
# knows the other's underlay address from static_host_map. Tun MTU = the other encrypted overlays'
# container MTU ($ENC_MTU), so every overlay carries frames of the same size.

nebula_config() { # N: config of host N (peer M = 3 - N)
  local n=$1 m=$((3 - $1)) d="$RUN_DIR"
  cat <<YAML
pki:
  ca: $d/ca.crt
  cert: $d/h$n.crt
  key: $d/h$n.key
static_host_map:
  "10.100.0.$m": ["10.200.0.$m:4242"]
lighthouse:
  am_lighthouse: false
  hosts: []
listen:
  host: 0.0.0.0
  port: 4242
punchy:
  punch: false
cipher: aes
tun:
  dev: nebula1
  mtu: $ENC_MTU
  unsafe_routes:
    - route: 10.32.0.$m/32
      via: 10.100.0.$m
logging:
  level: info
firewall:
  outbound:
    - port: any
      proto: any
      host: any
  inbound:
    - port: any
      proto: any
      host: any
YAML
}

bench_nebula() {
  command -v nebula >/dev/null && command -v nebula-cert >/dev/null || fail "nebula not installed (Debian package nebula)"
  two_hosts_and_containers
  local n pids=() d="$RUN_DIR"
  nebula-cert ca -name "bench $BASE" -out-crt "$d/ca.crt" -out-key "$d/ca.key" >/dev/null
  for n in 1 2; do
    nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name "h$n" -ip "10.100.0.$n/24" \
      -subnets "10.32.0.$n/32" -out-crt "$d/h$n.crt" -out-key "$d/h$n.key" >/dev/null
    nebula_config "$n" >"$d/h$n.yml"
    nebula -test -config "$d/h$n.yml" >"$d/test$n.log" 2>&1 || fail "nebula -test h$n: $(tail -n 1 "$d/test$n.log")"
  done
  for n in 1 2; do
    ip netns exec "$P-h$n" nebula -config "$d/h$n.yml" >"$d/nebula$n.log" 2>&1 &
    pids+=($!)
    DAEMON_PIDS+=($!)
  done
  for n in 1 2; do
    wait_for 10 ip -n "$P-h$n" link show nebula1 || fail "nebula made no tun on h$n: $(tail -n 1 "$d/nebula$n.log")"
    routed_container "$n" "$ENC_MTU"
  done
  # the handshake starts with the first packet; wait for it so measure's warm-up is not the handshake
  wait_for 15 ip netns exec "$P-h1" ping -c 1 -W 1 -q 10.100.0.2 || fail "no Nebula handshake h1–h2: $(tail -n 1 "$d/nebula1.log")"
  record nebula info_version "$(nebula -version | awk '/Version/ { print $2 }') (cipher aes: AES-256-GCM)"
  measure nebula "${pids[@]}"
}
