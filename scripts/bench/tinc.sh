# tinc 1.0 for scripts/bench.sh (sourced): switch mode, its default cipher, tap bridged to the container.

bench_tinc() {
  command -v tincd >/dev/null || fail "tincd not installed (Debian package tinc)"
  two_hosts_and_containers
  local n d pids=()
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
    wait_for 10 ip -n "$P-h$n" link show tinc0 || fail "tincd made no tinc0 on h$n: $(tail -n 2 "$RUN_DIR/tinc$n/log" | tr '\n' ' ')"
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
  record tinc info_version "$(tincd --version 2>/dev/null | awk 'NR == 1 { print $3 }') (switch mode, default cipher)"
  measure tinc "${pids[@]}"
}
