// Config: config.toml parsed and validated in full before anything listens. Every error carries
// "file:line:column" and the offending value; a config with any error is refused whole.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "balance/algorithm.h"
#include "balance/settings.h"
#include "http/parser.h"
#include "net/cidr.h"
#include "net/host_port.h"
#include "net/own_listeners.h"
#include "net/socket_address.h"
#include "route/route_table.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace plby::config {

inline constexpr absl::string_view kDefaultControlListen = "127.0.0.1:9100";
inline constexpr absl::Duration kDefaultConnectTimeout = absl::Seconds(3);
inline constexpr absl::Duration kMinConnectTimeout = absl::Milliseconds(1);
inline constexpr absl::Duration kMaxConnectTimeout = absl::Minutes(5);
// Envoy's TCP proxy default: long enough for any live session, short enough to reclaim the
// descriptors of a peer that vanished without a FIN.
inline constexpr absl::Duration kDefaultIdleTimeout = absl::Hours(1);
// Kubernetes' default termination grace period.
inline constexpr absl::Duration kDefaultDrainTimeout = absl::Seconds(30);
// The most backends one pool may hold, wherever they come from (config, state file, control
// API): one cap, so that whatever one of them accepts the others can hold.
inline constexpr size_t kMaxBackendsPerPool = 65536;
// A TLS client's time to start: the (and Envoy's) 10 s; HAProxy bounds it by `timeout
// client`, nginx's ssl_preread by preread_timeout (30 s).
inline constexpr absl::Duration kDefaultHandshakeTimeout = absl::Seconds(10);
// The most [[server.forward]] routes one server may have (each has a counter per worker).
inline constexpr size_t kMaxRoutesPerServer = 256;
// HTTP mode: idle backend connections kept per backend per worker (nginx's upstream keepalive
// and the 32), and how long one may idle: under the 5 s that Node.js and Apache close
// idle connections after, so that plby closes first and rarely sends a request into a close.
inline constexpr int64_t kDefaultKeepalive = 32;
inline constexpr absl::Duration kDefaultKeepaliveTimeout = absl::Seconds(4);
// HTTP mode: retries in flight may be this share of a pool's requests in flight (Envoy's
// retry budget default), and a route sends a failed request again this many times.
inline constexpr int64_t kDefaultRetryBudgetPercent = 20;
inline constexpr int64_t kDefaultRetries = 1;

// What a pool does when every backend that takes connections is unhealthy.
enum class AllUnhealthyPolicy {
  kFailOpen,  // try them anyway: health checks can be wrong, and a dead one is skipped on connect
  kRefuse,    // close new clients at once
};

// check = "http": a GET of `path` with Host `host` (empty: the backend's host), whose status
// must be within [expect_min, expect_max]; over TLS when the pool speaks TLS.
struct HttpHealthCheck {
  std::string path = "/";
  std::string host;
  int expect_min = 200;
  int expect_max = 399;

  bool operator==(const HttpHealthCheck&) const = default;
};

// [server.health]: active TCP checks, and passive marking from what the forwarder sees.
// The defaults take a dead backend out within 3 s (2 failed checks 1 s apart, each given
// 800 ms) and bring a revived one back within 3 s (2 good checks).
struct HealthCheckConfig {
  bool enabled = true;  // check = "tcp": active checks; "none": none (passive marks still apply)
  absl::Duration interval = absl::Seconds(1);
  absl::Duration timeout = absl::Milliseconds(800);
  int rise = 2;  // consecutive good checks that make a backend healthy
  int fall = 2;  // consecutive failed checks that make it unhealthy
  // Consecutive connect failures or resets seen by the forwarder that make a backend unhealthy
  // before the next check notices; 0 turns passive marking off.
  int passive_failures = 3;
  // Without active checks (check = "none") nothing would ever bring a passively marked
  // backend back: it is tried again this long after it was marked (Envoy's outlier ejection
  // time). With checks, `rise` good checks bring it back instead.
  absl::Duration passive_cooldown = absl::Seconds(30);
  AllUnhealthyPolicy when_all_unhealthy = AllUnhealthyPolicy::kFailOpen;
  std::optional<HttpHealthCheck> http;  // check = "http" (enabled is true then)

  bool operator==(const HealthCheckConfig&) const = default;
};

struct BackendConfig {
  net::HostPort address;  // identifies the backend within its pool
  net::SocketAddress resolved;
  int64_t weight = 1;
  // draining = true: it starts draining (no new connections). Unset: not draining at start,
  // and `plbyctl apply` leaves its drain state as the node has it.
  std::optional<bool> draining;
  int line = 0;  // where the entry is, for messages
  int column = 0;
};

