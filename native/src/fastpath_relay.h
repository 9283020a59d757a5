/*
 * fastpath_relay.h: native relays and broadcast (issue 16): frames an ingress lane receives that are
 * neither for this peer nor from it are forwarded by the lane itself when JS has published where they go:
 *   unicast to peer D:   route D → next hop H (src/dataplane/forwarder.ts fromPeer: relay by
 *                        destination peer), H's session eligible, frame fits one of our datagrams;
 *   broadcast of origin O (destination ff:ff:SS:SS:SS:SS, broadcast-dedup.ts): O's children in its
 *                        broadcast tree, every child's session eligible: the frame is written to the TAP
 *                        once and a copy goes to each child; exactly once by one table of (origin, number)
 *                        shared with JS (fastpathBroadcastDuplicate), so a broadcast seen once natively and
 *                        once through JS (TCP path, another lane) is still delivered once. When the source
 *                        MAC is not yet known behind O here, the Ethernet header also goes to JS as a
 *                        FP_KIND_LEARN entry (JS learns it and pushes it back with fastpathLearn).
 * The egress lanes also send a local frame for a MAC behind a peer reached through a relay to the next
 * hop's session (frame header destination: that peer), as Forwarder.fromLocal does, and a broadcast or
 * multicast frame from a local container to each child of our own tree (origin: this peer), every
 * child's session eligible: one copy each, frame header (this peer, ff:ff:SS:SS:SS:SS) with SS the next
 * number of this router's broadcast numbering, which JS takes from here too (fastpathNextBroadcast), so
 * both paths draw from one sequence and receivers deduplicate them alike. The local bridge has already
 * delivered the frame to the local containers; nothing goes back to the TAP.
 * Anything else (no route or tree, a next hop not eligible, too big, too many next hops in one batch)
 * goes to JS as before: JS stays the reference.
 *
 * Frames keep their frame header (origin, destination, length), as packer.ts writes it, and are packed
 * per next hop into datagrams of the local stride, sealed with a context of their own (key ctx[nlanes +
 * lane], so a lane's egress thread and ingress thread never share one) and sent with the lane's socket.
 * The tables (routes, trees) are replaced whole by JS under the write lock and read under the read lock;
 * the sessions and keys a batch forwards on are referenced, so nothing is held during sealing and sending.
 */
#ifndef TSWEAVE_FASTPATH_RELAY_H
#define TSWEAVE_FASTPATH_RELAY_H

#include "fastpath.h"

/* Where a frame of a DATA body goes (fastpath_ingress.c's ingress_decide). */
enum { DEC_TAP = 1, DEC_JS = 2, DEC_RELAY = 3, DEC_BCAST = 4, DEC_BCAST_LEARN = 5, DEC_DROP = 6 };

#define FP_KIND_LEARN 2 /* hand-off entry: Ethernet header of a broadcast forwarded natively, learn its source */

#define FP_RELAY_DGRAMS 64   /* relayed datagrams sealed and sent in one sendmmsg */
#define FP_RELAY_SESS 32     /* next-hop sessions one ingress batch forwards on */
#define FP_RELAY_PLAN 4096   /* next-hop entries the frames of one datagram plan */
#define FP_BDEDUP_WINDOW 256 /* as broadcast-dedup.ts WINDOW */
#define FP_BDEDUP_ORIGINS 1024 /* as broadcast-dedup.ts MAX_ORIGINS */

/* Published by JS; immutable; replaced whole under the write lock. */
typedef struct fp_routes {
  size_t nroutes;
  uint64_t *dst, *hop; /* sorted by dst */
  size_t norigins;
  uint64_t *origin;   /* sorted */
  uint32_t *first;    /* origin i's children: kids[first[i] .. first[i + 1]) */
  uint64_t *kids;
} fp_routes;

typedef struct fp_bdedup {
  uint64_t origin, used; /* used: last touch (LRU tick) */
  uint32_t seq[FP_BDEDUP_WINDOW];
  uint16_t pos, n;
} fp_bdedup;

/* f->relay: made by JS on first use (fastpath_relay_js.c). */
typedef struct fp_relay {
  fp_routes *routes; /* f->lock */
  uint32_t bseq;       /* last broadcast number this router used (atomic: egress lanes and JS) */
  pthread_mutex_t dmu; /* the dedup table: any lane and JS */
  uint64_t tick;
  int nd;
  fp_bdedup d[FP_BDEDUP_ORIGINS];
} fp_relay;

/* l->relay: one ingress lane's forwarding scratch, made by that lane on first use. */
typedef struct fp_relay_lane {
  int nsess;
  fp_session *sess[FP_RELAY_SESS]; /* referenced for the batch */
  fp_key *key[FP_RELAY_SESS];      /* their seal keys, referenced (NULL: unencrypted) */
  int open[FP_RELAY_SESS];         /* datagram being filled per session, -1 none */
  int ndg[FP_RELAY_SESS];          /* datagrams per session in the current fill */
  uint8_t plan[FP_RELAY_PLAN];     /* per frame of one datagram: session indices, FP_PLAN_END after each */
  int nplan, pplan;
  uint8_t *slab;                   /* FP_RELAY_DGRAMS * stride + tag */
  int nd;
  int32_t offs[FP_RELAY_DGRAMS], lens[FP_RELAY_DGRAMS];
  uint8_t dsess[FP_RELAY_DGRAMS];
  uint32_t addrs[FP_RELAY_DGRAMS];
  uint16_t ports[FP_RELAY_DGRAMS];
  double udp_scratch[4];
} fp_relay_lane;

/* Ingress lane hooks (fastpath_ingress.c). */
/* Before a datagram's frames are decided. */
void tsw_fp_relay_reset_plan(fp_lane *l);
/* Lock held: where a frame not for this peer goes: DEC_JS, DEC_RELAY, DEC_BCAST(_LEARN) or DEC_DROP
 * (a duplicate broadcast). Plans (and references) the next-hop sessions. */
int tsw_fp_relay_decide(fp_lane *l, uint64_t origin, uint64_t dst, const uint8_t *fr, size_t flen, int64_t now);
/* No lock: packs a decided frame (hf: its frame header, followed by the frame) for its planned next hops. */
void tsw_fp_relay_frame(fp_lane *l, int dec, const uint8_t *hf, size_t flen);
/* End of an ingress batch: seals and sends what is packed, drops the batch's references. */
void tsw_fp_relay_end_batch(fp_lane *l);

/* Egress, lock held: the eligible session of the next hop towards `peer` when the published route goes
 * through another peer; NULL otherwise. */
fp_session *tsw_fp_relay_egress_session(tsw_fastpath *f, uint64_t peer);

/* Egress, lock held: the sessions of our own tree's children into out (at most max), their count; -1 when
 * JS must decide (no tree published for us, a child without an eligible session, more than max). */
int tsw_fp_relay_local_kids(tsw_fastpath *f, fp_session **out, int max);
/* Any thread: the destination peer of this router's next broadcast (broadcast-dedup.ts
 * BroadcastNumbering: never the legacy all-ones number). */
uint64_t tsw_fp_bcast_next(fp_relay *r);

/* Dedup (any thread): true when (origin, dst) was seen already; records it otherwise. */
bool tsw_fp_bcast_duplicate(fp_relay *r, uint64_t origin, uint64_t dst);
void tsw_fp_routes_free(fp_routes *t);
/* fastpath_js.c: freeing with the fast path and its lanes. */
void tsw_fp_relay_free(tsw_fastpath *f);
void tsw_fp_relay_lane_free(fp_lane *l);

#endif
