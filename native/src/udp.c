/*
 * udp.c: IPv4 UDP socket owned by the addon, batched with recvmmsg/sendmmsg.
 *
 * Addresses are IPv4 as host-order u32 (127.0.0.1 = 0x7f000001), ports host-order.
 *
 * JS API (all synchronous; see src/io/native.ts for the typed interface):
 *
 *   udpOpen(bindAddr: number, port: number, rcvbuf: number, sndbuf: number, reusePort?: boolean)
 *     -> { fd, port, rcvbuf, sndbuf }
 *     Non-blocking, close-on-exec socket bound to bindAddr:port (port 0 = any). No SO_REUSEADDR: a
 *     second router in the same namespace must get EADDRINUSE, not silently share the port.
 *     reusePort: SO_REUSEPORT, for the fast path's lanes (one socket per lane on one port; the kernel
 *     picks the socket by 4-tuple). Only the router's own sockets set it.
 *     rcvbuf/sndbuf > 0 set the buffer sizes with SO_RCVBUFFORCE/SO_SNDBUFFORCE (needs
 *     CAP_NET_ADMIN; not capped by net.core.rmem_max), falling back to SO_RCVBUF/SO_SNDBUF. The
 *     result has the bound port and the kernel's effective buffer sizes. Errors: errno errors such as
 *     EADDRINUSE "bind 0.0.0.0:6783: Address already in use"; the fd is closed on every failure path.
 *
 *   udpReaderStart(fd, slab: Buffer, stride: number, offsets: Int32Array, lengths: Int32Array,
 *                  addrs: Uint32Array, ports: Uint16Array, cb: (count: number) => void,
 *                  groSlots?: number) -> ReaderHandle
 *     groSlots > 0: UDP_GRO on, recvmmsg into that many slots; a slot holding several same-size
 *     datagrams (cmsg UDP_GRO = segment size) is split into entries, over several callbacks if the
 *     arrays fill up (offsets then point inside slots). Without GRO, as follows:
 *     Slot i is slab[i*stride, (i+1)*stride); n = min(offsets, lengths, addrs, ports lengths) slots.
 *     On each wake-up calls recvmmsg(n) and, for each datagram, fills offsets/lengths and the
 *     sender's addr/port; datagrams longer than stride (MSG_TRUNC) are dropped and counted as
 *     `truncated`, so entries are compacted (offsets[i] need not be i*stride). One cb(count) per
 *     recvmmsg; repeats up to 8 times per wake-up while recvmmsg fills every slot. cb(-errno) once on
 *     a fatal error, then stops. The batch is valid only during cb. readerStop / readerStats.
 *
 *   udpSendBatch(fd, buf, offsets: Int32Array, lengths: Int32Array, count, addrs: Uint32Array,
 *                ports: Uint16Array, stats?: Float64Array) -> number sent
 *     sendmmsg in chunks of up to 64 messages, datagram i to addrs[i]:ports[i]; runs of up to 64
 *     consecutive datagrams with the same destination and length (the last may be shorter) form one
 *     message with a UDP_SEGMENT cmsg (UDP GSO). If the kernel refuses GSO (EIO, ENOPROTOOPT, ...),
 *     that run is resent datagram by datagram and GSO stays off; if it refuses only that message
 *     (EINVAL; EMSGSIZE: segments above the path MTU) the run is resent so and GSO stays on. Handles
 *     partial sends. Never throws per datagram: EAGAIN (send buffer full) drops the rest of the batch (no spinning); any
 *     other error (EHOSTUNREACH, EMSGSIZE, EACCES, ...) drops that one datagram and continues.
 *     stats, if given, accumulates [sent, dropped (EAGAIN), errors, lastErrno].
 *
 *   udpSend(fd, buf, offset, length, addr, port, stats?: Float64Array) -> 1 | 0   (one sendto)
 *
 *   udpClose(fd): close(2). Stop readers on the fd first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane_io.h"
#include "reader.h"

#define UDP_SEND_CHUNK 64
#define UDP_MAX_BATCHES_PER_WAKEUP 8

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
/* UDP GSO: most datagrams in one sendmsg, and the most bytes (an IPv4 UDP payload). */
#define UDP_GSO_MAX_SEGS 64
#define UDP_GSO_MAX_BYTES 65000
#define UDP_CMSG_BYTES 64

