{
  "targets": [
    {
      "target_name": "tsweave_native",
      "sources": ["src/addon.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
