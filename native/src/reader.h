/*
 * reader.h: the poll-driven batch reader shared by the TAP (tap.c) and UDP (udp.c) bindings.
 *
 * A reader owns a uv_poll handle on a non-blocking fd. On each "readable" wake-up it calls the kind's
 * fill function, which drains frames/datagrams into the caller's slab (no allocation) and fills the
 * caller's offsets/lengths (and addrs/ports for UDP). Each filled batch becomes ONE JS call cb(count)
 * via napi_make_callback with `globalThis` as receiver (a non-object receiver makes the call silently
 * fail with napi_object_expected). While the fill function reports "maybe more" the reader refills the
 * same slab and calls back again, up to max_batches per wake-up; the poll is level-triggered, so
 * whatever is left wakes it again on the next loop turn. Hence: a batch is valid only during cb.
 *
 * A fatal error (poll error, EBADF, ...) calls cb(-errno) once and stops the reader. An exception thrown
 * by cb is reported via napi_fatal_exception (process 'uncaughtException'), like an event handler's.
 *
 * Lifetime: the JS handle is an external. stop() (or the external's finalizer) stops the poll, drops
 * the references to the slab, arrays and callback, and uv_close()s the handle; the memory is freed once
 * both the close callback and the finalizer have run. While active, the strong reference on cb keeps
 * the handle's owner alive, like an open socket. The reader never closes the fd.
 */
#ifndef TSWEAVE_READER_H
#define TSWEAVE_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common.h"

struct tsw_reader;

/*
 * Fills the slab; returns the number of entries filled (>= 0). Sets *more when the source may still
 * have data (the slab filled up). Sets *fatal to an errno to stop the reader. Counts its own stats.
 */
typedef int (*tsw_fill_fn)(struct tsw_reader *r, bool *more, int *fatal);

typedef struct tsw_reader_stats {
  double wakeups;   /* uv_poll readable callbacks */
  double batches;   /* JS callbacks with count > 0 */
  double frames;    /* entries delivered */
  double errors;    /* read/recvmmsg errors other than EAGAIN/EINTR */
  double truncated; /* entries dropped because they did not fit their slot */
  double superframes; /* TAP offload: GSO superframes read */
  double segments;    /* TAP offload: frames cut from them */
  double bad_gso;     /* TAP offload: superframes/partial-checksum frames that could not be handled (dropped) */
  int last_errno;
} tsw_reader_stats;

typedef struct tsw_reader {
  uv_poll_t poll;
  napi_env env;
  tsw_fill_fn fill;
  int fd;
  /* Caller's memory, kept alive by the refs below while active. */
  uint8_t *slab;
  size_t slab_len;
  int32_t *offsets;
  int32_t *lengths;
  uint32_t *addrs; /* UDP only */
  uint16_t *ports; /* UDP only */
  size_t max_frames;
  size_t frame_bytes; /* TAP: bytes offered to each read(); UDP: slot stride */
  size_t headroom, tailroom; /* TAP only: bytes kept free before/after each frame */
  unsigned max_batches;
  void *kind_state; /* UDP: preallocated mmsghdr/iovec/sockaddr arrays (freed with the reader) */
  /* TAP offload, the fast path's egress reader only (max_frames entries, or NULL): per frame, 1 = an
   * IPv4 TCP frame whose TCP checksum was left partial (offload.h); NULL: every checksum is completed. */
  uint8_t *partial;
  /* Set by fill when it holds data already taken from the fd but not yet delivered (a superframe's
   * remaining segments, a GRO slot's remaining datagrams): the reader keeps calling back past
   * max_batches until it is delivered, since no poll event would announce it. */
  bool kind_pending;
  napi_ref refs[5];
  napi_ref cb_ref;
  napi_async_context actx;
  bool active, close_started, uv_closed, finalized;
  tsw_reader_stats stats;
} tsw_reader;

/* Reader config handed over by tap.c / udp.c after validating their arguments. */
typedef struct tsw_reader_init {
  int fd;
  tsw_fill_fn fill;
  const char *resource_name;
  napi_value slab, offsets, lengths, addrs, ports, cb; /* addrs/ports may be NULL */
  uint8_t *slab_data;
  size_t slab_len;
  int32_t *offsets_data, *lengths_data;
  uint32_t *addrs_data;
  uint16_t *ports_data;
  size_t max_frames, frame_bytes, headroom, tailroom;
  unsigned max_batches;
  void *kind_state;
} tsw_reader_init;

/* Creates and starts a reader; returns the external handle or NULL with an exception pending. */
napi_value tsw_reader_start(napi_env env, const tsw_reader_init *init);

/* JS: readerStop(handle): idempotent. readerStats(handle) -> {wakeups, batches, frames, errors,
 * truncated, lastErrno, active}. */
napi_value tsw_js_reader_stop(napi_env env, napi_callback_info info);
napi_value tsw_js_reader_stats(napi_env env, napi_callback_info info);

#endif
