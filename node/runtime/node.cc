#include "runtime/node.h"

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "log/log.h"
#include "net/event_loop.h"
#include "net/socket_ops.h"

namespace plby::runtime {

absl::StatusOr<std::unique_ptr<Node>> Node::Create(const config::Config& config,
                                                   const NodeOptions& options,
                                                   std::vector<std::string>* notes) {
  // WrapUnique: the constructor is private, so that every Node comes from Create().
  std::unique_ptr<Node> node = absl::WrapUnique(new Node());
  absl::StatusOr<std::unique_ptr<pool::PoolRegistry>> pools = pool::PoolRegistry::Create(
      config, options.workers, options.saved_state, config::OwnListenersOf(config), notes);
  if (!pools.ok()) return pools.status();
  node->pools_ = *std::move(pools);
  absl::StatusOr<std::unique_ptr<health::HealthChecker>> health =
      health::HealthChecker::Create(*node->pools_);
  if (!health.ok()) return health.status();
  node->health_ = *std::move(health);

  // frontends[w] are the listening sockets of worker w, one per pool.
  std::vector<std::vector<Worker::Frontend>> frontends(options.workers);
  for (size_t i = 0; i < config.servers.size(); ++i) {
    const config::ServerConfig& server = config.servers[i];
    net::SocketAddress bound;
    absl::StatusOr<std::vector<net::UniqueFd>> sockets =
        net::OpenListeners(server.listen_address, options.workers, &bound);
    if (!sockets.ok()) {
      return absl::Status(sockets.status().code(),
                          absl::StrCat("server \"", server.name, "\" (", config.source, " line ",
                                       server.line, "): ", sockets.status().message()));
    }
    node->listeners_.push_back({server.name, server.pool(), bound});
    pool::Pool* pool = node->pools_->Find(server.pool());  // the config checked that it exists
    for (int w = 0; w < options.workers; ++w) {
      frontends[w].push_back({pool, std::move((*sockets)[w])});
    }
  }
  // The limit is split over the workers, each enforcing its share without asking the others
  // (the remainder goes to the first ones; every worker may hold at least one).
  for (int w = 0; w < options.workers; ++w) {
    const int64_t share = options.max_connections / options.workers +
                          (w < options.max_connections % options.workers ? 1 : 0);
    absl::StatusOr<std::unique_ptr<Worker>> worker =
        Worker::Create(w, std::move(frontends[w]),
                       {.max_connections = std::max<int64_t>(1, share),
                        .health = node->health_.get(),
                        .on_failure = options.on_worker_failure});
    if (!worker.ok()) return worker.status();
    node->workers_.push_back(*std::move(worker));
  }
  return node;
}

Node::~Node() { Stop(); }

void Node::Start() {
  health_->Start();
  for (auto& worker : workers_) worker->Start();
}

void Node::StopAccepting() {
  for (auto& worker : workers_) worker->StopAccepting();
}

void Node::Drain(absl::Duration timeout, absl::FunctionRef<bool(absl::Duration wait)> interrupted) {
  StopAccepting();
  PLBY_LOG(kInfo, "listeners closed, no new connections; ", active_connections(),
           " open ones get up to ", absl::FormatDuration(timeout), " to finish");
  const int64_t deadline = net::MonotonicMs() + absl::ToInt64Milliseconds(timeout);
  // Looked at every 50 ms, or sooner when `interrupted` returns early.
  constexpr absl::Duration kTick = absl::Milliseconds(50);
  while (active_connections() > 0 && net::MonotonicMs() < deadline) {
    if (interrupted(kTick)) {
      PLBY_LOG(kWarn, "second signal: closing the ", active_connections(), " open connections now");
      return;
    }
  }
  if (active_connections() > 0) {
    PLBY_LOG(kWarn, "drain timeout: closing ", active_connections(), " open connections");
  }
}

void Node::Stop() {
  for (auto& worker : workers_) worker->Stop();
  for (auto& worker : workers_) worker->Join();
  if (health_) health_->Stop();
}

uint64_t Node::accepted_connections() const {
  uint64_t total = 0;
  for (const auto& worker : workers_) total += worker->stats().accepted.Get();
  return total;
}

uint64_t Node::active_connections() const {
  uint64_t total = 0;
  for (const auto& worker : workers_) total += worker->stats().active.Get();
  return total;
}

stats::WorkerTotals Node::totals() const {
  stats::WorkerTotals totals;
  for (const auto& worker : workers_) totals.Add(worker->stats());
  return totals;
}

}  // namespace plby::runtime
