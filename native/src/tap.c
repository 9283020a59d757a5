/*
 * tap.c: TAP device open, batched non-blocking frame reads and writes.
 *
 * JS API (all synchronous; see src/io/native.ts for the typed interface):
 *
 *   tapOpen(name: string, offload?: boolean, multiQueue?: boolean) -> { fd, name, offload, offloadErrno? }
 *     Opens /dev/net/tun (O_RDWR|O_NONBLOCK|O_CLOEXEC) and attaches/creates TAP `name` with
 *     TUNSETIFF IFF_TAP|IFF_NO_PI. `name` is the kernel's name (it may expand a "%d" pattern).
 *     multiQueue: IFF_MULTI_QUEUE; each further tapOpen of the same name with the same flags attaches
 *     one more queue (one fd per fast-path lane). The kernel spreads frames over the queues by flow.
 *     offload: also IFF_VNET_HDR + TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_TSO4) (offload.h). If the kernel
 *     refuses, the TAP is reopened plain and the result says offload: false, offloadErrno: errno.
 *     Errors: TypeError/RangeError for a bad name (1..15 bytes); errno errors such as
 *     EPERM "TUNSETIFF vethwe-tap: Operation not permitted". The fd is closed on every failure path.
 *
 *   tapReaderStart(fd, slab: Buffer, offsets: Int32Array, lengths: Int32Array,
 *                  maxFrameBytes: number, headroom: number, tailroom: number,
 *                  cb: (count: number) => void, offload?: boolean) -> ReaderHandle
 *     offload (the fd was opened with it): each read carries a virtio_net_hdr; a TSO superframe is
 *     cut into MSS-sized frames (its remaining segments carry over to the next callback), a frame
 *     with a partial checksum gets it completed; maxFrameBytes must be >= 65792. Stats add
 *     superframes, segments, badOffload (unparseable superframes, dropped).
 *     On each wake-up reads frames with read() until EAGAIN, offsets.length frames, or the slab has
 *     less than headroom + maxFrameBytes + tailroom left; frames are packed into the slab (each starts
 *     16-byte aligned after `headroom` free bytes and is followed by `tailroom` free bytes), frame i at
 *     slab[offsets[i], offsets[i] + lengths[i]). Then calls cb(count) once; repeats (up to 4 batches
 *     per wake-up) while the slab keeps filling up. cb(-errno) once on a fatal error, then stops.
 *     A frame longer than maxFrameBytes is truncated by the kernel: pass 65535+ to never truncate.
 *     The batch is valid only during cb. Stop with readerStop(handle); readerStats(handle).
 *
 *   tapWriteFrames(fd, buf, offsets: Int32Array, lengths: Int32Array, count, stats?: Float64Array,
 *                  offload?: boolean, groStats?: Float64Array(2)) -> number written
 *     offload: every write carries a virtio_net_hdr; runs of consecutive same-flow IPv4 TCP frames
 *     (tsw_gro_plan) go out as one GSO write; groStats accumulates [gso writes, frames in them].
 *     One write() per frame. Never throws per frame: EAGAIN (queue full) counts as a drop, other
 *     errors (EIO when the link is down, EINVAL, ...) as errors. stats, if given, accumulates
 *     [written, dropped, errors, lastErrno]. Throws only for bad arguments.
 *
 *   tapWriteFrame(fd, buf, offset, length, stats?: Float64Array, offload?: boolean) -> 1 | 0
 *
 *   tapClose(fd): close(2), throws on EBADF. Stop readers on the fd first.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dataplane_io.h"
#include "offload.h"
#include "reader.h"

#include <sys/uio.h>

#define TAP_MAX_BATCHES_PER_WAKEUP 4

napi_value tsw_js_tap_open(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 3, argv);
  char name[IFNAMSIZ];
  bool offload = false, mq = false;
  napi_valuetype t1, t2;
  if (!tsw_arg_string(env, argv[0], "name", name, sizeof name)) return NULL;
  TSW_NAPI(env, napi_typeof(env, argv[1], &t1));
  if (t1 != napi_undefined && !tsw_arg_bool(env, argv[1], "offload", &offload)) return NULL;
  TSW_NAPI(env, napi_typeof(env, argv[2], &t2));
  if (t2 != napi_undefined && !tsw_arg_bool(env, argv[2], "multiQueue", &mq)) return NULL;
  const short mqf = mq ? IFF_MULTI_QUEUE : 0;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return tsw_throw_errno(env, errno, "open /dev/net/tun for", name);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | mqf | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return tsw_throw_errno(env, err, "TUNSETIFF", name);
  }
  /* Offload: IFF_VNET_HDR (every read and write carries a virtio_net_hdr) plus checksum and TSO4
   * offload, so the kernel hands over whole TCP superframes; offload.c segments and coalesces them.
   * A kernel that refuses TUNSETOFFLOAD leaves us a plain TAP: reported as offloadError, not thrown. */
  int offload_err = 0;
  if (offload) {
    int hsz = TSW_VNET_HDR_BYTES;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hsz) < 0 || ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) < 0) {
      offload_err = errno;
      /* Cannot clear IFF_VNET_HDR on an attached queue: reopen without it. */
      close(fd);
      fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) return tsw_throw_errno(env, errno, "open /dev/net/tun for", name);
      memset(&ifr, 0, sizeof ifr);
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI | mqf;
      memcpy(ifr.ifr_name, name, strlen(name));
      if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;
        close(fd);
        return tsw_throw_errno(env, err, "TUNSETIFF", name);
      }
      offload = false;
    }
  }
  napi_value o, vfd, vname, voff;
  napi_status s;
  if ((s = napi_create_object(env, &o)) != napi_ok || (s = napi_create_int32(env, fd, &vfd)) != napi_ok ||
      (s = napi_get_boolean(env, offload, &voff)) != napi_ok ||
      (s = napi_set_named_property(env, o, "offload", voff)) != napi_ok ||
      (s = napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &vname)) != napi_ok ||
      (s = napi_set_named_property(env, o, "fd", vfd)) != napi_ok ||
      (s = napi_set_named_property(env, o, "name", vname)) != napi_ok) {
    close(fd);
    tsw_throw_status(env, s, "tapOpen result");
    return NULL;
  }
  if (offload_err && !tsw_set_double(env, o, "offloadErrno", offload_err)) {
    close(fd);
    return NULL;
  }
  return o;
}


