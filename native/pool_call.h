// The call word that both pools post (pool.h for Node.js, wasm_pool.h for WebAssembly), and a worker's way of
// joining it: generation << 32 | wanted threads << 17 | CLOSED | workers that joined (bits 0-15). CLOSED is set
// by the caller when its own part is done; a worker joins by adding 1 while it is clear, so a worker that comes
// late never touches a call the others have finished.
#pragma once
#include <stdint.h>

#include <atomic>

constexpr uint64_t CLOSED = 1 << 16;

// The threads a posted call wants.
inline int call_threads(uint64_t w) { return (int)(w >> 17 & 0x7fff); }

// A worker's turn at the call in w (of generation `seen`): it joins while the call is open and wants thread tid,
// runs its part and says it is done; a newer call is left for the worker's next wait.
template <class P>
void join_call(P& pool, uint64_t w, uint64_t seen, int tid) {
  while ((w >> 32) == seen && !(w & CLOSED) && tid < call_threads(w)) {
    if (pool.state.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) {
      pool.job(pool.ctx, tid, call_threads(w));
      pool.finished.fetch_add(1, std::memory_order_release);
      return;
    }
  }
}
