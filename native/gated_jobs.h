// How native/addon.cc shares the fused LSTM and GRU recurrences (native/gated.h, gated_backward.h) between its
// threads: with jobs.h's schedule for the RNN's recurrence (run_steps), which it takes as it is. A batch of 12 rows
// or more is split into blocks of rows, each run through every step by one thread; fewer rows split each
// (sub)step's units (forward) or panels of dh (backward) between the threads, a substep starting once every part
// of the one before is done. Part of addon.cc's one translation unit, after jobs.h.
#pragma once

#include <atomic>

#include "jobs.h"

namespace {

#pragma GCC push_options
#pragma GCC target("avx2,fma")
// A GatedForward or GatedBackward on the pool: Steps has L, N, S() substeps per step, panels() parts per substep
// and substep(s, p0, p1, m0, m1).
template <class Steps>
struct GatedJob {
  const Steps* steps;
  StepSlot slot[2];
  std::atomic<int> completed{0};
  RowBlocks rows;
};

template <class Steps>
void gated_job(void* c, int tid, int nt) {
  GatedJob<Steps>& j = *static_cast<GatedJob<Steps>*>(c);
  const Steps& st = *j.steps;
  run_steps(j.slot, j.completed, j.rows, st.L * st.S(), st.N, st.panels(), tid, nt,
            [&](int s, int p0, int p1, int m0, int m1) { st.substep(s, p0, p1, m0, m1); });
}
#pragma GCC pop_options

// How the threads share the steps of N rows: 0 not at all (one thread), 1 by blocks of rows, 2 by the parts of each
// substep (`panels` of them). By a step's multiply-adds (G*H*P per row, and H*P more with a projection): blocks of
// rows from 2^19 on, as the RNN's recurrence (step_shared), since nothing crosses between the cores from one step
// to the next; the parts of a step only from 2^21 on (above about 100 us a step), since the threads meet after each
// substep, and every meeting costs a round trip between the cores, or a whole time slice when the host has taken
// the other thread's core away (E's LSTM, 2^19 a step, took 6x longer split by columns on a busy machine).
inline int gated_split(int64_t N, int G, int64_t H, int64_t P, bool projection, int panels) {
  const double work = (double)N * H * P * (G + (projection ? 1 : 0));
  if (pool.threads < 2) return 0;
  if (row_block_count((int)N) > 0) return work >= (1 << 19) ? 1 : 0;
  return panels >= 2 && work >= (1 << 21) ? 2 : 0;
}

// Runs every substep of `steps` on this thread, or on the pool's threads when a step is big enough to share.
template <class Steps>
void run_gated(const Steps& steps) {
  GatedJob<Steps> job;
  job.steps = &steps;
  init_slots(job.slot, steps.panels());
  job.rows.count = row_block_count(steps.N);
  run(gated_job<Steps>, &job, gated_split(steps.N, steps.G, steps.H, steps.P, steps.Bpr != nullptr, steps.panels()) > 0);
}

}  // namespace
