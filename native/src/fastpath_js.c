/*
 * fastpath_js.c: Node-API bindings of the fast path (fastpath.h). Typed interface: src/io/native.ts.
 *
 *   fastpathStart(tapFds, udpFds, tapOffload, udpGro, localPeer, stride, macMaxAgeMs, macMaxEntries,
 *                 eSlab, eOffsets, eLengths, eCb,
 *                 iSlab, iOffsets, iLengths, iKinds, iPeers, iDsts, iAddrs, iPorts, iCb, unified) -> FastPathHandle
 *     tapFds/udpFds: an fd, or an Int32Array with one per lane (TAP queues of one IFF_MULTI_QUEUE TAP,
 *     sockets bound to one port with SO_REUSEPORT; lane 0's are the ones JS also uses). Starts per lane
 *     an egress thread on its TAP queue (tapOffload: opened with IFF_VNET_HDR) and an ingress thread on
 *     its socket (udpGro: turn UDP_GRO on). stride = largest datagram; frames
 *     longer than stride - 44 go to JS. eCb(count): frames for JS in eSlab at eOffsets/eLengths (the
 *     same shape as a TAP batch). iCb(count): entries in iSlab; iKinds[i] 0 = control datagram
 *     (header + plaintext, from session iPeers[i], sent from iAddrs[i]:iPorts[i]), 1 = frame from
 *     origin iPeers[i] to iDsts[i], 2 = learn: the Ethernet header of a broadcast from origin iPeers[i]
 *     that the lane delivered and forwarded itself (fastpath_relay.h). A batch is valid only during its callback. cb(-errno): that
 *     thread (unified: that side of the lane) stopped on a fatal error. unified (boolean, undefined =
 *     false): one thread per lane for both sides (fastpath_unified.c) instead of an egress and an
 *     ingress thread. The caller stops its own readers on these fds first.
 *   fastpathStop(h)                             joins the threads; idempotent
 *   fastpathStats(h) -> object (totals; `lanes`, `threads` (I/O threads running), and per lane
 *                    laneNEgressFrames, laneNIngressDatagrams)
 * The table bindings (sessions, keys, MACs) are in fastpath_tables_js.c, routes and broadcast trees in
 * fastpath_relay_js.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dataplane_io.h"
#include "fastpath.h"
#include "fastpath_relay.h"
#include "offload.h"

static const napi_type_tag FP_TAG = {0x7473776561766546ULL, 0x6173747061746801ULL};

#define FP_UDP_STRIDE 65536
#define FP_UDP_GRO_SLOTS 32
#define FP_UDP_SLOTS 64
#define FP_UDP_ENTRIES 256
#define FP_TAP_WRITE_BATCH 256
#define FP_MAX_TAG 16
#define FP_HDRS 44 /* datagram header + frame header + tag */

static void lane_free(fp_lane *l) {
  free(l->erd.slab);
  free(l->erd.offsets);
  free(l->erd.lengths);
  free(l->erd.kind_state);
  free(l->erd.partial);
  free(l->ird.slab);
  free(l->ird.offsets);
  free(l->ird.lengths);
  free(l->ird.addrs);
  free(l->ird.ports);
  free(l->ird.kind_state);
  free(l->send_slab);
  free(l->send_offs);
  free(l->send_lens);
  free(l->send_addrs);
  free(l->send_ports);
  free(l->send_sess);
  free(l->send_key);
  free(l->frame_sess);
  free(l->frame_dst);
  free(l->batch_sess);
  free(l->bcast_plan);
  free(l->frame_dec);
  free(l->tap_frames);
  free(l->tap_lens);
  free(l->tap_queue);
  free(l->q_frames);
  free(l->q_lens);
  free(l->tap_partial);
  free(l->q_partial);
  tsw_fp_relay_lane_free(l);
  pthread_mutex_destroy(&l->emu);
}

static void fp_free(tsw_fastpath *f) {
  for (int i = 0; i < f->nsessions; i++) tsw_fp_session_unref(f->sessions[i]);
  tsw_mactable_free(&f->macs);
  tsw_fp_relay_free(f);
  if (f->lanes)
    for (int i = 0; i < f->nlanes; i++) lane_free(&f->lanes[i]);
  free(f->lanes);
  if (f->stop_fd >= 0) close(f->stop_fd);
  pthread_rwlock_destroy(&f->lock);
  pthread_mutex_destroy(&f->eh.own);
  pthread_mutex_destroy(&f->ih.own);
  pthread_mutex_destroy(&f->hmu);
  pthread_cond_destroy(&f->hcv);
  free(f);
}

