// Pool: a named set of backends behind one listener, published to the workers as immutable
// snapshots.
//
// Readers (the workers) never wait for a writer: they compare generation() with the snapshot they
// hold and copy the new one only when it changed (a pointer copy, SnapshotCell). Writers (the
// control plane) are serialized among themselves and replace the snapshot whole, so a connection
// already open keeps the backend it has, and the next connection accepted after a change returns
// sees the change.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "balance/algorithm.h"
#include "config/config.h"
#include "pool/change_feed.h"
#include "pool/pool_snapshot.h"
#include "pool/snapshot_cell.h"
#include "state/state_file.h"
#include "stats/counter.h"
#include "tls/client_context.h"

namespace plby::pool {

using config::kMaxBackendsPerPool;

// What a change is about to publish, for the last word before it is (Pool::Commit).
struct PoolContent {
  uint64_t version = 0;
  const std::vector<Backend>& backends;
  const BalanceSettings& balance;
  bool balance_set = false;  // the balance settings were set through the control service
};

// What the state file keeps of pool `name` with `content`: the backends, and the balance
// settings once the control service has set them.
state::PoolRecord SavedRecord(const std::string& name, const PoolContent& content);

struct PoolSettings {
  std::string name;
  BalanceSettings balance;  // how it starts balancing (UpdatePool changes it later)
  // `balance` was set through the control service (and comes from the state file).
  bool balance_set = false;
  absl::Duration connect_timeout = config::kDefaultConnectTimeout;
  absl::Duration idle_timeout = config::kDefaultIdleTimeout;
  config::HealthCheckConfig health;
  // Set: the backends come from DNS (DnsDiscovery), not from the control service.
  std::optional<config::DiscoverConfig> discover;
  config::ProxyProtocol send_proxy = config::ProxyProtocol::kNone;
  // [pool.tls]: copies 0..workers-1 are the workers', copy `workers` the health checker's.
  std::shared_ptr<const tls::ClientContext> tls;
  // HTTP mode: idle backend connections kept per backend per worker, and for how long.
  int64_t keepalive = config::kDefaultKeepalive;
  absl::Duration keepalive_timeout = config::kDefaultKeepaliveTimeout;
  int64_t retry_budget_percent = config::kDefaultRetryBudgetPercent;
};

// How a pool's DNS discovery went (pools with `discover` only).
struct DiscoveryStatus {
  uint64_t lookups = 0;
  uint64_t failures = 0;                  // lookups that got no answer (the set was kept)
  std::optional<absl::Time> last_answer;  // the last lookup that got an answer
  std::string last_error;                 // why the last lookup failed; empty: it did not
  size_t addresses = 0;                   // in the last answer
};

// What one worker counts about one pool's connections.
struct PoolCounters {
  stats::Counter accepted;  // clients accepted
  stats::Counter active;    // open now, whatever their backend (removed ones included)
};

class Pool {
 public:
  // Starts at `version` with `backends`. `changes`, when set, is told about every new snapshot.
  // `workers` is how many worker threads count this pool's connections.
  Pool(PoolSettings settings, std::vector<Backend> backends, ChangeFeed* changes = nullptr,
       int workers = 1, uint64_t version = 1);

  // The settings it started with; how it balances now is its snapshot's balance().
  const PoolSettings& settings() const { return settings_; }
  const std::string& name() const { return settings_.name; }
  int worker_count() const { return workers_; }

  // --- Reader side: any thread, never waiting for a writer. ---
  uint64_t version() const { return snapshot()->version(); }
  // Bumped by every new snapshot; workers compare it with theirs on each accept.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const PoolSnapshot> snapshot() const { return snapshot_.Load(); }
  // The next position in the balancing sequence, shared by all workers.
  uint64_t TakeTicket() { return next_ticket_.fetch_add(1, std::memory_order_relaxed); }

