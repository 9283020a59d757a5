/* fastpath.c: what the fast path's two I/O threads share (contract in fastpath.h, the parts in
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

void tsw_fp_key_unref(fp_key *k) {
  if (!k || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1) return;
  EVP_CIPHER_CTX_free(k->ctx); /* cleanses the key schedule */
  memset(k, 0, sizeof *k);
  free(k);
}

void tsw_fp_session_unref(fp_session *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  tsw_fp_key_unref(s->seal);
  tsw_fp_key_unref(s->open);
  tsw_fp_key_unref(s->prev);
  free(s);
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
  h->fatal = err;
  tsw_fp_handoff_flush(f, h);
}

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

int tsw_fp_drain(tsw_fastpath *f, tsw_reader *r, void (*batch)(tsw_fastpath *, int)) {
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
