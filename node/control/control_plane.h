// ControlPlane: what the control service can read and change on a node, as plain C++: the gRPC
// handlers translate to and from it, and the rules live (and are tested) here.
//
// Every change goes through Pool::Update, so it is checked against the expected version and
// applied whole or not at all. Errors are absl::Status values whose codes are gRPC's and whose
// messages name the offending value and what would be valid.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "balance/algorithm.h"
#include "control/audit_log.h"
#include "net/own_listeners.h"
#include "net/socket_address.h"
#include "pool/backend_runtime.h"
#include "pool/pool_registry.h"
#include "pool/snapshot_cell.h"
#include "state/state_file.h"
#include "stats/counter.h"
#include "stats/listener_stats.h"

namespace plby::control {

using pool::kMaxBackendsPerPool;

struct BackendStatus {
  std::string address;
  int64_t weight = 1;
  bool draining = false;
  pool::Health health = pool::Health::kUnknown;
  std::string unresolved;  // why its name gives no usable address now; empty when it does
  uint64_t active_connections = 0;
  uint64_t total_connections = 0;
  uint64_t connect_failures = 0;
  uint64_t bytes_sent = 0;      // from clients to the backend
  uint64_t bytes_received = 0;  // from the backend to clients
  double current_weight = 1;    // below `weight` while slow start ramps it up
  uint64_t table_entries = 0;   // maglev: its entries in the lookup table
};

// What a backend's health shows as in lists, metrics and the status page: "unresolved" while
// it has no address, else its checked health ("healthy", "unhealthy", "unknown").
inline const char* ShownHealth(const BackendStatus& backend) {
  return backend.unresolved.empty() ? pool::HealthName(backend.health) : "unresolved";
}

struct PoolState {
  std::string pool;
  uint64_t version = 0;
  balance::Algorithm algorithm = balance::Algorithm::kWeightedRoundRobin;
  std::vector<std::string> listeners;  // the bound addresses of the servers that use it
  std::vector<BackendStatus> backends;
};

// A pool that takes its backends from DNS: the name, how often, and how the lookups went.
struct DiscoverySummary {
  std::string dns;  // NAME:PORT
  absl::Duration every;
  pool::DiscoveryStatus status;
};

struct PoolSummary {
  std::string name;
  std::vector<std::string> listeners;  // bound addresses of the servers that use it
  pool::BalanceSettings balance;
  uint64_t version = 0;
  size_t backend_count = 0;
  uint64_t active_connections = 0;
  std::optional<DiscoverySummary> discovery;  // set: `discover` (its backends come from DNS)
};

// What the node was last synced to: the content hash of the file of desired pools that an apply
// recorded last, since the node started.
struct SyncMark {
  std::string content_hash;  // "sha256:<64 hex digits>"
  std::string source;        // the file's name, as the applier gave it
  absl::Time at;
  std::string by;  // the caller's certificate subject under mTLS, else its peer
};

struct MarkSyncedArgs {
  std::string content_hash;
  std::string source;
  // Each pool the file names and the version the applier left it at.
  std::map<std::string, uint64_t> pool_versions;
  Caller caller = {};
};

struct NodeStatus {
  std::string version;
  absl::Duration uptime;
  int workers = 0;
  uint64_t accepted_connections = 0;
  uint64_t active_connections = 0;
  stats::WorkerTotals counters;                  // everything the workers count, summed
  std::vector<stats::ListenerTotals> listeners;  // inspection and routing, per listener
  std::vector<PoolSummary> pools;
  AuditCounts control;  // changes made and refused through the control service
  int open_watches = 0;
  std::optional<SyncMark> sync;  // none: no apply since the node started
  bool ready_after_sync = false;
};

// The result of a change: the pool's version after it, and the backend it was about (as it is
// now, or as it was when removed).
struct BackendChange {
  std::string pool;
  uint64_t version = 0;
  BackendStatus backend;
  bool changed = true;  // false: AddBackend with if_absent found it already there
};

// A certificate of a listener that terminates TLS.
struct CertificateStatus {
  std::string listener;
  std::string file;
  std::vector<std::string> names;
  absl::Time not_after;
  std::string fingerprint;
  bool is_default = false;
};

// What a certificate reload did to one listener.
struct CertificateReloadStatus {
  std::string listener;
  bool changed = false;
  std::string error;
};

// What the control plane reports about the node besides its pools.
struct NodeFacts {
  struct Listener {
    std::string pool;            // where its connections go
    net::SocketAddress address;  // as bound
  };
  std::string version;
  absl::Time started;
  int workers = 0;
  std::vector<Listener> listeners;
  std::function<uint64_t()> accepted_connections;
  std::function<uint64_t()> active_connections;
  std::function<stats::WorkerTotals()> counters;
  std::function<std::vector<stats::ListenerTotals>()> listener_counters;
  std::function<std::vector<CertificateStatus>()> certificates;
  std::function<std::vector<CertificateReloadStatus>()> reload_certificates;
  // [control] ready_after_sync: not ready for traffic before the first MarkSynced.
  bool ready_after_sync = false;
};

struct AddBackendArgs {
  std::string pool;
  std::string address;
  std::optional<int64_t> weight = std::nullopt;  // default 1
  std::optional<uint64_t> expected_version = std::nullopt;
  // An identical backend already there (same weight, not draining) is success, unchanged.
  bool if_absent = false;
  Caller caller = {};
};

struct RemoveBackendArgs {
  std::string pool;
  std::string address;
  std::optional<uint64_t> expected_version = std::nullopt;
  std::optional<absl::Duration> drain_timeout = std::nullopt;  // then close what is left
  Caller caller = {};
};

struct UpdateBackendArgs {
  std::string pool;
  std::string address;
  std::optional<int64_t> weight = std::nullopt;
  std::optional<bool> draining = std::nullopt;
  std::optional<uint64_t> expected_version = std::nullopt;
  std::optional<absl::Duration> drain_timeout = std::nullopt;  // with draining = true
  Caller caller = {};
};

// How a pool should balance from now on: the fields set change, the others stay.
struct UpdatePoolArgs {
  std::string pool;
  std::optional<balance::Algorithm> algorithm = std::nullopt;
  std::optional<absl::Duration> slow_start = std::nullopt;  // zero: off
  std::optional<balance::HashKey> hash = std::nullopt;
  std::optional<uint64_t> maglev_table_size = std::nullopt;
  std::optional<uint64_t> expected_version = std::nullopt;
  Caller caller = {};
};

// The result of UpdatePool: the pool as it is now.
struct PoolChange {
  std::string pool;
  uint64_t version = 0;
  PoolSummary summary;
  bool changed = true;  // false: it balanced so already
};

// The longest drain timeout a call may ask for.
inline constexpr absl::Duration kMaxDrainTimeout = absl::Hours(24);
// Watch streams served at once. Each holds a thread of the control service while it lasts, so
// they are capped: past this, RESOURCE_EXHAUSTED.
inline constexpr int kMaxWatches = 64;

class ControlPlane {
 public:
  static bool kNeverCancelled() { return false; }