static void on_async_close(uv_handle_t *h) {
  tsw_fastpath *f = h->data;
  f->uv_closed = true;
  if (f->finalized) fp_free(f);
}

/* Stops the threads and drops every JS reference. JS thread only. */
static void fp_close(tsw_fastpath *f) {
  if (f->closed) return;
  f->closed = true;
  tsw_fp_stop_threads(f);
  for (size_t i = 0; i < sizeof f->slab_refs / sizeof f->slab_refs[0]; i++)
    if (f->slab_refs[i]) napi_delete_reference(f->env, f->slab_refs[i]), f->slab_refs[i] = NULL;
  if (f->eh.cb) napi_delete_reference(f->env, f->eh.cb), f->eh.cb = NULL;
  if (f->ih.cb) napi_delete_reference(f->env, f->ih.cb), f->ih.cb = NULL;
  if (f->actx) napi_async_destroy(f->env, f->actx), f->actx = NULL;
  uv_close((uv_handle_t *)&f->async, on_async_close);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tsw_fastpath *f = data;
  f->finalized = true;
  if (!f->closed) fp_close(f);
  else if (f->uv_closed) fp_free(f);
}

/* One JS call cb(n) for a hand-off, then releases it to its thread. */
static void deliver(tsw_fastpath *f, fp_handoff *h) {
  pthread_mutex_lock(&f->hmu);
  bool ready = h->ready;
  int n = h->fatal ? -h->fatal : h->count;
  pthread_mutex_unlock(&f->hmu);
  if (!ready) return;
  tsw_call_int(f->env, f->actx, h->cb, n);
  pthread_mutex_lock(&f->hmu);
  h->ready = false;
  pthread_cond_broadcast(&f->hcv);
  pthread_mutex_unlock(&f->hmu);
}

static void on_async(uv_async_t *a) {
  tsw_fastpath *f = a->data;
  if (f->closed) return;
  deliver(f, &f->eh);
  if (!f->closed) deliver(f, &f->ih);
}

bool tsw_fp_get(napi_env env, napi_value v, tsw_fastpath **out) {
  void *p;
  if (!tsw_arg_external(env, v, &FP_TAG, "handle", &p)) return false;
  *out = p;
  if ((*out)->closed) {
    tsw_throw_code(env, "ERR_INVALID_STATE", "fast path was stopped");
    return false;
  }
  return true;
}

bool tsw_fp_arg_peer(napi_env env, napi_value v, const char *name, uint64_t *out) {
  int64_t x;
  if (!tsw_arg_int(env, v, name, 0, 0xffffffffffffLL, &x)) return false;
  *out = (uint64_t)x;
  return true;
}

static bool typed(napi_env env, napi_value v, napi_typedarray_type t, const char *name, void **p, size_t *n) {
  return tsw_arg_typed(env, v, t, name, p, n);
}

/* A file descriptor or an Int32Array of 1..FP_MAX_LANES of them. */
static bool fd_list(napi_env env, napi_value v, const char *name, int *out, int *n) {
  bool is_ta = false;
  TSW_NAPI_B(env, napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) {
    int64_t fd;
    if (!tsw_arg_int(env, v, name, 0, INT32_MAX, &fd)) return false;
    out[0] = (int)fd;
    *n = 1;
    return true;
  }
  void *p;
  size_t len;
  if (!tsw_arg_typed(env, v, napi_int32_array, name, &p, &len)) return false;
  if (len < 1 || len > FP_MAX_LANES) {
    tsw_throw_range(env, "%s must hold 1..%d file descriptors, got %zu", name, FP_MAX_LANES, len);
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    int fd = ((int32_t *)p)[i];
    if (fd < 0) {
      tsw_throw_range(env, "%s[%zu] must be a file descriptor, got %d", name, i, fd);
      return false;
    }
    out[i] = fd;
  }
  *n = (int)len;
  return true;
}

