/* fastpath_egress.c: the fast path's egress threads, one per lane, TAP queue → datagrams (contract in
 * fastpath.h): looks up a batch of frames under the read lock, packs the ones it may carry per session
 * exactly as src/dataplane/packer.ts does, seals and sends them on the lane's socket; drops frames for
 * local MACs; sends a local container's broadcast to each child of our own tree (fastpath_relay.h);
 * hands the rest to JS. */
#include "fastpath_int.h"

#include <string.h>

#include "dataplane_io.h"
#include "fastpath_relay.h"
#include "offload.h"

#define FP_LOCAL ((fp_session *)1) /* frame_sess: a local frame, dropped (the bridge delivers it) */
#define FP_BCAST ((fp_session *)2) /* frame_sess: a local broadcast, a copy per child in l->bcast_plan */

static void add_tx(fp_session *s, uint64_t dgrams, uint64_t bytes) {
  if (!s || !dgrams) return;
  __atomic_add_fetch(&s->tx_dgrams, dgrams, __ATOMIC_RELAXED);
  __atomic_add_fetch(&s->tx_bytes, bytes, __ATOMIC_RELAXED);
}

/* Seals and sends the datagrams packed so far (no lock: the batch holds references). */
static void egress_send(fp_lane *l, int n) {
  tsw_fastpath *f = l->f;
  fp_session *run = NULL; /* the session of the datagrams counted in run_dgrams/run_bytes, added at once */
  uint64_t run_dgrams = 0, run_bytes = 0;
  for (int i = 0; i < n; i++) {
    fp_session *s = l->send_sess[i];
    fp_key *k = l->send_key[i];
    uint8_t *p = l->send_slab + l->send_offs[i];
    uint64_t c = s->lane[l->idx].next_counter++; /* reserved for this batch (egress_batch) */
    put_data_header(p, k, s->remote_index + (uint32_t)l->idx % s->remote_lanes, c); /* this lane's index of the block */
    if (s->encrypted) {
      if (!k || !tsw_gcm_seal(k->ctx[l->idx], k->salt, p, (size_t)l->send_lens[i])) {
        l->send_lens[i] = 0; /* cannot happen with a valid context; never send plaintext */
        continue;
      }
      l->send_lens[i] += TAG;
    }
    if (s != run) {
      add_tx(run, run_dgrams, run_bytes);
      run = s;
      run_dgrams = run_bytes = 0;
    }
    run_dgrams++;
    run_bytes += (uint64_t)l->send_lens[i];
    uint64_t r = __atomic_load_n(&s->remote, __ATOMIC_RELAXED);
    l->send_addrs[i] = (uint32_t)(r >> 16);
    l->send_ports[i] = (uint16_t)r;
  }
  add_tx(run, run_dgrams, run_bytes);
  int m = 0; /* compact away anything that failed to seal */
  for (int i = 0; i < n; i++) {
    if (l->send_lens[i] == 0) continue;
    l->send_offs[m] = l->send_offs[i];
    l->send_lens[m] = l->send_lens[i];
    l->send_addrs[m] = l->send_addrs[i];
    l->send_ports[m] = l->send_ports[i];
    m++;
  }
  if (m > 0) tsw_udp_send_datagrams(l->udp_fd, l->send_slab, l->send_offs, l->send_lens, m, l->send_addrs,
                                    l->send_ports, l->udp_scratch);
  fold(f->stats.udp_send, l->udp_scratch, 3);
  fp_add(&f->stats.egress_datagrams, (uint64_t)m);
}

/* Lock held: the MAC table slot of the frame's source when it is known here-local (JS has learnt it:
 * otherwise JS sees the frame and learns it). */
static tsw_mac_slot *local_source(tsw_fastpath *f, const uint8_t *p, int64_t now) {
  tsw_mac_slot *src = tsw_mactable_find(&f->macs, rd48(p + 6), now);
  return src && src->peer == f->local_peer ? src : NULL;
}

/* The fast-path decision for one frame from the bridge (lock held): its session (the destination peer's,
 * or the next hop's towards it: *dpeer is the destination), FP_LOCAL, or NULL when JS decides. */
