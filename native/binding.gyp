{
  "targets": [
    {
      "target_name": "stacked_rnn",
      "sources": ["addon.cc"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++17", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-pthread", "-Wno-psabi"],
      "ldflags": ["-pthread"]
    }
  ]
}
