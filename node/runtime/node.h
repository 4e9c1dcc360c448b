// Node: the running proxy: pools from the config, their listeners, and the worker threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "net/socket_address.h"
#include "pool/pool_registry.h"
#include "runtime/worker.h"

namespace plby::runtime {

struct NodeOptions {
  int workers = 1;
  // Called (on a worker's thread) when a worker fails and stops; see Worker::FailureCallback.
  Worker::FailureCallback on_worker_failure;
};

class Node {
 public:
  struct Listener {
    std::string pool;
    net::SocketAddress address;  // with the port the kernel chose when the config said 0
  };

  // Builds the pools and opens every listener (refusing an address already in use), without
  // starting any thread yet: a node that cannot listen fails here, before serving anything.
  static absl::StatusOr<std::unique_ptr<Node>> Create(const config::Config& config,
                                                      const NodeOptions& options);
  ~Node();

  void Start();
  // Stops the workers and closes their connections. Idempotent.
  void Stop();

  pool::PoolRegistry& pools() { return *pools_; }
  const std::vector<Listener>& listeners() const { return listeners_; }
  int worker_count() const { return static_cast<int>(workers_.size()); }

  // Sums over the workers.
  uint64_t accepted_connections() const;
  uint64_t active_connections() const;

 private:
  Node() = default;

  std::unique_ptr<pool::PoolRegistry> pools_;
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace plby::runtime
