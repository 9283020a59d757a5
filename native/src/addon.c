/*
 * addon.c: module init for `tsweave_native` (Node-API only, NAPI_VERSION 8).
 *
 * Exports (each documented at the top of its file; typed in src/io/native.ts):
 *   abiVersion: number            bumped on any incompatible change to the functions below
 *   tapOpen, tapReaderStart, tapWriteFrames, tapWriteFrame, tapClose        (tap.c)
 *   udpOpen, udpReaderStart, udpSendBatch, udpSend, udpClose                (udp.c)
 *   udpSteerLanes                                                          (udp_steer.c)
 *   readerStop, readerStats                                                 (reader.c)
 *   aeadCreate, aeadSealBatch, aeadOpenBatch, aeadDestroy                   (aead.c)
 *   errnoName(errno: number) -> string  ("EPERM"), for messages about cb(-errno)
 */
#include "common.h"
#include "reader.h"

#define TSW_ABI_VERSION 11

napi_value tsw_js_tap_open(napi_env env, napi_callback_info info);
napi_value tsw_js_tap_reader_start(napi_env env, napi_callback_info info);
napi_value tsw_js_tap_write_frames(napi_env env, napi_callback_info info);
napi_value tsw_js_tap_write_frame(napi_env env, napi_callback_info info);
napi_value tsw_js_fd_close(napi_env env, napi_callback_info info);
napi_value tsw_js_udp_open(napi_env env, napi_callback_info info);
napi_value tsw_js_udp_reader_start(napi_env env, napi_callback_info info);
napi_value tsw_js_udp_send_batch(napi_env env, napi_callback_info info);
napi_value tsw_js_udp_send(napi_env env, napi_callback_info info);
napi_value tsw_js_udp_steer_lanes(napi_env env, napi_callback_info info);
napi_value tsw_js_aead_create(napi_env env, napi_callback_info info);
napi_value tsw_js_aead_seal_batch(napi_env env, napi_callback_info info);
napi_value tsw_js_aead_open_batch(napi_env env, napi_callback_info info);
napi_value tsw_js_aead_destroy(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_start(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_stop(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_add_session(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_remove_session(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_set_eligible(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_next_counter(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_learn(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_set_recv_key(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_set_send_key(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_stats(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_session_stats(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_set_routes(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_broadcast_duplicate(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_set_broadcast_start(napi_env env, napi_callback_info info);
napi_value tsw_js_fastpath_next_broadcast(napi_env env, napi_callback_info info);

static napi_value js_errno_name(napi_env env, napi_callback_info info) {
  TSW_ARGS(env, info, 1, argv);
  int64_t e;
  if (!tsw_arg_int(env, argv[0], "errno", -4095, 4095, &e)) return NULL;
  napi_value s;
  TSW_NAPI(env, napi_create_string_utf8(env, tsw_errno_name((int)(e < 0 ? -e : e)), NAPI_AUTO_LENGTH, &s));
  return s;
}

static napi_value Init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"tapOpen", tsw_js_tap_open},
      {"tapReaderStart", tsw_js_tap_reader_start},
      {"tapWriteFrames", tsw_js_tap_write_frames},
      {"tapWriteFrame", tsw_js_tap_write_frame},
      {"tapClose", tsw_js_fd_close},
      {"udpOpen", tsw_js_udp_open},
      {"udpReaderStart", tsw_js_udp_reader_start},
      {"udpSendBatch", tsw_js_udp_send_batch},
      {"udpSend", tsw_js_udp_send},
      {"udpSteerLanes", tsw_js_udp_steer_lanes},
      {"udpClose", tsw_js_fd_close},
      {"readerStop", tsw_js_reader_stop},
      {"readerStats", tsw_js_reader_stats},
      {"aeadCreate", tsw_js_aead_create},
      {"aeadSealBatch", tsw_js_aead_seal_batch},
      {"aeadOpenBatch", tsw_js_aead_open_batch},
      {"aeadDestroy", tsw_js_aead_destroy},
      {"fastpathStart", tsw_js_fastpath_start},
      {"fastpathStop", tsw_js_fastpath_stop},
      {"fastpathAddSession", tsw_js_fastpath_add_session},
      {"fastpathRemoveSession", tsw_js_fastpath_remove_session},
      {"fastpathSetEligible", tsw_js_fastpath_set_eligible},
      {"fastpathNextCounter", tsw_js_fastpath_next_counter},
      {"fastpathLearn", tsw_js_fastpath_learn},
      {"fastpathSetRecvKey", tsw_js_fastpath_set_recv_key},
      {"fastpathSetSendKey", tsw_js_fastpath_set_send_key},
      {"fastpathStats", tsw_js_fastpath_stats},
      {"fastpathSessionStats", tsw_js_fastpath_session_stats},
      {"fastpathSetRoutes", tsw_js_fastpath_set_routes},
      {"fastpathBroadcastDuplicate", tsw_js_fastpath_broadcast_duplicate},
      {"fastpathSetBroadcastStart", tsw_js_fastpath_set_broadcast_start},
      {"fastpathNextBroadcast", tsw_js_fastpath_next_broadcast},
      {"errnoName", js_errno_name},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!tsw_export(env, exports, fns[i].name, fns[i].fn)) return NULL;
  napi_value abi;
  TSW_NAPI(env, napi_create_int32(env, TSW_ABI_VERSION, &abi));
  TSW_NAPI(env, napi_set_named_property(env, exports, "abiVersion", abi));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