/* One lane's memory (sizes as the single-lane fast path had them). false: out of memory. */
static bool lane_init(tsw_fastpath *f, fp_lane *l, int idx, int tap_fd, int udp_fd, bool gro, size_t eslab_len,
                      size_t ecap, size_t frame_bytes) {
  l->f = f;
  l->idx = idx;
  l->tap_fd = tap_fd;
  l->udp_fd = udp_fd;
  pthread_mutex_init(&l->emu, NULL);
  bool vnet = f->tap_vnet;
  size_t stride = f->stride;
  bool gro_on = gro && tsw_udp_enable_gro(udp_fd);
  size_t uslots = gro_on ? FP_UDP_GRO_SLOTS : FP_UDP_SLOTS, uentries = gro_on ? FP_UDP_ENTRIES : FP_UDP_SLOTS;
  /* egress thread: reads like the TAP reader (same slab size as the hand-off, so a whole read batch
   * always fits in the hand-off), one datagram slot per frame at most */
  l->erd.fd = tap_fd;
  l->erd.fill = vnet ? tsw_tap_fill_vnet : tsw_tap_fill;
  l->erd.slab_len = eslab_len;
  l->erd.slab = malloc(eslab_len);
  l->erd.max_frames = ecap;
  l->erd.frame_bytes = frame_bytes;
  l->erd.offsets = calloc(ecap, sizeof(int32_t));
  l->erd.lengths = calloc(ecap, sizeof(int32_t));
  l->erd.kind_state = vnet ? (void *)tsw_tap_vnet_state_new() : NULL;
  l->erd.partial = vnet ? calloc(ecap, 1) : NULL; /* TCP checksums may stay partial (offload.h) */
  l->send_slab = malloc(ecap * stride + FP_MAX_TAG);
  l->send_offs = calloc(ecap, sizeof(int32_t));
  l->send_lens = calloc(ecap, sizeof(int32_t));
  l->send_addrs = calloc(ecap, sizeof(uint32_t));
  l->send_ports = calloc(ecap, sizeof(uint16_t));
  l->send_sess = calloc(ecap, sizeof(fp_session *));
  l->send_key = calloc(ecap, sizeof(fp_key *));
  l->frame_sess = calloc(ecap, sizeof(fp_session *));
  l->frame_dst = calloc(ecap, sizeof(uint64_t));
  l->batch_sess = calloc(ecap, sizeof(fp_session *));
  l->bcast_plan = calloc(2 * ecap, sizeof(fp_session *)); /* copies of a batch <= ecap, plus one NULL a frame */
  /* ingress thread: reads like the UDP reader */
  l->ird.fd = udp_fd;
  l->ird.fill = tsw_udp_fill;
  l->ird.slab_len = uslots * FP_UDP_STRIDE;
  l->ird.slab = malloc(l->ird.slab_len);
  l->ird.max_frames = uentries;
  l->ird.frame_bytes = FP_UDP_STRIDE;
  l->ird.offsets = calloc(uentries, sizeof(int32_t));
  l->ird.lengths = calloc(uentries, sizeof(int32_t));
  l->ird.addrs = calloc(uentries, sizeof(uint32_t));
  l->ird.ports = calloc(uentries, sizeof(uint16_t));
  l->ird.kind_state = l->ird.slab ? tsw_udp_state_new(l->ird.slab, FP_UDP_STRIDE, uslots, gro_on) : NULL;
  l->tap_cap = FP_TAP_WRITE_BATCH;
  l->tap_frames = calloc(l->tap_cap, sizeof(uint8_t *));
  l->tap_lens = calloc(l->tap_cap, sizeof(int32_t));
  l->tap_queue = calloc(l->tap_cap, 1);
  l->tap_partial = calloc(l->tap_cap, 1);
  l->q_frames = calloc(l->tap_cap, sizeof(uint8_t *));
  l->q_lens = calloc(l->tap_cap, sizeof(int32_t));
  l->q_partial = calloc(l->tap_cap, 1);
  l->frame_dec = malloc(FP_MAX_FRAMES_PER_DGRAM);
  return l->erd.slab && l->erd.offsets && l->erd.lengths && (!vnet || (l->erd.kind_state && l->erd.partial)) &&
         l->tap_partial && l->q_partial && l->send_slab &&
         l->send_offs && l->send_lens && l->send_addrs && l->send_ports && l->send_sess && l->send_key &&
         l->frame_sess && l->frame_dst && l->batch_sess && l->bcast_plan && l->ird.slab && l->ird.offsets && l->ird.lengths && l->ird.addrs &&
         l->ird.ports && l->ird.kind_state && l->tap_frames && l->tap_lens && l->tap_queue && l->q_frames &&
         l->q_lens && l->frame_dec;
}