  // With `state_file`, every change is saved there before it is published (and so before the
  // call returns); a change that cannot be saved is refused.
  ControlPlane(pool::PoolRegistry& pools, NodeFacts facts, state::StateFile* state_file = nullptr);

  // The node's listeners as bound, which no backend may reach. Changes are refused
  // (UNAVAILABLE) until they are known: the control service starts before the metrics
  // listener, and its own port is known only once it listens.
  void SetOwnListeners(net::OwnListeners listeners);

  // Every mutation is recorded here; the control service records refused callers too.
  AuditLog& audit() { return audit_; }

  NodeStatus Status() const;
  // The certificates in use by each listener that terminates TLS.
  std::vector<CertificateStatus> Certificates() const;
  // Reloads them from their files (see the ReloadCertificates RPC).
  std::vector<CertificateReloadStatus> ReloadCertificates();
  std::vector<PoolSummary> ListPools() const;
  absl::StatusOr<PoolState> ListBackends(absl::string_view pool) const;

  // Changes. `cancelled` is asked just before a change is published: a caller that has gone
  // away (its deadline passed) gets CANCELLED and the pool stays as it was, so that a client
  // that saw its call fail never finds the change applied anyway. Each call, whatever its
  // outcome, is recorded in the audit log with the args' caller.
  absl::StatusOr<BackendChange> AddBackend(const AddBackendArgs& args,
                                           absl::FunctionRef<bool()> cancelled = kNeverCancelled);
  absl::StatusOr<BackendChange> RemoveBackend(
      const RemoveBackendArgs& args, absl::FunctionRef<bool()> cancelled = kNeverCancelled);
  absl::StatusOr<BackendChange> UpdateBackend(
      const UpdateBackendArgs& args, absl::FunctionRef<bool()> cancelled = kNeverCancelled);
  // Changes how a pool balances. The settings that result must be valid together (no slow
  // start with maglev, a prime table size); a call that changes nothing succeeds unchanged.
  absl::StatusOr<PoolChange> UpdatePool(const UpdatePoolArgs& args,
                                        absl::FunctionRef<bool()> cancelled = kNeverCancelled);

