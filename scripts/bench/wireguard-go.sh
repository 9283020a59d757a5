# wireguard-go for scripts/bench.sh (sourced): WireGuard in userspace (this kernel has no WireGuard
# module), a routed L3 overlay with its only cipher (ChaCha20-Poly1305). wireguard-go makes the TUN
# device and serves the UAPI socket /var/run/wireguard/NAME.sock; `wg set` from wireguard-tools
# configures it through that socket (its netlink attempt finds no kernel module and falls back).
# Socket paths are not per namespace, so each host's interface has its own name "$P-wN".
# Overlay addresses 10.100.0.N; each peer's allowed-ips include the other container's /32, which is
# routed into the interface; the containers sit behind the hosts as for Nebula (routed_container).

bench_wireguard_go() {
  command -v wireguard-go >/dev/null || fail "wireguard-go not installed (Debian package wireguard-go)"
  command -v wg >/dev/null || fail "wg not installed (Debian package wireguard-tools)"
  two_hosts_and_containers
  local n m w pids=() d="$RUN_DIR"
  for n in 1 2; do
    (umask 077 && wg genkey >"$d/h$n.key")
    wg pubkey <"$d/h$n.key" >"$d/h$n.pub"
  done
  for n in 1 2; do
    w="$P-w$n"
    # -f: stay in the foreground, so $! is the daemon's PID
    ip netns exec "$P-h$n" wireguard-go -f "$w" >"$d/wg$n.log" 2>&1 &
    pids+=($!)
    DAEMON_PIDS+=($!)
  done
  for n in 1 2; do
    m=$((3 - n))
    w="$P-w$n"
    wait_for 10 test -S "/var/run/wireguard/$w.sock" || fail "wireguard-go made no $w on h$n: $(tail -n 1 "$d/wg$n.log")"
    ip netns exec "$P-h$n" wg set "$w" private-key "$d/h$n.key" listen-port 51820 \
      peer "$(cat "$d/h$m.pub")" endpoint "10.200.0.$m:51820" allowed-ips "10.100.0.$m/32,10.32.0.$m/32"
    ip -n "$P-h$n" addr add "10.100.0.$n/24" dev "$w"
    ip -n "$P-h$n" link set "$w" mtu "$ENC_MTU" up
    ip -n "$P-h$n" route add "10.32.0.$m/32" dev "$w"
    routed_container "$n" "$ENC_MTU"
  done
  wait_for 15 ip netns exec "$P-h1" ping -c 1 -W 1 -q 10.100.0.2 || fail "no WireGuard handshake h1–h2: $(tail -n 1 "$d/wg1.log")"
  record wireguard-go info_version "$(wireguard-go --version | awk 'NR == 1 { print $2 }') (ChaCha20-Poly1305)"
  measure wireguard-go "${pids[@]}"
}