  // HTTP mode's retry budget (Envoy's idea): retries in flight may be at most
  // settings().retry_budget_percent of the requests in flight, and always at least
  // kMinRetryConcurrency, so that a struggling pool is not buried under retries. Node-wide: a
  // request in flight is counted once when it starts and once when it ends, never per byte.
  static constexpr int64_t kMinRetryConcurrency = 3;
  void StartRequest() { requests_in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void EndRequest() { requests_in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  // True (and the retry counted) when the budget has room for one more.
  bool TryStartRetry() {
    const int64_t budget =
        std::max(kMinRetryConcurrency, requests_in_flight_.load(std::memory_order_relaxed) *
                                           settings_.retry_budget_percent / 100);
    if (retries_in_flight_.fetch_add(1, std::memory_order_relaxed) >= budget) {
      retries_in_flight_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void EndRetry() { retries_in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  // --- Writer side: any thread; writers wait for each other, never for readers. ---

  // Edits a copy of the backend list; returns whether it changed anything, or an error.
  using Edit = absl::FunctionRef<absl::StatusOr<bool>(std::vector<Backend>& backends)>;

  // Last word before a change is published, given what it publishes: an error (the caller
  // went away, the change could not be made durable) leaves the pool as it was.
  using Commit = absl::FunctionRef<absl::Status(const PoolContent& content)>;

  // Applies `edit`, asks `commit`, and publishes the result as the next version. Nothing
  // changes when `expected_version` is set and the pool is at another version (ABORTED), when
  // `edit` or `commit` fails (their error is returned), or when the edit changed nothing (the
  // current snapshot is returned, and `commit` is not asked).
  absl::StatusOr<std::shared_ptr<const PoolSnapshot>> Update(
      std::optional<uint64_t> expected_version, Edit edit, Commit commit);

  // Sets how the pool balances, with the same rules as Update: nothing changes on a version
  // mismatch, a failed commit, or settings equal to the current ones (the current snapshot is
  // returned). A change bumps the version like a backend change, and is kept in the state
  // file from then on. `balance` must be valid (balance::Validate).
  absl::StatusOr<std::shared_ptr<const PoolSnapshot>> UpdateBalance(
      std::optional<uint64_t> expected_version, const BalanceSettings& balance, Commit commit);
  // Runs `fn` under the writer lock if the pool is at `version` (ABORTED otherwise, and `fn`
  // does not run): no change can come in between the check and `fn`.
  absl::Status AtVersion(uint64_t version, absl::FunctionRef<absl::Status()> fn);
  // Whether the balance settings were set through the control service.
  bool balance_set() const;

  // Replaces the backend list unconditionally and returns the new snapshot.
  std::shared_ptr<const PoolSnapshot> Publish(std::vector<Backend> backends);

  // Rebuilds the snapshot after backends' health changed, or as slow-start ramps go on: same
  // version, new generation.
  std::shared_ptr<const PoolSnapshot> RefreshHealth();

  // What became of an unresolved backend after another try at its name.
  struct Resolution {
    enum class Outcome {
      kGone,        // no longer in the pool (removed meanwhile), or resolved already
      kResolved,    // it has its address now and takes traffic
      kUnresolved,  // still none; `reason` says why
    };
    Outcome outcome = Outcome::kGone;
    std::string reason;
    bool reason_changed = false;  // kUnresolved: not the reason recorded before
  };
  // Records `address`, what the name of the unresolved backend `runtime` resolved to now (or
  // why it did not): an address another backend of the pool has already is refused, and the
  // backend stays unresolved, saying so. A change publishes a new snapshot with the same
  // version (a new generation), like a change of health.
  Resolution RecordResolution(const BackendRuntime* runtime,
                              const absl::StatusOr<net::SocketAddress>& address);

  PoolCounters& counters(int worker) { return counters_.worker(worker); }

  // DNS discovery's record of its lookups (the discovery thread writes, anyone reads).
  void RecordLookup(const absl::Status& outcome, size_t addresses);
  DiscoveryStatus discovery() const;
  uint64_t accepted_connections() const { return counters_.Sum(&PoolCounters::accepted); }
  uint64_t active_connections() const { return counters_.Sum(&PoolCounters::active); }

 private:
  // Under writer_mutex_: publishes `backends` as `version`.
  std::shared_ptr<const PoolSnapshot> PublishLocked(uint64_t version,
                                                    std::vector<Backend> backends);
  std::shared_ptr<const PoolSnapshot> PublishUnderPublishLock(uint64_t version,
                                                              std::vector<Backend> backends);
  // ABORTED when `expected` is set and not `current`.
  absl::Status CheckVersion(std::optional<uint64_t> expected, uint64_t current) const;
  PoolSnapshot::Inputs InputsFor(uint64_t version, uint64_t generation,
                                 const PoolSnapshot* previous) const;

  const PoolSettings settings_;
  ChangeFeed* const changes_;
  // How the next snapshot balances; written under both locks, read under either.
  BalanceSettings balance_;
  bool balance_set_;
  // Writers hold writer_mutex_ through edit, commit (which may fsync) and publish. Publishing
  // alone takes publish_mutex_, so a health refresh never waits for a writer's disk.
  std::mutex writer_mutex_;
  mutable std::mutex publish_mutex_;
  SnapshotCell<const PoolSnapshot> snapshot_;
  stats::PerWorker<PoolCounters> counters_;
  const int workers_;
  mutable std::mutex discovery_mutex_;
  DiscoveryStatus discovery_;  // guarded by discovery_mutex_
  // Apart from each other and from the snapshot: the generation is read on every accept, the
  // ticket written on every accept, and neither should drag the other's cache line around.
  alignas(64) std::atomic<uint64_t> generation_{1};
  alignas(64) std::atomic<uint64_t> next_ticket_{0};
  alignas(64) std::atomic<int64_t> requests_in_flight_{0};
  std::atomic<int64_t> retries_in_flight_{0};
};

}  // namespace plby::pool
