// Listener: what the connections of one [[server]] share on one worker: how they are inspected
// (PROXY header, ClientHello), the route table, and this worker's view of each route's pool.
// Built by the worker at start and never changed; only that worker's thread touches it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/socket_address.h"
#include "pool/pool.h"
#include "pool/pool_view.h"
#include "route/route_table.h"
#include "stats/listener_stats.h"
#include "tls/server_context.h"

namespace plby::proxy {

// How long a trusted source has to send its whole PROXY header (the 3 s: a proxy sends
// it in its first segment; only a broken or hostile peer takes longer).
inline constexpr int64_t kProxyHeaderTimeoutMs = 3000;

// A listener as the node knows it: shared by the workers, each of which makes its Listener
// from it. Built before the workers start, then only its counters change.
struct ListenerSpec {
  ListenerSpec(std::string name, route::RouteTable routes, std::vector<pool::Pool*> pools,
               int workers)
      : name(std::move(name)),
        routes(std::move(routes)),
        pools(std::move(pools)),
        counters(workers) {}

  std::string name;
  route::RouteTable routes;
  std::vector<pool::Pool*> pools;           // per route
  std::vector<config::RouteTls> route_tls;  // per route
  std::optional<config::AcceptProxyConfig> accept_proxy;
  bool reads_client_hello = false;
  int64_t handshake_timeout_ms = 0;  // for the ClientHello, and the handshake
  // [server.tls]: the current certificates (a reload replaces them); null: no termination.
  std::unique_ptr<tls::ServerContextSlot> tls;
  // [server.tls] as configured (file names), for reloads; and how they went.
  std::optional<tls::ServerTlsSettings> tls_settings;
  std::atomic<uint64_t> tls_reloads{0};
  std::atomic<uint64_t> tls_reload_failures{0};
  // mode = "http": how requests are read, and each route's rewrites; unset: mode = "tcp".
  std::optional<config::HttpListenerConfig> http;
  std::vector<config::HttpRouteConfig> http_routes;  // per route
  stats::PerWorker<stats::ListenerCounters> counters;
};

struct Listener {
  std::string name;                           // the [[server]]'s name, for logs
  const route::RouteTable* routes = nullptr;  // shared by the workers, owned by the node
  std::vector<pool::PoolView*> views;         // per route: this worker's view of its pool
  std::vector<config::RouteTls> route_tls;    // per route
  // Set: accept_proxy; these sources must send a PROXY header, and others may not.
  std::optional<config::AcceptProxyConfig> accept_proxy;
  bool reads_client_hello = false;   // a passthrough listener: route by the ClientHello's SNI
  int64_t handshake_timeout_ms = 0;  // the ClientHello, and a handshake, must be done by then
  const tls::ServerContextSlot* tls_slot = nullptr;  // the spec's; null: no termination
  // The spec's: mode = "http" (null: "tcp"), and each route's rewrites.
  const config::HttpListenerConfig* http = nullptr;
  const std::vector<config::HttpRouteConfig>* http_route_configs = nullptr;
  stats::ListenerCounters* counters = nullptr;  // this worker's block

  const config::HttpRouteConfig& http_route(size_t index) const {
    return (*http_route_configs)[index];
  }

  // The certificates for a new handshake: the slot's current ones, taken anew after a reload.
  const std::shared_ptr<const tls::ServerContext>& CurrentTls() const {
    const uint64_t generation = tls_slot->generation();
    if (generation != tls_generation_) {
      tls_ = tls_slot->Get();
      tls_generation_ = generation;
    }
    return tls_;
  }

  // Whether a connection from `peer` must begin with a PROXY header.
  bool Trusts(const net::SocketAddress& peer) const {
    if (!accept_proxy) return false;
    for (const net::Cidr& network : accept_proxy->trusted) {
      if (network.Contains(peer)) return true;
    }
    return false;
  }

 private:
  // This worker's copy of the slot's context (only its thread touches it).
  mutable std::shared_ptr<const tls::ServerContext> tls_;
  mutable uint64_t tls_generation_ = 0;
};

}  // namespace plby::proxy