/* A failed read() of the TAP: true to retry at once (EINTR); otherwise counts it (a drained queue,
 * EAGAIN, is not an error) and marks the errors after which the fd is unusable as fatal. */
static bool read_failed(tsw_reader *r, int e, int *fatal) {
  if (e == EINTR) return true;
  if (e == EAGAIN || e == EWOULDBLOCK) return false;
  r->stats.errors++;
  r->stats.last_errno = e;
  if (e == EBADF || e == EBADFD || e == EFAULT || e == EINVAL) *fatal = e;
  return false;
}

int tsw_tap_fill(tsw_reader *r, bool *more, int *fatal) {
  size_t cur = 0;
  int n = 0;
  *more = false;
  while ((size_t)n < r->max_frames) {
    size_t start = ((cur + 15) & ~(size_t)15) + r->headroom;
    if (start + r->frame_bytes + r->tailroom > r->slab_len) {
      *more = true;
      return n;
    }
    ssize_t k = read(r->fd, r->slab + start, r->frame_bytes);
    if (k < 0) {
      if (read_failed(r, errno, fatal)) continue;
      return n;
    }
    if (k == 0) return n;
    r->offsets[n] = (int32_t)start;
    r->lengths[n] = (int32_t)k;
    n++;
    cur = start + (size_t)k + r->tailroom;
  }
  *more = true;
  return n;
}

/* A segment just cut with a partial TCP checksum (partial: tso.partial) stays partial when it is one the
 * receiving end accepts as such (tsw_tcp4_partial_ok); any other is completed now. Returns whether it
 * stayed partial. */
