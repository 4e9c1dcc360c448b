// Validator: walks a parsed config.toml and collects every problem with its position. Each
// section has its own file (control_section.cc, node_section.cc, pool_section.cc,
// server_section.cc); the readers and the checks across sections are in validator.cc.
// Internal to config/: the rest of the node includes config.h.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "config/toml.h"
#include "net/host_port.h"
#include "net/own_listeners.h"
#include "net/socket_address.h"

namespace plby::config::detail {

// Abseil here has its own string_view type and toml++ uses the standard one.
inline absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }
inline std::string_view ToStd(absl::string_view text) { return {text.data(), text.size()}; }

// "table", "string", ...: what a node is, for messages.
absl::string_view TypeName(const toml::node& node);
// 1-64 characters from A-Z a-z 0-9 . _ - : [ ]: a pool's or a server's name.
bool IsValidPoolName(absl::string_view name);
// A certificate or key file, at most 1 MiB (a path to a device must not hang the start).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

// A listener of the node with the setting that makes it and the line it is on (0: a default).
struct PlacedListener {
  net::Listener listener;
  std::string key;
  int line = 0;
};

// The node's listeners in a fixed order: control, health, metrics, then the servers.
std::vector<PlacedListener> PlaceListeners(const Config& config,
                                           const std::function<int(const std::string&)>& line_of);

class Validator {
 public:
  Validator(absl::string_view source, const ParseOptions& options)
      : source_(source), options_(options) {}
  // The whole document: every section, then the checks across them.
  Config Run(const toml::table& root);
  const std::vector<std::string>& errors() const { return errors_; }
  std::vector<std::string>& warnings() { return warnings_; }

 private:
  // --- validator.cc: positions, messages, and readers of typed values. ---
  std::string Where(const toml::source_region& where) const;
  void Error(const toml::source_region& where, absl::string_view message);
  void Warn(const toml::source_region& where, absl::string_view message);
  void CheckKeys(const toml::table& table, absl::string_view context,
                 std::initializer_list<absl::string_view> allowed);
  // The string at `table[key]`, or nullopt (with an error if it is there but not a string).
  std::optional<std::string> GetString(const toml::table& table, absl::string_view key,
                                       absl::string_view path, absl::string_view example);
  // A duration at `table[key]` within [min, max], or nullopt (with an error if present but bad).
  std::optional<absl::Duration> GetDuration(const toml::table& table, absl::string_view key,
                                            absl::string_view path, absl::string_view example,
                                            absl::Duration min, absl::Duration max);
  std::optional<int64_t> GetInteger(const toml::table& table, absl::string_view key,
                                    absl::string_view path, int64_t min, int64_t max);
  std::optional<bool> GetBool(const toml::table& table, absl::string_view key,
                              absl::string_view path);
  // A pool's or server's `name`, or nullopt (with an error, calling it `what`, if it is there
  // but not a valid name).
  std::optional<std::string> GetName(const toml::table& table, absl::string_view path,
                                     absl::string_view what, absl::string_view example);
  // One of `choices` (case-insensitive) at `table[key]`, as its index.
  std::optional<size_t> GetChoice(const toml::table& table, absl::string_view key,
                                  absl::string_view path,
                                  std::initializer_list<absl::string_view> choices);
  // A sub-table such as [server.health], or nullptr (with an error if `key` is not a table).
  const toml::table* GetTable(const toml::table& table, absl::string_view key,
                              absl::string_view path);
  std::optional<net::HostPort> GetAddress(const toml::table& table, absl::string_view key,
                                          absl::string_view path, net::AddressUse use,
                                          net::SocketAddress* resolved);
  // Paths in the config are relative to the directory of the config file.
  std::string ResolveRelative(const std::string& path) const;
  // `ciphers`, `ciphersuites` and `groups` of a [server.tls] or [pool.tls] at `tls_path`,
  // each checked as OpenSSL would take it; what is not set keeps its default.
  void ReadCipherSettings(const toml::table& section, const std::string& tls_path,
                          tls::CipherSettings& settings);
  // No backend may reach one of the node's own listeners (see net/own_listeners.h).
  void CheckNoBackendIsAListener(const Config& config);
  // Every listener of the node (pools, control, health, metrics) needs its own address, so
  // that a config that could not start is refused before anything listens.
  void CheckListenersAreDistinct(const Config& config);

