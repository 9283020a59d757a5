/*
 * fastpath.h: the data plane's fast path: I/O threads that carry the common case without waking the JS
 * thread (DESIGN.md §4; the TypeScript overlay stays the reference and handles everything else).
 *
 * Lanes (every core): the threads come in N lanes (1..FP_MAX_LANES, TSWEAVE_DATAPLANE_THREADS). Lane i
 * has an egress thread on TAP queue i (IFF_MULTI_QUEUE) and an ingress thread on UDP socket i (all
 * bound to one port with SO_REUSEPORT). Spread: a session has one receiver index per receive lane (a
 * block announced in the handshake); egress lane i addresses index base + i % (the peer's lanes), and
 * a classic BPF program on the reuseport group sends a datagram to socket (index % lanes)
 * (udp_steer.c), so one peer's traffic spreads over the lanes while each send lane's datagrams, and so
 * each flow, reach one receive lane in order. A peer that announces no lanes gets one index: its
 * datagrams go to one lane, as before. Flow order: an ingress lane writes each
 * frame to the TAP queue of its inner flow (IPv4/IPv6 addresses and TCP/UDP ports, symmetric hash),
 * and the tun driver sends a flow's frames back out on the queue it last received that flow on
 * (its flow table), so one TCP flow is read by one egress lane and never reordered by the lanes.
 * What lanes share: the tables (below), each session's send counter (atomic: a lane reserves its
 * batch's counters with one fetch-add, so no counter is ever used twice under a key) and its replay
 * window (a per-session mutex: datagrams of one session may reach two lanes, e.g. after a NAT
 * rebinding). Per-thread windows would need the sender's lane on the wire; the lock costs ~20 ns per
 * datagram uncontended. Each key has one OpenSSL context per lane. With one lane everything is as
 * before (one TAP fd, one socket, no SO_REUSEPORT).
 *
 *   egress thread   blocks in poll() on the TAP; per batch of frames read (TSO superframes already
 *                   segmented): a unicast frame whose source MAC is known here-local and whose
 *                   destination MAC is known behind a peer with an eligible session (UDP confirmed
 *                   both ways, direct route: set by JS), or known behind a peer reached through such a
 *                   session (the next hop of the route JS published, fastpath_relay.h), is packed into a
 *                   datagram for that session
 *                   exactly as src/dataplane/packer.ts packs it, gets the session's next counter, is
 *                   sealed and sent (sendmmsg, UDP GSO). A frame for a MAC known to be local is dropped
 *                   (the bridge delivers it). A broadcast/multicast frame from a here-local MAC goes to
 *                   each child of our own broadcast tree (published by JS, fastpath_relay.h) when every
 *                   child's session is eligible, numbered like Forwarder.flood numbers it. Anything else
 *                   (those broadcasts otherwise, unknown MACs, too big, no fast session) is copied to the
 *                   egress hand-off and given to JS as a TAP batch.
 *   ingress thread  blocks in poll() on the UDP socket; per datagram: too short, unknown receiver index,
 *                   failed tag and replayed counter are counted and dropped here. Authenticated heartbeats
 *                   go to JS as "control" entries (header + plaintext). DATA frames addressed to this
 *                   peer whose source MAC is known behind their origin are written to the TAP in one
 *                   batch; frames for other peers and broadcasts are forwarded by the lane itself when
 *                   JS published their route or tree (fastpath_relay.h); all other frames go to JS as
 *                   "frame" entries (origin, destination).
 *
 * JS owns the tables: sessions (keys, indexes, counter, eligibility) and MACs are written by the JS
 * thread under the write lock. The threads hold the read lock only while they look things up (a batch's
 * MACs and sessions), never while they seal, open, send, write the TAP or wait for JS: what a thread
 * needs after the lookup it takes a reference on (sessions and keys are reference-counted, freed by
 * whoever drops the last reference). The lock prefers writers, so a JS write waits for the lookups in
 * progress only, however busy the threads are. The send counter of a session is shared with JS
 * (atomic): every datagram JS sends on that session takes its counter from here, so a nonce is never
 * used twice under one key; it runs on across key generations. The replay window of a session lives
 * here only: every datagram of the session is checked by it.
 *
 * Keys (rekeying, src/dataplane/rekey.ts): a session seals with its current send key, whose generation
 * goes in header byte 1, and opens with the receive key of the generation the header names: the
 * current one, or the previous one until its grace period ends. JS swaps them (fastpathSetKeys); the
 * old contexts are freed (OpenSSL cleanses them) when the last batch using them is done.
 *
 * Statistics are C11 atomics (relaxed): the threads add, JS reads.
 *
 * Thread mode (fastpathStart's `unified`, TSWEAVE_DATAPLANE_THREAD_MODE): split (above) runs two threads per
 * lane; unified runs one (tsw_fp_lane_main, fastpath_unified.c) that waits on both the lane's TAP queue
 * and its socket and does both sides' batches in turns, with the same state rules (egress side under
 * the lane's emu, ingress side the thread's own).
 *
 * Hand-off: a thread fills its direction's hand-off (JS-owned slab and arrays; one lane at a time owns
 * it), wakes the JS thread (uv_async) and waits until JS has consumed it; the kernel queues meanwhile.
 * Stop wakes and joins every thread.
 */