// discover = { dns = "web.default.svc.cluster.local:8080", every = "5s" }: the pool's backends
// are every address the name has (A and AAAA records; weight 1 each), looked up again every
// `every` (a headless Service is then the backend set).
struct DiscoverConfig {
  net::HostPort dns;  // a name (or literal) and the backends' port
  absl::Duration every = absl::Seconds(5);
  // A name that answers "no records" (NXDOMAIN, NODATA) keeps the last good set this long
  // after that answer (HAProxy's `hold nx`): a DNS blip or a Service being recreated must not
  // empty the pool at once. 0: emptied at the first such answer.
  absl::Duration hold_nx = absl::Seconds(30);

  bool operator==(const DiscoverConfig&) const = default;
};

// The PROXY protocol header a pool sends its backends first (send_proxy = "v1" | "v2").
enum class ProxyProtocol { kNone, kV1, kV2 };

// A pool of backends: a [[pool]] table, or the backends a [[server.forward]] carries inline
// (the seed's form), which make a pool named after its server.
struct PoolConfig {
  std::string name;
  balance::Settings balance;
  std::vector<BackendConfig> backends;     // may be empty: the control plane fills it
  std::optional<DiscoverConfig> discover;  // set: the backends come from DNS (none are listed)
  absl::Duration connect_timeout = kDefaultConnectTimeout;
  absl::Duration idle_timeout = kDefaultIdleTimeout;  // no byte either way for this long: close
  HealthCheckConfig health;
  // Sent to every backend before the client's bytes, and (as a LOCAL header) by health checks.
  ProxyProtocol send_proxy = ProxyProtocol::kNone;
  // [pool.tls] enabled = true: the backends are spoken to over TLS (after any PROXY header).
  std::optional<tls::ClientTlsSettings> tls;
  // HTTP mode: idle connections kept per backend per worker for reuse (0: none; a backend that
  // is sent PROXY headers gets none, the header being per client), and how long one may idle.
  int64_t keepalive = kDefaultKeepalive;
  absl::Duration keepalive_timeout = kDefaultKeepaliveTimeout;
  int64_t retry_budget_percent = kDefaultRetryBudgetPercent;
  int line = 0;                   // where it is defined, for messages
  bool inline_in_server = false;  // defined by a [[server.forward]]'s backends
};

// What a route does with TLS.
enum class RouteTls {
  kNone,         // the bytes are relayed as they come
  kPassthrough,  // the ClientHello is read, unchanged, to route by its SNI; then relayed as is
  kTerminate,    // the handshake is the node's ([server.tls]); the backend gets plaintext
};

// What a listener speaks: bytes relayed as they come, or HTTP/1.1 read request by request.
enum class ListenerMode { kTcp, kHttp };

// An HTTP route's request rewriting, timeouts and retries (mode = "http").
struct HttpRouteConfig {
  // Set: the whole exchange (request and response) must be done by then, else 504 (or, once
  // the response started, the connection is closed).
  std::optional<absl::Duration> timeout;
  // Fields added to the request forwarded (after the removals), and removed from it.
  std::vector<std::pair<std::string, std::string>> add_request_headers;
  std::vector<std::string> remove_request_headers;  // lower-cased
  bool strip_prefix = false;  // path_prefix is taken off the path forwarded ("/" if nothing left)
  // How many times an idempotent request without a body is sent again, to a backend not tried
  // yet, after a reset or close before any answer, or a 503 (within the pool's retry budget).
  int64_t retries = kDefaultRetries;
};

// A [[server.forward]]: where a listener's connections (tcp) or requests (http) go. Routes are
// tried in order; the first that matches wins, and the one that matches on nothing takes the
// rest.
struct RouteConfig {
  std::string pool;
  std::vector<std::string> sni;  // normalized patterns (route/route_table.h); empty: default
  RouteTls tls = RouteTls::kNone;
  route::HttpMatch http_match;  // mode = "http": host, path, methods, headers
  HttpRouteConfig http;
  int line = 0;
};

// [server.http]: how an HTTP listener reads requests, and how long it waits.
struct HttpListenerConfig {
  http::HeadLimits limits;                 // 431 and 414 beyond them
  std::optional<uint64_t> max_body_bytes;  // 413 beyond it; unset: no limit
  // A request head must be whole this long after its first byte (or after the connection
  // opened, for the first): else 408.
  absl::Duration head_timeout = absl::Seconds(10);
  // A client connection idle between requests is closed after this long.
  absl::Duration keepalive_timeout = absl::Seconds(60);
  // The backend's response head must begin this long after the request was sent: else 504.
  absl::Duration response_timeout = absl::Seconds(60);
  // Between two reads of a request body (while plby waits for the client, not for a backend
  // that is slow to take the bytes): else 408, or the exchange is cut once the answer began.
  absl::Duration body_timeout = absl::Seconds(60);
  // access_log = "json": one JSON object per request on stderr; off by default.
  bool access_log = false;
  // Request fields whose names have '_' are forwarded (nginx's underscores_in_headers); by
  // default they are dropped, as CGI-style backends read "X_Forwarded_For" as X-Forwarded-For.
  bool underscores_in_headers = false;
};

