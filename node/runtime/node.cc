#include "runtime/node.h"

#include <algorithm>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
    std::vector<route::RouteTable::Route> routes;
    std::vector<pool::Pool*> route_pools;
    std::vector<std::string> pool_names;
    for (const config::RouteConfig& route : server.routes) {
      routes.push_back({.server_names = route.sni, .http = route.http_match});
      route_pools.push_back(node->pools_->Find(route.pool));  // the config checked it exists
      if (std::find(pool_names.begin(), pool_names.end(), route.pool) == pool_names.end()) {
        pool_names.push_back(route.pool);
      }
    }
    auto spec = std::make_unique<proxy::ListenerSpec>(
        server.name, route::RouteTable(std::move(routes)), std::move(route_pools), options.workers);
    spec->accept_proxy = server.accept_proxy;
    spec->reads_client_hello = server.reads_client_hello();
    spec->handshake_timeout_ms = absl::ToInt64Milliseconds(server.handshake_timeout);
    for (const config::RouteConfig& route : server.routes) {
      spec->route_tls.push_back(route.tls);
      spec->http_routes.push_back(route.http);
    }
    if (server.mode == config::ListenerMode::kHttp) spec->http = server.http;
    if (server.tls) {
      // One set of OpenSSL contexts per worker (OpenSSL 3.0 contends on a context's locks).
      absl::StatusOr<std::shared_ptr<const tls::ServerContext>> tls =
          tls::ServerContext::Load(*server.tls, options.workers);
      if (!tls.ok()) {
        return absl::Status(tls.status().code(),
                            absl::StrCat("server \"", server.name, "\" (", config.source, " line ",
                                         server.line, "): ", tls.status().message()));
      }
      spec->tls = std::make_unique<tls::ServerContextSlot>(*std::move(tls));
      spec->tls_settings = server.tls;
    }
    node->listeners_.push_back({.server = server.name,
                                .pool = server.pool(),
                                .pools = std::move(pool_names),
                                .address = bound,
                                .spec = spec.get()});
    for (int w = 0; w < options.workers; ++w) {
      frontends[w].push_back({spec.get(), std::move((*sockets)[w])});
    }
    node->specs_.push_back(std::move(spec));
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

std::vector<proxy::ListenerSpec*> Node::listener_specs() {
  std::vector<proxy::ListenerSpec*> specs;
  for (const auto& spec : specs_) specs.push_back(spec.get());
  return specs;
}

std::vector<stats::ListenerTotals> Node::listener_totals() const {
  std::vector<stats::ListenerTotals> all;
  for (const Listener& listener : listeners_) {
    const proxy::ListenerSpec& spec = *listener.spec;
    stats::ListenerTotals totals{.name = spec.name,
                                 .accept_proxy = spec.accept_proxy.has_value(),
                                 .reads_client_hello = spec.reads_client_hello,
                                 .proxy_headers = {},
                                 .client_hellos = {},
                                 .routes = {},
                                 .terminates_tls = spec.tls != nullptr,
                                 .certificates = {},
                                 .tls_reloads = 0,
                                 .tls_reload_failures = 0,
                                 .handshakes = {},
                                 .http = false,
                                 .http_unrouted = {},
                                 .http_upstream_new = 0,
                                 .http_upstream_reused = 0,
                                 .http_retries = 0,
                                 .http_retries_over_budget = 0};
    if (spec.tls != nullptr) {
      totals.tls_reloads = spec.tls_reloads.load();
      totals.tls_reload_failures = spec.tls_reload_failures.load();
      for (const tls::LoadedCertificate& certificate : spec.tls->Get()->certificates()) {
        totals.certificates.push_back({.file = certificate.cert_file,
                                       .names = absl::StrJoin(certificate.facts.names, ","),
                                       .not_after_seconds = absl::ToDoubleSeconds(
                                           certificate.facts.not_after - absl::UnixEpoch())});
      }
    }
    for (int w = 0; w < worker_count(); ++w) {
      const stats::ListenerCounters& counters = spec.counters.worker(w);
      for (size_t i = 0; i < totals.proxy_headers.size(); ++i) {
        totals.proxy_headers[i] += counters.proxy_headers[i].Get();
      }
      for (size_t i = 0; i < totals.client_hellos.size(); ++i) {
        totals.client_hellos[i] += counters.client_hellos[i].Get();
      }
      const stats::HandshakeCounters& handshakes = counters.handshakes;
      totals.handshakes.done += handshakes.done.Get();
      totals.handshakes.resumed += handshakes.resumed.Get();
      totals.handshakes.tls12 += handshakes.tls12.Get();
      totals.handshakes.tls13 += handshakes.tls13.Get();
      totals.handshakes.timeouts += handshakes.timeouts.Get();
      for (size_t i = 0; i < stats::kMaxHandshakeFailures; ++i) {
        totals.handshakes.failures[i] += handshakes.failures[i].Get();
      }
    }
    totals.http = spec.http.has_value();
    for (int w = 0; w < worker_count(); ++w) {
      const stats::ListenerCounters& counters = spec.counters.worker(w);
      for (size_t i = 0; i < totals.http_unrouted.size(); ++i) {
        totals.http_unrouted[i] += counters.http_unrouted[i].Get();
      }
      totals.http_upstream_new += counters.http_upstream_new.Get();
      totals.http_upstream_reused += counters.http_upstream_reused.Get();
      totals.http_retries += counters.http_retries.Get();
      totals.http_retries_over_budget += counters.http_retries_over_budget.Get();
    }
    for (size_t r = 0; r < spec.routes.size(); ++r) {
      stats::ListenerTotals::Route route{
          .pool = spec.pools[r]->name(),
          .server_names = absl::StrJoin(spec.routes.route(r).server_names, ","),
          .connections = 0,
          .match = route::Describe(spec.routes.route(r).http)};
      for (int w = 0; w < worker_count(); ++w) {
        const stats::ListenerCounters& counters = spec.counters.worker(w);
        route.connections += counters.routed[r].Get();
        const stats::RouteHttpCounters& http = counters.http_routes[r];
        for (size_t i = 0; i < route.responses.size(); ++i) {
          route.responses[i] += http.responses[i].Get();
        }
        for (size_t i = 0; i < route.latency.size(); ++i) {
          route.latency[i] += http.latency[i].Get();
        }
        route.latency_sum_ms += http.latency_sum_ms.Get();
      }
      totals.routes.push_back(std::move(route));
    }
    all.push_back(std::move(totals));
  }
  return all;
}

}  // namespace plby::runtime
