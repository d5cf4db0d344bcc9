{
  "targets": [
    {
      "target_name": "stacked_rnn",
      "sources": ["addon.cc"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++17", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-pthread", "-Wno-psabi"],
      "ldflags": ["-pthread"]
    },
    {
      "target_name": "stacked_rnn_avx512",
      "sources": ["addon.cc"],
      "defines": ["RNN_VBYTES=64"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++17", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-pthread", "-Wno-psabi",
                    "-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw"],
      "ldflags": ["-pthread"]
    }
  ]
}