static fp_session *egress_fast(tsw_fastpath *f, const uint8_t *p, size_t len, int64_t now, uint64_t *dpeer) {
  if (len < ETH_HDR || len > f->max_frame || (p[0] & 1)) return NULL;
  tsw_mac_slot *src = local_source(f, p, now);
  if (!src) return NULL;
  tsw_mac_slot *dst = tsw_mactable_find(&f->macs, rd48(p), now);
  if (!dst) return NULL;
  if (dst->peer == f->local_peer) {
    tsw_mactable_touch(src, now);
    return FP_LOCAL;
  }
  fp_session *s = tsw_fp_session_by_peer(f, dst->peer);
  if (!s || !s->eligible) s = tsw_fp_relay_egress_session(f, dst->peer);
  if (!s) return NULL;
  *dpeer = dst->peer;
  tsw_mactable_touch(src, now);
  return s;
}

/* Lock held: a broadcast/multicast frame from a local container (Forwarder.fromLocal → flood): FP_BCAST
 * with its children's sessions appended to the plan at *nplan (NULL after them) and *dst its broadcast
 * number, when every child can be sent to natively and at most `room` copies are needed; NULL: JS. */
static fp_session *egress_bcast(fp_lane *l, const uint8_t *p, size_t len, int64_t now, int room, int *nplan,
                                uint64_t *dst) {
  tsw_fastpath *f = l->f;
  if (len < ETH_HDR || len > f->max_frame || room < 0) return NULL;
  tsw_mac_slot *src = local_source(f, p, now);
  if (!src) return NULL;
  int k = tsw_fp_relay_local_kids(f, l->bcast_plan + *nplan, room);
  if (k < 0) return NULL;
  *nplan += k;
  l->bcast_plan[(*nplan)++] = NULL;
  *dst = tsw_fp_bcast_next(f->relay);
  tsw_mactable_touch(src, now);
  return FP_BCAST;
}

/* References s for this batch (once). Returns the number of sessions referenced so far. */
static int batch_ref(fp_lane *l, fp_session *s, int ns) {
  fp_lane_scratch *ls = &s->lane[l->idx];
  if (ls->in_batch) return ns;
  ls->in_batch = true;
  ls->open_dgram = -1;
  ls->ndgrams = 0;
  ls->batch_key = key_ref(s->seal);
  l->batch_sess[ns++] = session_ref(s);
  return ns;
}

/* Looks up every frame of the batch under the read lock; references what the rest needs. Returns
 * the number of sessions referenced (l->batch_sess). */
static int egress_lookup(fp_lane *l, int n) {
  tsw_fastpath *f = l->f;
  tsw_reader *r = &l->erd;
  int ns = 0, nplan = 0;
  /* Copies: each opens at most one datagram and references at most one session; the batch has room for
   * r->max_frames of each, so a broadcast may take what the frames after it cannot need. */
  int copies = 0, cap = (int)r->max_frames;
  pthread_rwlock_rdlock(&f->lock);
  int64_t now = tsw_now_ms();
  for (int i = 0; i < n; i++) {
    const uint8_t *p = r->slab + r->offsets[i];
    size_t len = (size_t)r->lengths[i];
    int first = nplan;
    fp_session *s = len >= ETH_HDR && (p[0] & 1)
                        ? egress_bcast(l, p, len, now, cap - copies - (n - i - 1), &nplan, &l->frame_dst[i])
                        : egress_fast(f, p, len, now, &l->frame_dst[i]);
    l->frame_sess[i] = s;
    if (s == FP_BCAST) {
      for (int k = first; l->bcast_plan[k]; k++, copies++) ns = batch_ref(l, l->bcast_plan[k], ns);
    } else if (s && s != FP_LOCAL) {
      copies++;
      ns = batch_ref(l, s, ns);
    }
  }
  pthread_rwlock_unlock(&f->lock);
  return ns;
}

/* Packs one frame for session s (frame header: this peer → dst) like packer.ts: appended to the
 * session's open datagram while header + frames + tag fit, else in a new one (*nd counts them).
 * partial: the frame's TCP checksum is partial and s accepts it so (flag in the length field). */
