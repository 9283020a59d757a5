/* fastpath_relay.c: an ingress lane forwarding frames for others (contract in fastpath_relay.h): decides
 * under the read lock whether a relayed or broadcast frame can be carried natively (route or tree
 * published, next hops eligible, fits), plans its next-hop sessions, then packs it per next hop like
 * src/dataplane/packer.ts, seals and sends the datagrams with the lane's socket. Also the broadcast
 * dedup table that JS shares. */
#include "fastpath_relay.h"

#include <stdlib.h>
#include <string.h>

#include "dataplane_io.h"
#include "fastpath_int.h"

#define FP_PLAN_END 0xff
#define BCAST_PREFIX 0xffffULL /* top 16 bits of a broadcast destination (broadcast-dedup.ts) */
#define LEGACY_BCAST 0xffffffffffffULL

static inline bool is_bcast(uint64_t dst) { return dst >> 32 == BCAST_PREFIX; }

static bool find_sorted(const uint64_t *a, size_t n, uint64_t v, size_t *at) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  *at = lo;
  return lo < n && a[lo] == v;
}

bool tsw_fp_bcast_duplicate(fp_relay *r, uint64_t origin, uint64_t dst) {
  if (dst == LEGACY_BCAST) return false; /* no sequence: never deduplicated */
  uint32_t seq = (uint32_t)dst;
  pthread_mutex_lock(&r->dmu);
  fp_bdedup *e = NULL, *oldest = NULL;
  for (int i = 0; i < r->nd; i++) {
    if (r->d[i].origin == origin) {
      e = &r->d[i];
      break;
    }
    if (!oldest || r->d[i].used < oldest->used) oldest = &r->d[i];
  }
  bool dup = false;
  if (e) {
    for (int i = 0; i < e->n && !dup; i++) dup = e->seq[i] == seq;
  } else {
    e = r->nd < FP_BDEDUP_ORIGINS ? &r->d[r->nd++] : oldest; /* least recently seen origin evicted */
    memset(e, 0, sizeof *e);
    e->origin = origin;
  }
  e->used = ++r->tick;
  if (!dup) {
    e->seq[e->pos] = seq;
    e->pos = (uint16_t)((e->pos + 1) % FP_BDEDUP_WINDOW);
    if (e->n < FP_BDEDUP_WINDOW) e->n++;
  }
  pthread_mutex_unlock(&r->dmu);
  return dup;
}

void tsw_fp_routes_free(fp_routes *t) {
  if (!t) return;
  free(t->dst);
  free(t->hop);
  free(t->origin);
  free(t->first);
  free(t->kids);
  free(t);
}

void tsw_fp_relay_free(tsw_fastpath *f) {
  if (!f->relay) return;
  tsw_fp_routes_free(f->relay->routes);
  pthread_mutex_destroy(&f->relay->dmu);
  free(f->relay);
  f->relay = NULL;
}

void tsw_fp_relay_lane_free(fp_lane *l) {
  if (!l->relay) return;
  free(l->relay->slab);
  free(l->relay);
  l->relay = NULL;
}

fp_session *tsw_fp_relay_egress_session(tsw_fastpath *f, uint64_t peer) {
  fp_relay *r = f->relay;
  size_t at;
  if (!r || !r->routes || !find_sorted(r->routes->dst, r->routes->nroutes, peer, &at)) return NULL;
  uint64_t hop = r->routes->hop[at];
  if (hop == peer) return NULL; /* direct: the session's own eligibility decided */
  fp_session *s = tsw_fp_session_by_peer(f, hop);
  return s && s->eligible ? s : NULL;
}

/* Lock held: an eligible session that may seal (what a next hop needs); NULL otherwise. */
static fp_session *usable_session(tsw_fastpath *f, uint64_t peer) {
  fp_session *s = tsw_fp_session_by_peer(f, peer);
  return s && s->eligible && (!s->encrypted || s->seal) ? s : NULL;
}

int tsw_fp_relay_local_kids(tsw_fastpath *f, fp_session **out, int max) {
  fp_relay *r = f->relay;
  size_t at;
  if (!r || !r->routes || !find_sorted(r->routes->origin, r->routes->norigins, f->local_peer, &at)) return -1;
  const fp_routes *t = r->routes;
  uint32_t k0 = t->first[at], k1 = t->first[at + 1];
  if ((int64_t)(k1 - k0) > max) return -1;
  for (uint32_t k = k0; k < k1; k++)
    if (!(out[k - k0] = usable_session(f, t->kids[k]))) return -1;
  return (int)(k1 - k0);
}