#ifndef TSWEAVE_FASTPATH_H
#define TSWEAVE_FASTPATH_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common.h"
#include "mactable.h"
#include "reader.h"

#define FP_MAX_SESSIONS 4096
#define FP_MAX_LANES 16 /* I/O threads per direction; src/config/settings.ts caps TSWEAVE_DATAPLANE_THREADS */
/* Wider than the TS reference's (core/defaults.ts REPLAY_WINDOW_PACKETS, 8192): a sender's egress lanes
 * reserve a session's counters in blocks and a lane that was descheduled sends its block late, so the
 * counters of one session arrive out of order by more than one lane's batch. 65536 is about 0.5 s at
 * 1 Gbit/s of full frames; the window is the receiver's choice, the wire is unchanged. 8 KiB a session. */
#define FP_REPLAY_WINDOW 65536
#define FP_REPLAY_BLOCKS (FP_REPLAY_WINDOW / 32 + 1)
#define FP_KIND_CONTROL 0
#define FP_KIND_FRAME 1
#define FP_MAX_FRAMES_PER_DGRAM (65536 / 15 + 1) /* frame header + at least one byte */

/* One AES-256-GCM key in one direction. Immutable once made; freed with its last reference. */
typedef struct fp_key {
  atomic_uint refs;
  uint8_t gen; /* key generation, header byte 1 */
  uint8_t salt[4];
  int nctx;
  /* One context per lane (an EVP context is not thread-safe): seal: lane i's egress (its emu held), and
   * ctx[nlanes + i] lane i's ingress thread relaying (fastpath_relay.h); open: lane i's ingress thread. */
  EVP_CIPHER_CTX *ctx[2 * FP_MAX_LANES];
} fp_key;

/* One egress lane's per-batch scratch on a session (only that lane touches it; own cache line). */
typedef struct fp_lane_scratch {
  int open_dgram;       /* datagram being filled in this batch, -1 none */
  int ndgrams;          /* datagrams of this session in this batch */
  fp_key *batch_key;    /* the send key this batch seals with; non-NULL while the batch holds a reference */
  uint64_t next_counter; /* the next of the counters reserved for this batch */
  bool in_batch;
} __attribute__((aligned(64))) fp_lane_scratch;

typedef struct fp_session {
  atomic_uint refs; /* the table's, plus one per batch in flight */
  uint64_t peer;
  uint32_t local_index, remote_index;
  /* Receive lanes of each end (src/wire/hello.ts sessionLanes, 1..FP_MAX_LANES): indexes
   * local_index..local_index+local_lanes-1 find this session; egress lane i writes
   * remote_index + i % remote_lanes, which the peer's kernel steers to one of its lanes (udp_steer.c). */
  uint32_t local_lanes, remote_lanes;
  uint64_t remote; /* addr << 16 | port; atomic (an ingress thread follows an authenticated move) */
  bool encrypted;
  /* Both ends announced csumPartial (src/wire/hello.ts): bit 15 of a frame's length field marks an IPv4
   * TCP frame whose checksum is partial; we may send such frames to this peer when it is their
   * destination, and decode received lengths as 15 bits + that flag. Fixed for the session's life. */
  bool csum_partial;
  bool eligible; /* the egress threads may send this session's frames themselves (lock) */
  fp_key *seal;  /* current send key (lock) */
  fp_key *open;  /* current receive key (lock) */
  fp_key *prev;  /* previous receive key, accepted until prev_until_ms (lock) */
  int64_t prev_until_ms;
  uint64_t send_counter; /* last counter used; atomic, shared with JS and every egress lane */
  /* Traffic of this session on the fast path (atomic adds; metrics read them): datagrams and bytes,
   * sent (egress lanes) and authenticated received (ingress lanes). */
  uint64_t tx_dgrams, tx_bytes, rx_dgrams, rx_bytes;
  pthread_mutex_t rmu;   /* the replay window: any ingress lane may receive this session's datagrams */
  uint64_t highest;      /* replay window (rmu) */
  uint32_t ring[FP_REPLAY_BLOCKS];
  fp_lane_scratch lane[FP_MAX_LANES]; /* egress scratch, one per lane (that lane's emu held) */
} fp_session;