static uint8_t leave_partial(uint8_t *seg, size_t len, bool partial) {
  unsigned cs;
  if (!partial) return 0;
  if (tsw_tcp4_partial_ok(seg, len, &cs)) return 1;
  tsw_tcp4_complete(seg, len);
  return 0;
}

/* vnet mode: reader state (one allocation with the scratch copy of a superframe being segmented). */
struct tap_vnet_state {
  tsw_tso tso;
  bool pending;
  uint8_t scratch[TSW_TAP_SUPERFRAME_BYTES];
};

tap_vnet_state *tsw_tap_vnet_state_new(void) { return calloc(1, sizeof(tap_vnet_state)); }

int tsw_tap_fill_vnet(tsw_reader *r, bool *more, int *fatal) {
  tap_vnet_state *st = (tap_vnet_state *)r->kind_state;
  size_t cur = 0;
  int n = 0;
  *more = false;
  for (;;) {
    while (st->pending) {
      size_t seg = tsw_tso_next_len(&st->tso);
      if (seg == 0) {
        st->pending = false;
        break;
      }
      size_t start = ((cur + 15) & ~(size_t)15) + r->headroom;
      if ((size_t)n >= r->max_frames || start + seg + r->tailroom > r->slab_len) {
        *more = true;
        r->kind_pending = true;
        return n;
      }
      tsw_tso_emit(&st->tso, r->slab + start);
      if (r->partial) r->partial[n] = leave_partial(r->slab + start, seg, st->tso.partial);
      r->offsets[n] = (int32_t)start;
      r->lengths[n] = (int32_t)seg;
      n++;
      r->stats.segments++;
      cur = start + seg + r->tailroom;
    }
    if ((size_t)n >= r->max_frames) {
      *more = true;
      return n;
    }
    size_t start = ((cur + 15) & ~(size_t)15) + r->headroom;
    if (start + r->frame_bytes + r->tailroom > r->slab_len) {
      *more = true;
      return n;
    }
    tsw_vnet_hdr h;
    struct iovec iov[2] = {{&h, sizeof h}, {r->slab + start, r->frame_bytes}};
    ssize_t k = readv(r->fd, iov, 2);
    if (k < 0) {
      if (read_failed(r, errno, fatal)) continue;
      return n;
    }
    if (k <= (ssize_t)sizeof h) {
      if (k == 0) return n;
      continue;
    }
    size_t len = (size_t)k - sizeof h;
    uint8_t *f = r->slab + start;
    if (h.gso_type != TSW_VNET_GSO_NONE) {
      r->stats.superframes++;
      memcpy(st->scratch, f, len);
      if (!tsw_tso_begin(&st->tso, st->scratch, len, &h, r->partial != NULL)) {
        r->stats.bad_gso++;
        continue;
      }
      st->pending = true;
      continue;
    }
    bool part = false;
    unsigned cs;
    if (h.flags & TSW_VNET_F_NEEDS_CSUM) {
      /* A TCP frame the kernel left partial stays so when the reader may leave it (same layout as ours) */
      part = r->partial && h.csum_offset == 16 && tsw_tcp4_partial_ok(f, len, &cs) && cs == h.csum_start;
      if (!part && !tsw_csum_complete(f, len, &h)) {
        r->stats.bad_gso++;
        continue;
      }
    }
    if (r->partial) r->partial[n] = part;
    r->offsets[n] = (int32_t)start;
    r->lengths[n] = (int32_t)len;
    n++;
    cur = start + len + r->tailroom;
  }
}