uint64_t tsw_fp_bcast_next(fp_relay *r) {
  uint32_t seq;
  do seq = __atomic_add_fetch(&r->bseq, 1, __ATOMIC_RELAXED); /* wraps as BroadcastNumbering's >>> 0 */
  while (seq == 0xffffffffu);                                   /* all ones: the legacy "no sequence" */
  return BCAST_PREFIX << 32 | seq;
}

static fp_relay_lane *lane_scratch(fp_lane *l) {
  if (l->relay) return l->relay;
  fp_relay_lane *rl = calloc(1, sizeof *rl);
  if (!rl) return NULL;
  rl->slab = malloc(FP_RELAY_DGRAMS * l->f->stride + TAG);
  if (!rl->slab) {
    free(rl);
    return NULL;
  }
  for (int i = 0; i < FP_RELAY_SESS; i++) rl->open[i] = -1;
  return l->relay = rl;
}

void tsw_fp_relay_reset_plan(fp_lane *l) {
  if (l->relay) l->relay->nplan = l->relay->pplan = 0;
}

/* Lock held: the batch index of next hop `peer`'s session (referenced once per batch), -1 when it has no
 * eligible session or the batch has too many. */
static int plan_session(tsw_fastpath *f, fp_relay_lane *rl, uint64_t peer) {
  for (int i = 0; i < rl->nsess; i++)
    if (rl->sess[i]->peer == peer) return i;
  fp_session *s = usable_session(f, peer);
  if (!s || rl->nsess >= FP_RELAY_SESS) return -1;
  int i = rl->nsess++;
  rl->sess[i] = session_ref(s);
  rl->key[i] = key_ref(s->seal);
  return i;
}

static bool plan_push(fp_relay_lane *rl, uint8_t v) {
  if (rl->nplan >= FP_RELAY_PLAN) return false;
  rl->plan[rl->nplan++] = v;
  return true;
}

int tsw_fp_relay_decide(fp_lane *l, uint64_t origin, uint64_t dst, const uint8_t *fr, size_t flen, int64_t now) {
  tsw_fastpath *f = l->f;
  fp_relay *r = f->relay;
  if (!r || !r->routes || origin == f->local_peer || dst == f->local_peer || flen < ETH_HDR) return DEC_JS;
  fp_relay_lane *rl = lane_scratch(l);
  if (!rl) return DEC_JS;
  fp_routes *t = r->routes;
  bool fits = HDR + FRAME_HDR + flen + TAG <= f->stride;
  int mark = rl->nplan;
  size_t at;
  if (!is_bcast(dst)) {
    if (!fits || !find_sorted(t->dst, t->nroutes, dst, &at)) return DEC_JS;
    int si = plan_session(f, rl, t->hop[at]);
    if (si < 0 || !plan_push(rl, (uint8_t)si) || !plan_push(rl, FP_PLAN_END)) goto js;
    return DEC_RELAY;
  }
  if (!find_sorted(t->origin, t->norigins, origin, &at)) return DEC_JS; /* no tree published: JS decides */
  uint32_t k0 = t->first[at], k1 = t->first[at + 1];
  if (k1 > k0 && !fits) return DEC_JS;
  for (uint32_t k = k0; k < k1; k++) {
    int si = plan_session(f, rl, t->kids[k]);
    if (si < 0 || !plan_push(rl, (uint8_t)si)) goto js;
  }
  if (!plan_push(rl, FP_PLAN_END)) goto js;
  /* Committed to carrying it: only now is the broadcast recorded as seen. */
  if (tsw_fp_bcast_duplicate(r, origin, dst)) {
    rl->nplan = mark;
    fp_add(&f->stats.bcast_duplicates, 1);
    return DEC_DROP;
  }
  tsw_mac_slot *m = tsw_mactable_find(&f->macs, rd48(fr + 6), now);
  if (m && m->peer == origin) {
    tsw_mactable_touch(m, now);
    return DEC_BCAST;
  }
  return DEC_BCAST_LEARN;
js:
  rl->nplan = mark; /* sessions referenced stay so until the batch ends: harmless */
  return DEC_JS;
}