napi_value tsw_js_fastpath_start(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 22, argv);
  int64_t stride, max_age, max_entries;
  int tap_fds[FP_MAX_LANES], udp_fds[FP_MAX_LANES], ntap = 0, nudp = 0;
  bool vnet, gro, unified = false;
  uint64_t local;
  uint8_t *eslab, *islab;
  size_t eslab_len, islab_len, n[9];
  void *a[9];
  if (!fd_list(env, argv[0], "tapFds", tap_fds, &ntap) || !fd_list(env, argv[1], "udpFds", udp_fds, &nudp) ||
      !tsw_arg_bool(env, argv[2], "tapOffload", &vnet) ||
      !tsw_arg_bool(env, argv[3], "udpGro", &gro) || !tsw_fp_arg_peer(env, argv[4], "localPeer", &local) ||
      !tsw_arg_int(env, argv[5], "stride", 128, 65507, &stride) ||
      !tsw_arg_int(env, argv[6], "macMaxAgeMs", 1, INT64_C(1) << 40, &max_age) ||
      !tsw_arg_int(env, argv[7], "macMaxEntries", 1, 1 << 22, &max_entries) ||
      !tsw_arg_bytes(env, argv[8], "eSlab", &eslab, &eslab_len) ||
      !typed(env, argv[9], napi_int32_array, "eOffsets", &a[0], &n[0]) ||
      !typed(env, argv[10], napi_int32_array, "eLengths", &a[1], &n[1]) || !tsw_arg_function(env, argv[11], "eCb") ||
      !tsw_arg_bytes(env, argv[12], "iSlab", &islab, &islab_len) ||
      !typed(env, argv[13], napi_int32_array, "iOffsets", &a[2], &n[2]) ||
      !typed(env, argv[14], napi_int32_array, "iLengths", &a[3], &n[3]) ||
      !typed(env, argv[15], napi_uint8_array, "iKinds", &a[4], &n[4]) ||
      !typed(env, argv[16], napi_float64_array, "iPeers", &a[5], &n[5]) ||
      !typed(env, argv[17], napi_float64_array, "iDsts", &a[6], &n[6]) ||
      !typed(env, argv[18], napi_uint32_array, "iAddrs", &a[7], &n[7]) ||
      !typed(env, argv[19], napi_uint16_array, "iPorts", &a[8], &n[8]) || !tsw_arg_function(env, argv[20], "iCb"))
    return NULL;
  napi_valuetype ut;
  TSW_NAPI(env, napi_typeof(env, argv[21], &ut));
  if (ut != napi_undefined && !tsw_arg_bool(env, argv[21], "unified", &unified)) return NULL;
  if (ntap != nudp)
    return tsw_throw_range(env, "tapFds and udpFds must have one entry per lane (got %d and %d)", ntap, nudp);
  size_t ecap = n[0] < n[1] ? n[0] : n[1];
  size_t icap = n[2];
  for (int i = 3; i < 9; i++)
    if (n[i] < icap) icap = n[i];
  size_t frame_bytes = vnet ? TSW_TAP_SUPERFRAME_BYTES : 65535;
  if (ecap < 1 || ecap > TSW_MAX_BATCH || icap < 1 || icap > TSW_MAX_BATCH)
    return tsw_throw_range(env, "hand-off arrays must have 1..%d elements", TSW_MAX_BATCH);
  if (eslab_len < frame_bytes + 16 || eslab_len > INT32_MAX)
    return tsw_throw_range(env, "eSlab must hold at least one %zu-byte read (got %zu bytes)", frame_bytes + 16,
                           eslab_len);
  if (islab_len < FP_UDP_STRIDE || islab_len > INT32_MAX)
    return tsw_throw_range(env, "iSlab must have at least %d bytes (got %zu)", FP_UDP_STRIDE, islab_len);

  tsw_fastpath *f = calloc(1, sizeof *f);
  if (!f) return tsw_throw_errno(env, ENOMEM, "calloc", "fast path");
  f->stop_fd = -1;
  /* Writers first: a JS update waits for the lookups in progress, not for a stream of new ones. */
  pthread_rwlockattr_t la;
  pthread_rwlockattr_init(&la);
  pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&f->lock, &la);
  pthread_rwlockattr_destroy(&la);
  pthread_mutex_init(&f->hmu, NULL);
  pthread_mutex_init(&f->eh.own, NULL);
  pthread_mutex_init(&f->ih.own, NULL);
  pthread_cond_init(&f->hcv, NULL);
  f->env = env;
  f->local_peer = local;
  f->tap_vnet = vnet;
  f->unified = unified;
  f->stride = (size_t)stride;
  f->max_frame = (size_t)stride - FP_HDRS;
  f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int stop_err = f->stop_fd < 0 ? errno : 0; /* before any other call can change errno */
  f->lanes = calloc((size_t)ntap, sizeof *f->lanes);
  bool mem_ok = f->lanes && tsw_mactable_init(&f->macs, (size_t)max_entries, max_age);
  if (f->lanes) {
    f->nlanes = ntap;
    for (int i = 0; i < ntap; i++) {
      f->tap_fds[i] = tap_fds[i];
      mem_ok = lane_init(f, &f->lanes[i], i, tap_fds[i], udp_fds[i], gro, eslab_len, ecap, frame_bytes) && mem_ok;
    }
  }
  if (!mem_ok || stop_err) {
    /* fp_free frees f: everything the message needs is taken first */
    const char *what = stop_err ? "eventfd" : "malloc";
    int err = stop_err ? stop_err : ENOMEM;
    fp_free(f);
    return tsw_throw_errno(env, err, what, "fast path");
  }
  /* field by field: the hand-offs' mutexes are initialized already and must not be copied */
  fp_handoff *e = &f->eh, *in = &f->ih;
  e->slab = eslab, e->slab_len = eslab_len, e->offsets = a[0], e->lengths = a[1], e->cap = ecap;
  in->slab = islab, in->slab_len = islab_len, in->offsets = a[2], in->lengths = a[3], in->kinds = a[4];
  in->peers = a[5], in->dsts = a[6], in->addrs = a[7], in->ports = a[8], in->cap = icap;
  uv_loop_t *loop;
  napi_status s = napi_get_uv_event_loop(env, &loop);
  if (s != napi_ok || uv_async_init(loop, &f->async, on_async) != 0) {
    fp_free(f);
    return tsw_throw_code(env, "ERR_NAPI", "fast path: cannot create its wake-up handle");
  }
  f->async.data = f;
  /* From here the uv handle exists: failures go through fp_close (uv_close), which frees on close. */
  f->finalized = true;
  static const int refs[] = {8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19};
  bool ok = true;
  for (size_t i = 0; i < 11 && ok; i++) ok = napi_create_reference(env, argv[refs[i]], 1, &f->slab_refs[i]) == napi_ok;
  napi_value name, ext;
  ok = ok && napi_create_reference(env, argv[11], 1, &f->eh.cb) == napi_ok &&
       napi_create_reference(env, argv[20], 1, &f->ih.cb) == napi_ok &&
       napi_create_string_utf8(env, "tsweave:fastPath", NAPI_AUTO_LENGTH, &name) == napi_ok &&
       napi_async_init(env, NULL, name, &f->actx) == napi_ok &&
       napi_create_external(env, f, on_finalize, NULL, &ext) == napi_ok;
  if (!ok) {
    fp_close(f);
    return tsw_throw_code(env, "ERR_NAPI", "fast path: setup failed");
  }
  f->finalized = false;
  if (napi_type_tag_object(env, ext, &FP_TAG) != napi_ok) {
    fp_close(f);
    return tsw_throw_code(env, "ERR_NAPI", "fast path: napi_type_tag_object failed");
  }
  int err = 0;
  for (int i = 0; i < f->nlanes && !err; i++) {
    fp_lane *l = &f->lanes[i];
    /* Named for top -H and perf (--comms tsw-egress-0,tsw-ingres-0,... or tsw-lane-0,...); a failure
     * only loses the name. */
    char tn[16];
    if (unified) {
      err = pthread_create(&l->egress, NULL, tsw_fp_lane_main, l);
      l->egress_started = err == 0;
      snprintf(tn, sizeof tn, "tsw-lane-%d", i % FP_MAX_LANES);
      if (l->egress_started) pthread_setname_np(l->egress, tn);
      continue;
    }
    err = pthread_create(&l->egress, NULL, tsw_fp_egress_main, l);
    l->egress_started = err == 0;
    if (!err) err = pthread_create(&l->ingress, NULL, tsw_fp_ingress_main, l);
    l->ingress_started = l->egress_started && err == 0;
    snprintf(tn, sizeof tn, "tsw-egress-%d", i % FP_MAX_LANES);
    if (l->egress_started) pthread_setname_np(l->egress, tn);
    snprintf(tn, sizeof tn, "tsw-ingres-%d", i % FP_MAX_LANES);
    if (l->ingress_started) pthread_setname_np(l->ingress, tn);
  }
  if (err) {
    fp_close(f);
    return tsw_throw_errno(env, err, "pthread_create", "fast path");
  }
  return ext;
}