napi_value tsw_js_tap_reader_start(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 9, argv);
  int64_t fd, max_frame, head, tail;
  tsw_reader_init in;
  memset(&in, 0, sizeof in);
  void *offs, *lens;
  size_t n_offs, n_lens;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) ||
      !tsw_arg_bytes(env, argv[1], "slab", &in.slab_data, &in.slab_len) ||
      !tsw_arg_typed(env, argv[2], napi_int32_array, "offsets", &offs, &n_offs) ||
      !tsw_arg_typed(env, argv[3], napi_int32_array, "lengths", &lens, &n_lens) ||
      !tsw_arg_int(env, argv[4], "maxFrameBytes", 64, 1 << 20, &max_frame) ||
      !tsw_arg_int(env, argv[5], "headroom", 0, 1 << 16, &head) ||
      !tsw_arg_int(env, argv[6], "tailroom", 0, 1 << 16, &tail) || !tsw_arg_function(env, argv[7], "cb"))
    return NULL;
  bool vnet = false;
  napi_valuetype t8;
  TSW_NAPI(env, napi_typeof(env, argv[8], &t8));
  if (t8 != napi_undefined && !tsw_arg_bool(env, argv[8], "offload", &vnet)) return NULL;
  if (vnet && max_frame < TSW_TAP_SUPERFRAME_BYTES)
    return tsw_throw_range(env, "maxFrameBytes must be at least %d with offload", TSW_TAP_SUPERFRAME_BYTES);
  size_t max_frames = n_offs < n_lens ? n_offs : n_lens;
  if (max_frames == 0 || max_frames > TSW_MAX_BATCH)
    return tsw_throw_range(env, "offsets and lengths must have 1..%d elements", TSW_MAX_BATCH);
  if (in.slab_len > INT32_MAX) return tsw_throw_range(env, "slab must be smaller than 2 GiB");
  if ((size_t)(16 + head + max_frame + tail) > in.slab_len)
    return tsw_throw_range(env, "slab (%zu bytes) is smaller than headroom + maxFrameBytes + tailroom + 16",
                           in.slab_len);
  in.fd = (int)fd;
  in.fill = tsw_tap_fill;
  if (vnet) {
    tap_vnet_state *st = tsw_tap_vnet_state_new();
    if (!st) return tsw_throw_errno(env, ENOMEM, "calloc", "tap reader");
    in.fill = tsw_tap_fill_vnet;
    in.kind_state = st; /* freed with the reader (also on failure) */
  }
  in.resource_name = "tsweave:tapReader";
  in.slab = argv[1];
  in.offsets = argv[2];
  in.lengths = argv[3];
  in.cb = argv[7];
  in.offsets_data = (int32_t *)offs;
  in.lengths_data = (int32_t *)lens;
  in.max_frames = max_frames;
  in.frame_bytes = (size_t)max_frame;
  in.headroom = (size_t)head;
  in.tailroom = (size_t)tail;
  in.max_batches = TAP_MAX_BATCHES_PER_WAKEUP;
  return tsw_reader_start(env, &in);
}

/* Counts the outcome of one write() of `frames` frames; returns frames written. */
static int count_write(ssize_t k, int frames, double *stats) {
  if (k >= 0) {
    if (stats) stats[0] += frames;
    return frames;
  }
  int e = errno;
  if (stats) {
    if (e == EAGAIN || e == EWOULDBLOCK) stats[1] += frames;
    else stats[2] += frames;
    stats[3] = e;
  }
  return 0;
}

static ssize_t writev_retry(int fd, const struct iovec *iov, int n) {
  ssize_t k;
  do k = writev(fd, iov, n);
  while (k < 0 && errno == EINTR);
  return k;
}

/* Writes one frame; with vnet, prefixed by an empty virtio_net_hdr. partial: its TCP checksum is
 * partial (tsw_tcp4_partial_ok held): with vnet the header says NEEDS_CSUM and the kernel (or nobody,
 * when the receiving socket trusts it) completes it; without, it is completed here first. */
static int write_one(int fd, uint8_t *p, size_t len, bool vnet, bool partial, double *stats) {
  tsw_vnet_hdr h = {0};
  if (partial) {
    if (vnet) tsw_vnet_partial_hdr(&h, p);
    else tsw_tcp4_complete(p, len);
  }
  struct iovec iov[2] = {{&h, sizeof h}, {p, len}};
  return count_write(vnet ? writev_retry(fd, iov, 2) : writev_retry(fd, iov + 1, 1), 1, stats);
}

