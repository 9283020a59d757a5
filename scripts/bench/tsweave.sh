# tsweave for scripts/bench.sh (sourced): the real CLI (`tsweave launch` / `attach`, one data dir per
# host) in four set-ups:
#   enc     --password, two hosts, direct
#   plain   no password, on the sleeve (--no-fastdp)
#   fastdp  no password, on the fast datapath (kernel VXLAN programmed by the router), container MTU
#           $FASTDP_MTU as the VXLAN reference (the same frames on the wire)
#   relay   --password, three hosts: h1 on underlay bridge br0, h2 on a second bridge br1, h3 on both; h1
#           and h2 have no route to each other (h3 does not forward IP), so the mesh carries h1–h2 through h3

# a random password for this overlay's routers, through the environment (argv is visible to every user)
tsw_password() { export TSWEAVE_PASSWORD="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

# tsw_wait_established N PATTERN: host N lists an established connection matching PATTERN
tsw_established() { tsw "$1" status connections 2>/dev/null | grep -q "$2"; }

bench_tsweave() { # $1 = enc | plain | fastdp
  two_hosts_and_containers
  local opts=(--mtu "$ENC_MTU") n want=established
  case $1 in
    enc) tsw_password; want='established *encrypted' ;;
    plain) opts+=(--no-fastdp) ;;
    fastdp) opts=(--mtu "$FASTDP_MTU"); want='established.*fastdp' ;;
  esac
  tsw 1 launch "${opts[@]}" --nickname h1 >/dev/null
  tsw 2 launch "${opts[@]}" --nickname h2 10.200.0.1 >/dev/null
  tsw 1 attach 10.32.0.1/12 "$P-c1" >/dev/null
  tsw 2 attach 10.32.0.2/12 "$P-c2" >/dev/null
  wait_for 20 tsw_established 1 "$want" && wait_for 20 tsw_established 2 "$want" ||
    log "tsweave-$1: no '$want' connection after 20 s; measuring anyway"
  if [ "$1" = enc ] && ! tsw_established 1 'established *encrypted'; then
    fail "no encrypted connection h1–h2: $(tsw 1 status connections | tr -s ' ' | tr '\n' ';')"
  fi
  local pids=()
  for n in 1 2; do pids+=("$(cat "$RUN_DIR/h$n/tsweave.pid")"); done
  measure "$CUR" "${pids[@]}" # CUR: the row name (with its thread mode, if any)
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then cp "$RUN_DIR"/h1/tsweave.log "$OUT_DIR/tsweave-$1-h1.log" || true; fi
}

# h1 knows h2 as a peer (gossip through h3) and the path c1 → c2 works
tsw_relay_ready() {
  tsw 1 status peers 2>/dev/null | grep -q '(h2)' && ip netns exec "$P-c1" ping -c 1 -W 1 -q 10.32.0.2
}

bench_tsweave_relay() {
  topo_underlay
  ip -n "$UL" link add br1 type bridge
  ip -n "$UL" link set br1 up
  topo_host 1 br0 10.200.0.1/24
  topo_host 2 br1 10.201.0.2/24
  topo_host 3 br0 10.200.0.3/24
  topo_nic 3 "$P-v3" eth1 br1 10.201.0.3/24
  topo_container c1
  topo_container c2
  local opts=(--mtu "$ENC_MTU") n pids=()
  tsw_password
  tsw 3 launch "${opts[@]}" --nickname h3 >/dev/null
  tsw 1 launch "${opts[@]}" --nickname h1 10.200.0.3 >/dev/null
  tsw 2 launch "${opts[@]}" --nickname h2 10.201.0.3 >/dev/null
  tsw 1 attach 10.32.0.1/12 "$P-c1" >/dev/null
  tsw 2 attach 10.32.0.2/12 "$P-c2" >/dev/null
  wait_for 30 tsw_relay_ready || fail "relay: h1 does not reach c2 through h3 after 30 s"
  # the proof that it is relayed: no established connection h1–h2 (h1's only one is to h3), and h3's
  # router spends CPU on the traffic (logged after the measurement)
  local conns
  conns=$(tsw 1 status connections)
  printf '%s\n' "$conns" >"$RUN_DIR/h1-connections.txt"
  printf '%s\n' "$conns" | grep -q '10\.200\.0\.3:.*established *encrypted' || fail "relay: h1–h3 is not an encrypted connection: $(printf '%s' "$conns" | tr '\n' ';')"
  if printf '%s\n' "$conns" | grep 'established' | grep -qv '10\.200\.0\.3:'; then
    fail "relay: h1 has a direct connection besides h3: $(printf '%s' "$conns" | tr '\n' ';')"
  fi
  log "tsweave-relay: h1's connections: $(printf '%s' "$conns" | tr -s ' ' | tr '\n' ';')"
  log "tsweave-relay: h1's peers: $(tsw 1 status peers | tr -s ' ' | tr '\n' ';')"
  for n in 1 2 3; do pids+=("$(cat "$RUN_DIR/h$n/tsweave.pid")"); done
  local h3a h3b
  h3a=$(cpu_ticks "${pids[2]}")
  measure "$CUR" "${pids[@]}"
  h3b=$(cpu_ticks "${pids[2]}")
  record "$CUR" info_relay "h1–h2 no direct connection; h3's router $(((h3b - h3a) / HZ)) CPU-s during the run"
  log "tsweave-relay: h3 (the relay) used $((h3b - h3a))/$HZ CPU-s during the measurement"
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then cp "$RUN_DIR"/h3/tsweave.log "$OUT_DIR/tsweave-relay-h3.log" || true; fi
}
