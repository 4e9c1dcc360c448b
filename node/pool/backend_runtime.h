// BackendRuntime: what changes about a backend while it serves, shared by every snapshot that
// lists it: connection counters, one block per worker so that workers never write the same
// cache line, summed when someone asks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "stats/counter.h"

namespace plby::pool {

enum class Health {
  kUnknown,  // not checked (yet)
  kHealthy,
  kUnhealthy,
};

class BackendRuntime {
 public:
  struct alignas(64) WorkerCounters {
    stats::Counter active;            // connections open now
    stats::Counter total;             // connections established
    stats::Counter connect_failures;  // connects refused, timed out or failed
  };

  explicit BackendRuntime(int workers)
      : workers_(workers), counters_(std::make_unique<WorkerCounters[]>(workers)) {}

  // Only worker `index`'s thread writes to its block.
  WorkerCounters& worker(int index) { return counters_[index]; }

  uint64_t active() const { return Sum(&WorkerCounters::active); }
  uint64_t total() const { return Sum(&WorkerCounters::total); }
  uint64_t connect_failures() const { return Sum(&WorkerCounters::connect_failures); }

  Health health() const { return health_.load(std::memory_order_relaxed); }

 private:
  uint64_t Sum(stats::Counter WorkerCounters::*counter) const {
    uint64_t sum = 0;
    for (int i = 0; i < workers_; ++i) sum += (counters_[i].*counter).Get();
    return sum;
  }

  const int workers_;
  std::unique_ptr<WorkerCounters[]> counters_;
  std::atomic<Health> health_{Health::kUnknown};
};

}  // namespace plby::pool
