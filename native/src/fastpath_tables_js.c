/*
 * fastpath_tables_js.c: Node-API bindings that keep the fast path's tables (fastpath.h): sessions, their
 * keys, eligibility and MACs. JS thread only; every change is made under the tables' write lock, and
 * what it replaces is released after the lock (the I/O threads may still hold references).
 *
 *   fastpathAddSession(h, peer, localIndex, remoteIndex, remoteAddr, remotePort, lastCounter,
 *                      sendKey?, sendSalt?, recvKey?, recvSalt?, localLanes?, remoteLanes?, csumPartial?)
 *                      replaces any session of peer; its keys are generation 0. Lanes (1..FP_MAX_LANES,
 *                      default 1): indexes localIndex..+localLanes-1 find it; egress lane i addresses
 *                      remoteIndex + i % remoteLanes. csumPartial (default false): both ends announced it
 *                      (fastpath.h fp_session.csum_partial)
 *   fastpathRemoveSession(h, peer)
 *   fastpathSetEligible(h, peer, eligible)      may the egress thread send for this session itself
 *   fastpathSetRecvKey(h, peer, gen, key, salt, graceMs) -> boolean
 *                      the new receive key (generation byte gen) becomes current; the current one
 *                      stays accepted for graceMs more, any older one is dropped. false: no such session
 *   fastpathSetSendKey(h, peer, gen, key, salt) -> boolean   seal from now on with this key
 *   fastpathNextCounter(h, peer) -> number      the session's next send counter (0: no such session)
 *   fastpathLearn(h, mac, peer) -> boolean      false: the table is full
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fastpath.h"

static bool opt_bytes(napi_env env, napi_value v, const char *name, size_t want, uint8_t **out) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  *out = NULL;
  if (t == napi_undefined || t == napi_null) return true;
  size_t len;
  if (!tsw_arg_bytes(env, v, name, out, &len)) return false;
  if (len != want) {
    tsw_throw_range(env, "%s must be %zu bytes, got %zu", name, want, len);
    return false;
  }
  return true;
}

static bool key_args(napi_env env, napi_value k, napi_value s, const char *kname, const char *sname, uint8_t **key,
                     uint8_t **salt) {
  if (!opt_bytes(env, k, kname, 32, key) || !opt_bytes(env, s, sname, 4, salt)) return false;
  if (*key && *salt) return true;
  tsw_throw_type(env, "%s and %s are required", kname, sname);
  return false;
}

napi_value tsw_js_fastpath_add_session(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 14, argv);
  tsw_fastpath *f;
  uint64_t peer;
  int64_t li, ri, addr, port, counter, llanes = 1, rlanes = 1;
  bool csum_partial = false;
  napi_valuetype t11, t12, t13;
  uint8_t *sk, *ss, *rk, *rs;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "peer", &peer) ||
      !tsw_arg_int(env, argv[2], "localIndex", 0, UINT32_MAX, &li) ||
      !tsw_arg_int(env, argv[3], "remoteIndex", 0, UINT32_MAX, &ri) ||
      !tsw_arg_int(env, argv[4], "remoteAddr", 0, UINT32_MAX, &addr) ||
      !tsw_arg_int(env, argv[5], "remotePort", 0, 65535, &port) ||
      !tsw_arg_int(env, argv[6], "lastCounter", 0, INT64_C(0x1fffffffffffff), &counter) ||
      !opt_bytes(env, argv[7], "sendKey", 32, &sk) || !opt_bytes(env, argv[8], "sendSalt", 4, &ss) ||
      !opt_bytes(env, argv[9], "recvKey", 32, &rk) || !opt_bytes(env, argv[10], "recvSalt", 4, &rs))
    return NULL;
  TSW_NAPI(env, napi_typeof(env, argv[11], &t11));
  TSW_NAPI(env, napi_typeof(env, argv[12], &t12));
  TSW_NAPI(env, napi_typeof(env, argv[13], &t13));
  if ((t11 != napi_undefined && !tsw_arg_int(env, argv[11], "localLanes", 1, FP_MAX_LANES, &llanes)) ||
      (t12 != napi_undefined && !tsw_arg_int(env, argv[12], "remoteLanes", 1, FP_MAX_LANES, &rlanes)) ||
      (t13 != napi_undefined && !tsw_arg_bool(env, argv[13], "csumPartial", &csum_partial)))
    return NULL;
  bool enc = sk != NULL;
  if (enc != (ss != NULL) || enc != (rk != NULL) || enc != (rs != NULL))
    return tsw_throw_type(env, "sendKey, sendSalt, recvKey and recvSalt must be given together");
  fp_session *s = tsw_fp_session_new();
  if (!s) return tsw_throw_errno(env, ENOMEM, "calloc", "fast path session");
  s->peer = peer;
  s->local_index = (uint32_t)li;
  s->remote_index = (uint32_t)ri;
  s->local_lanes = (uint32_t)llanes;
  s->remote_lanes = (uint32_t)rlanes;
  s->remote = (uint64_t)addr << 16 | (uint64_t)port;
  s->send_counter = (uint64_t)counter;
  s->encrypted = enc;
  s->csum_partial = csum_partial;
  if (enc) {
    s->seal = tsw_fp_key_new(sk, ss, 0, true, f->nlanes);
    s->open = tsw_fp_key_new(rk, rs, 0, false, f->nlanes);
    if (!s->seal || !s->open) {
      tsw_fp_session_unref(s);
      return tsw_throw_code(env, "ERR_OPENSSL", "fast path session: aes-256-gcm init failed");
    }
  }
  pthread_rwlock_wrlock(&f->lock);
  fp_session *old = NULL;
  int slot = f->nsessions;
  for (int i = 0; i < f->nsessions; i++)
    if (f->sessions[i]->peer == peer) old = f->sessions[i], slot = i;
  bool full = !old && f->nsessions >= FP_MAX_SESSIONS;
  if (!full) {
    f->sessions[slot] = s;
    if (!old) f->nsessions++;
  }
  pthread_rwlock_unlock(&f->lock);
  tsw_fp_session_unref(old);
  if (full) {
    tsw_fp_session_unref(s);
    return tsw_throw_range(env, "fast path holds at most %d sessions", FP_MAX_SESSIONS);
  }
  return NULL;
}

napi_value tsw_js_fastpath_remove_session(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 2, argv);
  tsw_fastpath *f;
  uint64_t peer;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "peer", &peer)) return NULL;
  fp_session *gone = NULL;
  pthread_rwlock_wrlock(&f->lock);
  for (int i = 0; i < f->nsessions; i++) {
    if (f->sessions[i]->peer != peer) continue;
    gone = f->sessions[i];
    f->sessions[i] = f->sessions[--f->nsessions];
    break;
  }
  pthread_rwlock_unlock(&f->lock);
  tsw_fp_session_unref(gone);
  return NULL;
}

/* fastpathSessionStats(handle, peer): the session's fast-path traffic, or undefined without a session. */
napi_value tsw_js_fastpath_session_stats(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 2, argv);
  tsw_fastpath *f;
  uint64_t peer;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "peer", &peer)) return NULL;
  uint64_t v[4] = {0, 0, 0, 0};
  pthread_rwlock_rdlock(&f->lock);
  fp_session *s = tsw_fp_session_by_peer(f, peer);
  if (s) {
    v[0] = __atomic_load_n(&s->tx_dgrams, __ATOMIC_RELAXED);
    v[1] = __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED);
    v[2] = __atomic_load_n(&s->rx_dgrams, __ATOMIC_RELAXED);
    v[3] = __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED);
  }
  pthread_rwlock_unlock(&f->lock);
  napi_value o;
  if (!s) {
    TSW_NAPI(env, napi_get_undefined(env, &o));
    return o;
  }
  TSW_NAPI(env, napi_create_object(env, &o));
  if (!tsw_set_double(env, o, "datagramsSent", (double)v[0]) || !tsw_set_double(env, o, "bytesSent", (double)v[1]) ||
      !tsw_set_double(env, o, "datagramsReceived", (double)v[2]) || !tsw_set_double(env, o, "bytesReceived", (double)v[3]))
    return NULL;
  return o;
}

