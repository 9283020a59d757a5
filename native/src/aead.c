/*
 * aead.c: batched AES-256-GCM seal/open in place, over node's bundled OpenSSL (EVP). The EVP_* symbols
 * are exported by the node binary and the headers ship in include/node/openssl: no link flags.
 *
 * Packet layout (src/wire/data-packet.ts): packet i is buf[offsets[i], offsets[i] + lengths[i]):
 *
 *   0   14   header: type(1) keyGen(1) receiverIdx(4, BE) counter(8, BE)   = AAD, never encrypted
 *   14  n    body:   plaintext before seal, ciphertext after
 *   14+n 16  tag     (written by seal at offsets[i] + lengths[i]; the caller leaves room)
 *
 *   nonce (12) = salt (4, per key+direction, from the KDF) || header[6..14] (the u64 BE counter)
 *
 * The caller guarantees a counter is never reused under one key (the dataplane's job); this code
 * takes the counter from the header it authenticates, so sender and receiver agree by construction.
 *
 * JS API (see src/io/native.ts for the typed interface):
 *
 *   aeadCreate(key: 32 bytes, salt: 4 bytes, forSeal: boolean) -> AeadHandle
 *     One EVP_CIPHER_CTX per handle; the key schedule is computed once. The handle is freed (and
 *     the key schedule wiped) by aeadDestroy or by the GC finalizer.
 *
 *   aeadSealBatch(h, buf, offsets: Int32Array, lengths: Int32Array, count) -> void
 *     Seals every packet in place and adds 16 to lengths[i]. All packets are checked first
 *     (lengths[i] >= 14, offsets[i] + lengths[i] + 16 <= buf.length): a bad batch throws RangeError
 *     before anything is modified.
 *
 *   aeadOpenBatch(h, buf, offsets, lengths, count, status: Uint8Array) -> number opened
 *     Verifies and decrypts every packet in place. Success: status[i] = 1, lengths[i] -= 16.
 *     Failure (shorter than 14 + 16, bad tag, wrong key, altered header): status[i] = 0, lengths[i]
 *     unchanged, and the body and tag (buf[off + 14, off + len)) are zeroed when the packet was long
 *     enough to try, so unauthenticated plaintext never lingers. Never throws per packet; bounds
 *     errors (offset/length outside buf) throw RangeError before anything is modified.
 *
 *   aeadDestroy(h) -> void     frees the context now; later use of h throws ERR_INVALID_STATE.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dataplane_io.h"

#define AEAD_HEADER_BYTES 14
#define AEAD_COUNTER_OFFSET 6
#define AEAD_TAG_BYTES 16
#define AEAD_KEY_BYTES 32
#define AEAD_SALT_BYTES 4
#define AEAD_NONCE_BYTES 12

static const napi_type_tag AEAD_TAG = {0x7473776561766541ULL, 0x6561640000000001ULL};

typedef struct tsw_aead {
  EVP_CIPHER_CTX *ctx;
  uint8_t salt[AEAD_SALT_BYTES];
  bool for_seal;
} tsw_aead;

/* The external's value: a pointer to the slot, so aeadDestroy can clear it and later calls see NULL. */
typedef struct tsw_aead_box {
  tsw_aead *a;
} tsw_aead_box;

static void aead_free(tsw_aead *a) {
  if (!a) return;
  EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
  OPENSSL_cleanse(a, sizeof *a);
  free(a);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tsw_aead_box *box = (tsw_aead_box *)data;
  aead_free(box->a);
  free(box);
}

static napi_value throw_openssl(napi_env env, const char *what) {
  char buf[200];
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  else snprintf(buf, sizeof buf, "unknown error");
  ERR_clear_error();
  return tsw_throw_code(env, "ERR_OPENSSL", "%s: %s", what, buf);
}