struct udp_state {
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_in *from;
  uint8_t (*ctrl)[UDP_CMSG_BYTES];
  size_t slots;    /* recvmmsg slots (<= entries) */
  bool gro;        /* UDP_GRO on: a slot may hold several datagrams of gso_size bytes */
  int nrecv;       /* messages from the last recvmmsg not yet fully delivered ... */
  int cur;         /* ... starting at this one ... */
  size_t cur_off;  /* ... at this byte offset */
  int gso[];       /* per slot: segment size (0 = one datagram) */
};

/* UDP GSO on send: cleared for good when the kernel refuses it (EIO/EINVAL/ENOPROTOOPT). */
static bool udp_gso_ok = true; /* read/written with __atomic_*: several threads send */

static void fmt_addr(char *out, size_t cap, uint32_t addr, int port) {
  snprintf(out, cap, "%u.%u.%u.%u:%d", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255, port);
}

static void set_buf(int fd, int force_opt, int opt, int64_t bytes) {
  int v = (int)bytes;
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) == 0) return;
  (void)setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v); /* capped by net.core.[rw]mem_max; best effort */
}

static int get_int_opt(int fd, int opt) {
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, opt, &v, &l) < 0) return -1;
  return v;
}

napi_value tsw_js_udp_open(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 5, argv);
  int64_t addr, port, rcv, snd;
  bool reuse = false;
  napi_valuetype t4;
  if (!tsw_arg_int(env, argv[0], "bindAddr", 0, UINT32_MAX, &addr) ||
      !tsw_arg_int(env, argv[1], "port", 0, 65535, &port) ||
      !tsw_arg_int(env, argv[2], "rcvbuf", 0, INT32_MAX / 2, &rcv) ||
      !tsw_arg_int(env, argv[3], "sndbuf", 0, INT32_MAX / 2, &snd))
    return NULL;
  TSW_NAPI(env, napi_typeof(env, argv[4], &t4));
  if (t4 != napi_undefined && !tsw_arg_bool(env, argv[4], "reusePort", &reuse)) return NULL;
  char where[32];
  fmt_addr(where, sizeof where, (uint32_t)addr, (int)port);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return tsw_throw_errno(env, errno, "socket", "udp4");
  set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcv);
  set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, snd);
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return tsw_throw_errno(env, e, "setsockopt SO_REUSEPORT", where);
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl((uint32_t)addr);
  sa.sin_port = htons((uint16_t)port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return tsw_throw_errno(env, e, "bind", where);
  }
  socklen_t sl = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    int e = errno;
    close(fd);
    return tsw_throw_errno(env, e, "getsockname", where);
  }
  napi_value o, vfd;
  napi_status s;
  if ((s = napi_create_object(env, &o)) != napi_ok || (s = napi_create_int32(env, fd, &vfd)) != napi_ok ||
      (s = napi_set_named_property(env, o, "fd", vfd)) != napi_ok ||
      !tsw_set_double(env, o, "port", ntohs(sa.sin_port)) ||
      !tsw_set_double(env, o, "rcvbuf", get_int_opt(fd, SO_RCVBUF)) ||
      !tsw_set_double(env, o, "sndbuf", get_int_opt(fd, SO_SNDBUF))) {
    close(fd);
    if (s != napi_ok) tsw_throw_status(env, s, "udpOpen result");
    return NULL;
  }
  return o;
}

int tsw_udp_fill(tsw_reader *r, bool *more, int *fatal) {
  udp_state *st = (udp_state *)r->kind_state;
  size_t cap = r->max_frames;
  *more = false;
  if (st->cur >= st->nrecv) {
    size_t n = st->slots;
    for (size_t i = 0; i < n; i++) {
      st->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
      st->msgs[i].msg_hdr.msg_flags = 0;
      if (st->gro) st->msgs[i].msg_hdr.msg_controllen = UDP_CMSG_BYTES;
    }
    int got;
    do got = recvmmsg(r->fd, st->msgs, (unsigned)n, MSG_DONTWAIT, NULL);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return 0;
      r->stats.errors++;
      r->stats.last_errno = e;
      if (e == EBADF || e == ENOTSOCK || e == EFAULT || e == EINVAL) *fatal = e;
      return 0;
    }
    for (int i = 0; i < got; i++) {
      st->gso[i] = 0;
      if (!st->gro) continue;
      struct msghdr *mh = &st->msgs[i].msg_hdr;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int v;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          if (v > 0) st->gso[i] = v;
        }
      }
    }
    st->nrecv = got;
    st->cur = 0;
    st->cur_off = 0;
    if ((size_t)got == n) *more = true;
  } else {
    *more = true; /* delivering the rest of the last recvmmsg */
  }
  int out = 0;
  while (st->cur < st->nrecv && (size_t)out < cap) {
    int i = st->cur;
    struct mmsghdr *m = &st->msgs[i];
    if (m->msg_hdr.msg_flags & MSG_TRUNC) {
      r->stats.truncated++;
      st->cur++;
      st->cur_off = 0;
      continue;
    }
    size_t len = m->msg_len, seg = st->gso[i] > 0 ? (size_t)st->gso[i] : len;
    size_t n = len - st->cur_off < seg ? len - st->cur_off : seg;
    r->offsets[out] = (int32_t)((size_t)i * r->frame_bytes + st->cur_off);
    r->lengths[out] = (int32_t)n;
    r->addrs[out] = ntohl(st->from[i].sin_addr.s_addr);
    r->ports[out] = ntohs(st->from[i].sin_port);
    out++;
    st->cur_off += n;
    if (st->cur_off >= len) {
      st->cur++;
      st->cur_off = 0;
    }
  }
  if (st->cur < st->nrecv) {
    *more = true;
    r->kind_pending = true;
  }
  return out;
}