typedef struct fp_handoff {
  /* JS memory (kept alive by references in the fast path) */
  uint8_t *slab;
  size_t slab_len, used;
  int32_t *offsets, *lengths;
  uint8_t *kinds;  /* ingress only */
  double *peers;   /* ingress: control → session peer, frame → origin */
  double *dsts;    /* ingress: frame → destination peer */
  uint32_t *addrs; /* ingress: control → source address */
  uint16_t *ports;
  size_t cap;
  int count;
  int fatal; /* errno that stopped a thread; delivered once as cb(-errno) */
  pthread_mutex_t own; /* held by the one lane that fills it, from its first entry until JS consumed it */
  bool ready; /* handed to JS, not consumed yet */
  napi_ref cb;
} fp_handoff;

typedef atomic_uint_fast64_t fp_counter;

typedef struct fp_stats {
  /* egress thread */
  fp_counter egress_frames_fast, egress_frames_slow, egress_dropped_local, egress_datagrams, egress_batches;
  fp_counter udp_send[3]; /* sent, dropped (buffer full), errors */
  /* ingress thread */
  fp_counter ingress_datagrams, ingress_frames_fast, ingress_frames_slow, ingress_control, ingress_batches;
  fp_counter dropped_short, dropped_unknown_session, dropped_auth, dropped_replay, dropped_bad_frame;
  fp_counter tap_write[3]; /* written, dropped, errors */
  fp_counter tap_gro[2];
  fp_counter handoff_waits;
  fp_counter egress_by_ingress; /* TAP drains done by the ingress thread right after its writes */
  /* the readers' own counts (reader.h), published after every fill */
  fp_counter tap_read_frames, tap_superframes, tap_bad_offload, tap_read_errors;
  fp_counter udp_truncated, udp_receive_errors;
  /* native relays and broadcast (fastpath_relay.c): unicast frames relayed, broadcasts handled (TAP and
   * children), broadcast copies sent to children, duplicate broadcasts dropped, datagrams sent */
  fp_counter relay_frames, bcast_frames, bcast_copies, bcast_duplicates, relay_datagrams;
  /* broadcasts from local containers an egress lane sent along our own tree itself, and their copies */
  fp_counter egress_bcast_frames, egress_bcast_copies;
  /* checksum-partial frames (offload.h): sent with the flag, received with it (TAP-bound or completed) */
  fp_counter egress_csum_partial, ingress_csum_partial;
} fp_stats;

static inline void fp_add(fp_counter *c, uint64_t n) { atomic_fetch_add_explicit(c, n, memory_order_relaxed); }
static inline uint64_t fp_get(fp_counter *c) { return atomic_load_explicit(c, memory_order_relaxed); }

struct tsw_fastpath;

/* One lane: an egress thread on one TAP queue and an ingress thread on one UDP socket (SO_REUSEPORT,
 * all lanes on the same port), each with its own buffers. Lane 0's fds are the ones JS also uses. */
