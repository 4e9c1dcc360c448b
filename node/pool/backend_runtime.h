// BackendRuntime: what changes about a backend while it serves, shared by every snapshot that
// lists it: its health, the forwarder's recent failures with it, a deadline for its connections
// once drained, and connection counters (one block per worker, summed when someone asks).
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

// "healthy", "unhealthy" or "unknown": for metrics and the status page.
constexpr const char* HealthName(Health health) {
  switch (health) {
    case Health::kHealthy:
      return "healthy";
    case Health::kUnhealthy:
      return "unhealthy";
    case Health::kUnknown:
      break;
  }
  return "unknown";
}

class BackendRuntime {
 public:
  struct WorkerCounters {
    stats::Counter active;            // connections open now
    stats::Counter total;             // connections established
    stats::Counter connect_failures;  // connects refused, timed out or failed
    stats::Counter bytes_sent;        // relayed from clients to the backend
    stats::Counter bytes_received;    // relayed from the backend to clients
  };

  explicit BackendRuntime(int workers) : counters_(workers) {}

  // Only worker `index`'s thread writes to its block.
  WorkerCounters& worker(int index) { return counters_.worker(index); }

  uint64_t active() const { return counters_.Sum(&WorkerCounters::active); }
  uint64_t total() const { return counters_.Sum(&WorkerCounters::total); }
  uint64_t connect_failures() const { return counters_.Sum(&WorkerCounters::connect_failures); }
  uint64_t bytes_sent() const { return counters_.Sum(&WorkerCounters::bytes_sent); }
  uint64_t bytes_received() const { return counters_.Sum(&WorkerCounters::bytes_received); }

  // Set by the health checker; read when snapshots are built and listed.
  Health health() const { return health_.load(std::memory_order_relaxed); }
  void set_health(Health health) { health_.store(health, std::memory_order_relaxed); }

  // Bad outcomes in a row seen by the forwarder (connect failures, resets); any worker may add,
  // a clean end resets. Written only on those paths, never per byte.
  uint32_t AddPassiveFailure() { return passive_failures_.fetch_add(1) + 1; }
  void ClearPassiveFailures() {
    if (passive_failures_.load(std::memory_order_relaxed) != 0) {
      passive_failures_.store(0, std::memory_order_relaxed);
    }
  }

  // Connections being made or open to this backend, over all workers: what load-aware
  // algorithms compare. Changed once when a connect starts and once when the connection (or
  // the attempt) ends, never per read or write.
  const std::atomic<int64_t>& load() const { return load_; }
  void AddLoad() { load_.fetch_add(1, std::memory_order_relaxed); }
  void RemoveLoad() { load_.fetch_sub(1, std::memory_order_relaxed); }

  // When (monotonic ms) its latest slow-start ramp began; 0: never. Written by the snapshot
  // that first lets it take connections again (under its pool's publish lock).
  int64_t ramp_start_ms() const { return ramp_start_ms_.load(std::memory_order_relaxed); }
  void set_ramp_start_ms(int64_t start) { ramp_start_ms_.store(start, std::memory_order_relaxed); }

  // Connections to this backend are closed after this monotonic time (ms) once it is drained
  // or removed with a drain timeout; 0: never.
  int64_t close_deadline_ms() const { return close_deadline_ms_.load(std::memory_order_relaxed); }
  void set_close_deadline_ms(int64_t deadline) {
    close_deadline_ms_.store(deadline, std::memory_order_relaxed);
  }

 private:
  stats::PerWorker<WorkerCounters> counters_;
  std::atomic<Health> health_{Health::kUnknown};
  std::atomic<uint32_t> passive_failures_{0};
  std::atomic<int64_t> close_deadline_ms_{0};
  std::atomic<int64_t> ramp_start_ms_{0};
  // Written by every worker: on a cache line of its own, away from the fields read per pick.
  alignas(64) std::atomic<int64_t> load_{0};
};

}  // namespace plby::pool