// accept_proxy = true: the sources in `trusted` must start with a PROXY header (v1 or v2),
// whose client address then stands for the connection's; others may not send one.
struct AcceptProxyConfig {
  std::vector<net::Cidr> trusted;
};

// One [[server]]: a listener and its routes.
struct ServerConfig {
  std::string name;  // defaults to the listen address as written; names its inline pool
  net::HostPort listen;
  net::SocketAddress listen_address;
  std::vector<RouteConfig> routes;  // at least one
  ListenerMode mode = ListenerMode::kTcp;
  HttpListenerConfig http;  // mode = "http"
  std::optional<AcceptProxyConfig> accept_proxy;
  // [server.tls]: the certificates (read, and checked) and how the node terminates TLS.
  std::optional<tls::ServerTlsSettings> tls;
  // How long a TLS client has to finish its handshake (or, passthrough, send its ClientHello).
  absl::Duration handshake_timeout = kDefaultHandshakeTimeout;
  int line = 0;  // where the [[server]] starts, for messages

  // Whether connections are held until their ClientHello is read (a passthrough route).
  bool reads_client_hello() const;
  // The default route's pool, else the first route's.
  const std::string& pool() const;
};

// mTLS for the control service: the node's certificate and key, and the CA that client
// certificates must be signed by. The files are read when the config is loaded.
struct ControlTls {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
};

struct ControlConfig {
  net::HostPort listen;
  net::SocketAddress listen_address;
  std::optional<ControlTls> tls;
  // Without TLS the control service may only listen on loopback, unless this is set.
  bool allow_insecure_remote = false;
  // Not ready for traffic (plby.traffic NOT_SERVING) until an apply has recorded a sync, so
  // that a new pod takes no traffic with the pools of a stale ConfigMap.
  bool ready_after_sync = false;
  // Where acknowledged changes are kept, to survive a restart; empty: in memory only.
  std::string state_file;
  // A second, always plaintext gRPC listener that serves only grpc.health.v1.Health (and
  // reflection): for Kubernetes probes, which cannot present a client certificate.
  std::optional<net::HostPort> health_listen;
  net::SocketAddress health_listen_address;
};

// [metrics]: Prometheus text at /metrics and the status page at /, over plain HTTP.
struct MetricsConfig {
  std::optional<net::HostPort> listen;  // unset: no metrics listener
  net::SocketAddress listen_address;
};

// [node]: the process as a whole.
struct NodeConfig {
  // On SIGTERM/SIGINT: how long open connections may go on before they are closed.
  absl::Duration drain_timeout = kDefaultDrainTimeout;
  // Connections open at once; unset: what the descriptor limit allows.
  std::optional<int64_t> max_connections;
};

struct Config {
  // The pool named `name`, or nullptr.
  const PoolConfig* FindPool(absl::string_view name) const;

  std::string source;  // the file name used in messages
  ControlConfig control;
  NodeConfig node;
  MetricsConfig metrics;
  std::vector<PoolConfig> pools;  // in the order they are defined
  std::vector<ServerConfig> servers;
  // Legal but probably unintended settings (an empty pool, weights under RR), with their place.
  std::vector<std::string> warnings;
};

struct ParseOptions {
  // Resolve host names and read the TLS files the config names. Off only for fuzzing, where the
  // input must not reach the network or the file system.
  bool touch_the_world = true;
  // A file of desired pools for `plbyctl apply`: the node's syntax, but servers are optional,
  // at least one pool is required, and a pool no server uses is what is expected.
  bool desired_pools = false;
};

// Parses and validates TOML text. `source_name` prefixes every message ("config.toml:3:10: ...").
// On error the status is InvalidArgument and its message lists every problem, one per line.
absl::StatusOr<Config> ParseConfig(absl::string_view toml_text, absl::string_view source_name,
                                   const ParseOptions& options = {});

// Reads `path` and parses it; an unreadable file is an error that names it.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);
// The bytes of `path`; an unreadable file (or a directory) is NOT_FOUND, naming it.
absl::StatusOr<std::string> ReadConfigText(const std::string& path);

// Every listener `config` gives the node, as configured (a port-0 listener reaches nothing
// until it is bound).
net::OwnListeners OwnListenersOf(const Config& config);

}  // namespace plby::config