bool tsw_udp_enable_gro(int fd) {
  int one = 1;
  return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
}

udp_state *tsw_udp_state_new(uint8_t *slab, size_t stride, size_t ns, bool gro) {
  udp_state *st = calloc(1, sizeof *st + ns * sizeof(int) +
                                ns * (sizeof(struct mmsghdr) + sizeof(struct iovec) + sizeof(struct sockaddr_in) +
                                      UDP_CMSG_BYTES) +
                                16);
  if (!st) return NULL;
  uint8_t *mem = (uint8_t *)(st->gso + ns);
  mem = (uint8_t *)(((uintptr_t)mem + 15) & ~(uintptr_t)15);
  st->msgs = (struct mmsghdr *)mem;
  st->iovs = (struct iovec *)(st->msgs + ns);
  st->from = (struct sockaddr_in *)(st->iovs + ns);
  st->ctrl = (uint8_t(*)[UDP_CMSG_BYTES])(st->from + ns);
  st->slots = ns;
  st->gro = gro;
  for (size_t i = 0; i < ns; i++) {
    st->iovs[i].iov_base = slab + i * stride;
    st->iovs[i].iov_len = stride;
    st->msgs[i].msg_hdr.msg_name = &st->from[i];
    st->msgs[i].msg_hdr.msg_iov = &st->iovs[i];
    st->msgs[i].msg_hdr.msg_iovlen = 1;
    if (gro) {
      st->msgs[i].msg_hdr.msg_control = st->ctrl[i];
      st->msgs[i].msg_hdr.msg_controllen = UDP_CMSG_BYTES;
    }
  }
  return st;
}

napi_value tsw_js_udp_reader_start(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 9, argv);
  int64_t fd, stride, slots = 0;
  tsw_reader_init in;
  memset(&in, 0, sizeof in);
  void *offs, *lens, *addrs, *ports;
  size_t n_offs, n_lens, n_addrs, n_ports;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) ||
      !tsw_arg_bytes(env, argv[1], "slab", &in.slab_data, &in.slab_len) ||
      !tsw_arg_int(env, argv[2], "stride", 1, 1 << 17, &stride) ||
      !tsw_arg_typed(env, argv[3], napi_int32_array, "offsets", &offs, &n_offs) ||
      !tsw_arg_typed(env, argv[4], napi_int32_array, "lengths", &lens, &n_lens) ||
      !tsw_arg_typed(env, argv[5], napi_uint32_array, "addrs", &addrs, &n_addrs) ||
      !tsw_arg_typed(env, argv[6], napi_uint16_array, "ports", &ports, &n_ports) ||
      !tsw_arg_function(env, argv[7], "cb"))
    return NULL;
  napi_valuetype t8;
  TSW_NAPI(env, napi_typeof(env, argv[8], &t8));
  if (t8 != napi_undefined && !tsw_arg_int(env, argv[8], "groSlots", 0, TSW_MAX_BATCH, &slots)) return NULL;
  size_t n = n_offs;
  if (n_lens < n) n = n_lens;
  if (n_addrs < n) n = n_addrs;
  if (n_ports < n) n = n_ports;
  if (n == 0 || n > TSW_MAX_BATCH)
    return tsw_throw_range(env, "offsets, lengths, addrs and ports must have 1..%d elements", TSW_MAX_BATCH);
  if (in.slab_len > INT32_MAX) return tsw_throw_range(env, "slab must be smaller than 2 GiB");
  /* groSlots > 0: turn on UDP_GRO and receive into that many slots; one slot may then hold up to
   * 64 KiB of same-size datagrams, split into entries here (several callbacks if need be). */
  bool gro = false;
  size_t nslots = n;
  if (slots > 0) {
    gro = tsw_udp_enable_gro((int)fd);
    if (gro && (size_t)slots < n) nslots = (size_t)slots;
  }
  if (nslots * (size_t)stride > in.slab_len)
    return tsw_throw_range(env, "slab (%zu bytes) is smaller than %zu slots of stride %lld", in.slab_len, nslots,
                           (long long)stride);
  udp_state *st = tsw_udp_state_new(in.slab_data, (size_t)stride, nslots, gro);
  if (!st) return tsw_throw_errno(env, ENOMEM, "calloc", "udp reader");
  in.fd = (int)fd;
  in.fill = tsw_udp_fill;
  in.resource_name = "tsweave:udpReader";
  in.slab = argv[1];
  in.offsets = argv[3];
  in.lengths = argv[4];
  in.addrs = argv[5];
  in.ports = argv[6];
  in.cb = argv[7];
  in.offsets_data = (int32_t *)offs;
  in.lengths_data = (int32_t *)lens;
  in.addrs_data = (uint32_t *)addrs;
  in.ports_data = (uint16_t *)ports;
  in.max_frames = n;
  in.frame_bytes = (size_t)stride;
  in.max_batches = UDP_MAX_BATCHES_PER_WAKEUP;
  in.kind_state = st; /* owned by the reader from here (freed with it, also on failure) */
  return tsw_reader_start(env, &in);
}