napi_value tsw_js_fastpath_set_eligible(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 3, argv);
  tsw_fastpath *f;
  uint64_t peer;
  bool on;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "peer", &peer) ||
      !tsw_arg_bool(env, argv[2], "eligible", &on))
    return NULL;
  pthread_rwlock_wrlock(&f->lock);
  fp_session *s = tsw_fp_session_by_peer(f, peer);
  if (s) s->eligible = on;
  pthread_rwlock_unlock(&f->lock);
  return NULL;
}

/* Swaps one key of an encrypted session (seal or receive); false when there is no such session. */
static napi_value set_key(napi_env env, napi_callback_info info, bool for_seal) {
  TSW_ARGS(env, info, 6, argv);
  tsw_fastpath *f;
  uint64_t peer;
  int64_t gen, grace = 0;
  uint8_t *key, *salt;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "peer", &peer) ||
      !tsw_arg_int(env, argv[2], "gen", 0, 255, &gen) ||
      !key_args(env, argv[3], argv[4], "key", "salt", &key, &salt) ||
      (!for_seal && !tsw_arg_int(env, argv[5], "graceMs", 0, INT64_C(1) << 40, &grace)))
    return NULL;
  fp_key *k = tsw_fp_key_new(key, salt, (uint8_t)gen, for_seal, f->nlanes);
  if (!k) return tsw_throw_code(env, "ERR_OPENSSL", "fast path key: aes-256-gcm init failed");
  fp_key *drop = NULL;
  pthread_rwlock_wrlock(&f->lock);
  fp_session *s = tsw_fp_session_by_peer(f, peer);
  bool ok = s && s->encrypted;
  if (ok && for_seal) {
    drop = s->seal;
    s->seal = k;
  } else if (ok) {
    drop = s->prev;
    s->prev = s->open;
    s->prev_until_ms = tsw_now_ms() + grace;
    s->open = k;
  }
  pthread_rwlock_unlock(&f->lock);
  if (!ok) drop = k;
  tsw_fp_key_unref(drop); /* wiped once the last batch using it is done */
  napi_value r;
  TSW_NAPI(env, napi_get_boolean(env, ok, &r));
  return r;
}

