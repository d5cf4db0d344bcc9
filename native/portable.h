// What differs between the native addon's targets (linux-x64, linux-arm64, win32-x64 with MinGW-w64, macOS with
// clang), kept here so that the kernel's source stays one: the ISA attribute of the vector code, the spin-wait
// hint, the CPU check and the aligned allocation. The vector code itself (GCC/Clang vector extensions,
// RNN_VBYTES bytes a register) compiles for every target as it is.
#pragma once
#include <cstdlib>

// (The WebAssembly builds take only RNN_TARGET_VECTOR from here: native/wasm_pool.h is their pool.)

// The vector code's ISA: AVX2 + FMA on x86-64, switched on for the kernel's code only so that the rest of the
// addon loads on any x86-64 CPU and says `supported: false`. Nothing on arm64: NEON and its fused multiply-add
// are the baseline there. (The WebAssembly builds never switch ISA: clang ignores the GCC pragma.)
#if defined(__x86_64__) && !defined(__wasm__)
#define RNN_TARGET_VECTOR _Pragma("GCC target(\"avx2,fma\")")
#else
#define RNN_TARGET_VECTOR
#endif

#ifndef __wasm__
namespace {

// The hint inside a spin-wait loop.
inline void rnn_cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Whether this CPU has what every build for it needs: AVX2 and FMA on x86-64 (the AVX-512 build needs
// `rnn_cpu_has_avx512` too); every arm64 CPU has NEON.
inline bool rnn_cpu_has_vector() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}
inline bool rnn_cpu_has_avx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

// The build's name, as the addon reports it (`isa`).
#if defined(__x86_64__)
#define RNN_ISA (RNN_VBYTES == 64 ? "avx512" : "avx2")
#elif defined(__aarch64__)
#define RNN_ISA "neon"
#else
#define RNN_ISA "generic"
#endif

// Memory that std::free releases, 64-byte aligned. Windows has no aligned_alloc, and its _aligned_malloc needs
// _aligned_free: there the win32 build takes malloc's 16-byte alignment and is assembled with
// -muse-unaligned-vector-move (scripts/build-prebuilds.sh), so that no vector move needs more (this also covers
// MinGW's 16-byte stack alignment, GCC bug 54412).
inline void* rnn_aligned_alloc(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
#if defined(_WIN32)
  return std::malloc(bytes > 0 ? bytes : 64);
#elif defined(__APPLE__)
  void* p = nullptr;  // aligned_alloc needs macOS 10.15; posix_memalign is older
  return posix_memalign(&p, 64, bytes > 0 ? bytes : 64) == 0 ? p : nullptr;
#else
  return std::aligned_alloc(64, bytes > 0 ? bytes : 64);
#endif
}

}  // namespace
#endif