napi_value tsw_js_aead_create(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 3, argv);
  uint8_t *key, *salt;
  size_t key_len, salt_len;
  bool for_seal;
  if (!tsw_arg_bytes(env, argv[0], "key", &key, &key_len) || !tsw_arg_bytes(env, argv[1], "salt", &salt, &salt_len) ||
      !tsw_arg_bool(env, argv[2], "forSeal", &for_seal))
    return NULL;
  if (key_len != AEAD_KEY_BYTES) return tsw_throw_range(env, "key must be %d bytes, got %zu", AEAD_KEY_BYTES, key_len);
  if (salt_len != AEAD_SALT_BYTES)
    return tsw_throw_range(env, "salt must be %d bytes, got %zu", AEAD_SALT_BYTES, salt_len);
  tsw_aead_box *box = calloc(1, sizeof *box);
  tsw_aead *a = calloc(1, sizeof *a);
  if (!box || !a) {
    free(box);
    free(a);
    return tsw_throw_code(env, "ENOMEM", "aeadCreate: out of memory");
  }
  box->a = a;
  memcpy(a->salt, salt, AEAD_SALT_BYTES);
  a->for_seal = for_seal;
  a->ctx = tsw_gcm_new(key, for_seal);
  if (!a->ctx) {
    aead_free(a);
    free(box);
    return throw_openssl(env, "aeadCreate: EVP aes-256-gcm init");
  }
  napi_value ext;
  napi_status s = napi_create_external(env, box, on_finalize, NULL, &ext);
  if (s != napi_ok) {
    aead_free(a);
    free(box);
    tsw_throw_status(env, s, "napi_create_external");
    return NULL;
  }
  TSW_NAPI(env, napi_type_tag_object(env, ext, &AEAD_TAG)); /* box is owned by the external now */
  return ext;
}

static bool get_aead(napi_env env, napi_value v, bool want_seal, tsw_aead **out) {
  void *p;
  if (!tsw_arg_external(env, v, &AEAD_TAG, "handle", &p)) return false;
  tsw_aead *a = ((tsw_aead_box *)p)->a;
  if (!a) {
    tsw_throw_code(env, "ERR_INVALID_STATE", "handle was destroyed (aeadDestroy)");
    return false;
  }
  if (a->for_seal != want_seal) {
    tsw_throw_type(env, "handle was created for %s, not %s", a->for_seal ? "seal" : "open",
                   want_seal ? "seal" : "open");
    return false;
  }
  *out = a;
  return true;
}

static inline void make_nonce(const uint8_t *salt, const uint8_t *hdr, uint8_t *nonce) {
  memcpy(nonce, salt, AEAD_SALT_BYTES);
  memcpy(nonce + AEAD_SALT_BYTES, hdr + AEAD_COUNTER_OFFSET, 8);
}

static EVP_CIPHER_CTX *gcm_new(const uint8_t *key, bool for_seal) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int enc = for_seal ? 1 : 0;
  if (!ctx || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, AEAD_NONCE_BYTES, NULL) != 1 ||
      EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* Per datagram, EVP_*Init_ex(iv) asks the provider for the IV length (a parameter query: string
 * compares) and EVP_CIPHER_CTX_ctrl turns the tag into another; together most of a small datagram's
 * cost. Instead the nonce goes in as the GCM provider's "tls1 fixed IV" with length -1 (its documented
 * special case: the whole IV, as EVP_CTRL_GCM_SET_IV_FIXED with -1), in the same set_params call as
 * the expected tag when opening, and the tag comes out by get_params. Used only if a self-test at the
 * first context (gcm_params_check) gives the bytes of the EVP_*Init_ex way; otherwise that way. */
static int gcm_params_ok = -1; /* -1 unknown, 0 no, 1 yes; pthread_once */
static pthread_once_t gcm_params_once = PTHREAD_ONCE_INIT;

