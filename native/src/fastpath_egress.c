/* fastpath_egress.c: the fast path's egress thread, TAP → datagrams (contract in fastpath.h): looks up a
 * batch of frames under the read lock, packs the ones it may carry per session exactly as
 * src/dataplane/packer.ts does, seals and sends them; drops frames for local MACs; hands the rest to JS. */
#include "fastpath_int.h"

#include <string.h>

#include "dataplane_io.h"

#define FP_LOCAL ((fp_session *)1) /* frame_sess: a local frame, dropped (the bridge delivers it) */

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
  tsw_fp_handoff_flush(f, h);
}

int tsw_fp_egress_drain(tsw_fastpath *f) { return tsw_fp_drain(f, &f->erd, egress_batch); }

void *tsw_fp_egress_main(void *arg) {
  tsw_fastpath *f = arg;
  while (tsw_fp_wait_readable(f, f->tap_fd)) {
    pthread_mutex_lock(&f->emu);
    int fatal = tsw_fp_egress_drain(f);
    pthread_mutex_unlock(&f->emu);
    if (fatal) {
      tsw_fp_fatal_stop(f, &f->eh, fatal);
      return NULL;
    }
  }
  return NULL;
}

