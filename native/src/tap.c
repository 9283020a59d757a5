/*
 * tap.c: TAP device open, batched non-blocking frame reads and writes.
 *
 * JS API (all synchronous; see src/io/native.ts for the typed interface):
 *
 *   tapOpen(name: string) -> { fd: number, name: string }
 *     Opens /dev/net/tun (O_RDWR|O_NONBLOCK|O_CLOEXEC) and attaches/creates TAP `name` with
 *     TUNSETIFF IFF_TAP|IFF_NO_PI. `name` is the kernel's name (it may expand a "%d" pattern).
 *     Errors: TypeError/RangeError for a bad name (1..15 bytes); errno errors such as
 *     EPERM "TUNSETIFF vethwe-tap: Operation not permitted". The fd is closed on every failure path.
 *     (Room later for IFF_VNET_HDR / IFF_MULTI_QUEUE via an options argument.)
 *
 *   tapReaderStart(fd, slab: Buffer, offsets: Int32Array, lengths: Int32Array,
 *                  maxFrameBytes: number, headroom: number, tailroom: number,
 *                  cb: (count: number) => void) -> ReaderHandle
 *     On each wake-up reads frames with read() until EAGAIN, offsets.length frames, or the slab has
 *     less than headroom + maxFrameBytes + tailroom left; frames are packed into the slab (each starts
 *     16-byte aligned after `headroom` free bytes and is followed by `tailroom` free bytes), frame i at
 *     slab[offsets[i], offsets[i] + lengths[i]). Then calls cb(count) once; repeats (up to 4 batches
 *     per wake-up) while the slab keeps filling up. cb(-errno) once on a fatal error, then stops.
 *     A frame longer than maxFrameBytes is truncated by the kernel: pass 65535+ to never truncate.
 *     The batch is valid only during cb. Stop with readerStop(handle); readerStats(handle).
 *
 *   tapWriteFrames(fd, buf, offsets: Int32Array, lengths: Int32Array, count, stats?: Float64Array)
 *     -> number written
 *     One write() per frame. Never throws per frame: EAGAIN (queue full) counts as a drop, other
 *     errors (EIO when the link is down, EINVAL, ...) as errors. stats, if given, accumulates
 *     [written, dropped, errors, lastErrno]. Throws only for bad arguments.
 *
 *   tapWriteFrame(fd, buf, offset, length, stats?: Float64Array) -> 1 | 0
 *
 *   tapClose(fd): close(2), throws on EBADF. Stop readers on the fd first.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "reader.h"

#define TAP_MAX_BATCHES_PER_WAKEUP 4

napi_value tsw_js_tap_open(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 1, argv);
  char name[IFNAMSIZ];
  if (!tsw_arg_string(env, argv[0], "name", name, sizeof name)) return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return tsw_throw_errno(env, errno, "open /dev/net/tun for", name);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return tsw_throw_errno(env, err, "TUNSETIFF", name);
  }
  napi_value o, vfd, vname;
  napi_status s;
  if ((s = napi_create_object(env, &o)) != napi_ok || (s = napi_create_int32(env, fd, &vfd)) != napi_ok ||
      (s = napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &vname)) != napi_ok ||
      (s = napi_set_named_property(env, o, "fd", vfd)) != napi_ok ||
      (s = napi_set_named_property(env, o, "name", vname)) != napi_ok) {
    close(fd);
    tsw_throw_status(env, s, "tapOpen result");
    return NULL;
  }
  return o;
}

static int tap_fill(tsw_reader *r, bool *more, int *fatal) {
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
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) return n;
      r->stats.errors++;
      r->stats.last_errno = e;
      if (e == EBADF || e == EBADFD || e == EFAULT || e == EINVAL) *fatal = e;
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

napi_value tsw_js_tap_reader_start(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 8, argv);
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
  size_t max_frames = n_offs < n_lens ? n_offs : n_lens;
  if (max_frames == 0 || max_frames > TSW_MAX_BATCH)
    return tsw_throw_range(env, "offsets and lengths must have 1..%d elements", TSW_MAX_BATCH);
  if (in.slab_len > INT32_MAX) return tsw_throw_range(env, "slab must be smaller than 2 GiB");
  if ((size_t)(16 + head + max_frame + tail) > in.slab_len)
    return tsw_throw_range(env, "slab (%zu bytes) is smaller than headroom + maxFrameBytes + tailroom + 16",
                           in.slab_len);
  in.fd = (int)fd;
  in.fill = tap_fill;
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

/* Writes one frame; returns 1 if written, else counts the failure. */
static int write_one(int fd, const uint8_t *p, size_t len, double *stats) {
  for (;;) {
    ssize_t k = write(fd, p, len);
    if (k >= 0) {
      if (stats) stats[0]++;
      return 1;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (stats) {
      if (e == EAGAIN || e == EWOULDBLOCK) stats[1]++;
      else stats[2]++;
      stats[3] = e;
    }
    return 0;
  }
}

napi_value tsw_js_tap_write_frames(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 6, argv);
  int64_t fd, count;
  uint8_t *buf;
  size_t buf_len, n_offs, n_lens;
  void *offs, *lens;
  double *stats;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_typed(env, argv[2], napi_int32_array, "offsets", &offs, &n_offs) ||
      !tsw_arg_typed(env, argv[3], napi_int32_array, "lengths", &lens, &n_lens) ||
      !tsw_arg_int(env, argv[4], "count", 0, TSW_MAX_BATCH, &count) ||
      !tsw_arg_stats(env, argv[5], "stats", 4, &stats) ||
      !tsw_check_batch(env, buf_len, offs, n_offs, lens, n_lens, count, 0, 0))
    return NULL;
  const int32_t *o = offs, *l = lens;
  int written = 0;
  for (int64_t i = 0; i < count; i++) written += write_one((int)fd, buf + o[i], (size_t)l[i], stats);
  napi_value r;
  TSW_NAPI(env, napi_create_int32(env, written, &r));
  return r;
}

napi_value tsw_js_tap_write_frame(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 5, argv);
  int64_t fd, off, len;
  uint8_t *buf;
  size_t buf_len;
  double *stats;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_int(env, argv[2], "offset", 0, INT32_MAX, &off) ||
      !tsw_arg_int(env, argv[3], "length", 0, INT32_MAX, &len) || !tsw_arg_stats(env, argv[4], "stats", 4, &stats))
    return NULL;
  if ((size_t)(off + len) > buf_len)
    return tsw_throw_range(env, "frame (offset %lld, length %lld) does not fit buf of %zu bytes", (long long)off,
                           (long long)len, buf_len);
  napi_value r;
  TSW_NAPI(env, napi_create_int32(env, write_one((int)fd, buf + off, (size_t)len, stats), &r));
  return r;
}

napi_value tsw_js_fd_close(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 1, argv);
  int64_t fd;
  if (!tsw_arg_int(env, argv[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  if (close((int)fd) < 0 && errno != EINTR) return tsw_throw_errno(env, errno, "close", NULL);
  return NULL;
}
