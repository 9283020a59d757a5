/*
 * fastpath_relay_js.c: Node-API bindings of the native relay tables (fastpath_relay.h). JS thread only.
 *
 *   fastpathSetRoutes(h, dsts, hops, origins, first, kids)
 *       replaces the routes and broadcast trees. dsts/hops: Float64Arrays, destination peer → next hop,
 *       dsts strictly ascending. origins: Float64Array strictly ascending; first: Uint32Array of
 *       origins.length + 1 non-decreasing offsets into kids (first[0] = 0, last = kids.length); kids:
 *       Float64Array of next-hop peers (origin i's children: kids[first[i] .. first[i + 1])).
 *   fastpathBroadcastDuplicate(h, origin, dst) -> boolean
 *       the dedup the ingress lanes use (broadcast-dedup.ts rules): true when seen already, else recorded.
 *   fastpathSetBroadcastStart(h, last)
 *       this router's broadcast numbering continues after `last` (0..2^32-1, the JS numbering's last).
 *   fastpathNextBroadcast(h) -> number
 *       the destination peer of this router's next broadcast (ff:ff:SS:SS:SS:SS), from the one sequence
 *       the egress lanes number the broadcasts they send with (fastpath_relay.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fastpath_relay.h"

/* JS thread: the relay state, made on first use (published under the write lock). */
static fp_relay *relay_state(tsw_fastpath *f) {
  if (f->relay) return f->relay;
  fp_relay *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  pthread_mutex_init(&r->dmu, NULL);
  pthread_rwlock_wrlock(&f->lock);
  f->relay = r;
  pthread_rwlock_unlock(&f->lock);
  return r;
}

/* A Float64Array of 48-bit peers, strictly ascending when `sorted`, copied into a new array. */
static bool peers_arg(napi_env env, napi_value v, const char *name, bool sorted, uint64_t **out, size_t *n) {
  void *p;
  if (!tsw_arg_typed(env, v, napi_float64_array, name, &p, n)) return false;
  const double *d = p;
  *out = malloc((*n ? *n : 1) * sizeof **out);
  if (!*out) {
    tsw_throw_errno(env, ENOMEM, "malloc", name);
    return false;
  }
  for (size_t i = 0; i < *n; i++) {
    if (!(d[i] >= 0 && d[i] <= 281474976710655.0) || d[i] != (double)(uint64_t)d[i]) {
      tsw_throw_range(env, "%s[%zu] must be a 48-bit peer, got %g", name, i, d[i]);
      return false;
    }
    (*out)[i] = (uint64_t)d[i];
    if (sorted && i > 0 && (*out)[i] <= (*out)[i - 1]) {
      tsw_throw_range(env, "%s must be strictly ascending (index %zu)", name, i);
      return false;
    }
  }
  return true;
}

napi_value tsw_js_fastpath_set_routes(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 6, argv);
  tsw_fastpath *f;
  if (!tsw_fp_get(env, argv[0], &f)) return NULL;
  fp_routes *t = calloc(1, sizeof *t);
  if (!t) return tsw_throw_errno(env, ENOMEM, "calloc", "fast path routes");
  size_t nhops, nfirst, nkids;
  void *first;
  bool ok = peers_arg(env, argv[1], "dsts", true, &t->dst, &t->nroutes) &&
            peers_arg(env, argv[2], "hops", false, &t->hop, &nhops) &&
            peers_arg(env, argv[3], "origins", true, &t->origin, &t->norigins) &&
            tsw_arg_typed(env, argv[4], napi_uint32_array, "first", &first, &nfirst) &&
            peers_arg(env, argv[5], "kids", false, &t->kids, &nkids);
  if (ok && nhops != t->nroutes) {
    tsw_throw_range(env, "hops must have as many elements as dsts (%zu), got %zu", t->nroutes, nhops);
    ok = false;
  }
  if (ok && nfirst != t->norigins + 1) {
    tsw_throw_range(env, "first must have origins.length + 1 (%zu) elements, got %zu", t->norigins + 1, nfirst);
    ok = false;
  }
  if (ok) {
    const uint32_t *fi = first;
    for (size_t i = 0; i < nfirst && ok; i++) {
      bool good = i == 0 ? fi[0] == 0 : fi[i] >= fi[i - 1];
      if (i == nfirst - 1) good = good && fi[i] == nkids;
      if (!good) {
        tsw_throw_range(env, "first[%zu] = %u breaks the rule 0 = first[0] <= ... <= first[last] = kids.length (%zu)",
                        i, fi[i], nkids);
        ok = false;
      }
    }
    t->first = ok ? malloc(nfirst * sizeof *t->first) : NULL;
    if (ok && !t->first) {
      tsw_throw_errno(env, ENOMEM, "malloc", "first");
      ok = false;
    }
    if (ok) memcpy(t->first, fi, nfirst * sizeof *t->first);
  }
  fp_relay *r = ok ? relay_state(f) : NULL;
  if (ok && !r) {
    tsw_throw_errno(env, ENOMEM, "calloc", "fast path relay");
    ok = false;
  }
  if (!ok) {
    tsw_fp_routes_free(t);
    return NULL;
  }
  pthread_rwlock_wrlock(&f->lock);
  fp_routes *old = r->routes;
  r->routes = t;
  pthread_rwlock_unlock(&f->lock);
  tsw_fp_routes_free(old); /* the lanes use the tables only under the read lock */
  return NULL;
}

napi_value tsw_js_fastpath_broadcast_duplicate(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 3, argv);
  tsw_fastpath *f;
  uint64_t origin, dst;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "origin", &origin) ||
      !tsw_fp_arg_peer(env, argv[2], "dst", &dst))
    return NULL;
  fp_relay *r = relay_state(f);
  if (!r) return tsw_throw_errno(env, ENOMEM, "calloc", "fast path relay");
  napi_value v;
  TSW_NAPI(env, napi_get_boolean(env, tsw_fp_bcast_duplicate(r, origin, dst), &v));
  return v;
}

napi_value tsw_js_fastpath_set_broadcast_start(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 2, argv);
  tsw_fastpath *f;
  int64_t last;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_arg_int(env, argv[1], "last", 0, 0xffffffffLL, &last)) return NULL;
  fp_relay *r = relay_state(f);
  if (!r) return tsw_throw_errno(env, ENOMEM, "calloc", "fast path relay");
  __atomic_store_n(&r->bseq, (uint32_t)last, __ATOMIC_RELAXED);
  return NULL;
}

napi_value tsw_js_fastpath_next_broadcast(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 1, argv);
  tsw_fastpath *f;
  if (!tsw_fp_get(env, argv[0], &f)) return NULL;
  fp_relay *r = relay_state(f);
  if (!r) return tsw_throw_errno(env, ENOMEM, "calloc", "fast path relay");
  napi_value v;
  TSW_NAPI(env, napi_create_double(env, (double)tsw_fp_bcast_next(r), &v));
  return v;
}
