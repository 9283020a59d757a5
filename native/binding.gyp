{
  "targets": [
    {
      "target_name": "tsweave_native",
      "sources": [
        "src/addon.c",
        "src/common.c",
        "src/reader.c",
        "src/tap.c",
        "src/udp.c",
        "src/udp_steer.c",
        "src/aead.c",
        "src/offload.c",
        "src/mactable.c",
        "src/fastpath.c",
        "src/fastpath_egress.c",
        "src/fastpath_ingress.c",
        "src/fastpath_unified.c",
        "src/fastpath_js.c",
        "src/fastpath_tables_js.c",
        "src/fastpath_relay.c",
        "src/fastpath_relay_js.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-O3"],
      "cflags_c": ["-std=gnu11"],
      "libraries": ["-lpthread"]
    }
  ]
}
