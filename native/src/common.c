/* common.c: see common.h for the error contract shared by all bindings. */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tsw_throw_status(napi_env env, napi_status status, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  const char *msg = NULL;
  if (napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message) msg = info->error_message;
  char buf[256];
  snprintf(buf, sizeof buf, "%s failed: %s (napi_status %d)", what, msg ? msg : "unknown", (int)status);
  napi_throw_error(env, "ERR_NAPI", buf);
}

const char *tsw_errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(err);
  if (n) return n;
#endif
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_with(napi_env env, const char *code, const char *msg, int err, const char *syscall) {
  napi_value vcode, vmsg, e;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &vcode) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &vmsg) != napi_ok ||
      napi_create_error(env, vcode, vmsg, &e) != napi_ok) {
    napi_throw_error(env, code, msg);
    return NULL;
  }
  if (syscall) {
    napi_value verr, vsys;
    if (napi_create_int32(env, -err, &verr) == napi_ok) napi_set_named_property(env, e, "errno", verr);
    if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &vsys) == napi_ok)
      napi_set_named_property(env, e, "syscall", vsys);
  }
  napi_throw(env, e);
  return NULL;
}

napi_value tsw_throw_errno(napi_env env, int err, const char *syscall, const char *subject) {
  char msg[320];
  if (subject && subject[0])
    snprintf(msg, sizeof msg, "%s %s: %s", syscall, subject, strerror(err));
  else
    snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  return throw_with(env, tsw_errno_name(err), msg, err, syscall);
}

/* The formatted throws differ only in how the error is raised. */
enum throw_kind { THROW_TYPE, THROW_RANGE, THROW_CODE };

static napi_value vthrow(napi_env env, enum throw_kind kind, const char *code, const char *fmt, va_list ap) {
  char msg[256];
  vsnprintf(msg, sizeof msg, fmt, ap);
  switch (kind) {
    case THROW_TYPE:
      napi_throw_type_error(env, code, msg);
      return NULL;
    case THROW_RANGE:
      napi_throw_range_error(env, code, msg);
      return NULL;
    default:
      return throw_with(env, code, msg, 0, NULL);
  }
}

napi_value tsw_throw_type(napi_env env, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  napi_value r = vthrow(env, THROW_TYPE, "ERR_INVALID_ARG_TYPE", fmt, ap);
  va_end(ap);
  return r;
}

napi_value tsw_throw_range(napi_env env, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  napi_value r = vthrow(env, THROW_RANGE, "ERR_OUT_OF_RANGE", fmt, ap);
  va_end(ap);
  return r;
}

napi_value tsw_throw_code(napi_env env, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  napi_value r = vthrow(env, THROW_CODE, code, fmt, ap);
  va_end(ap);
  return r;
}

bool tsw_arg_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
  bool is_ta = false;
  TSW_NAPI_B(env, napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) {
    tsw_throw_type(env, "%s must be a Buffer or Uint8Array", name);
    return false;
  }
  napi_typedarray_type type;
  size_t n;
  void *p;
  TSW_NAPI_B(env, napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL));
  if (type != napi_uint8_array) {
    tsw_throw_type(env, "%s must be a Buffer or Uint8Array", name);
    return false;
  }
  *data = (uint8_t *)p;
  *len = n;
  return true;
}

static const char *typed_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_float64_array: return "Float64Array";
    default: return "typed array";
  }
}

bool tsw_arg_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *name, void **data,
                   size_t *len) {
  bool is_ta = false;
  TSW_NAPI_B(env, napi_is_typedarray(env, v, &is_ta));
  napi_typedarray_type type = napi_int8_array;
  size_t n = 0;
  void *p = NULL;
  if (is_ta) TSW_NAPI_B(env, napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL));
  if (!is_ta || type != want) {
    tsw_throw_type(env, "%s must be an %s", name, typed_name(want));
    return false;
  }
  *data = p;
  *len = n;
  return true;
}

bool tsw_arg_int(napi_env env, napi_value v, const char *name, int64_t min, int64_t max, int64_t *out) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  double d = 0;
  if (t == napi_number) TSW_NAPI_B(env, napi_get_value_double(env, v, &d));
  if (t != napi_number || d != d || d != (double)(int64_t)d) {
    tsw_throw_type(env, "%s must be an integer", name);
    return false;
  }
  if (d < (double)min || d > (double)max) {
    tsw_throw_range(env, "%s must be in %lld..%lld, got %.0f", name, (long long)min, (long long)max, d);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool tsw_arg_bool(napi_env env, napi_value v, const char *name, bool *out) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  if (t != napi_boolean) {
    tsw_throw_type(env, "%s must be a boolean", name);
    return false;
  }
  TSW_NAPI_B(env, napi_get_value_bool(env, v, out));
  return true;
}

