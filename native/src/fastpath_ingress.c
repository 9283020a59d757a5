/* fastpath_ingress.c: the fast path's ingress threads, one per lane, datagrams → TAP (contract in
 * fastpath.h): finds each datagram's session by receiver index, opens it with the key its header names,
 * checks the replay window, writes DATA frames for MACs known behind their origin to the TAP queue of
 * their flow in one batch per queue and hands heartbeats and every other frame to JS. Too short,
 * unknown, forged and replayed are counted, dropped. */
#include "fastpath_int.h"

#include <string.h>

#include "dataplane_io.h"
#include "fastpath_relay.h"
#include "offload.h"

/* Any index of a session's block finds it (unsigned: an index below the block wraps to a huge offset). */
static fp_session *session_by_index(tsw_fastpath *f, uint32_t idx) {
  for (int i = 0; i < f->nsessions; i++)
    if (idx - f->sessions[i]->local_index < f->sessions[i]->local_lanes) return f->sessions[i];
  return NULL;
}

/* RFC 6479 window, the same rules as src/crypto/replay-window.ts. Caller holds s->rmu. */
static bool replay_accept_locked(fp_session *s, uint64_t c) {
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

static bool replay_accept(fp_session *s, uint64_t c) {
  if (c == 0 || c > MAX_SAFE_COUNTER) return false;
  pthread_mutex_lock(&s->rmu);
  bool ok = replay_accept_locked(s, c);
  pthread_mutex_unlock(&s->rmu);
  return ok;
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* The TAP queue of a frame's flow: IPv4/IPv6 addresses, plus TCP/UDP ports when the packet has them
 * (not a fragment), else the MAC pair. Symmetric (both directions of a flow hash alike), so a flow and
 * its answers use one queue. Only the spread matters, not the strength: the inputs come from peers
 * that were authenticated. */
static unsigned flow_queue(const uint8_t *fr, size_t len, int nq) {
  if (nq <= 1 || len < ETH_HDR) return 0;
  uint16_t et = rd16(fr + 12);
  const uint8_t *ip = fr + ETH_HDR;
  size_t iplen = len - ETH_HDR;
  uint32_t h;
  const uint8_t *l4 = NULL;
  uint8_t proto = 0;
  if (et == 0x0800 && iplen >= 20) {
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    h = rd32(ip + 12) ^ rd32(ip + 16);
    proto = ip[9];
    if ((rd16(ip + 6) & 0x3fff) == 0 && ihl >= 20 && iplen >= ihl + 4) l4 = ip + ihl;
  } else if (et == 0x86dd && iplen >= 40) {
    h = 0;
    for (int i = 8; i < 40; i += 4) h ^= rd32(ip + i);
    proto = ip[6];
    if (iplen >= 44) l4 = ip + 40;
  } else {
    h = (uint32_t)(rd48(fr) ^ rd48(fr + 6)) ^ (uint32_t)((rd48(fr) ^ rd48(fr + 6)) >> 32);
  }
  if (l4 && (proto == 6 || proto == 17)) h ^= (uint32_t)(rd16(l4) ^ rd16(l4 + 2)) * 0x9e3779b1u;
  h ^= proto;
  h *= 0x9e3779b1u;
  return (h >> 16) % (unsigned)nq;
}

/* What consecutive datagrams of one batch share (ingress_batch): the last datagram's session and key,
 * referenced and reused while the next names the same receiver index and key generation (one table
 * lock and four reference counts less per datagram), with the traffic to add to the session once; and
 * the last (origin, source MAC) found behind its origin, whose further frames go to the TAP without
 * another lookup. A batch sees the tables as they were when it first looked: as if it had been looked up
 * at once under one lock. */
typedef struct ingress_run {
  fp_session *s;
  fp_key *k;
  uint32_t idx;
  uint8_t gen;
  uint64_t dgrams, bytes;
  bool mac_ok;
  uint64_t origin, mac;
} ingress_run;

static void run_end(ingress_run *c) {
  if (!c->s) return;
  if (c->dgrams) {
    __atomic_add_fetch(&c->s->rx_dgrams, c->dgrams, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->s->rx_bytes, c->bytes, __ATOMIC_RELAXED);
  }
  tsw_fp_key_unref(c->k);
  tsw_fp_session_unref(c->s);
  c->s = NULL;
  c->k = NULL;
  c->dgrams = c->bytes = 0;
}

static void write_queue(fp_lane *l, int fd, uint8_t *const *frames, const int32_t *lens, const uint8_t *partial,
                        int n) {
  tsw_fastpath *f = l->f;
  tsw_tap_write_batch(fd, frames, lens, partial, n, f->tap_vnet, l->tap_scratch, l->gro_scratch);
  fold(f->stats.tap_write, l->tap_scratch, 3);
  fold(f->stats.tap_gro, l->gro_scratch, 2);
}

/* Writes the frames collected so far, each to its flow's queue (in order within a queue). */
static void ingress_write_tap(fp_lane *l, int *nt) {
  tsw_fastpath *f = l->f;
  int n = *nt;
  if (n == 0) return;
  if (f->nlanes == 1) {
    write_queue(l, f->tap_fds[0], l->tap_frames, l->tap_lens, l->tap_partial, n);
    l->queues_written |= 1;
  } else {
    uint32_t todo = 0;
    for (int i = 0; i < n; i++) todo |= 1u << l->tap_queue[i];
    l->queues_written |= todo;
    for (int q = 0; q < f->nlanes; q++) {
      if (!(todo & (1u << q))) continue;
      int m = 0;
      for (int i = 0; i < n; i++)
        if (l->tap_queue[i] == q)
          l->q_frames[m] = l->tap_frames[i], l->q_partial[m] = l->tap_partial[i], l->q_lens[m++] = l->tap_lens[i];
      write_queue(l, f->tap_fds[q], l->q_frames, l->q_lens, l->q_partial, m);
    }
  }
  fp_add(&f->stats.ingress_frames_fast, (uint64_t)n);
  *nt = 0;
}

/* Room for one entry for JS; flushes when the hand-off is full. */
static uint8_t *ingress_slot(fp_lane *l, size_t len, int *nt) {
  tsw_fastpath *f = l->f;
  fp_handoff *h = &f->ih;
  tsw_fp_handoff_take(h, &l->ih_held);
  uint8_t *dst = handoff_slot(h, len);
  if (dst) return dst;
  ingress_write_tap(l, nt); /* keep order: what we took before goes out first */
  tsw_fp_handoff_flush(f, h);
  return handoff_slot(h, len);
}

/* Takes the table's read lock unless *locked says it is held; true. */
static inline bool read_lock_once(tsw_fastpath *f, bool *locked) {
  if (!*locked) pthread_rwlock_rdlock(&f->lock);
  *locked = true;
  return true;
}

/* A frame's length and checksum-partial flag from its header's length field (the flag only on a session
 * whose ends both announced csumPartial: fastpath_int.h FRAME_LEN_CSUM_PARTIAL). */
static inline size_t frame_len(const uint8_t *hf, const fp_session *s, bool *partial) {
  size_t v = (size_t)hf[12] << 8 | hf[13];
  *partial = s->csum_partial && (v & FRAME_LEN_CSUM_PARTIAL);
  return *partial ? v & ~(size_t)FRAME_LEN_CSUM_PARTIAL : v;
}

/* Decides (the read lock taken for the MAC lookups the run cannot answer) where each frame of a DATA body
 * goes, into f->frame_dec. Returns the number of frames, or -1 for a malformed body (nothing of it is
 * delivered): a lying length, or a frame flagged checksum-partial that is no IPv4 TCP frame whose headers
 * lie inside it (offload.h tsw_tcp4_partial_ok; a correct sender never sends one). */
static int ingress_decide(fp_lane *l, const uint8_t *body, size_t len, int64_t now, ingress_run *c) {
  tsw_fastpath *f = l->f;
  size_t p = 0;
  int k = 0;
  bool locked = false; /* taken at the first frame the run's MAC cannot decide */
  tsw_fp_relay_reset_plan(l);
  while (p < len) {
    if (len - p < FRAME_HDR || k >= FP_MAX_FRAMES_PER_DGRAM) goto bad;
    uint64_t origin = rd48(body + p), dst = rd48(body + p + 6);
    bool part;
    unsigned cs;
    size_t flen = frame_len(body + p, c->s, &part), start = p + FRAME_HDR;
    if (flen == 0 || start + flen > len) goto bad;
    const uint8_t *fr = body + start;
    if (part && !tsw_tcp4_partial_ok(fr, flen, &cs)) goto bad;
    tsw_mac_slot *m;
    bool ours = dst == f->local_peer && origin != f->local_peer && flen >= ETH_HDR;
    if (ours && c->mac_ok && c->origin == origin && c->mac == rd48(fr + 6)) {
      l->frame_dec[k++] = DEC_TAP;
    } else if (ours && read_lock_once(f, &locked) && (m = tsw_mactable_find(&f->macs, rd48(fr + 6), now)) &&
               m->peer == origin) {
      tsw_mactable_touch(m, now);
      c->mac_ok = true;
      c->origin = origin;
      c->mac = rd48(fr + 6);
      l->frame_dec[k++] = DEC_TAP;
    } else {
      read_lock_once(f, &locked); /* the relay's routes and trees are read under the lock too */
      l->frame_dec[k++] = (uint8_t)tsw_fp_relay_decide(l, origin, dst, fr, flen, now);
    }
    p = start + flen;
  }
  if (locked) pthread_rwlock_unlock(&f->lock);
  return k;
bad:
  if (locked) pthread_rwlock_unlock(&f->lock);
  return -1;
}

static void ingress_frames(fp_lane *l, uint8_t *body, size_t len, int64_t now, int *nt, ingress_run *c) {
  tsw_fastpath *f = l->f;
  int k = ingress_decide(l, body, len, now, c);
  if (k < 0) {
    fp_add(&f->stats.dropped_bad_frame, 1);
    return;
  }
  size_t p = 0;
  uint64_t partial = 0;
  for (int i = 0; i < k; i++) {
    uint64_t origin = rd48(body + p), dst = rd48(body + p + 6);
    bool part;
    size_t flen = frame_len(body + p, c->s, &part);
    uint8_t *fr = body + p + FRAME_HDR;
    int dec = l->frame_dec[i];
    p += FRAME_HDR + flen;
    if (dec == DEC_DROP) continue; /* a broadcast seen already (counted by the dedup) */
    partial += part;
    if (part && dec != DEC_TAP) {
      /* Only our TAP takes it partial: completed (and unflagged) before JS or a relay sees it. */
      tsw_tcp4_complete(fr, flen);
      fr[-FRAME_HDR + 12] &= (uint8_t)~(FRAME_LEN_CSUM_PARTIAL >> 8);
      part = false;
    }
    if (dec >= DEC_RELAY) tsw_fp_relay_frame(l, dec, fr - FRAME_HDR, flen);
    if (dec == DEC_TAP || dec == DEC_BCAST || dec == DEC_BCAST_LEARN) {
      l->tap_frames[*nt] = fr;
      l->tap_lens[*nt] = (int32_t)flen;
      l->tap_queue[*nt] = (uint8_t)flow_queue(fr, flen, f->nlanes);
      l->tap_partial[*nt] = part;
      if ((size_t)++*nt >= l->tap_cap) ingress_write_tap(l, nt);
    }
    if (dec != DEC_JS && dec != DEC_BCAST_LEARN) continue;
    /* JS forwards it, or (learn) only learns its source MAC from the Ethernet header */
    size_t take = dec == DEC_JS ? flen : ETH_HDR;
    uint8_t *out = ingress_slot(l, take, nt);
    if (out) {
      fp_handoff *h = &f->ih;
      memcpy(out, fr, take);
      h->kinds[h->count] = dec == DEC_JS ? FP_KIND_FRAME : FP_KIND_LEARN;
      h->peers[h->count] = (double)origin;
      h->dsts[h->count] = (double)dst;
      h->addrs[h->count] = 0;
      h->ports[h->count] = 0;
      h->count++;
    }
    if (dec == DEC_JS) fp_add(&f->stats.ingress_frames_slow, 1);
  }
  if (partial) fp_add(&f->stats.ingress_csum_partial, partial);
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
static void ingress_one(fp_lane *l, int i, int64_t now, int *nt, ingress_run *run) {
  tsw_fastpath *f = l->f;
  tsw_reader *r = &l->ird;
  uint8_t *p = r->slab + r->offsets[i];
  size_t len = (size_t)r->lengths[i];
  if (len < HDR) {
    fp_add(&f->stats.dropped_short, 1);
    return;
  }
  /* Another session or key generation than the last datagram's (or no key yet: look again). */
  if (!run->s || run->idx != rd32(p + 2) || run->gen != p[1] || (run->s->encrypted && !run->k)) {
    run_end(run);
    fp_key *nk;
    fp_session *ns = ingress_lookup(f, p, now, &nk);
    if (!ns) {
      fp_add(&f->stats.dropped_unknown_session, 1);
      return;
    }
    run->s = ns;
    run->k = nk;
    run->idx = rd32(p + 2);
    run->gen = p[1];
  }
  fp_session *s = run->s;
  fp_key *k = run->k;
  if (s->encrypted) {
    if (!k || !tsw_gcm_open(k->ctx[l->idx], k->salt, p, len)) {
      fp_add(&f->stats.dropped_auth, 1);
      return;
    }
    len -= TAG;
    uint64_t c = (uint64_t)rd32(p + 6) << 32 | rd32(p + 10);
    if (!replay_accept(s, c)) {
      fp_add(&f->stats.dropped_replay, 1);
      return;
    }
    /* Only an authenticated packet may move the session (NAT rebinding). */
    uint64_t from = (uint64_t)r->addrs[i] << 16 | r->ports[i];
    if (__atomic_load_n(&s->remote, __ATOMIC_RELAXED) != from) __atomic_store_n(&s->remote, from, __ATOMIC_RELAXED);
  }
  run->dgrams++;
  run->bytes += (uint64_t)r->lengths[i];
  if (p[0] == TYPE_DATA) {
    ingress_frames(l, p + HDR, len - HDR, now, nt, run);
    return;
  }
  /* Heartbeats, key confirmations and anything else: JS (which counts unknown types). */
  uint8_t *out = ingress_slot(l, len, nt);
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
}

static void ingress_batch(fp_lane *l, int n) {
  tsw_fastpath *f = l->f;
  int nt = 0;
  fp_add(&f->stats.ingress_datagrams, (uint64_t)n);
  fp_add(&l->ingress_datagrams, (uint64_t)n);
  int64_t now = tsw_now_ms();
  ingress_run run = {0};
  for (int i = 0; i < n; i++) ingress_one(l, i, now, &nt, &run);
  run_end(&run);
  ingress_write_tap(l, &nt);
  tsw_fp_relay_end_batch(l);
  fp_add(&f->stats.ingress_batches, 1);
  tsw_fp_handoff_release(f, &f->ih, &l->ih_held);
}

int tsw_fp_ingress_drain_some(fp_lane *l, int max_fills, bool *left) {
  return tsw_fp_drain_some(l, &l->ird, ingress_batch, max_fills, left);
}

/* A frame just written to the TAP is often answered before write() returns (the bridge, the container's
 * stack and the way back all run in the softirq of our write), and the tun driver queues the answer on
 * the queue we wrote the flow to: take it now instead of waking that lane's egress thread for it, a
 * whole thread wake-up off a request/response. If that lane is busy it has it anyway; a TAP error is
 * left for it to report. */
void tsw_fp_ingress_answers(fp_lane *l, int skip, int max_fills) {
  tsw_fastpath *f = l->f;
  for (int q = 0; q < f->nlanes; q++) {
    if (q == skip || !(l->queues_written & (1u << q))) continue;
    fp_lane *e = &f->lanes[q];
    if (pthread_mutex_trylock(&e->emu) == 0) {
      bool left;
      fp_add(&f->stats.egress_by_ingress, 1);
      tsw_fp_egress_drain_some(e, max_fills, &left);
      pthread_mutex_unlock(&e->emu);
    }
  }
}

void *tsw_fp_ingress_main(void *arg) {
  fp_lane *l = arg;
  tsw_fastpath *f = l->f;
  while (tsw_fp_wait_readable(f, l->udp_fd)) {
    l->queues_written = 0;
    int fatal = tsw_fp_drain(l, &l->ird, ingress_batch);
    if (fatal) {
      tsw_fp_fatal_stop(f, &f->ih, fatal);
      return NULL;
    }
    tsw_fp_ingress_answers(l, -1, 0);
  }
  return NULL;
}