napi_value tsw_js_fastpath_set_recv_key(napi_env env, napi_callback_info info) { return set_key(env, info, false); }
napi_value tsw_js_fastpath_set_send_key(napi_env env, napi_callback_info info) { return set_key(env, info, true); }

napi_value tsw_js_fastpath_next_counter(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 2, argv);
  tsw_fastpath *f;
  uint64_t peer;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "peer", &peer)) return NULL;
  uint64_t c = 0;
  pthread_rwlock_rdlock(&f->lock);
  fp_session *s = tsw_fp_session_by_peer(f, peer);
  if (s) c = __atomic_add_fetch(&s->send_counter, 1, __ATOMIC_RELAXED);
  pthread_rwlock_unlock(&f->lock);
  napi_value r;
  TSW_NAPI(env, napi_create_double(env, (double)c, &r));
  return r;
}

napi_value tsw_js_fastpath_learn(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 3, argv);
  tsw_fastpath *f;
  uint64_t mac, peer;
  if (!tsw_fp_get(env, argv[0], &f) || !tsw_fp_arg_peer(env, argv[1], "mac", &mac) ||
      !tsw_fp_arg_peer(env, argv[2], "peer", &peer))
    return NULL;
  pthread_rwlock_wrlock(&f->lock);
  bool ok = tsw_mactable_learn(&f->macs, mac, peer, tsw_now_ms());
  pthread_rwlock_unlock(&f->lock);
  napi_value r;
  TSW_NAPI(env, napi_get_boolean(env, ok, &r));
  return r;
}