/* Seals and sends the datagrams packed so far (no lock: the batch holds references). */
static void relay_send(fp_lane *l, fp_relay_lane *rl) {
  tsw_fastpath *f = l->f;
  uint64_t next[FP_RELAY_SESS];
  /* One atomic add per session reserves its counters (shared with JS and the egress lanes). */
  for (int i = 0; i < rl->nsess; i++) {
    if (rl->ndg[i] > 0) next[i] = __atomic_fetch_add(&rl->sess[i]->send_counter, (uint64_t)rl->ndg[i], __ATOMIC_RELAXED) + 1;
    rl->ndg[i] = 0;
    rl->open[i] = -1;
  }
  int m = 0;
  for (int d = 0; d < rl->nd; d++) {
    int si = rl->dsess[d];
    fp_session *s = rl->sess[si];
    fp_key *k = rl->key[si];
    uint8_t *p = rl->slab + rl->offs[d];
    size_t len = (size_t)rl->lens[d];
    uint64_t c = next[si]++;
    put_data_header(p, k, s->remote_index, c); /* the block's base index: lane steering is the sender lanes' */
    if (s->encrypted) {
      if (!k || !tsw_gcm_seal(k->ctx[f->nlanes + l->idx], k->salt, p, len)) continue; /* never plaintext */
      len += TAG;
    }
    __atomic_add_fetch(&s->tx_dgrams, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->tx_bytes, (uint64_t)len, __ATOMIC_RELAXED);
    uint64_t rem = __atomic_load_n(&s->remote, __ATOMIC_RELAXED);
    rl->offs[m] = rl->offs[d];
    rl->lens[m] = (int32_t)len;
    rl->addrs[m] = (uint32_t)(rem >> 16);
    rl->ports[m] = (uint16_t)rem;
    m++;
  }
  if (m > 0)
    tsw_udp_send_datagrams(l->udp_fd, rl->slab, rl->offs, rl->lens, m, rl->addrs, rl->ports, rl->udp_scratch);
  fold(f->stats.udp_send, rl->udp_scratch, 3);
  fp_add(&f->stats.relay_datagrams, (uint64_t)m);
  rl->nd = 0;
}

/* Appends one frame (with its frame header) to session si's open datagram, as packer.ts packs. */
static void pack(fp_lane *l, fp_relay_lane *rl, int si, const uint8_t *hf, size_t need) {
  size_t stride = l->f->stride;
  int d = rl->open[si];
  if (d < 0 || (size_t)rl->lens[d] + need + TAG > stride) {
    if (rl->nd >= FP_RELAY_DGRAMS) relay_send(l, rl);
    d = rl->nd++;
    rl->offs[d] = (int32_t)((size_t)d * stride);
    rl->lens[d] = HDR;
    rl->dsess[d] = (uint8_t)si;
    rl->open[si] = d;
    rl->ndg[si]++;
  }
  memcpy(rl->slab + rl->offs[d] + rl->lens[d], hf, need);
  rl->lens[d] += (int32_t)need;
}

void tsw_fp_relay_frame(fp_lane *l, int dec, const uint8_t *hf, size_t flen) {
  tsw_fastpath *f = l->f;
  fp_relay_lane *rl = l->relay;
  uint64_t copies = 0;
  for (uint8_t si; (si = rl->plan[rl->pplan++]) != FP_PLAN_END; copies++) pack(l, rl, si, hf, FRAME_HDR + flen);
  if (dec == DEC_RELAY) {
    fp_add(&f->stats.relay_frames, 1);
  } else {
    fp_add(&f->stats.bcast_frames, 1);
    if (copies) fp_add(&f->stats.bcast_copies, copies);
  }
}

void tsw_fp_relay_end_batch(fp_lane *l) {
  fp_relay_lane *rl = l->relay;
  if (!rl || rl->nsess == 0) return;
  if (rl->nd > 0) relay_send(l, rl);
  for (int i = 0; i < rl->nsess; i++) {
    tsw_fp_key_unref(rl->key[i]);
    tsw_fp_session_unref(rl->sess[i]);
    rl->key[i] = NULL;
    rl->sess[i] = NULL;
  }
  rl->nsess = 0;
}