typedef struct fp_lane {
  struct tsw_fastpath *f;
  int idx;
  int tap_fd, udp_fd;
  pthread_t egress, ingress; /* unified mode: the lane's one thread is `egress` */
  bool egress_started, ingress_started;
  /* egress memory: the egress thread's, or an ingress thread's while it holds emu (fastpath_ingress.c) */
  pthread_mutex_t emu;
  tsw_reader erd;
  uint8_t *send_slab;
  int32_t *send_offs, *send_lens;
  uint32_t *send_addrs;
  uint16_t *send_ports;
  fp_session **send_sess;
  fp_key **send_key;
  fp_session **frame_sess; /* per frame of a read batch: its session, NULL: JS, FP_LOCAL: dropped */
  uint64_t *frame_dst;     /* per frame of a read batch: its destination peer (the session's, or beyond it) */
  fp_session **batch_sess; /* sessions referenced by this batch */
  fp_session **bcast_plan; /* per local broadcast of a read batch, in order: its children's sessions, then NULL */
  double udp_scratch[4];   /* tsw_udp_send_datagrams' counts, folded into stats */
  double erd_seen[4];      /* reader counts already published (fastpath.c) */
  bool eh_held;            /* this lane owns the egress hand-off (emu held) */
  fp_counter egress_frames; /* fast frames sent by this lane */
  /* ingress thread's memory */
  tsw_reader ird;
  uint8_t **tap_frames;
  int32_t *tap_lens;
  uint8_t *tap_queue;      /* per frame: the TAP queue it goes to (inner flow hash) */
  uint8_t *tap_partial;    /* per frame: its TCP checksum is partial (tsw_tap_write_batch) */
  uint8_t **q_frames;      /* one queue's frames of a write (scratch) */
  int32_t *q_lens;
  uint8_t *q_partial;
  size_t tap_cap;
  uint32_t queues_written; /* bit per TAP queue written since the last drain check */
  uint8_t *frame_dec; /* per frame of one datagram: where it goes (fastpath_ingress.c) */
  double tap_scratch[4], gro_scratch[2];
  double ird_seen[2];
  bool ih_held; /* this lane owns the ingress hand-off */
  fp_counter ingress_datagrams; /* datagrams received by this lane */
  struct fp_relay_lane *relay;  /* forwarding scratch (fastpath_relay.h), made on first use */
} fp_lane;

typedef struct tsw_fastpath {
  pthread_rwlock_t lock;
  tsw_mactable macs;
  fp_session *sessions[FP_MAX_SESSIONS];
  int nsessions;
  uint64_t local_peer;
  int stop_fd;
  bool tap_vnet;
  size_t stride; /* largest datagram (packer stride) */
  size_t max_frame; /* largest frame one datagram holds */
  bool stopping;  /* atomic */
  int nlanes;
  bool unified; /* one thread per lane (fastpath_unified.c) instead of an egress and an ingress thread */
  fp_lane *lanes;
  int tap_fds[FP_MAX_LANES]; /* every lane's TAP queue: an ingress lane writes a frame to its flow's queue */
  /* hand-off to JS (one per direction, shared by the lanes: fp_handoff.own) */
  pthread_mutex_t hmu;
  pthread_cond_t hcv;
  fp_handoff eh, ih;
  uv_async_t async;
  napi_env env;
  napi_async_context actx;
  napi_ref slab_refs[11];
  bool closed, uv_closed, finalized;
  fp_stats stats;
  struct fp_relay *relay; /* routes, broadcast trees and dedup (fastpath_relay.h); set by JS (lock) */
} tsw_fastpath;

/* Thread bodies (arg: the fp_lane) and helpers (fastpath.c); the bindings are in fastpath_js.c and
 * fastpath_tables_js.c. */
void *tsw_fp_egress_main(void *arg);
void *tsw_fp_ingress_main(void *arg);
void *tsw_fp_lane_main(void *arg); /* unified mode: both sides of the lane (its egress pthread_t) */
/* A new session with one reference (keys NULL), or NULL without memory. */
fp_session *tsw_fp_session_new(void);
fp_session *tsw_fp_session_by_peer(tsw_fastpath *f, uint64_t peer);
/* A key of one direction with one reference and one context per lane; NULL if OpenSSL fails. */
fp_key *tsw_fp_key_new(const uint8_t *key, const uint8_t *salt, uint8_t gen, bool for_seal, int nlanes);
void tsw_fp_key_unref(fp_key *k);
/* Drops a reference; the last one frees the session and its keys. NULL is ignored. */
void tsw_fp_session_unref(fp_session *s);
/* Shared by the bindings (fastpath_js.c, fastpath_tables_js.c): the live fast path of a handle (throws
 * otherwise), and a 48-bit peer or MAC argument. */
bool tsw_fp_get(napi_env env, napi_value v, tsw_fastpath **out);
bool tsw_fp_arg_peer(napi_env env, napi_value v, const char *name, uint64_t *out);
/* Asks every thread to stop and joins them (JS thread; never while holding the lock). */
void tsw_fp_stop_threads(tsw_fastpath *f);

#endif