static void count_failure(double *stats, int e, double n) {
  if (!stats) return;
  if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) stats[1] += n;
  else stats[2] += n;
  stats[3] = e;
}

int tsw_udp_send_datagrams(int fd, uint8_t *buf, const int32_t *o, const int32_t *l, int64_t count,
                           const uint32_t *addrs, const uint16_t *ports, double *stats) {
  /* UDP GSO: consecutive datagrams to the same address with the same length (the last of a run may be
   * shorter) leave in one message with a UDP_SEGMENT cmsg; the kernel (or the NIC) cuts it into the
   * same datagrams on the wire. One pass through the stack instead of one per datagram. */
  struct mmsghdr msgs[UDP_SEND_CHUNK];
  struct iovec iovs[TSW_MAX_BATCH];
  struct sockaddr_in to[UDP_SEND_CHUNK];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[UDP_SEND_CHUNK];
  int segs[UDP_SEND_CHUNK];
  int sent = 0;
  int64_t j = 0;
  bool stop = false;
  while (j < count && !stop) {
    int n = 0, niov = 0;
    memset(msgs, 0, sizeof msgs);
    while (j < count && n < UDP_SEND_CHUNK) {
      int64_t first = j;
      size_t seg = (size_t)l[j], total = seg;
      int k = 1;
      if (__atomic_load_n(&udp_gso_ok, __ATOMIC_RELAXED)) {
        while (first + k < count && k < UDP_GSO_MAX_SEGS && addrs[first + k] == addrs[first] &&
               ports[first + k] == ports[first] && (size_t)l[first + k] <= seg &&
               total + (size_t)l[first + k] <= UDP_GSO_MAX_BYTES) {
          total += (size_t)l[first + k];
          k++;
          if ((size_t)l[first + k - 1] < seg) break; /* a shorter one ends the run */
        }
      }
      struct msghdr *mh = &msgs[n].msg_hdr;
      memset(&to[n], 0, sizeof to[n]);
      to[n].sin_family = AF_INET;
      to[n].sin_addr.s_addr = htonl(addrs[first]);
      to[n].sin_port = htons(ports[first]);
      mh->msg_name = &to[n];
      mh->msg_namelen = sizeof to[n];
      mh->msg_iov = &iovs[niov];
      mh->msg_iovlen = (size_t)k;
      for (int q = 0; q < k; q++) {
        iovs[niov + q].iov_base = buf + o[first + q];
        iovs[niov + q].iov_len = (size_t)l[first + q];
      }
      niov += k;
      if (k > 1) {
        mh->msg_control = ctrl[n].buf;
        mh->msg_controllen = sizeof ctrl[n].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(mh);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gs = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &gs, sizeof gs);
      }
      segs[n] = k;
      n++;
      j += k;
    }
    int i = 0;
    while (i < n) {
      int k = sendmmsg(fd, msgs + i, (unsigned)(n - i), MSG_DONTWAIT);
      if (k > 0) {
        for (int q = 0; q < k; q++) sent += segs[i + q];
        if (stats)
          for (int q = 0; q < k; q++) stats[0] += segs[i + q];
        i += k;
        continue;
      }
      int e = k < 0 ? errno : EAGAIN;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        /* Socket buffer full: drop the rest of the batch rather than spin. */
        double rest = 0;
        for (int q = i; q < n; q++) rest += segs[q];
        count_failure(stats, e, rest + (double)(count - j));
        stop = true;
        break;
      }
      if (segs[i] > 1 && (e == EIO || e == EINVAL || e == EMSGSIZE || e == ENOPROTOOPT || e == EOPNOTSUPP)) {
        /* No UDP GSO here (old kernel, no checksum offload on the route): send one by one from now on.
         * EINVAL, EMSGSIZE: this message only. The kernel refuses GSO segments above the path MTU (an
         * underlay link's MTU lowered under a running router) with EMSGSIZE, but the same datagrams sent
         * one by one are fragmented (the socket's default IP_PMTUDISC_WANT): slower, not lost. */
        if (e != EINVAL && e != EMSGSIZE) __atomic_store_n(&udp_gso_ok, false, __ATOMIC_RELAXED);
        struct msghdr one = msgs[i].msg_hdr;
        one.msg_control = NULL;
        one.msg_controllen = 0;
        one.msg_iovlen = 1;
        for (int q = 0; q < segs[i]; q++) {
          one.msg_iov = msgs[i].msg_hdr.msg_iov + q;
          ssize_t r1;
          do r1 = sendmsg(fd, &one, MSG_DONTWAIT);
          while (r1 < 0 && errno == EINTR);
          if (r1 >= 0) {
            sent++;
            if (stats) stats[0]++;
          } else {
            count_failure(stats, errno, 1);
          }
        }
        i++;
        continue;
      }
      count_failure(stats, e, segs[i]); /* this message failed; the rest may be fine */
      i++;
    }
  }
  return sent;
}

