/*
 * common.h: shared Node-API helpers for the tsweave addon (argument checking, error throwing).
 *
 * Error contract (STYLE.md §2.5), used by every exported function:
 *   - a wrong argument          -> TypeError naming the argument ("fd must be a non-negative integer")
 *   - an offset/length outside  -> RangeError (code ERR_OUT_OF_RANGE) naming the array and index
 *     the caller's buffer
 *   - a syscall failure         -> Error whose `code` is the errno name ("EPERM"), `errno` is -errno,
 *                                  `syscall` the call, and the message "SYSCALL subject: strerror"
 *   - a failed napi_* call      -> Error (code ERR_NAPI) unless an exception is already pending
 * Helpers that validate return false after throwing; callers then return NULL to JS.
 */
#ifndef TSWEAVE_COMMON_H
#define TSWEAVE_COMMON_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest batch any single call accepts (the JS side uses 64). Bounds stack arrays in udp.c. */
#define TSW_MAX_BATCH 1024

/* Evaluate a napi_* call; on failure throw (unless pending) and return NULL from the binding. */
#define TSW_NAPI(env, call)                                                                         \
  do {                                                                                              \
    napi_status tsw_s_ = (call);                                                                    \
    if (tsw_s_ != napi_ok) {                                                                        \
      tsw_throw_status((env), tsw_s_, #call);                                                       \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

/* Same, for helpers returning bool. */
#define TSW_NAPI_B(env, call)                                                                       \
  do {                                                                                              \
    napi_status tsw_s_ = (call);                                                                    \
    if (tsw_s_ != napi_ok) {                                                                        \
      tsw_throw_status((env), tsw_s_, #call);                                                       \
      return false;                                                                                 \
    }                                                                                               \
  } while (0)

/* Fetch exactly `n` arguments (missing ones are `undefined`) and `this`. */
#define TSW_ARGS(env, info, n, argv)                                                                \
  napi_value argv[(n) > 0 ? (n) : 1];                                                               \
  do {                                                                                              \
    size_t tsw_argc_ = (n);                                                                         \
    TSW_NAPI((env), napi_get_cb_info((env), (info), &tsw_argc_, argv, NULL, NULL));                 \
    for (size_t tsw_i_ = tsw_argc_; tsw_i_ < (size_t)(n); tsw_i_++)                                 \
      TSW_NAPI((env), napi_get_undefined((env), &argv[tsw_i_]));                                    \
  } while (0)

void tsw_throw_status(napi_env env, napi_status status, const char *what);
/* Throws the errno error described above; always returns NULL. `subject` may be NULL. */
napi_value tsw_throw_errno(napi_env env, int err, const char *syscall, const char *subject);
napi_value tsw_throw_type(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
napi_value tsw_throw_range(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
napi_value tsw_throw_code(napi_env env, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *tsw_errno_name(int err);

/* A Buffer or Uint8Array. */
bool tsw_arg_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len);
/* A typed array of exactly the given type; *len is the element count. */
bool tsw_arg_typed(napi_env env, napi_value v, napi_typedarray_type type, const char *name, void **data,
                   size_t *len);
/* An integral number in [min, max]. */
bool tsw_arg_int(napi_env env, napi_value v, const char *name, int64_t min, int64_t max, int64_t *out);
bool tsw_arg_bool(napi_env env, napi_value v, const char *name, bool *out);
bool tsw_arg_function(napi_env env, napi_value v, const char *name);
/* A string of at most cap-1 bytes (UTF-8), NUL-terminated into buf. */
bool tsw_arg_string(napi_env env, napi_value v, const char *name, char *buf, size_t cap);
/* `undefined` or a Float64Array of at least `min_len` elements (accumulated stats). */
bool tsw_arg_stats(napi_env env, napi_value v, const char *name, size_t min_len, double **out);
/* An external created by this addon with the given type tag. */
bool tsw_arg_external(napi_env env, napi_value v, const napi_type_tag *tag, const char *name, void **out);
/* The handle that is a call's only argument (an external tagged `tag`); NULL with an exception set. */
static inline void *tsw_handle_arg(napi_env env, napi_callback_info info, const napi_type_tag *tag) {
  TSW_ARGS(env, info, 1, argv);
  void *p;
  return tsw_arg_external(env, argv[0], tag, "handle", &p) ? p : NULL;
}

/*
 * Checks a batch description: count <= TSW_MAX_BATCH, count <= offsets/lengths lengths, and for each i
 * 0 <= offsets[i], min_len <= lengths[i], offsets[i] + lengths[i] + extra <= buf_len.
 */
bool tsw_check_batch(napi_env env, size_t buf_len, const int32_t *offs, size_t n_offs, const int32_t *lens,
                     size_t n_lens, int64_t count, int64_t min_len, int64_t extra);

bool tsw_set_double(napi_env env, napi_value obj, const char *key, double v);
/* Calls the referenced function cb(n) from native code (globalThis as receiver: a non-object receiver
 * makes napi_make_callback fail). An exception it throws goes to process 'uncaughtException'.
 * Returns false if the call failed or threw. */
bool tsw_call_int(napi_env env, napi_async_context actx, napi_ref cb_ref, int n);
bool tsw_export(napi_env env, napi_value exports, const char *name, napi_callback fn);

#endif
