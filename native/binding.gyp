{
  "targets": [
    {
      "target_name": "stacked_rnn",
      "sources": ["addon.cc"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++17", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-pthread", "-Wno-psabi"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-std=gnu++17", "-O3", "-ffp-contract=fast", "-fno-math-errno"],
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
      },
      "conditions": [
        ["target_arch=='arm64'", { "defines": ["RNN_VBYTES=16"] }],
        ["OS=='mac' and target_arch=='x64'", { "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma"] } }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "stacked_rnn_avx512",
          "sources": ["addon.cc"],
          "defines": ["RNN_VBYTES=64"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["-std=gnu++17", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-pthread", "-Wno-psabi",
                        "-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw"],
          "ldflags": ["-pthread"],
          "xcode_settings": {
            "OTHER_CPLUSPLUSFLAGS": ["-std=gnu++17", "-O3", "-ffp-contract=fast", "-fno-math-errno",
                                     "-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw"],
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
          }
        }
      ]
    }]
  ]
}