napi_value tsw_js_udp_send_batch(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 8, argv);
  int64_t fd, count;
  uint8_t *buf;
  size_t buf_len, n_offs, n_lens, n_addrs, n_ports;
  void *offs, *lens, *addrs_v, *ports_v;
  double *stats;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_typed(env, argv[2], napi_int32_array, "offsets", &offs, &n_offs) ||
      !tsw_arg_typed(env, argv[3], napi_int32_array, "lengths", &lens, &n_lens) ||
      !tsw_arg_int(env, argv[4], "count", 0, TSW_MAX_BATCH, &count) ||
      !tsw_arg_typed(env, argv[5], napi_uint32_array, "addrs", &addrs_v, &n_addrs) ||
      !tsw_arg_typed(env, argv[6], napi_uint16_array, "ports", &ports_v, &n_ports) ||
      !tsw_arg_stats(env, argv[7], "stats", 4, &stats) ||
      !tsw_check_batch(env, buf_len, offs, n_offs, lens, n_lens, count, 0, 0))
    return NULL;
  if ((size_t)count > n_addrs || (size_t)count > n_ports)
    return tsw_throw_range(env, "count %lld exceeds addrs (%zu) or ports (%zu)", (long long)count, n_addrs, n_ports);
  int sent = tsw_udp_send_datagrams((int)fd, buf, offs, lens, count, addrs_v, ports_v, stats);
  napi_value r;
  TSW_NAPI(env, napi_create_int32(env, sent, &r));
  return r;
}

napi_value tsw_js_udp_send(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 7, argv);
  int64_t fd, off, len, addr, port;
  uint8_t *buf;
  size_t buf_len;
  double *stats;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_int(env, argv[2], "offset", 0, INT32_MAX, &off) ||
      !tsw_arg_int(env, argv[3], "length", 0, INT32_MAX, &len) ||
      !tsw_arg_int(env, argv[4], "addr", 0, UINT32_MAX, &addr) ||
      !tsw_arg_int(env, argv[5], "port", 0, 65535, &port) || !tsw_arg_stats(env, argv[6], "stats", 4, &stats))
    return NULL;
  if ((size_t)(off + len) > buf_len)
    return tsw_throw_range(env, "datagram (offset %lld, length %lld) does not fit buf of %zu bytes", (long long)off,
                           (long long)len, buf_len);
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl((uint32_t)addr);
  to.sin_port = htons((uint16_t)port);
  int ok = 0;
  for (;;) {
    ssize_t k = sendto((int)fd, buf + off, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
    if (k >= 0) {
      ok = 1;
      if (stats) stats[0]++;
      break;
    }
    if (errno == EINTR) continue;
    count_failure(stats, errno, 1);
    break;
  }
  napi_value r;
  TSW_NAPI(env, napi_create_int32(env, ok, &r));
  return r;
}