bool tsw_arg_function(napi_env env, napi_value v, const char *name) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  if (t != napi_function) {
    tsw_throw_type(env, "%s must be a function", name);
    return false;
  }
  return true;
}

bool tsw_arg_string(napi_env env, napi_value v, const char *name, char *buf, size_t cap) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  if (t != napi_string) {
    tsw_throw_type(env, "%s must be a string", name);
    return false;
  }
  size_t need = 0;
  TSW_NAPI_B(env, napi_get_value_string_utf8(env, v, NULL, 0, &need));
  if (need == 0 || need >= cap) {
    tsw_throw_range(env, "%s must be 1..%zu bytes, got %zu", name, cap - 1, need);
    return false;
  }
  size_t got = 0;
  TSW_NAPI_B(env, napi_get_value_string_utf8(env, v, buf, cap, &got));
  if (strlen(buf) != got) {
    tsw_throw_type(env, "%s must not contain NUL characters", name);
    return false;
  }
  return true;
}

bool tsw_arg_stats(napi_env env, napi_value v, const char *name, size_t min_len, double **out) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  if (t == napi_undefined) {
    *out = NULL;
    return true;
  }
  void *p;
  size_t n;
  if (!tsw_arg_typed(env, v, napi_float64_array, name, &p, &n)) return false;
  if (n < min_len) {
    tsw_throw_range(env, "%s must have at least %zu elements, got %zu", name, min_len, n);
    return false;
  }
  *out = (double *)p;
  return true;
}

bool tsw_arg_external(napi_env env, napi_value v, const napi_type_tag *tag, const char *name, void **out) {
  napi_valuetype t;
  TSW_NAPI_B(env, napi_typeof(env, v, &t));
  bool ok = false;
  if (t == napi_external) TSW_NAPI_B(env, napi_check_object_type_tag(env, v, tag, &ok));
  if (!ok) {
    tsw_throw_type(env, "%s must be a handle returned by this addon", name);
    return false;
  }
  TSW_NAPI_B(env, napi_get_value_external(env, v, out));
  if (*out == NULL) {
    tsw_throw_code(env, "ERR_INVALID_STATE", "%s was already destroyed", name);
    return false;
  }
  return true;
}

bool tsw_check_batch(napi_env env, size_t buf_len, const int32_t *offs, size_t n_offs, const int32_t *lens,
                     size_t n_lens, int64_t count, int64_t min_len, int64_t extra) {
  if (count > TSW_MAX_BATCH) {
    tsw_throw_range(env, "count must be at most %d, got %lld", TSW_MAX_BATCH, (long long)count);
    return false;
  }
  if ((size_t)count > n_offs || (size_t)count > n_lens) {
    tsw_throw_range(env, "count %lld exceeds offsets (%zu) or lengths (%zu)", (long long)count, n_offs, n_lens);
    return false;
  }
  for (int64_t i = 0; i < count; i++) {
    int64_t o = offs[i], l = lens[i];
    if (l < min_len) {
      tsw_throw_range(env, "packet %lld length %lld is below the minimum %lld", (long long)i, (long long)l,
                      (long long)min_len);
      return false;
    }
    if (o < 0 || o + l + extra > (int64_t)buf_len) {
      tsw_throw_range(env, "packet %lld (offset %lld, length %lld%s) does not fit buf of %zu bytes", (long long)i,
                      (long long)o, (long long)l, extra ? " + tag" : "", buf_len);
      return false;
    }
  }
  return true;
}

bool tsw_set_double(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  TSW_NAPI_B(env, napi_create_double(env, v, &n));
  TSW_NAPI_B(env, napi_set_named_property(env, obj, key, n));
  return true;
}

bool tsw_export(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  TSW_NAPI_B(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f));
  TSW_NAPI_B(env, napi_set_named_property(env, exports, name, f));
  return true;
}

bool tsw_call_int(napi_env env, napi_async_context actx, napi_ref cb_ref, int n) {
  napi_handle_scope scope;
  if (!cb_ref || napi_open_handle_scope(env, &scope) != napi_ok) return false;
  bool ok = false;
  napi_value cb, global, arg, result;
  if (napi_get_reference_value(env, cb_ref, &cb) == napi_ok && cb && napi_get_global(env, &global) == napi_ok &&
      napi_create_int32(env, n, &arg) == napi_ok) {
    ok = napi_make_callback(env, actx, global, cb, 1, &arg, &result) == napi_ok;
    if (!ok) {
      bool pending = false;
      napi_value exc;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &exc) == napi_ok)
        napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
  return ok;
}
