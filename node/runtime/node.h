// Node: the running proxy: pools from the config (and the state file), their listeners, the
// worker threads and the health checker.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "health/health_checker.h"
#include "net/socket_address.h"
#include "pool/pool_registry.h"
#include "proxy/listener.h"
#include "runtime/worker.h"
#include "state/state_file.h"
#include "stats/counter.h"

namespace plby::runtime {

struct NodeOptions {
  int workers = 1;
  // Connections open at once on the whole node, split evenly over the workers.
  int64_t max_connections = 1 << 20;
  // Pools found here start from it instead of their seed in the config.
  const state::State* saved_state = nullptr;
  // Called (on a worker's thread) when a worker fails and stops; see Worker::FailureCallback.
  Worker::FailureCallback on_worker_failure;
};

class Node {
 public:
  struct Listener {
    std::string server;               // the [[server]]'s name
    std::string pool;                 // where its default route goes
    std::vector<std::string> pools;   // where its routes go, each once
    net::SocketAddress address;       // with the port the kernel chose when the config said 0
    const proxy::ListenerSpec* spec;  // its routes and counters
  };

  // Builds the pools and opens every listener (refusing an address already in use), without
  // starting any thread yet: a node that cannot listen fails here, before serving anything.
  // `notes` receives what is worth logging about the saved state.
  static absl::StatusOr<std::unique_ptr<Node>> Create(const config::Config& config,
                                                      const NodeOptions& options,
                                                      std::vector<std::string>* notes = nullptr);
  ~Node();

  // Starts the health checker and the workers.
  void Start();
  // Closes every listener; open connections go on (graceful shutdown).
  void StopAccepting();
  // Graceful shutdown: closes the listeners, then waits until the open connections have ended
  // or `timeout` has passed, asking `interrupted` (with how long it may block) whether to stop
  // waiting at once (a second signal). Logs each step. The connections still open are closed
  // by Stop().
  void Drain(absl::Duration timeout, absl::FunctionRef<bool(absl::Duration wait)> interrupted);
  // Stops the workers (closing their connections) and the health checker. Idempotent.
  void Stop();

  pool::PoolRegistry& pools() { return *pools_; }
  const std::vector<Listener>& listeners() const { return listeners_; }
  int worker_count() const { return static_cast<int>(workers_.size()); }

  // Sums over the workers.
  uint64_t accepted_connections() const;
  uint64_t active_connections() const;
  stats::WorkerTotals totals() const;
  std::vector<stats::ListenerTotals> listener_totals() const;
  // Every listener's spec (for the certificate reloader).
  std::vector<proxy::ListenerSpec*> listener_specs();

 private:
  Node() = default;

  std::unique_ptr<pool::PoolRegistry> pools_;
  std::unique_ptr<health::HealthChecker> health_;
  std::vector<std::unique_ptr<proxy::ListenerSpec>> specs_;  // before workers_: they use them
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace plby::runtime