static bool opt_bool(napi_env env, napi_value v, const char *name, bool *out) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  *out = false;
  return t == napi_undefined || tsw_arg_bool(env, v, name, out);
}

int tsw_tap_write_batch(int fd, uint8_t *const *frames, const int32_t *l, const uint8_t *partial, int count,
                        bool vnet, double *stats, double *gro_stats) {
  int written = 0;
  if (!vnet) {
    for (int i = 0; i < count; i++)
      written += write_one(fd, frames[i], (size_t)l[i], false, partial && partial[i], stats);
  } else {
    tsw_vnet_hdr h;
    uint8_t hdr[128];
    size_t hdr_len;
    struct iovec iov[2 + TSW_GRO_MAX_SEGS];
    for (int i = 0; i < count;) {
      int n = tsw_gro_plan(frames, l, partial, count, i, &h, hdr, &hdr_len, iov + 2);
      if (n == 1) {
        written += write_one(fd, frames[i], (size_t)l[i], true, partial && partial[i], stats);
      } else {
        iov[0].iov_base = &h;
        iov[0].iov_len = sizeof h;
        iov[1].iov_base = hdr;
        iov[1].iov_len = hdr_len;
        written += count_write(writev_retry(fd, iov, 2 + n), n, stats);
        if (gro_stats) {
          gro_stats[0] += 1;
          gro_stats[1] += n;
        }
      }
      i += n;
    }
  }
  return written;
}

napi_value tsw_js_tap_write_frames(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 8, argv);
  int64_t fd, count;
  uint8_t *buf;
  size_t buf_len, n_offs, n_lens;
  void *offs, *lens;
  double *stats, *gro_stats;
  bool vnet;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_typed(env, argv[2], napi_int32_array, "offsets", &offs, &n_offs) ||
      !tsw_arg_typed(env, argv[3], napi_int32_array, "lengths", &lens, &n_lens) ||
      !tsw_arg_int(env, argv[4], "count", 0, TSW_MAX_BATCH, &count) ||
      !tsw_arg_stats(env, argv[5], "stats", 4, &stats) || !opt_bool(env, argv[6], "offload", &vnet) ||
      !tsw_arg_stats(env, argv[7], "groStats", 2, &gro_stats) ||
      !tsw_check_batch(env, buf_len, offs, n_offs, lens, n_lens, count, 0, 0))
    return NULL;
  const int32_t *o = offs;
  uint8_t *frames[TSW_MAX_BATCH];
  for (int64_t i = 0; i < count; i++) frames[i] = buf + o[i];
  int written = tsw_tap_write_batch((int)fd, frames, lens, NULL, (int)count, vnet, stats, gro_stats);
  napi_value r;
  TSW_NAPI(env, napi_create_int32(env, written, &r));
  return r;
}

napi_value tsw_js_tap_write_frame(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 6, argv);
  int64_t fd, off, len;
  uint8_t *buf;
  size_t buf_len;
  double *stats;
  bool vnet;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_int(env, argv[2], "offset", 0, INT32_MAX, &off) ||
      !tsw_arg_int(env, argv[3], "length", 0, INT32_MAX, &len) || !tsw_arg_stats(env, argv[4], "stats", 4, &stats) ||
      !opt_bool(env, argv[5], "offload", &vnet))
    return NULL;
  if ((size_t)(off + len) > buf_len)
    return tsw_throw_range(env, "frame (offset %lld, length %lld) does not fit buf of %zu bytes", (long long)off,
                           (long long)len, buf_len);
  napi_value r;
  TSW_NAPI(env, napi_create_int32(env, write_one((int)fd, buf + off, (size_t)len, vnet, false, stats), &r));
  return r;
}

napi_value tsw_js_fd_close(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 1, argv);
  int64_t fd;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  if (close((int)fd) < 0 && errno != EINTR) return tsw_throw_errno(env, errno, "close", NULL);
  return NULL;
}
