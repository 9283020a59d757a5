/*
 * fastpath_int.h: what the fast path's parts share inside the addon (not part of its contract, which is
 * fastpath.h): the wire layout, byte helpers, reference taking, the hand-off slot and the counters'
 * folding, and the functions one thread's file calls in another's.
 *   fastpath.c          sessions and keys (reference counts), hand-off, waiting, draining, stop
 *   fastpath_egress.c   the egress threads: TAP queue → datagrams
 *   fastpath_ingress.c  the ingress threads: datagrams → TAP queues or JS
 *   fastpath_unified.c  the unified mode's lane threads: one thread doing both of a lane's sides
 */
#ifndef TSWEAVE_FASTPATH_INT_H
#define TSWEAVE_FASTPATH_INT_H

#include "fastpath.h"

/* Wire layout: src/wire/data-packet.ts */
#define HDR 14
#define FRAME_HDR 14
#define TAG 16
#define TYPE_DATA 1
#define ETH_HDR 14
#define MAX_SAFE_COUNTER 0x1fffffffffffffULL /* 2^53 - 1: the TS reference's limit */
/* Frame header length field, on a session whose ends both announced csumPartial: bit 15 flags a
 * checksum-partial IPv4 TCP frame, the other 15 bits are the length (src/wire/data-packet.ts). */
#define FRAME_LEN_CSUM_PARTIAL 0x8000u

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

/* A DATA datagram's header (src/wire/data-packet.ts): type, key generation (0 unencrypted), receiver
 * index, 64-bit counter. One writer for every native sender (egress lanes, relay). */
static inline void put_data_header(uint8_t *p, const fp_key *k, uint32_t receiver, uint64_t counter) {
  p[0] = TYPE_DATA;
  p[1] = k ? k->gen : 0;
  wr32(p + 2, receiver);
  wr32(p + 6, (uint32_t)(counter >> 32));
  wr32(p + 10, (uint32_t)counter);
}

static inline fp_key *key_ref(fp_key *k) {
  if (k) atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
  return k;
}

static inline fp_session *session_ref(fp_session *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

static inline bool stopping(tsw_fastpath *f) { return __atomic_load_n(&f->stopping, __ATOMIC_ACQUIRE); }

/* Reserves room for one entry of `len` bytes in a hand-off; NULL when full (flush first). */
static inline uint8_t *handoff_slot(fp_handoff *h, size_t len) {
  size_t start = (h->used + 15) & ~(size_t)15;
  if ((size_t)h->count >= h->cap || start + len > h->slab_len) return NULL;
  h->offsets[h->count] = (int32_t)start;
  h->lengths[h->count] = (int32_t)len;
  h->used = start + len;
  return h->slab + start;
}

/* Folds a tsw_*_batch counter array (the last element is an errno, not a count) into atomics. */
static inline void fold(fp_counter *dst, double *scratch, int counts) {
  for (int i = 0; i < counts; i++) {
    if (scratch[i] != 0) fp_add(&dst[i], (uint64_t)scratch[i]);
    scratch[i] = 0;
  }
}

/* fastpath.c */
/* Makes the calling lane the owner of a hand-off (*held tracks it; no-op when already the owner). */
void tsw_fp_handoff_take(fp_handoff *h, bool *held);
/* Gives a filled hand-off to JS and waits until it was consumed (or we are stopping). Owner only. */
void tsw_fp_handoff_flush(tsw_fastpath *f, fp_handoff *h);
/* Flushes and gives up ownership, if owned. */
void tsw_fp_handoff_release(tsw_fastpath *f, fp_handoff *h, bool *held);
/* Waits until fd is readable or stop is asked. false: stop. */
bool tsw_fp_wait_readable(tsw_fastpath *f, int fd);
/* Reports a fatal errno to JS through a hand-off. */
void tsw_fp_fatal_stop(tsw_fastpath *f, fp_handoff *h, int err);
/* Reads r (one of lane's readers) until it is drained, handing each batch to `batch`. Returns a fatal
 * errno or 0. */
int tsw_fp_drain(fp_lane *l, tsw_reader *r, void (*batch)(fp_lane *, int));
/* The same, bounded: at most max_fills reads (0: no bound); *left says the reader may have more (a
 * pending remainder included, which no poll announces). */
int tsw_fp_drain_some(fp_lane *l, tsw_reader *r, void (*batch)(fp_lane *, int), int max_fills, bool *left);

/* fastpath_egress.c: reads lane's TAP queue until it is drained (its emu held); ingress threads call it
 * too. */
int tsw_fp_egress_drain(fp_lane *l);
int tsw_fp_egress_drain_some(fp_lane *l, int max_fills, bool *left);

/* fastpath_ingress.c: reads lane's socket (its ingress side only), at most max_fills reads (0: all). */
int tsw_fp_ingress_drain_some(fp_lane *l, int max_fills, bool *left);
/* After an ingress drain: takes the answers from the TAP queues it wrote (l->queues_written), except
 * queue `skip`, each lane's emu tried (never waited for), at most max_fills reads each (0: all). */
void tsw_fp_ingress_answers(fp_lane *l, int skip, int max_fills);

#endif