napi_value tsw_js_fastpath_stop(napi_env env, napi_callback_info info) {
  void *p = tsw_handle_arg(env, info, &FP_TAG);
  if (!p) return NULL;
  fp_close(p);
  return NULL;
}

napi_value tsw_js_fastpath_stats(napi_env env, napi_callback_info info) {
  void *p = tsw_handle_arg(env, info, &FP_TAG);
  if (!p) return NULL;
  tsw_fastpath *f = p;
  fp_stats *s = &f->stats;
  napi_value o;
  TSW_NAPI(env, napi_create_object(env, &o));
  pthread_rwlock_rdlock(&f->lock);
  double macs = (double)f->macs.count, sessions = (double)f->nsessions;
  pthread_rwlock_unlock(&f->lock);
  const struct {
    const char *k;
    fp_counter *v;
  } kv[] = {
      {"egressFramesFast", &s->egress_frames_fast},
      {"egressFramesSlow", &s->egress_frames_slow},
      {"egressDroppedLocal", &s->egress_dropped_local},
      {"egressDatagrams", &s->egress_datagrams},
      {"egressBatches", &s->egress_batches},
      {"udpSent", &s->udp_send[0]},
      {"udpSendDropped", &s->udp_send[1]},
      {"udpSendErrors", &s->udp_send[2]},
      {"ingressDatagrams", &s->ingress_datagrams},
      {"ingressFramesFast", &s->ingress_frames_fast},
      {"ingressFramesSlow", &s->ingress_frames_slow},
      {"ingressControl", &s->ingress_control},
      {"ingressBatches", &s->ingress_batches},
      {"droppedShort", &s->dropped_short},
      {"droppedUnknownSession", &s->dropped_unknown_session},
      {"droppedAuth", &s->dropped_auth},
      {"droppedReplay", &s->dropped_replay},
      {"droppedBadFrame", &s->dropped_bad_frame},
      {"tapWritten", &s->tap_write[0]},
      {"tapWriteDropped", &s->tap_write[1]},
      {"tapWriteErrors", &s->tap_write[2]},
      {"tapGsoWrites", &s->tap_gro[0]},
      {"tapGsoFrames", &s->tap_gro[1]},
      {"handoffs", &s->handoff_waits},
      {"egressByIngress", &s->egress_by_ingress},
      {"tapReadFrames", &s->tap_read_frames},
      {"tapSuperframes", &s->tap_superframes},
      {"tapBadOffload", &s->tap_bad_offload},
      {"tapReadErrors", &s->tap_read_errors},
      {"udpTruncated", &s->udp_truncated},
      {"udpReceiveErrors", &s->udp_receive_errors},
      {"relayFrames", &s->relay_frames},
      {"relayDatagrams", &s->relay_datagrams},
      {"broadcastFrames", &s->bcast_frames},
      {"broadcastCopies", &s->bcast_copies},
      {"broadcastDuplicates", &s->bcast_duplicates},
      {"egressBroadcastFrames", &s->egress_bcast_frames},
      {"egressBroadcastCopies", &s->egress_bcast_copies},
      {"egressCsumPartial", &s->egress_csum_partial},
      {"ingressCsumPartial", &s->ingress_csum_partial},
  };
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (!tsw_set_double(env, o, kv[i].k, (double)fp_get(kv[i].v))) return NULL;
  if (!tsw_set_double(env, o, "macs", macs) || !tsw_set_double(env, o, "sessions", sessions) ||
      !tsw_set_double(env, o, "lanes", f->nlanes))
    return NULL;
  int threads = 0;
  for (int i = 0; i < f->nlanes; i++) threads += f->lanes[i].egress_started + f->lanes[i].ingress_started;
  if (!tsw_set_double(env, o, "threads", threads)) return NULL;
  for (int i = 0; i < f->nlanes; i++) {
    char k[40];
    snprintf(k, sizeof k, "lane%dEgressFrames", i);
    if (!tsw_set_double(env, o, k, (double)fp_get(&f->lanes[i].egress_frames))) return NULL;
    snprintf(k, sizeof k, "lane%dIngressDatagrams", i);
    if (!tsw_set_double(env, o, k, (double)fp_get(&f->lanes[i].ingress_datagrams))) return NULL;
  }
  napi_value running;
  TSW_NAPI(env, napi_get_boolean(env, !f->closed, &running));
  TSW_NAPI(env, napi_set_named_property(env, o, "running", running));
  return o;
}
