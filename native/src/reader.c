/*
 * reader.c: poll-driven batch reader (see reader.h for the contract).
 *
 * JS API (registered by addon.c):
 *   readerStop(handle: ReaderHandle): void
 *     Stops polling and releases the slab/arrays/callback. Idempotent. Safe inside the callback.
 *   readerStats(handle: ReaderHandle): { wakeups, batches, frames, errors, truncated, lastErrno, active }
 */
#include "reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const napi_type_tag READER_TAG = {0x7473776561766552ULL, 0x6561646572000001ULL};

static void reader_free(tsw_reader *r) {
  free(r->kind_state);
  free(r);
}

static void on_close(uv_handle_t *h) {
  tsw_reader *r = (tsw_reader *)h->data;
  r->uv_closed = true;
  if (r->finalized) reader_free(r);
}

/* Stops polling and releases JS references. Must run on the JS thread with a valid env. */
static void reader_stop(tsw_reader *r) {
  if (r->close_started) return;
  r->active = false;
  r->close_started = true;
  uv_poll_stop(&r->poll);
  for (size_t i = 0; i < sizeof r->refs / sizeof r->refs[0]; i++) {
    if (r->refs[i]) napi_delete_reference(r->env, r->refs[i]);
    r->refs[i] = NULL;
  }
  if (r->cb_ref) napi_delete_reference(r->env, r->cb_ref);
  r->cb_ref = NULL;
  if (r->actx) napi_async_destroy(r->env, r->actx);
  r->actx = NULL;
  r->slab = NULL;
  r->offsets = r->lengths = NULL;
  r->addrs = NULL;
  r->ports = NULL;
  uv_close((uv_handle_t *)&r->poll, on_close);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tsw_reader *r = (tsw_reader *)data;
  r->finalized = true;
  if (!r->close_started) reader_stop(r);
  else if (r->uv_closed) reader_free(r);
}

/* One JS call cb(n). Returns false if the callback threw (already reported). */
static bool deliver(tsw_reader *r, int n) { return tsw_call_int(r->env, r->actx, r->cb_ref, n); }

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  tsw_reader *r = (tsw_reader *)h->data;
  if (!r->active) return;
  r->stats.wakeups++;
  if (status < 0) { /* libuv reports -errno */
    r->stats.errors++;
    r->stats.last_errno = -status;
    deliver(r, status);
    reader_stop(r);
    return;
  }
  for (unsigned b = 0; (b < r->max_batches || r->kind_pending) && r->active; b++) {
    bool more = false;
    int fatal = 0;
    r->kind_pending = false;
    int n = r->fill(r, &more, &fatal);
    if (n > 0) {
      r->stats.batches++;
      r->stats.frames += n;
      deliver(r, n);
    }
    if (fatal && r->active) {
      r->stats.last_errno = fatal;
      deliver(r, -fatal);
      reader_stop(r);
    }
    if (!more && !r->kind_pending) break;
  }
}

napi_value tsw_reader_start(napi_env env, const tsw_reader_init *in) {
  tsw_reader *r = calloc(1, sizeof *r);
  if (!r) {
    free(in->kind_state); /* ours from the call on, also when we fail (udp.c, tap.c) */
    return tsw_throw_errno(env, ENOMEM, "calloc", "reader");
  }
  r->env = env;
  r->fill = in->fill;
  r->fd = in->fd;
  r->slab = in->slab_data;
  r->slab_len = in->slab_len;
  r->offsets = in->offsets_data;
  r->lengths = in->lengths_data;
  r->addrs = in->addrs_data;
  r->ports = in->ports_data;
  r->max_frames = in->max_frames;
  r->frame_bytes = in->frame_bytes;
  r->headroom = in->headroom;
  r->tailroom = in->tailroom;
  r->max_batches = in->max_batches;
  r->kind_state = in->kind_state;
  r->poll.data = r;

  uv_loop_t *loop = NULL;
  napi_status s = napi_get_uv_event_loop(env, &loop);
  int uerr = s == napi_ok ? uv_poll_init(loop, &r->poll, in->fd) : 0;
  if (s != napi_ok || uerr != 0) {
    reader_free(r);
    if (s != napi_ok) tsw_throw_status(env, s, "napi_get_uv_event_loop");
    else tsw_throw_errno(env, -uerr, "uv_poll_init", in->resource_name);
    return NULL;
  }
  /* From here the uv handle exists: every failure path goes through reader_stop (uv_close). */
  r->finalized = true; /* until the external owns r, free on close */
  napi_value vals[5] = {in->slab, in->offsets, in->lengths, in->addrs, in->ports};
  napi_value name, ext;
  bool ok = true;
  for (int i = 0; i < 5 && ok; i++)
    if (vals[i]) ok = (s = napi_create_reference(env, vals[i], 1, &r->refs[i])) == napi_ok;
  if (ok) ok = (s = napi_create_reference(env, in->cb, 1, &r->cb_ref)) == napi_ok;
  if (ok) ok = (s = napi_create_string_utf8(env, in->resource_name, NAPI_AUTO_LENGTH, &name)) == napi_ok;
  if (ok) ok = (s = napi_async_init(env, NULL, name, &r->actx)) == napi_ok;
  if (ok) ok = (s = napi_create_external(env, r, on_finalize, NULL, &ext)) == napi_ok;
  if (!ok) {
    tsw_throw_status(env, s, "reader setup");
    reader_stop(r);
    return NULL;
  }
  r->finalized = false;
  s = napi_type_tag_object(env, ext, &READER_TAG);
  if (s != napi_ok) {
    tsw_throw_status(env, s, "napi_type_tag_object");
    reader_stop(r); /* the finalizer frees it later */
    return NULL;
  }
  uerr = uv_poll_start(&r->poll, UV_READABLE, on_poll);
  if (uerr != 0) {
    tsw_throw_errno(env, -uerr, "uv_poll_start", in->resource_name);
    reader_stop(r);
    return NULL;
  }
  r->active = true;
  return ext;
}

napi_value tsw_js_reader_stop(napi_env env, napi_callback_info info) {
  void *p = tsw_handle_arg(env, info, &READER_TAG);
  if (!p) return NULL;
  reader_stop((tsw_reader *)p);
  return NULL;
}

napi_value tsw_js_reader_stats(napi_env env, napi_callback_info info) {
  void *p = tsw_handle_arg(env, info, &READER_TAG);
  if (!p) return NULL;
  tsw_reader *r = (tsw_reader *)p;
  napi_value o, active;
  TSW_NAPI(env, napi_create_object(env, &o));
  if (!tsw_set_double(env, o, "wakeups", r->stats.wakeups) || !tsw_set_double(env, o, "batches", r->stats.batches) ||
      !tsw_set_double(env, o, "frames", r->stats.frames) || !tsw_set_double(env, o, "errors", r->stats.errors) ||
      !tsw_set_double(env, o, "truncated", r->stats.truncated) ||
      !tsw_set_double(env, o, "superframes", r->stats.superframes) ||
      !tsw_set_double(env, o, "segments", r->stats.segments) || !tsw_set_double(env, o, "badOffload", r->stats.bad_gso) ||
      !tsw_set_double(env, o, "lastErrno", r->stats.last_errno))
    return NULL;
  TSW_NAPI(env, napi_get_boolean(env, r->active, &active));
  TSW_NAPI(env, napi_set_named_property(env, o, "active", active));
  return o;
}
