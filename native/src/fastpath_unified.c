/* fastpath_unified.c: the unified thread mode (TSWEAVE_DATAPLANE_THREAD_MODE=unified): one thread per
 * lane waits on both the lane's TAP queue and its UDP socket and does both sides' work with the split
 * mode's batch functions (fastpath_egress.c, fastpath_ingress.c), instead of an egress and an ingress
 * thread each waiting on one fd.
 * Why: a reply the kernel queues on our TAP queue while we write a request to it (the container answers
 * within our write's softirq) is read by this same thread right after, with no thread to wake; a TCP
 * stream's data and its ACKs are handled by one thread and its cache instead of two threads passing
 * the flow between cores; half the threads.
 * Fairness: each side reads at most FP_LANE_ROUND batches before the other side gets its turn (a poll
 * with no timeout refreshes what is ready), so bulk in one direction does not starve the other.
 * State: the ingress side is this thread's alone (as the ingress thread's was); the egress side is taken
 * under the lane's emu as before, since other lanes still drain this lane's queue for an answer
 * (tsw_fp_ingress_answers). A fatal error on one side stops that side only, as it stops one thread in
 * the split mode; the thread ends when both sides have stopped or on stop. */
#include "fastpath_int.h"

#include <errno.h>
#include <poll.h>

/* Batches one side reads before the other side's turn: large enough that a busy side rarely pays a
 * poll, small enough that the other side waits at most a few batches (tens of µs). */
#define FP_LANE_ROUND 4

void *tsw_fp_lane_main(void *arg) {
  fp_lane *l = arg;
  tsw_fastpath *f = l->f;
  struct pollfd p[3] = {
      {.fd = l->tap_fd, .events = POLLIN}, {.fd = l->udp_fd, .events = POLLIN}, {.fd = f->stop_fd, .events = POLLIN}};
  bool more_out = false, more_in = false; /* a side stopped with input left (maybe not announced by poll) */
  while (!stopping(f) && (p[0].fd >= 0 || p[1].fd >= 0)) {
    int k = poll(p, 3, more_out || more_in ? 0 : -1);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 || p[2].revents) break;
    bool in = p[1].fd >= 0 && (more_in || p[1].revents);
    bool out = p[0].fd >= 0 && (more_out || p[0].revents);
    more_in = more_out = false;
    if (in) {
      l->queues_written = 0;
      int fatal = tsw_fp_ingress_drain_some(l, FP_LANE_ROUND, &more_in);
      if (fatal) {
        tsw_fp_fatal_stop(f, &f->ih, fatal);
        p[1].fd = -1; /* poll ignores it from now on */
        more_in = false;
      }
      tsw_fp_ingress_answers(l, l->idx, 1);
      /* our own queue: the answer to what we just wrote is probably there; read it now, no poll */
      if (l->queues_written & (1u << l->idx)) out = p[0].fd >= 0;
    }
    if (out) {
      pthread_mutex_lock(&l->emu); /* another lane holds it for one batch at most (answers above) */
      int fatal = tsw_fp_egress_drain_some(l, FP_LANE_ROUND, &more_out);
      pthread_mutex_unlock(&l->emu);
      if (fatal) {
        tsw_fp_fatal_stop(f, &f->eh, fatal);
        p[0].fd = -1;
        more_out = false;
      }
    }
  }
  return NULL;
}