static bool set_nonce(EVP_CIPHER_CTX *ctx, uint8_t *nonce, uint8_t *tag, bool enc) {
  OSSL_PARAM ps[3] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, nonce, (size_t)-1),
      OSSL_PARAM_construct_end(),
      OSSL_PARAM_construct_end(),
  };
  if (tag) ps[1] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, AEAD_TAG_BYTES);
  if (__atomic_load_n(&gcm_params_ok, __ATOMIC_RELAXED) == 1) return EVP_CIPHER_CTX_set_params(ctx, ps) == 1;
  return (enc ? EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) : EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce)) == 1 &&
         (!tag || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_BYTES, tag) == 1);
}

static bool get_tag(EVP_CIPHER_CTX *ctx, uint8_t *tag) {
  if (__atomic_load_n(&gcm_params_ok, __ATOMIC_RELAXED) != 1)
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_BYTES, tag) == 1;
  OSSL_PARAM ps[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, AEAD_TAG_BYTES),
                      OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(ctx, ps) == 1;
}

/* Seals and opens two packets (different counters) both ways with one throwaway key: the parameter
 * way is used only if it gives the same bytes and tags and opens what it sealed. */
static void gcm_params_check(void) {
  static const uint8_t key[AEAD_KEY_BYTES] = {1, 2, 3}, salt[AEAD_SALT_BYTES] = {9, 8, 7, 6};
  uint8_t a[2][64 + AEAD_TAG_BYTES], b[2][64 + AEAD_TAG_BYTES];
  EVP_CIPHER_CTX *s = gcm_new(key, true), *o = gcm_new(key, false);
  bool same = s && o;
  for (int v = 0; v < 2 && same; v++) {
    __atomic_store_n(&gcm_params_ok, v, __ATOMIC_RELAXED);
    for (int i = 0; i < 2 && same; i++) {
      uint8_t *p = v == 0 ? a[i] : b[i];
      memset(p, 0x5a + i, sizeof a[i]);
      p[AEAD_COUNTER_OFFSET + 7] = (uint8_t)(i + 1);
      same = tsw_gcm_seal(s, salt, p, 64);
    }
  }
  same = same && memcmp(a, b, sizeof a) == 0 && tsw_gcm_open(o, salt, b[1], sizeof b[1]) &&
         tsw_gcm_open(o, salt, b[0], sizeof b[0]);
  b[0][20] ^= 1;
  same = same && !tsw_gcm_open(o, salt, b[0], sizeof b[0]); /* the tag is checked */
  EVP_CIPHER_CTX_free(s);
  EVP_CIPHER_CTX_free(o);
  ERR_clear_error();
  __atomic_store_n(&gcm_params_ok, same ? 1 : 0, __ATOMIC_RELEASE);
}

EVP_CIPHER_CTX *tsw_gcm_new(const uint8_t *key, bool for_seal) {
  pthread_once(&gcm_params_once, gcm_params_check); /* before the first context can seal or open */
  return gcm_new(key, for_seal);
}

bool tsw_gcm_seal(EVP_CIPHER_CTX *ctx, const uint8_t *salt, uint8_t *p, size_t len) {
  uint8_t nonce[AEAD_NONCE_BYTES];
  int body = (int)len - AEAD_HEADER_BYTES, outl = 0, finl = 0;
  make_nonce(salt, p, nonce);
  return set_nonce(ctx, nonce, NULL, true) && EVP_EncryptUpdate(ctx, NULL, &outl, p, AEAD_HEADER_BYTES) == 1 &&
         (body <= 0 || EVP_EncryptUpdate(ctx, p + AEAD_HEADER_BYTES, &outl, p + AEAD_HEADER_BYTES, body) == 1) &&
         EVP_EncryptFinal_ex(ctx, p + len, &finl) == 1 && get_tag(ctx, p + len);
}

