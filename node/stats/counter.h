// Counter: a statistic written by one thread (its worker) and read by any other.
//
// Relaxed load-then-store instead of fetch_add: with a single writer no increment is lost, and
// it compiles to plain moves instead of a locked instruction on the data path.
#pragma once

#include <atomic>
#include <cstdint>

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

// What one worker counts about the connections it accepts.
struct WorkerStats {
  Counter accepted;          // client connections accepted
  Counter active;            // connections open now
  Counter connect_failures;  // backend connects that were refused, timed out or failed
  Counter no_backend;        // clients closed because no backend could be reached
  Counter accept_errors;     // accept(2) failures other than "nothing to accept"
  Counter resource_errors;   // clients closed for lack of descriptors, memory or local ports
};

}  // namespace plby::stats
