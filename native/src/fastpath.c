/* fastpath.c: the two I/O threads of the fast path (contract in fastpath.h). No napi calls here. */
#include "fastpath.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane_io.h"

/* Wire layout: src/wire/data-packet.ts */
#define HDR 14
#define FRAME_HDR 14
#define TAG 16
#define TYPE_DATA 1
#define ETH_HDR 14
#define MAX_SAFE_COUNTER 0x1fffffffffffffULL /* 2^53 - 1: the TS reference's limit */

static inline uint64_t rd48(const uint8_t *p) {
  return (uint64_t)p[0] << 40 | (uint64_t)p[1] << 32 | (uint64_t)p[2] << 24 | (uint64_t)p[3] << 16 |
         (uint64_t)p[4] << 8 | p[5];
}
static inline void wr48(uint8_t *p, uint64_t v) {
  for (int i = 5; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static inline uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

fp_session *tsw_fp_session_by_peer(tsw_fastpath *f, uint64_t peer) {
  for (int i = 0; i < f->nsessions; i++)
    if (f->sessions[i]->peer == peer) return f->sessions[i];
  return NULL;
}

static fp_session *session_by_index(tsw_fastpath *f, uint32_t idx) {
  for (int i = 0; i < f->nsessions; i++)
    if (f->sessions[i]->local_index == idx) return f->sessions[i];
  return NULL;
}

fp_key *tsw_fp_key_new(const uint8_t *key, const uint8_t *salt, uint8_t gen, bool for_seal) {
  fp_key *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->ctx = tsw_gcm_new(key, for_seal);
  if (!k->ctx) {
    free(k);
    return NULL;
  }
  atomic_init(&k->refs, 1);
  k->gen = gen;
  memcpy(k->salt, salt, 4);
  return k;
}

static inline fp_key *key_ref(fp_key *k) {
  if (k) atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
  return k;
}

void tsw_fp_key_unref(fp_key *k) {
  if (!k || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1) return;
  EVP_CIPHER_CTX_free(k->ctx); /* cleanses the key schedule */
  memset(k, 0, sizeof *k);
  free(k);
}

static inline fp_session *session_ref(fp_session *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void tsw_fp_session_unref(fp_session *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  tsw_fp_key_unref(s->seal);
  tsw_fp_key_unref(s->open);
  tsw_fp_key_unref(s->prev);
  free(s);
}

static inline bool stopping(tsw_fastpath *f) { return __atomic_load_n(&f->stopping, __ATOMIC_ACQUIRE); }

/* RFC 6479 window, the same rules as src/crypto/replay-window.ts. */
static bool replay_accept(fp_session *s, uint64_t c) {
  if (c == 0 || c > MAX_SAFE_COUNTER) return false;
  uint64_t block = c / 32;
  if (c > s->highest) {
    uint64_t cur = s->highest / 32, diff = block - cur;
    if (diff > FP_REPLAY_BLOCKS) diff = FP_REPLAY_BLOCKS;
    for (uint64_t i = 1; i <= diff; i++) s->ring[(cur + i) % FP_REPLAY_BLOCKS] = 0;
    s->highest = c;
  } else if (s->highest - c >= FP_REPLAY_WINDOW) {
    return false;
  }
  uint32_t *w = &s->ring[block % FP_REPLAY_BLOCKS], mask = 1u << (c % 32);
  if (*w & mask) return false;
  *w |= mask;
  return true;
}

/* Gives a filled hand-off to JS and waits until it was consumed (or we are stopping). Called without
 * the table lock: JS may take the write lock while it handles the batch. */
static void handoff_flush(tsw_fastpath *f, fp_handoff *h) {
  if (h->count == 0 && !h->fatal) return;
  pthread_mutex_lock(&f->hmu);
  h->ready = true;
  fp_add(&f->stats.handoff_waits, 1);
  uv_async_send(&f->async);
  while (h->ready && !stopping(f)) pthread_cond_wait(&f->hcv, &f->hmu);
  h->count = 0;
  h->used = 0;
  pthread_mutex_unlock(&f->hmu);
}

/* Reserves room for one entry of `len` bytes; NULL when full (flush first). */
static uint8_t *handoff_slot(fp_handoff *h, size_t len) {
  size_t start = (h->used + 15) & ~(size_t)15;
  if ((size_t)h->count >= h->cap || start + len > h->slab_len) return NULL;
  h->offsets[h->count] = (int32_t)start;
  h->lengths[h->count] = (int32_t)len;
  h->used = start + len;
  return h->slab + start;
}

/* Waits until fd is readable or stop is asked. false: stop. */
static bool wait_readable(tsw_fastpath *f, int fd) {
  struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->stop_fd, .events = POLLIN}};
  for (;;) {
    if (stopping(f)) return false;
    int k = poll(p, 2, -1);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return false;
    if (p[1].revents) return false;
    return true;
  }
}

static void fatal_stop(tsw_fastpath *f, fp_handoff *h, int err) {
  h->fatal = err;
  handoff_flush(f, h);
}

// ---------------------------------------------------------------------------------------------
// Egress: TAP → datagrams

#define FP_LOCAL ((fp_session *)1) /* frame_sess: a local frame, dropped (the bridge delivers it) */

/* Folds a tsw_*_batch counter array (the last element is an errno, not a count) into atomics. */
static void fold(fp_counter *dst, double *scratch, int counts) {
  for (int i = 0; i < counts; i++) {
    if (scratch[i] != 0) fp_add(&dst[i], (uint64_t)scratch[i]);
    scratch[i] = 0;
  }
}

/* Seals and sends the datagrams packed so far (no lock: the batch holds references). */
static void egress_send(tsw_fastpath *f, int n) {
  for (int i = 0; i < n; i++) {
    fp_session *s = f->send_sess[i];
    fp_key *k = f->send_key[i];
    uint8_t *p = f->send_slab + f->send_offs[i];
    uint64_t c = __atomic_add_fetch(&s->send_counter, 1, __ATOMIC_RELAXED);
    p[0] = TYPE_DATA;
    p[1] = k ? k->gen : 0;
    wr32(p + 2, s->remote_index);
    wr32(p + 6, (uint32_t)(c >> 32));
    wr32(p + 10, (uint32_t)c);
    if (s->encrypted) {
      if (!k || !tsw_gcm_seal(k->ctx, k->salt, p, (size_t)f->send_lens[i])) {
        f->send_lens[i] = 0; /* cannot happen with a valid context; never send plaintext */
        continue;
      }
      f->send_lens[i] += TAG;
    }
    __atomic_add_fetch(&s->tx_dgrams, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->tx_bytes, (uint64_t)f->send_lens[i], __ATOMIC_RELAXED);
    uint64_t r = __atomic_load_n(&s->remote, __ATOMIC_RELAXED);
    f->send_addrs[i] = (uint32_t)(r >> 16);
    f->send_ports[i] = (uint16_t)r;
  }
  int m = 0; /* compact away anything that failed to seal */
  for (int i = 0; i < n; i++) {
    if (f->send_lens[i] == 0) continue;
    f->send_offs[m] = f->send_offs[i];
    f->send_lens[m] = f->send_lens[i];
    f->send_addrs[m] = f->send_addrs[i];
    f->send_ports[m] = f->send_ports[i];
    m++;
  }
  if (m > 0) tsw_udp_send_datagrams(f->udp_fd, f->send_slab, f->send_offs, f->send_lens, m, f->send_addrs,
                                    f->send_ports, f->udp_scratch);
  fold(f->stats.udp_send, f->udp_scratch, 3);
  fp_add(&f->stats.egress_datagrams, (uint64_t)m);
}

/* The fast-path decision for one frame from the bridge (lock held): its session, FP_LOCAL, or NULL
 * when JS decides. */
static fp_session *egress_fast(tsw_fastpath *f, const uint8_t *p, size_t len, int64_t now) {
  if (len < ETH_HDR || len > f->max_frame || (p[0] & 1)) return NULL;
  tsw_mac_slot *src = tsw_mactable_find(&f->macs, rd48(p + 6), now);
  if (!src || src->peer != f->local_peer) return NULL;
  tsw_mac_slot *dst = tsw_mactable_find(&f->macs, rd48(p), now);
  if (!dst) return NULL;
  if (dst->peer == f->local_peer) {
    tsw_mactable_touch(src, now);
    return FP_LOCAL;
  }
  fp_session *s = tsw_fp_session_by_peer(f, dst->peer);
  if (!s || !s->eligible) return NULL;
  tsw_mactable_touch(src, now);
  return s;
}

/* Looks up every frame of the batch under the read lock; references what the rest needs. Returns
 * the number of sessions referenced (f->batch_sess). */
static int egress_lookup(tsw_fastpath *f, int n) {
  tsw_reader *r = &f->erd;
  int ns = 0;
  pthread_rwlock_rdlock(&f->lock);
  int64_t now = tsw_now_ms();
  for (int i = 0; i < n; i++) {
    fp_session *s = egress_fast(f, r->slab + r->offsets[i], (size_t)r->lengths[i], now);
    f->frame_sess[i] = s;
    if (!s || s == FP_LOCAL || s->in_batch) continue;
    s->in_batch = true;
    s->open_dgram = -1;
    s->batch_key = key_ref(s->seal);
    f->batch_sess[ns++] = session_ref(s);
  }
  pthread_rwlock_unlock(&f->lock);
  return ns;
}

static void egress_batch(tsw_fastpath *f, int n) {
  tsw_reader *r = &f->erd;
  fp_handoff *h = &f->eh;
  int ns = egress_lookup(f, n);
  int nd = 0;
  uint64_t slow = 0, local = 0, fast = 0;
  for (int i = 0; i < n; i++) {
    const uint8_t *p = r->slab + r->offsets[i];
    size_t len = (size_t)r->lengths[i];
    fp_session *s = f->frame_sess[i];
    if (!s) {
      uint8_t *dst = handoff_slot(h, len); /* sized to hold a whole read batch: never NULL here */
      if (dst) memcpy(dst, p, len), h->count++;
      slow++;
      continue;
    }
    if (s == FP_LOCAL) {
      local++;
      continue;
    }
    fast++;
    /* Pack like packer.ts: append to the session's open datagram while header + frames + tag fit. */
    int d = s->open_dgram;
    size_t need = FRAME_HDR + len;
    if (d < 0 || (size_t)f->send_lens[d] + need + TAG > f->stride) {
      d = nd++;
      f->send_offs[d] = (int32_t)((size_t)d * f->stride);
      f->send_lens[d] = HDR;
      f->send_sess[d] = s;
      f->send_key[d] = s->batch_key;
      s->open_dgram = d;
    }
    uint8_t *q = f->send_slab + f->send_offs[d] + f->send_lens[d];
    wr48(q, f->local_peer);
    wr48(q + 6, s->peer);
    q[12] = (uint8_t)(len >> 8);
    q[13] = (uint8_t)len;
    memcpy(q + FRAME_HDR, p, len);
    f->send_lens[d] += (int32_t)need;
  }
  if (nd > 0) egress_send(f, nd);
  for (int i = 0; i < ns; i++) {
    fp_session *s = f->batch_sess[i];
    s->in_batch = false;
    tsw_fp_key_unref(s->batch_key);
    s->batch_key = NULL;
    tsw_fp_session_unref(s);
  }
  fp_add(&f->stats.egress_frames_slow, slow);
  fp_add(&f->stats.egress_dropped_local, local);
  fp_add(&f->stats.egress_frames_fast, fast);
  fp_add(&f->stats.egress_batches, 1);
  handoff_flush(f, h);
}

/* Reads r's fd until it is drained, handing each batch to `batch`. Returns a fatal errno or 0. */
static void publish(fp_counter *c, double v) { atomic_store_explicit(c, (uint64_t)v, memory_order_relaxed); }

/* The reader's own counts (plain doubles, this thread's) as atomics JS may read. */
static void publish_reader_stats(tsw_fastpath *f, tsw_reader *r) {
  fp_stats *st = &f->stats;
  if (r == &f->erd) {
    publish(&st->tap_read_frames, r->stats.frames);
    publish(&st->tap_superframes, r->stats.superframes);
    publish(&st->tap_bad_offload, r->stats.bad_gso);
    publish(&st->tap_read_errors, r->stats.errors);
  } else {
    publish(&st->udp_truncated, r->stats.truncated);
    publish(&st->udp_receive_errors, r->stats.errors);
  }
}

static int drain(tsw_fastpath *f, tsw_reader *r, void (*batch)(tsw_fastpath *, int)) {
  for (;;) {
    bool more = false;
    int fatal = 0;
    r->kind_pending = false;
    int n = r->fill(r, &more, &fatal);
    r->stats.frames += n;
    publish_reader_stats(f, r);
    if (n > 0) batch(f, n);
    if (fatal) return fatal;
    if ((!more && !r->kind_pending) || stopping(f)) return 0;
  }
}

/* Reads the TAP until it is drained (emu held). */
static int egress_drain(tsw_fastpath *f) { return drain(f, &f->erd, egress_batch); }

void *tsw_fp_egress_main(void *arg) {
  tsw_fastpath *f = arg;
  while (wait_readable(f, f->tap_fd)) {
    pthread_mutex_lock(&f->emu);
    int fatal = egress_drain(f);
    pthread_mutex_unlock(&f->emu);
    if (fatal) {
      fatal_stop(f, &f->eh, fatal);
      return NULL;
    }
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Ingress: datagrams → TAP

enum { DEC_TAP = 1, DEC_JS = 2 };

static void ingress_write_tap(tsw_fastpath *f, int *nt) {
  if (*nt == 0) return;
  tsw_tap_write_batch(f->tap_fd, f->tap_frames, f->tap_lens, *nt, f->tap_vnet, f->tap_scratch, f->gro_scratch);
  fold(f->stats.tap_write, f->tap_scratch, 3);
  fold(f->stats.tap_gro, f->gro_scratch, 2);
  fp_add(&f->stats.ingress_frames_fast, (uint64_t)*nt);
  *nt = 0;
}

/* Room for one entry for JS; flushes when the hand-off is full. */
static uint8_t *ingress_slot(tsw_fastpath *f, size_t len, int *nt) {
  fp_handoff *h = &f->ih;
  uint8_t *dst = handoff_slot(h, len);
  if (dst) return dst;
  ingress_write_tap(f, nt); /* keep order: what we took before goes out first */
  handoff_flush(f, h);
  return handoff_slot(h, len);
}

/* Decides (lock held: MAC lookups) where each frame of a DATA body goes, into f->frame_dec. Returns
 * the number of frames, or -1 for a malformed body (nothing of it is delivered). */
static int ingress_decide(tsw_fastpath *f, const uint8_t *body, size_t len, int64_t now) {
  size_t p = 0;
  int k = 0;
  pthread_rwlock_rdlock(&f->lock);
  while (p < len) {
    if (len - p < FRAME_HDR || k >= FP_MAX_FRAMES_PER_DGRAM) goto bad;
    uint64_t origin = rd48(body + p), dst = rd48(body + p + 6);
    size_t flen = (size_t)body[p + 12] << 8 | body[p + 13], start = p + FRAME_HDR;
    if (flen == 0 || start + flen > len) goto bad;
    const uint8_t *fr = body + start;
    tsw_mac_slot *m;
    if (dst == f->local_peer && origin != f->local_peer && flen >= ETH_HDR &&
        (m = tsw_mactable_find(&f->macs, rd48(fr + 6), now)) && m->peer == origin) {
      tsw_mactable_touch(m, now);
      f->frame_dec[k++] = DEC_TAP;
    } else {
      f->frame_dec[k++] = DEC_JS;
    }
    p = start + flen;
  }
  pthread_rwlock_unlock(&f->lock);
  return k;
bad:
  pthread_rwlock_unlock(&f->lock);
  return -1;
}

static void ingress_frames(tsw_fastpath *f, uint8_t *body, size_t len, int64_t now, int *nt) {
  int k = ingress_decide(f, body, len, now);
  if (k < 0) {
    fp_add(&f->stats.dropped_bad_frame, 1);
    return;
  }
  size_t p = 0;
  for (int i = 0; i < k; i++) {
    uint64_t origin = rd48(body + p), dst = rd48(body + p + 6);
    size_t flen = (size_t)body[p + 12] << 8 | body[p + 13];
    uint8_t *fr = body + p + FRAME_HDR;
    p += FRAME_HDR + flen;
    if (f->frame_dec[i] == DEC_TAP) {
      f->tap_frames[*nt] = fr;
      f->tap_lens[*nt] = (int32_t)flen;
      if ((size_t)++*nt >= f->tap_cap) ingress_write_tap(f, nt);
      continue;
    }
    uint8_t *out = ingress_slot(f, flen, nt);
    if (out) {
      fp_handoff *h = &f->ih;
      memcpy(out, fr, flen);
      h->kinds[h->count] = FP_KIND_FRAME;
      h->peers[h->count] = (double)origin;
      h->dsts[h->count] = (double)dst;
      h->addrs[h->count] = 0;
      h->ports[h->count] = 0;
      h->count++;
    }
    fp_add(&f->stats.ingress_frames_slow, 1);
  }
}

/* The session of a datagram and the key its header names (lock held only here), both referenced.
 * *key stays NULL for an unencrypted session, or when the generation is unknown or past its grace. */
static fp_session *ingress_lookup(tsw_fastpath *f, const uint8_t *p, int64_t now, fp_key **key) {
  *key = NULL;
  pthread_rwlock_rdlock(&f->lock);
  fp_session *s = session_by_index(f, rd32(p + 2));
  if (s) {
    session_ref(s);
    if (s->open && s->open->gen == p[1]) *key = key_ref(s->open);
    else if (s->prev && s->prev->gen == p[1] && now <= s->prev_until_ms) *key = key_ref(s->prev);
  }
  pthread_rwlock_unlock(&f->lock);
  return s;
}

/* One datagram: to the TAP, to JS, or counted and dropped. */
static void ingress_one(tsw_fastpath *f, int i, int64_t now, int *nt) {
  tsw_reader *r = &f->ird;
  uint8_t *p = r->slab + r->offsets[i];
  size_t len = (size_t)r->lengths[i];
  if (len < HDR) {
    fp_add(&f->stats.dropped_short, 1);
    return;
  }
  fp_key *k;
  fp_session *s = ingress_lookup(f, p, now, &k);
  if (!s) {
    fp_add(&f->stats.dropped_unknown_session, 1);
    return;
  }
  if (s->encrypted) {
    if (!k || !tsw_gcm_open(k->ctx, k->salt, p, len)) {
      fp_add(&f->stats.dropped_auth, 1);
      goto done;
    }
    len -= TAG;
    uint64_t c = (uint64_t)rd32(p + 6) << 32 | rd32(p + 10);
    if (!replay_accept(s, c)) {
      fp_add(&f->stats.dropped_replay, 1);
      goto done;
    }
    /* Only an authenticated packet may move the session (NAT rebinding). */
    uint64_t from = (uint64_t)r->addrs[i] << 16 | r->ports[i];
    if (__atomic_load_n(&s->remote, __ATOMIC_RELAXED) != from) __atomic_store_n(&s->remote, from, __ATOMIC_RELAXED);
  }
  __atomic_add_fetch(&s->rx_dgrams, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&s->rx_bytes, (uint64_t)r->lengths[i], __ATOMIC_RELAXED);
  if (p[0] == TYPE_DATA) {
    ingress_frames(f, p + HDR, len - HDR, now, nt);
    goto done;
  }
  /* Heartbeats, key confirmations and anything else: JS (which counts unknown types). */
  uint8_t *out = ingress_slot(f, len, nt);
  if (out) {
    fp_handoff *h = &f->ih;
    memcpy(out, p, len);
    h->kinds[h->count] = FP_KIND_CONTROL;
    h->peers[h->count] = (double)s->peer;
    h->dsts[h->count] = 0;
    h->addrs[h->count] = r->addrs[i];
    h->ports[h->count] = r->ports[i];
    h->count++;
    fp_add(&f->stats.ingress_control, 1);
  }
done:
  tsw_fp_key_unref(k);
  tsw_fp_session_unref(s);
}

static void ingress_batch(tsw_fastpath *f, int n) {
  int nt = 0;
  fp_add(&f->stats.ingress_datagrams, (uint64_t)n);
  int64_t now = tsw_now_ms();
  for (int i = 0; i < n; i++) ingress_one(f, i, now, &nt);
  ingress_write_tap(f, &nt);
  fp_add(&f->stats.ingress_batches, 1);
  handoff_flush(f, &f->ih);
}

void *tsw_fp_ingress_main(void *arg) {
  tsw_fastpath *f = arg;
  while (wait_readable(f, f->udp_fd)) {
    uint64_t written = fp_get(&f->stats.tap_write[0]);
    int fatal = drain(f, &f->ird, ingress_batch);
    if (fatal) {
      fatal_stop(f, &f->ih, fatal);
      return NULL;
    }
    /* A frame just written to the TAP is often answered before write() returns (the bridge, the
     * container's stack and the way back all run in the softirq of our write): take the answer now
     * instead of waking the egress thread for it, a whole thread wake-up off a request/response. If
     * the egress thread is busy it has it anyway; a TAP error is left for it to report. */
    if (fp_get(&f->stats.tap_write[0]) != written && pthread_mutex_trylock(&f->emu) == 0) {
      fp_add(&f->stats.egress_by_ingress, 1);
      egress_drain(f);
      pthread_mutex_unlock(&f->emu);
    }
  }
  return NULL;
}

void tsw_fp_stop_threads(tsw_fastpath *f) {
  __atomic_store_n(&f->stopping, true, __ATOMIC_RELEASE);
  uint64_t one = 1;
  if (write(f->stop_fd, &one, sizeof one) < 0) { /* eventfd: cannot fail short of EBADF */
  }
  pthread_mutex_lock(&f->hmu);
  pthread_cond_broadcast(&f->hcv);
  pthread_mutex_unlock(&f->hmu);
  if (f->egress_started) pthread_join(f->egress, NULL);
  if (f->ingress_started) pthread_join(f->ingress, NULL);
  f->egress_started = f->ingress_started = false;
}