static void egress_pack(fp_lane *l, fp_session *s, uint64_t dst, const uint8_t *p, size_t len, bool partial,
                        int *nd) {
  tsw_fastpath *f = l->f;
  fp_lane_scratch *ls = &s->lane[l->idx];
  int d = ls->open_dgram;
  size_t need = FRAME_HDR + len;
  if (d < 0 || (size_t)l->send_lens[d] + need + TAG > f->stride) {
    d = (*nd)++;
    l->send_offs[d] = (int32_t)((size_t)d * f->stride);
    l->send_lens[d] = HDR;
    l->send_sess[d] = s;
    l->send_key[d] = ls->batch_key;
    ls->open_dgram = d;
    ls->ndgrams++;
  }
  uint8_t *q = l->send_slab + l->send_offs[d] + l->send_lens[d];
  wr48(q, f->local_peer);
  wr48(q + 6, dst);
  q[12] = (uint8_t)(len >> 8 | (partial ? FRAME_LEN_CSUM_PARTIAL >> 8 : 0));
  q[13] = (uint8_t)len;
  memcpy(q + FRAME_HDR, p, len);
  l->send_lens[d] += (int32_t)need;
}

static void egress_batch(fp_lane *l, int n) {
  tsw_fastpath *f = l->f;
  tsw_reader *r = &l->erd;
  fp_handoff *h = &f->eh;
  int ns = egress_lookup(l, n);
  int nd = 0, pplan = 0;
  uint64_t slow = 0, local = 0, fast = 0, bcast = 0, copies = 0, partial = 0;
  for (int i = 0; i < n; i++) {
    uint8_t *p = r->slab + r->offsets[i];
    size_t len = (size_t)r->lengths[i];
    fp_session *s = l->frame_sess[i];
    /* A TCP checksum the reader left partial stays so only for a session whose peer is the frame's
     * destination and accepts it; for JS, relays and broadcast copies it is completed here. */
    bool part = r->partial && r->partial[i] && s != FP_LOCAL;
    if (part && !(s && s != FP_BCAST && s->csum_partial && s->peer == l->frame_dst[i] &&
                  len < FRAME_LEN_CSUM_PARTIAL)) {
      tsw_tcp4_complete(p, len);
      part = false;
    }
    if (!s) {
      tsw_fp_handoff_take(h, &l->eh_held);
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
    if (s != FP_BCAST) {
      egress_pack(l, s, l->frame_dst[i], p, len, part, &nd);
      partial += part;
      continue;
    }
    bcast++;
    for (fp_session *k; (k = l->bcast_plan[pplan++]) != NULL; copies++)
      egress_pack(l, k, l->frame_dst[i], p, len, false, &nd);
  }
  /* One atomic add per session and batch reserves its counters (shared with JS and the other lanes). */
  for (int i = 0; i < ns; i++) {
    fp_lane_scratch *ls = &l->batch_sess[i]->lane[l->idx];
    if (ls->ndgrams > 0)
      ls->next_counter = __atomic_fetch_add(&l->batch_sess[i]->send_counter, (uint64_t)ls->ndgrams, __ATOMIC_RELAXED) + 1;
  }
  if (nd > 0) egress_send(l, nd);
  for (int i = 0; i < ns; i++) {
    fp_session *s = l->batch_sess[i];
    fp_lane_scratch *ls = &s->lane[l->idx];
    ls->in_batch = false;
    tsw_fp_key_unref(ls->batch_key);
    ls->batch_key = NULL;
    tsw_fp_session_unref(s);
  }
  fp_add(&f->stats.egress_frames_slow, slow);
  fp_add(&f->stats.egress_dropped_local, local);
  fp_add(&f->stats.egress_frames_fast, fast);
  fp_add(&f->stats.egress_bcast_frames, bcast);
  fp_add(&f->stats.egress_bcast_copies, copies);
  if (partial) fp_add(&f->stats.egress_csum_partial, partial);
  fp_add(&l->egress_frames, fast);
  fp_add(&f->stats.egress_batches, 1);
  tsw_fp_handoff_release(f, h, &l->eh_held);
}

int tsw_fp_egress_drain(fp_lane *l) { return tsw_fp_drain(l, &l->erd, egress_batch); }

int tsw_fp_egress_drain_some(fp_lane *l, int max_fills, bool *left) {
  return tsw_fp_drain_some(l, &l->erd, egress_batch, max_fills, left);
}

void *tsw_fp_egress_main(void *arg) {
  fp_lane *l = arg;
  tsw_fastpath *f = l->f;
  while (tsw_fp_wait_readable(f, l->tap_fd)) {
    pthread_mutex_lock(&l->emu);
    int fatal = tsw_fp_egress_drain(l);
    pthread_mutex_unlock(&l->emu);
    if (fatal) {
      tsw_fp_fatal_stop(f, &f->eh, fatal);
      return NULL;
    }
  }
  return NULL;
}