bool tsw_gcm_open(EVP_CIPHER_CTX *ctx, const uint8_t *salt, uint8_t *p, size_t len) {
  if (len < AEAD_HEADER_BYTES + AEAD_TAG_BYTES) return false;
  uint8_t nonce[AEAD_NONCE_BYTES];
  int body = (int)(len - AEAD_HEADER_BYTES - AEAD_TAG_BYTES), outl = 0, finl = 0;
  make_nonce(salt, p, nonce);
  bool ok = set_nonce(ctx, nonce, p + len - AEAD_TAG_BYTES, false) &&
            EVP_DecryptUpdate(ctx, NULL, &outl, p, AEAD_HEADER_BYTES) == 1 &&
            (body == 0 || EVP_DecryptUpdate(ctx, p + AEAD_HEADER_BYTES, &outl, p + AEAD_HEADER_BYTES, body) == 1) &&
            EVP_DecryptFinal_ex(ctx, p + AEAD_HEADER_BYTES + body, &finl) == 1;
  if (!ok) {
    /* unauthenticated bytes never linger */
    memset(p + AEAD_HEADER_BYTES, 0, len - AEAD_HEADER_BYTES);
    ERR_clear_error();
  }
  return ok;
}

napi_value tsw_js_aead_seal_batch(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 5, argv);
  tsw_aead *a;
  uint8_t *buf;
  size_t buf_len, n_offs, n_lens;
  void *offs, *lens;
  int64_t count;
  if (!get_aead(env, argv[0], true, &a) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_typed(env, argv[2], napi_int32_array, "offsets", &offs, &n_offs) ||
      !tsw_arg_typed(env, argv[3], napi_int32_array, "lengths", &lens, &n_lens) ||
      !tsw_arg_int(env, argv[4], "count", 0, TSW_MAX_BATCH, &count) ||
      !tsw_check_batch(env, buf_len, offs, n_offs, lens, n_lens, count, AEAD_HEADER_BYTES, AEAD_TAG_BYTES))
    return NULL;
  const int32_t *o = offs;
  int32_t *l = lens;
  for (int64_t i = 0; i < count; i++) {
    if (!tsw_gcm_seal(a->ctx, a->salt, buf + o[i], (size_t)l[i])) return throw_openssl(env, "aeadSealBatch");
    l[i] += AEAD_TAG_BYTES;
  }
  return NULL;
}

napi_value tsw_js_aead_open_batch(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 6, argv);
  tsw_aead *a;
  uint8_t *buf, *status;
  size_t buf_len, n_offs, n_lens, n_status;
  void *offs, *lens;
  int64_t count;
  if (!get_aead(env, argv[0], false, &a) || !tsw_arg_bytes(env, argv[1], "buf", &buf, &buf_len) ||
      !tsw_arg_typed(env, argv[2], napi_int32_array, "offsets", &offs, &n_offs) ||
      !tsw_arg_typed(env, argv[3], napi_int32_array, "lengths", &lens, &n_lens) ||
      !tsw_arg_int(env, argv[4], "count", 0, TSW_MAX_BATCH, &count) ||
      !tsw_arg_bytes(env, argv[5], "status", &status, &n_status) ||
      !tsw_check_batch(env, buf_len, offs, n_offs, lens, n_lens, count, 0, 0))
    return NULL;
  if ((size_t)count > n_status)
    return tsw_throw_range(env, "count %lld exceeds status (%zu)", (long long)count, n_status);
  const int32_t *o = offs;
  int32_t *l = lens;
  int opened = 0;
  for (int64_t i = 0; i < count; i++) {
    status[i] = 0;
    if (l[i] < AEAD_HEADER_BYTES + AEAD_TAG_BYTES) continue;
    int ok = tsw_gcm_open(a->ctx, a->salt, buf + o[i], (size_t)l[i]);
    if (ok) {
      status[i] = 1;
      l[i] -= AEAD_TAG_BYTES;
      opened++;
    }
  }
  napi_value r;
  TSW_NAPI(env, napi_create_int32(env, opened, &r));
  return r;
}

napi_value tsw_js_aead_destroy(napi_env env, napi_callback_info info) {
  void *p = tsw_handle_arg(env, info, &AEAD_TAG);
  if (!p) return NULL;
  tsw_aead_box *box = (tsw_aead_box *)p;
  aead_free(box->a);
  box->a = NULL;
  return NULL;
}
