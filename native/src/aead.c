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
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
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

EVP_CIPHER_CTX *tsw_gcm_new(const uint8_t *key, bool for_seal) {
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

bool tsw_gcm_seal(EVP_CIPHER_CTX *ctx, const uint8_t *salt, uint8_t *p, size_t len) {
  uint8_t nonce[AEAD_NONCE_BYTES];
  int body = (int)len - AEAD_HEADER_BYTES, outl = 0, finl = 0;
  make_nonce(salt, p, nonce);
  return EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) == 1 &&
         EVP_EncryptUpdate(ctx, NULL, &outl, p, AEAD_HEADER_BYTES) == 1 &&
         (body <= 0 || EVP_EncryptUpdate(ctx, p + AEAD_HEADER_BYTES, &outl, p + AEAD_HEADER_BYTES, body) == 1) &&
         EVP_EncryptFinal_ex(ctx, p + len, &finl) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_BYTES, p + len) == 1;
}

bool tsw_gcm_open(EVP_CIPHER_CTX *ctx, const uint8_t *salt, uint8_t *p, size_t len) {
  if (len < AEAD_HEADER_BYTES + AEAD_TAG_BYTES) return false;
  uint8_t nonce[AEAD_NONCE_BYTES];
  int body = (int)(len - AEAD_HEADER_BYTES - AEAD_TAG_BYTES), outl = 0, finl = 0;
  make_nonce(salt, p, nonce);
  bool ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) == 1 &&
            EVP_DecryptUpdate(ctx, NULL, &outl, p, AEAD_HEADER_BYTES) == 1 &&
            (body == 0 || EVP_DecryptUpdate(ctx, p + AEAD_HEADER_BYTES, &outl, p + AEAD_HEADER_BYTES, body) == 1) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_BYTES, p + len - AEAD_TAG_BYTES) == 1 &&
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
