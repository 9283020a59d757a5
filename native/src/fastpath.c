/* fastpath.c: what the fast path's I/O threads share (contract in fastpath.h, the parts in
 * fastpath_int.h): sessions and keys with their reference counts, the hand-off to JS, waiting for input
 * or stop, draining a reader, and stopping the threads. No napi calls here. */
#include "fastpath_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane_io.h"

fp_session *tsw_fp_session_by_peer(tsw_fastpath *f, uint64_t peer) {
  for (int i = 0; i < f->nsessions; i++)
    if (f->sessions[i]->peer == peer) return f->sessions[i];
  return NULL;
}

fp_key *tsw_fp_key_new(const uint8_t *key, const uint8_t *salt, uint8_t gen, bool for_seal, int nlanes) {
  fp_key *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  atomic_init(&k->refs, 1);
  int n = for_seal ? 2 * nlanes : nlanes; /* seal: the egress lanes', then the relaying ingress lanes' */
  for (; k->nctx < n; k->nctx++) {
    k->ctx[k->nctx] = tsw_gcm_new(key, for_seal);
    if (!k->ctx[k->nctx]) {
      tsw_fp_key_unref(k);
      return NULL;
    }
  }
  k->gen = gen;
  memcpy(k->salt, salt, 4);
  return k;
}

void tsw_fp_key_unref(fp_key *k) {
  if (!k || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1) return;
  for (int i = 0; i < k->nctx; i++) EVP_CIPHER_CTX_free(k->ctx[i]); /* cleanses the key schedule */
  memset(k, 0, sizeof *k);
  free(k);
}

fp_session *tsw_fp_session_new(void) {
  fp_session *s = aligned_alloc(64, (sizeof *s + 63) & ~(size_t)63);
  if (!s) return NULL;
  memset(s, 0, sizeof *s);
  if (pthread_mutex_init(&s->rmu, NULL) != 0) {
    free(s);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  for (int i = 0; i < FP_MAX_LANES; i++) s->lane[i].open_dgram = -1;
  return s;
}

void tsw_fp_session_unref(fp_session *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  tsw_fp_key_unref(s->seal);
  tsw_fp_key_unref(s->open);
  tsw_fp_key_unref(s->prev);
  pthread_mutex_destroy(&s->rmu);
  free(s);
}

void tsw_fp_handoff_take(fp_handoff *h, bool *held) {
  if (*held) return;
  pthread_mutex_lock(&h->own);
  *held = true;
}

void tsw_fp_handoff_release(tsw_fastpath *f, fp_handoff *h, bool *held) {
  if (!*held) return;
  tsw_fp_handoff_flush(f, h);
  *held = false;
  pthread_mutex_unlock(&h->own);
}

/* Called without the table lock: JS may take the write lock while it handles the batch. */
void tsw_fp_handoff_flush(tsw_fastpath *f, fp_handoff *h) {
  if (h->count == 0 && !h->fatal) return;
  pthread_mutex_lock(&f->hmu);
  h->ready = true;
  fp_add(&f->stats.handoff_waits, 1);
  uv_async_send(&f->async);
  while (h->ready && !stopping(f)) pthread_cond_wait(&f->hcv, &f->hmu);
  h->count = 0;
  h->used = 0;
  h->fatal = 0; /* reported once; the other lanes go on */
  pthread_mutex_unlock(&f->hmu);
}

bool tsw_fp_wait_readable(tsw_fastpath *f, int fd) {
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

void tsw_fp_fatal_stop(tsw_fastpath *f, fp_handoff *h, int err) {
  bool held = false;
  tsw_fp_handoff_take(h, &held);
  h->fatal = err;
  tsw_fp_handoff_release(f, h, &held);
}

/* Adds what a reader counted since the last call (plain doubles, its lane's) to the shared atomics. */
static void publish(fp_counter *c, double *seen, double now) {
  if (now == *seen) return;
  fp_add(c, (uint64_t)(now - *seen));
  *seen = now;
}

static void publish_reader_stats(fp_lane *l, tsw_reader *r) {
  fp_stats *st = &l->f->stats;
  if (r == &l->erd) {
    publish(&st->tap_read_frames, &l->erd_seen[0], r->stats.frames);
    publish(&st->tap_superframes, &l->erd_seen[1], r->stats.superframes);
    publish(&st->tap_bad_offload, &l->erd_seen[2], r->stats.bad_gso);
    publish(&st->tap_read_errors, &l->erd_seen[3], r->stats.errors);
  } else {
    publish(&st->udp_truncated, &l->ird_seen[0], r->stats.truncated);
    publish(&st->udp_receive_errors, &l->ird_seen[1], r->stats.errors);
  }
}

int tsw_fp_drain_some(fp_lane *l, tsw_reader *r, void (*batch)(fp_lane *, int), int max_fills, bool *left) {
  tsw_fastpath *f = l->f;
  *left = false;
  for (int fills = 1;; fills++) {
    bool more = false;
    int fatal = 0;
    r->kind_pending = false;
    int n = r->fill(r, &more, &fatal);
    r->stats.frames += n;
    publish_reader_stats(l, r);
    if (n > 0) batch(l, n);
    if (fatal) return fatal;
    if ((!more && !r->kind_pending) || stopping(f)) return 0;
    if (max_fills > 0 && fills >= max_fills) {
      *left = true; /* kind_pending data has no poll event: the caller must come back without waiting */
      return 0;
    }
  }
}

int tsw_fp_drain(fp_lane *l, tsw_reader *r, void (*batch)(fp_lane *, int)) {
  bool left;
  return tsw_fp_drain_some(l, r, batch, 0, &left);
}

void tsw_fp_stop_threads(tsw_fastpath *f) {
  __atomic_store_n(&f->stopping, true, __ATOMIC_RELEASE);
  uint64_t one = 1;
  if (write(f->stop_fd, &one, sizeof one) < 0) { /* eventfd: cannot fail short of EBADF */
  }
  pthread_mutex_lock(&f->hmu);
  pthread_cond_broadcast(&f->hcv);
  pthread_mutex_unlock(&f->hmu);
  for (int i = 0; i < f->nlanes; i++) {
    fp_lane *l = &f->lanes[i];
    if (l->egress_started) pthread_join(l->egress, NULL); /* the lane's only thread when unified */
    if (l->ingress_started) pthread_join(l->ingress, NULL);
    l->egress_started = l->ingress_started = false;
  }
}