  // Records that the node matches a file of desired pools, after checking that each pool the
  // file names is at the version given (ABORTED otherwise, and nothing is recorded). The same
  // hash again is success, unchanged. Audited like the changes.
  absl::StatusOr<std::pair<SyncMark, bool>> MarkSynced(const MarkSyncedArgs& args);
  std::optional<SyncMark> sync_mark() const;

  // Calls `send` with the state of `pool` (every pool when empty) now, then again after
  // changes (close ones may be merged: versions can be skipped, the latest state never is),
  // until `send` returns false, `cancelled` returns true (checked at least every `poll`) or
  // the pools' change feed closes. NOT_FOUND for an unknown pool; RESOURCE_EXHAUSTED when
  // kMaxWatches watches are open already.
  absl::Status Watch(absl::string_view pool, absl::FunctionRef<bool(const PoolState&)> send,
                     absl::FunctionRef<bool()> cancelled,
                     absl::Duration poll = absl::Milliseconds(200)) const;

  // Whether every pool a server forwards to has a backend to send new connections to: one
  // that is resolved and not draining (its health aside: an outage of the backends is not the
  // node's, and taking every node out of service for it would only turn refusals into timeouts). A
  // node without is not ready.
  bool EveryPoolHasBackends() const;
  // Ready for traffic: every used pool has backends and, with ready_after_sync, an apply has
  // been recorded since the start.
  bool ReadyForTraffic() const;
  // `listener` runs after each change made through this plane (on the caller's thread), and
  // after each NotifyChanged, until it is replaced; empty to stop.
  void SetChangeListener(std::function<void()> listener);
  // Tells the change listener that the pools changed other than through this plane (a saved
  // name resolved at last, say), so that readiness follows.
  void NotifyChanged() const;

 private:
  absl::StatusOr<pool::Pool*> FindPool(absl::string_view name) const;
  // A request that names no pool is about the node's only pool, as plbyctl has it.
  template <typename Args>
  Args WithPoolNamed(const Args& args) const {
    Args named = args;
    if (named.pool.empty() && pools_.pools().size() == 1) named.pool = pools_.pools()[0]->name();
    return named;
  }
  absl::StatusOr<net::HostPort> ParseAddress(absl::string_view address) const;
  // FAILED_PRECONDITION for a pool whose backends come from DNS: they are not `what` ("added")
  // by hand.
  static absl::Status CheckNotDiscovered(const pool::Pool& pool, absl::string_view what);
  // Records a mutation's outcome in the audit log and passes it on.
  template <typename Change>
  absl::StatusOr<Change> Audited(Mutation mutation, const Caller& caller, absl::string_view pool,
                                 absl::string_view backend, std::string asked,
                                 absl::StatusOr<Change> change);
  absl::StatusOr<PoolChange> SetBalance(const UpdatePoolArgs& args,
                                        absl::FunctionRef<bool()> cancelled);
  PoolSummary SummaryOf(const pool::Pool& pool) const;
  // The bound addresses of the servers that forward to `pool`, in config order.
  std::vector<std::string> ListenersOf(const pool::Pool& pool) const;
  absl::StatusOr<BackendChange> Add(const AddBackendArgs& args,
                                    absl::FunctionRef<bool()> cancelled);
  absl::StatusOr<BackendChange> Remove(const RemoveBackendArgs& args,
                                       absl::FunctionRef<bool()> cancelled);
  absl::StatusOr<BackendChange> Update(const UpdateBackendArgs& args,
                                       absl::FunctionRef<bool()> cancelled);
  PoolState StateOf(const pool::Pool& pool, const pool::PoolSnapshot& snapshot) const;
  // The last step before a change of `pool` is published: refuses it when the caller has gone,
  // saves it to the state file (if any), then runs `applied` for what goes with the change.
  absl::Status Commit(const pool::Pool& pool, const pool::PoolContent& content,
                      absl::FunctionRef<bool()> cancelled, absl::FunctionRef<void()> applied);

  pool::PoolRegistry& pools_;
  NodeFacts facts_;
  state::StateFile* state_file_;
  AuditLog audit_;
  pool::SnapshotCell<const net::OwnListeners> own_listeners_;  // null until set
  mutable std::atomic<int> open_watches_{0};
  mutable std::mutex sync_mutex_;
  std::optional<SyncMark> sync_;  // guarded by sync_mutex_
  mutable std::mutex listener_mutex_;
  std::function<void()> change_listener_;
};

}  // namespace plby::control