  // --- control_section.cc ---
  void ReadControl(const toml::table& root, ControlConfig& control);
  // The three TLS files come together or not at all; each must be readable PEM.
  void ReadControlTls(const toml::table& table, ControlConfig& control);
  // What gRPC would refuse at start with no file named ("Handshaker factory creation failed"),
  // said here with the file and the problem: a certificate file that holds no certificate, a
  // key that is not the certificate's, a client CA that is not a CA. Expiry is a warning.
  bool CheckControlTls(const toml::table& table, const ControlTls& tls);

  // --- node_section.cc ---
  void ReadNode(const toml::table& root, NodeConfig& node);
  void ReadMetrics(const toml::table& root, MetricsConfig& metrics);

  // --- server_section.cc ---
  void ReadServers(const toml::table& root, Config& config);
  // A [[server]]: its listener, and its [[server.forward]] routes, each of which either names
  // a pool or carries the backends of a pool of its own (`inline_pools`: the first named after
  // the server, later ones "SERVER[i]").
  bool ReadServer(const toml::table& table, const std::string& path, ServerConfig& server,
                  std::vector<PoolConfig>& inline_pools);
  // A forward's `sni` and `tls`.
  void ReadRouteMatch(const toml::table& forward, const std::string& path, RouteConfig& route);
  // One default route at most, sni only with TLS, and passthrough for all routes or none.
  // `tls_refused`: the server has a [server.tls] that was refused (its errors are reported);
  // the routes are not blamed for the certificates it lacks.
  void CheckRoutes(const std::string& path, const ServerConfig& server, bool tls_refused);
  // [server.tls]: the certificates read and loaded as the node will (so that a key that is not
  // its certificate's is refused here, with its file), min_version, alpn, the ticket keys.
  void ReadServerTls(const toml::table& table, const std::string& path, ServerConfig& server);
  // accept_proxy and trusted.
  void ReadAcceptProxy(const toml::table& table, const std::string& path, ServerConfig& server);
  // --- http_section.cc ---
  // mode = "tcp" | "http", and [server.http] (only with mode = "http").
  void ReadListenerMode(const toml::table& table, const std::string& path, ServerConfig& server);
  // A forward's HTTP conditions (host, path, path_prefix, methods, headers) and rewrites
  // (timeout, add_request_headers, remove_request_headers, strip_prefix); refused outside
  // mode = "http".
  void ReadHttpRoute(const toml::table& forward, const std::string& path,
                     const ServerConfig& server, RouteConfig& route);

  // The server's [[server.forward]] array: 1 to kMaxRoutesPerServer tables.
  const toml::array* ReadForwardArray(const toml::table& server_table,
                                      const std::string& server_path);

  // --- pool_section.cc ---
  // [[pool]] tables.
  void ReadPools(const toml::table& root, Config& config);
  // Pool names are unique, a forward's pool exists, and an unused pool is worth a warning.
  void CheckPoolNames(Config& config);
  // A pool's connect and idle timeouts and its health checks, from a [[pool]] table or (for an
  // inline pool) its [[server]] table.
  void ReadPoolTimeouts(const toml::table& table, const std::string& path,
                        absl::string_view health_table, PoolConfig& pool);
  // How a pool balances: algorithm, slow_start, hash and maglev_table_size.
  void ReadBalance(const toml::table& table, const std::string& path, PoolConfig& pool);
  void ReadHealth(const toml::table& owner, const std::string& owner_path,
                  absl::string_view context, HealthCheckConfig& health);
  // check = "http": path, host, expect (refused with other checks).
  void ReadHttpHealth(const toml::table& table, const std::string& path, HealthCheckConfig& health);
  // [pool.tls]: the files read and loaded as the node will, each problem named with its file.
  void ReadPoolTls(const toml::table& table, const std::string& path, PoolConfig& pool);
  // send_proxy = "v1" | "v2".
  void ReadSendProxy(const toml::table& table, const std::string& path, PoolConfig& pool);
  // HTTP mode's idle backend connections: keepalive (per backend per worker) and
  // keepalive_timeout.
  void ReadKeepalive(const toml::table& table, const std::string& path, PoolConfig& pool);
  // A pool's backends list.
  // [[pool]].discover: the backends come from DNS instead of a list.
  void ReadDiscover(const toml::table& table, const std::string& path, PoolConfig& pool);
  void ReadBackends(const toml::table& forward, const std::string& path, PoolConfig& pool);

  std::string source_;
  ParseOptions options_;
  // Where each address setting read so far ("control.listen", ...) was written.
  std::map<std::string, int> address_lines_;
  std::vector<std::string> errors_;
  // Pools whose table was refused: a server forwarding to one is not told it is undefined.
  std::set<std::string> refused_pools_;
  std::vector<std::string> warnings_;
};

}  // namespace plby::config::detail
