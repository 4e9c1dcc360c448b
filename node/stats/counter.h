// Counter: a statistic written by one thread (its worker) and read by any other.
//
// Relaxed load-then-store instead of fetch_add: with a single writer no increment is lost, and
// it compiles to plain moves instead of a locked instruction on the data path.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace plby::stats {

class Counter {
 public:
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Subtract(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// One block of counters per worker, each on its own cache lines, summed when read: workers
// never write where another worker writes.
template <typename Counters>
class PerWorker {
 public:
  explicit PerWorker(int workers)
      : workers_(workers), blocks_(std::make_unique<Block[]>(workers)) {}

  // Only worker `index`'s thread writes to its block.
  Counters& worker(int index) { return blocks_[index].counters; }
  // For readers, which only Get().
  const Counters& worker(int index) const { return blocks_[index].counters; }

  uint64_t Sum(Counter Counters::*counter) const {
    uint64_t sum = 0;
    for (int i = 0; i < workers_; ++i) sum += (blocks_[i].counters.*counter).Get();
    return sum;
  }

 private:
  struct alignas(64) Block {
    Counters counters;
  };
  int workers_;
  std::unique_ptr<Block[]> blocks_;
};

// What one worker counts about the connections it accepts.
struct WorkerStats {
  Counter accepted;          // client connections accepted
  Counter active;            // connections open now
  Counter connect_failures;  // backend connects that were refused, timed out or failed
  Counter no_backend;        // clients closed because no backend could be reached
  Counter accept_errors;     // accept(2) failures other than "nothing to accept"
  Counter resource_errors;   // clients closed for lack of descriptors, memory or local ports
  Counter idle_timeouts;     // connections closed after their pool's idle timeout
  Counter drain_closes;      // connections closed when their backend's drain timeout passed
  Counter idle_evictions;    // idle HTTP clients closed to make room for a new client
};

// WorkerStats summed over the workers, as plain numbers (for the control service and metrics).
struct WorkerTotals {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t connect_failures = 0;
  uint64_t no_backend = 0;
  uint64_t accept_errors = 0;
  uint64_t resource_errors = 0;
  uint64_t idle_timeouts = 0;
  uint64_t drain_closes = 0;
  uint64_t idle_evictions = 0;

  void Add(const WorkerStats& stats) {
    accepted += stats.accepted.Get();
    active += stats.active.Get();
    connect_failures += stats.connect_failures.Get();
    no_backend += stats.no_backend.Get();
    accept_errors += stats.accept_errors.Get();
    resource_errors += stats.resource_errors.Get();
    idle_timeouts += stats.idle_timeouts.Get();
    drain_closes += stats.drain_closes.Get();
    idle_evictions += stats.idle_evictions.Get();
  }
};

}  // namespace plby::stats
