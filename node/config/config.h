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
#include "net/host_port.h"
#include "net/socket_address.h"

namespace plby::config {

inline constexpr absl::string_view kDefaultControlListen = "127.0.0.1:9100";
inline constexpr absl::Duration kDefaultConnectTimeout = absl::Seconds(3);
inline constexpr absl::Duration kMinConnectTimeout = absl::Milliseconds(1);
inline constexpr absl::Duration kMaxConnectTimeout = absl::Minutes(5);

struct BackendConfig {
  net::HostPort address;  // identifies the backend within its pool
  net::SocketAddress resolved;
  int64_t weight = 1;
  int line = 0;  // where the entry is, for messages
  int column = 0;
};

// One [[server]]: a listener and the pool of backends behind it.
struct ServerConfig {
  std::string name;  // the pool's name; defaults to the listen address as written
  net::HostPort listen;
  net::SocketAddress listen_address;
  balance::Algorithm algorithm = balance::Algorithm::kWeightedRoundRobin;
  std::vector<BackendConfig> backends;  // may be empty: the control plane fills it
  absl::Duration connect_timeout = kDefaultConnectTimeout;
  int line = 0;  // where the [[server]] starts, for messages
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
};

struct Config {
  std::string source;  // the file name used in messages
  ControlConfig control;
  std::vector<ServerConfig> servers;
  // Legal but probably unintended settings (an empty pool, weights under RR), with their place.
  std::vector<std::string> warnings;
};

// Parses and validates TOML text. `source_name` prefixes every message ("config.toml:3:10: ...").
// On error the status is InvalidArgument and its message lists every problem, one per line.
absl::StatusOr<Config> ParseConfig(absl::string_view toml_text, absl::string_view source_name);

// Reads `path` and parses it; an unreadable file is an error that names it.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

}  // namespace plby::config
