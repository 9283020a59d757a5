# The kernel references for scripts/bench.sh (sourced): no overlay at all, and kernel VXLAN.

# none: both containers on one plain bridge in the underlay namespace (the ceiling)
bench_none() {
  topo_underlay
  topo_container c1
  topo_container c2
  container_link c1 10.32.0.1/12 1500 "$UL" br0
  container_link c2 10.32.0.2/12 1500 "$UL" br0
  measure none
}

# vxlan: kernel VXLAN between the hosts, bridged to the containers (unencrypted), container MTU 1450
bench_vxlan() {
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
}
