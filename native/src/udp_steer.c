/*
 * udp_steer.c: spreads one peer's datagrams over the fast path's receive lanes (fastpath.h).
 *
 *   udpSteerLanes(fds: Int32Array)
 *     fds: the sockets of one SO_REUSEPORT group, in the order they were bound (the kernel keeps a
 *     group's sockets in an array in the order they joined, net/core/sock_reuseport.c, and a
 *     reuseport program returns an index into it). Attaches a classic BPF program to the group
 *     (SO_ATTACH_REUSEPORT_CBPF; for UDP it runs on the UDP payload) that sends each datagram to
 *     socket (receiver index % n), the index being data header bytes 2..5 (src/wire/data-packet.ts).
 *     Without it the kernel picks the socket by the 4-tuple, so everything one peer sends (one
 *     address:port pair) lands on one lane. A session announces n receiver indexes (wire/hello.ts
 *     sessionLanes) and the peer's send lane i uses index base + i % n, so each send lane's datagrams
 *     reach one receive lane, and a flow (on one send lane) stays in order.
 *     Socket i also sends with IP TTL 64 - i: the receiving side's GRO only merges datagrams whose IP
 *     headers agree (TTL included), and a merged train goes to the socket its first datagram picks, so
 *     without distinct TTLs a train could carry two lanes' datagrams to one lane and reorder a flow.
 *     Throws the errno error (e.g. EINVAL from a kernel without it); the fds stay usable either way.
 */
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#define LANE_TTL_FIRST 64
#define MAX_STEER_SOCKETS 16 /* fastpath.h FP_MAX_LANES */

napi_value tsw_js_udp_steer_lanes(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 1, argv);
  void *data;
  size_t n;
  if (!tsw_arg_typed(env, argv[0], napi_int32_array, "fds", &data, &n)) return NULL;
  if (n < 1 || n > MAX_STEER_SOCKETS) return tsw_throw_range(env, "fds must hold 1..%d sockets, got %zu", MAX_STEER_SOCKETS, n);
  const int32_t *fds = data;
  struct sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, 2},           /* A = receiver index (big-endian, as on the wire) */
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)n}, /* A = A % n */
      {BPF_RET | BPF_A, 0, 0, 0},                    /* socket A of the group; too short a datagram: 0 */
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  for (size_t i = 0; i < n; i++) {
    int ttl = LANE_TTL_FIRST - (int)i;
    if (setsockopt(fds[i], IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) < 0)
      return tsw_throw_errno(env, errno, "setsockopt IP_TTL", "udp lane");
  }
  if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) < 0)
    return tsw_throw_errno(env, errno, "setsockopt SO_ATTACH_REUSEPORT_CBPF", "udp lanes");
  return NULL;
}
