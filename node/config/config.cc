#include "config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/duration.h"
#include "config/toml.h"
#include "config/toml_guard.h"
#include "net/backend_addresses.h"
#include "text/quote.h"
#include "tls/certificates.h"

namespace plby::config {
namespace {

// Abseil here has its own string_view type and toml++ uses the standard one.
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }
std::string_view ToStd(absl::string_view text) { return {text.data(), text.size()}; }

absl::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

bool IsValidPoolName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

// Certificates and keys are small; a path to something endless (a device) must not hang start.
constexpr size_t kMaxSmallFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return absl::ErrnoToStatus(errno, "cannot read it");
  std::string text;
  char buffer[16384];
  while (true) {
    if (text.size() > kMaxSmallFileBytes) {
      ::close(fd);
      return absl::InvalidArgumentError("larger than 1 MiB: not a certificate or key file");
    }
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status error = absl::ErrnoToStatus(errno, "cannot read it");
      ::close(fd);
      return error;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// A listener of the node with the setting that makes it and the line it is on (0: a default).
struct PlacedListener {
  net::Listener listener;
  std::string key;
  int line = 0;
};

// The node's listeners in a fixed order: control, health, metrics, then the servers.
std::vector<PlacedListener> PlaceListeners(const Config& config,
                                           const std::function<int(const std::string&)>& line_of) {
  std::vector<PlacedListener> listeners;
  listeners.push_back(
      {net::Listener::Grpc(net::ListenerKind::kControl, config.control.listen_address),
       "control.listen", line_of("control.listen")});
  if (config.control.health_listen) {
    listeners.push_back(
        {net::Listener::Grpc(net::ListenerKind::kHealth, config.control.health_listen_address),
         "control.health_listen", line_of("control.health_listen")});
  }
  if (config.metrics.listen) {
    listeners.push_back({net::Listener::Metrics(config.metrics.listen_address), "metrics.listen",
                         line_of("metrics.listen")});
  }
  for (const ServerConfig& server : config.servers) {
    listeners.push_back({net::Listener::Traffic(server.name, server.listen_address),
                         absl::StrCat("server \"", server.name, "\": listen"), server.line});
  }
  return listeners;
}

// Walks the parsed document and collects every problem with its position.
class Validator {
 public:
  Validator(absl::string_view source, const ParseOptions& options)
      : source_(source), options_(options) {}

  Config Run(const toml::table& root) {
    Config config;
    config.source = source_;
    CheckKeys(root, "the top level", {"server", "pool", "control", "node", "metrics"});
    ReadControl(root, config.control);
    ReadNode(root, config.node);
    ReadMetrics(root, config.metrics);
    ReadPools(root, config);
    ReadServers(root, config);
    CheckPoolNames(config);
    CheckListenersAreDistinct(config);
    CheckNoBackendIsAListener(config);
    return config;
  }

  const std::vector<std::string>& errors() const { return errors_; }
  std::vector<std::string>& warnings() { return warnings_; }

 private:
  std::string Where(const toml::source_region& where) const {
    return absl::StrCat(source_, ":", where.begin.line, ":", where.begin.column);
  }

  void Error(const toml::source_region& where, absl::string_view message) {
    errors_.push_back(absl::StrCat(Where(where), ": ", message));
  }

  void Warn(const toml::source_region& where, absl::string_view message) {
    warnings_.push_back(absl::StrCat(Where(where), ": ", message));
  }

  void CheckKeys(const toml::table& table, absl::string_view context,
                 std::initializer_list<absl::string_view> allowed) {
    for (auto&& [key, value] : table) {
      bool known = false;
      for (absl::string_view name : allowed) known = known || ToAbsl(key.str()) == name;
      if (!known) {
        Error(key.source(), absl::StrCat("unknown key ", text::Quote(ToAbsl(key.str())), " in ",
                                         context, " (valid: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
  }

  // The string at `table[key]`, or nullopt (with an error if it is there but not a string).
  std::optional<std::string> GetString(const toml::table& table, absl::string_view key,
                                       absl::string_view path, absl::string_view example) {
    const toml::node* node = table.get(ToStd(key));
    if (node == nullptr) return std::nullopt;
    if (const auto* text = node->as_string()) return text->get();
    Error(node->source(), absl::StrCat(path, ": expected a string like \"", example, "\", got a ",
                                       TypeName(*node)));
    return std::nullopt;
  }

  // A duration at `table[key]` within [min, max], or nullopt (with an error if present but bad).
  std::optional<absl::Duration> GetDuration(const toml::table& table, absl::string_view key,
                                            absl::string_view path, absl::string_view example,
                                            absl::Duration min, absl::Duration max) {
    std::optional<std::string> text = GetString(table, key, path, example);
    if (!text) return std::nullopt;
    const toml::source_region& where = table.get(ToStd(key))->source();
    absl::StatusOr<absl::Duration> parsed = ParseDuration(*text);
    if (!parsed.ok()) {
      Error(where, absl::StrCat(path, ": ", parsed.status().message()));
      return std::nullopt;
    }
    if (*parsed < min || *parsed > max) {
      Error(where, absl::StrCat(path, " ", text::Quote(*text), " is out of range (valid: ",
                                absl::FormatDuration(min), " to ", absl::FormatDuration(max), ")"));
      return std::nullopt;
    }
    return *parsed;
  }

  std::optional<int64_t> GetInteger(const toml::table& table, absl::string_view key,
                                    absl::string_view path, int64_t min, int64_t max) {
    const toml::node* node = table.get(ToStd(key));
    if (node == nullptr) return std::nullopt;
    const auto* value = node->as_integer();
    if (value == nullptr) {
      Error(node->source(), absl::StrCat(path, ": expected an integer (", min, "-", max,
                                         "), got a ", TypeName(*node)));
      return std::nullopt;
    }
    if (value->get() < min || value->get() > max) {
      Error(node->source(),
            absl::StrCat(path, " ", value->get(), " is out of range (valid: ", min, "-", max, ")"));
      return std::nullopt;
    }
    return value->get();
  }

  // One of `choices` (case-insensitive) at `table[key]`, as its index.
  std::optional<size_t> GetChoice(const toml::table& table, absl::string_view key,
                                  absl::string_view path,
                                  std::initializer_list<absl::string_view> choices) {
    std::optional<std::string> text = GetString(table, key, path, *choices.begin());
    if (!text) return std::nullopt;
    size_t index = 0;
    for (absl::string_view choice : choices) {
      if (absl::EqualsIgnoreCase(*text, choice)) return index;
      ++index;
    }
    Error(table.get(ToStd(key))->source(),
          absl::StrCat(path, ": ", text::Quote(*text),
                       " is not valid (valid: ", absl::StrJoin(choices, ", "), ")"));
    return std::nullopt;
  }

  // A sub-table such as [server.health], or nullptr (with an error if `key` is not a table).
  const toml::table* GetTable(const toml::table& table, absl::string_view key,
                              absl::string_view path) {
    const toml::node* node = table.get(ToStd(key));
    if (node == nullptr) return nullptr;
    if (const toml::table* sub = node->as_table()) return sub;
    Error(node->source(),
          absl::StrCat(path, ": expected a table ([", path, "]), got a ", TypeName(*node)));
    return nullptr;
  }

  std::optional<net::HostPort> GetAddress(const toml::table& table, absl::string_view key,
                                          absl::string_view path, net::AddressUse use,
                                          net::SocketAddress* resolved) {
    std::optional<std::string> text = GetString(table, key, path, "127.0.0.1:8080");
    if (!text) return std::nullopt;
    const toml::source_region& where = table.get(ToStd(key))->source();
    absl::StatusOr<net::HostPort> parsed = net::ParseHostPort(*text, use);
    if (!parsed.ok()) {
      Error(where, absl::StrCat(path, ": ", parsed.status().message()));
      return std::nullopt;
    }
    absl::StatusOr<net::SocketAddress> address =
        options_.touch_the_world || parsed->kind != net::HostPort::Kind::kName
            ? net::SocketAddress::Resolve(*parsed)
            : net::SocketAddress::Resolve(
                  net::HostPort{"127.0.0.1", parsed->port, net::HostPort::Kind::kIPv4, ""});
    if (address.ok() && use == net::AddressUse::kConnect) {
      // What a name resolves to must be a unicast address too (a blocking resolver answers
      // 0.0.0.0, say).
      if (absl::Status unicast = net::CheckUnicast(*address); !unicast.ok()) address = unicast;
    }
    if (!address.ok()) {
      Error(where, absl::StrCat(path, " ", text::Quote(*text), ": ", address.status().message()));
      return std::nullopt;
    }
    *resolved = *address;
    address_lines_[std::string(path)] = static_cast<int>(where.begin.line);
    return *parsed;
  }

  void ReadControl(const toml::table& root, ControlConfig& control) {
    // The default is a literal, so it always parses and resolves.
    control.listen = *net::ParseHostPort(kDefaultControlListen, net::AddressUse::kListen);
    control.listen_address = *net::SocketAddress::Resolve(control.listen);
    const toml::node* node = root.get("control");
    if (node == nullptr) return;
    const toml::table* table = node->as_table();
    if (table == nullptr) {
      Error(node->source(),
            absl::StrCat("control: expected a table ([control]), got a ", TypeName(*node)));
      return;
    }
    CheckKeys(*table, "[control]",
              {"listen", "health_listen", "tls_cert", "tls_key", "tls_client_ca",
               "allow_insecure_remote", "state_file"});
    if (auto state =
            GetString(*table, "state_file", "control.state_file", "/var/lib/plby/state.toml")) {
      if (state->empty()) {
        Error(table->get("state_file")->source(),
              "control.state_file: empty (leave the key out to keep changes in memory only)");
      } else {
        control.state_file = ResolveRelative(*state);
      }
    }
    net::SocketAddress resolved;
    if (auto listen =
            GetAddress(*table, "listen", "control.listen", net::AddressUse::kListen, &resolved)) {
      control.listen = *listen;
      control.listen_address = resolved;
    }
    if (auto health = GetAddress(*table, "health_listen", "control.health_listen",
                                 net::AddressUse::kListen, &resolved)) {
      control.health_listen = *health;
      control.health_listen_address = resolved;
    }
    if (const toml::node* insecure = table->get("allow_insecure_remote")) {
      if (const auto* value = insecure->as_boolean()) {
        control.allow_insecure_remote = value->get();
      } else {
        Error(insecure->source(), absl::StrCat("control.allow_insecure_remote: expected true or "
                                               "false, got a ",
                                               TypeName(*insecure)));
      }
    }
    ReadControlTls(*table, control);
    const bool loopback = control.listen_address.IsLoopback();
    if (!control.tls && !loopback && !control.allow_insecure_remote) {
      const toml::node* listen = table->get("listen");
      Error(listen != nullptr ? listen->source() : table->source(),
            absl::StrCat("control.listen \"", control.listen.ToString(),
                         "\" is not a loopback address, and the control service (which can "
                         "change where traffic goes) has no TLS: set tls_cert, tls_key and "
                         "tls_client_ca for mTLS, or allow_insecure_remote = true to accept "
                         "plaintext control from the network"));
    }
  }

  // The three TLS files come together or not at all; each must be readable PEM.
  void ReadControlTls(const toml::table& table, ControlConfig& control) {
    struct File {
      absl::string_view key;
      std::string* path;
      std::string* pem;
    };
    ControlTls tls;
    const File files[] = {{"tls_cert", &tls.cert_file, &tls.cert_pem},
                          {"tls_key", &tls.key_file, &tls.key_pem},
                          {"tls_client_ca", &tls.client_ca_file, &tls.client_ca_pem}};
    int present = 0;
    bool ok = true;
    for (const File& file : files) {
      std::optional<std::string> path =
          GetString(table, file.key, absl::StrCat("control.", file.key), "/etc/plby/tls.pem");
      if (!path) {
        ok = ok && table.get(ToStd(file.key)) == nullptr;
        continue;
      }
      ++present;
      *file.path = ResolveRelative(*path);
      const toml::source_region& where = table.get(ToStd(file.key))->source();
      absl::StatusOr<std::string> pem =
          options_.touch_the_world ? ReadSmallFile(*file.path)
                                   : absl::StatusOr<std::string>("-----BEGIN (not read)-----");
      if (!pem.ok()) {
        Error(where, absl::StrCat("control.", file.key, " ", text::Quote(*path), ": ",
                                  pem.status().message()));
        ok = false;
      } else if (pem->find("-----BEGIN ") == std::string::npos) {
        Error(where, absl::StrCat("control.", file.key, " ", text::Quote(*path),
                                  ": not PEM (expected a \"-----BEGIN ...\" block)"));
        ok = false;
      } else {
        *file.pem = *std::move(pem);
      }
    }
    if (present == 0) return;
    if (present != 3) {
      Error(table.source(),
            "[control]: tls_cert, tls_key and tls_client_ca go together: the "
            "control service takes TLS only with client certificates (mTLS)");
      return;
    }
    if (ok && options_.touch_the_world) ok = CheckControlTls(table, tls);
    if (ok) control.tls = std::move(tls);
  }

  // What gRPC would refuse at start with no file named ("Handshaker factory creation failed"),
  // said here with the file and the problem: a certificate file that holds no certificate, a
  // key that is not the certificate's, a client CA that is not a CA. Expiry is a warning.
  bool CheckControlTls(const toml::table& table, const ControlTls& tls) {
    const auto where = [&](absl::string_view key) { return table.get(ToStd(key))->source(); };
    // Named as written in the file.
    const auto named = [&](absl::string_view key) {
      return absl::StrCat("control.", key, " ",
                          text::Quote(table.get(ToStd(key))->as_string()->get()));
    };
    bool ok = true;
    const absl::Time now = absl::Now();
    absl::StatusOr<std::vector<tls::CertificateFacts>> chain = tls::ReadCertificates(tls.cert_pem);
    if (!chain.ok()) {
      Error(where("tls_cert"), absl::StrCat(named("tls_cert"), ": ", chain.status().message()));
      ok = false;
    } else if (std::string warning = tls::ExpiryWarning(chain->front(), now); !warning.empty()) {
      Warn(where("tls_cert"), absl::StrCat(named("tls_cert"), ": ", warning));
    }
    if (absl::Status key = tls::CheckPrivateKey(tls.key_pem, chain.ok() ? tls.cert_pem : "");
        !key.ok()) {
      Error(where("tls_key"), absl::StrCat(named("tls_key"), ": ", key.message()));
      ok = false;
    }
    if (absl::StatusOr<std::vector<tls::CertificateFacts>> cas =
            tls::ReadCaBundle(tls.client_ca_pem);
        !cas.ok()) {
      Error(where("tls_client_ca"),
            absl::StrCat(named("tls_client_ca"), ": ", cas.status().message()));
      ok = false;
    } else {
      for (const tls::CertificateFacts& ca : *cas) {
        if (std::string warning = tls::ExpiryWarning(ca, now); !warning.empty()) {
          Warn(where("tls_client_ca"), absl::StrCat(named("tls_client_ca"), ": ", warning));
        }
      }
    }
    return ok;
  }

  // Paths in the config are relative to the directory of the config file.
  std::string ResolveRelative(const std::string& path) const {
    if (path.empty() || path.front() == '/') return path;
    const size_t slash = source_.rfind('/');
    if (slash == std::string::npos) return path;
    return absl::StrCat(source_.substr(0, slash + 1), path);
  }

  void ReadServers(const toml::table& root, Config& config) {
    const toml::node* node = root.get("server");
    if (node == nullptr) {
      Error(root.source(),
            "no [[server]] is defined: add one with listen and a [[server.forward]]");
      return;
    }
    const toml::array* servers = node->as_array();
    if (servers == nullptr || !servers->is_array_of_tables()) {
      Error(node->source(), "server: expected an array of tables: write [[server]], not [server]");
      return;
    }
    std::map<std::string, int> name_lines;
    for (size_t i = 0; i < servers->size(); ++i) {
      const toml::table& table = *servers->get(i)->as_table();
      ServerConfig server;
      std::optional<PoolConfig> inline_pool;
      if (ReadServer(table, absl::StrCat("server[", i, "]"), server, inline_pool)) {
        const auto [it, inserted] = name_lines.emplace(server.name, server.line);
        if (!inserted) {
          Error(table.source(),
                absl::StrCat("duplicate server name \"", server.name, "\" (first used at line ",
                             it->second, "); give each [[server]] its own name"));
        } else if (inline_pool) {
          config.pools.push_back(*std::move(inline_pool));
        }
        config.servers.push_back(std::move(server));
      }
    }
  }

  // A [[server]]: its listener, and its one [[server.forward]], which either names a pool or
  // carries the backends of a pool named after the server (`inline_pool`).
  bool ReadServer(const toml::table& table, const std::string& path, ServerConfig& server,
                  std::optional<PoolConfig>& inline_pool) {
    const size_t errors_before = errors_.size();
    server.line = static_cast<int>(table.source().begin.line);
    CheckKeys(table, absl::StrCat("[[server]] (", path, ")"),
              {"name", "listen", "connect_timeout", "idle_timeout", "health", "forward"});

    if (table.get("listen") == nullptr) {
      Error(table.source(), absl::StrCat(path,
                                         ": missing required key \"listen\" (e.g. listen = "
                                         "\"0.0.0.0:8200\")"));
    } else if (auto listen = GetAddress(table, "listen", absl::StrCat(path, ".listen"),
                                        net::AddressUse::kListen, &server.listen_address)) {
      server.listen = *listen;
      server.name = listen->ToString();
    }
    if (auto name = GetString(table, "name", absl::StrCat(path, ".name"), "web")) {
      if (IsValidPoolName(*name)) {
        server.name = *name;
      } else {
        Error(table.get("name")->source(),
              absl::StrCat(path, ".name: invalid name ", text::Quote(*name),
                           " (valid: 1-64 characters from A-Z a-z 0-9 . _ - : [ ])"));
      }
    }

    const toml::table* forward = ReadForwardTable(table, path);
    if (forward == nullptr) return false;
    const std::string forward_path = absl::StrCat(path, ".forward[0]");
    CheckKeys(*forward, "[[server.forward]]",
              {"pool", "algorithm", "backends", "slow_start", "hash", "maglev_table_size"});
    RouteConfig route{.pool = server.name, .line = static_cast<int>(forward->source().begin.line)};
    if (auto pool = GetString(*forward, "pool", absl::StrCat(forward_path, ".pool"), "api")) {
      route.pool = *pool;
      // The pool's settings are in its [[pool]] table; here they would be a second copy.
      for (absl::string_view key :
           {"algorithm", "backends", "slow_start", "hash", "maglev_table_size"}) {
        if (const toml::node* extra = forward->get(ToStd(key))) {
          Error(extra->source(),
                absl::StrCat(forward_path, ".", key, ": this forward names pool ",
                             text::Quote(*pool), ", whose ", key,
                             " is set in its [[pool]] table; a forward has either pool = or "
                             "its own backends"));
        }
      }
      for (absl::string_view key : {"connect_timeout", "idle_timeout", "health"}) {
        if (const toml::node* extra = table.get(ToStd(key))) {
          Error(extra->source(), absl::StrCat(path, ".", key, ": server ", text::Quote(server.name),
                                              " forwards to pool ", text::Quote(*pool), ", so ",
                                              key, " belongs in that pool's [[pool]] table"));
        }
      }
    } else if (forward->get("pool") == nullptr) {
      PoolConfig pool;
      pool.name = server.name;
      pool.line = server.line;
      pool.inline_in_server = true;
      ReadPoolTimeouts(table, path, "[server.health]", pool);
      ReadBalance(*forward, forward_path, pool);
      ReadBackends(*forward, forward_path, pool);
      inline_pool = std::move(pool);
    }
    server.routes.push_back(std::move(route));
    return errors_.size() == errors_before;
  }

  // The server's [[server.forward]] array, which must hold exactly one table.
  const toml::table* ReadForwardTable(const toml::table& server_table,
                                      const std::string& server_path) {
    const toml::node* node = server_table.get("forward");
    if (node == nullptr) {
      Error(server_table.source(),
            absl::StrCat(server_path,
                         ": missing [[server.forward]] with the pool (pool = \"NAME\") or the "
                         "algorithm and backends of this server"));
      return nullptr;
    }
    const toml::array* forwards = node->as_array();
    if (forwards == nullptr || !forwards->is_array_of_tables()) {
      Error(node->source(), absl::StrCat(server_path,
                                         ".forward: expected an array of tables: "
                                         "write [[server.forward]]"));
      return nullptr;
    }
    if (forwards->size() != 1) {
      Error(forwards->get(1)->source(),
            absl::StrCat(server_path,
                         ": exactly one [[server.forward]] per server is supported, "
                         "found ",
                         forwards->size(), " (routing between several is not implemented)"));
      return nullptr;
    }
    return forwards->get(0)->as_table();
  }

  // [[pool]] tables.
  void ReadPools(const toml::table& root, Config& config) {
    const toml::node* node = root.get("pool");
    if (node == nullptr) return;
    const toml::array* pools = node->as_array();
    if (pools == nullptr || !pools->is_array_of_tables()) {
      Error(node->source(), "pool: expected an array of tables: write [[pool]], not [pool]");
      return;
    }
    for (size_t i = 0; i < pools->size(); ++i) {
      const toml::table& table = *pools->get(i)->as_table();
      const std::string path = absl::StrCat("pool[", i, "]");
      const size_t errors_before = errors_.size();
      CheckKeys(table, absl::StrCat("[[pool]] (", path, ")"),
                {"name", "algorithm", "backends", "slow_start", "hash", "maglev_table_size",
                 "connect_timeout", "idle_timeout", "health"});
      PoolConfig pool;
      pool.line = static_cast<int>(table.source().begin.line);
      if (table.get("name") == nullptr) {
        Error(table.source(),
              absl::StrCat(path,
                           ": missing required key \"name\" (e.g. name = \"api\"), which "
                           "servers forward to with pool = \"api\""));
      } else if (auto name = GetString(table, "name", absl::StrCat(path, ".name"), "api")) {
        if (IsValidPoolName(*name)) {
          pool.name = *name;
        } else {
          Error(table.get("name")->source(),
                absl::StrCat(path, ".name: invalid pool name ", text::Quote(*name),
                             " (valid: 1-64 characters from A-Z a-z 0-9 . _ - : [ ])"));
        }
      }
      ReadPoolTimeouts(table, path, "[pool.health]", pool);
      ReadBalance(table, path, pool);
      ReadBackends(table, path, pool);
      if (errors_.size() == errors_before) config.pools.push_back(std::move(pool));
    }
  }

  // Pool names are unique, a forward's pool exists, and an unused pool is worth a warning.
  void CheckPoolNames(Config& config) {
    // In the order the file defines them, [[pool]] tables and servers' inline pools alike.
    std::stable_sort(config.pools.begin(), config.pools.end(),
                     [](const PoolConfig& a, const PoolConfig& b) { return a.line < b.line; });
    std::map<std::string, const PoolConfig*> by_name;
    for (const PoolConfig& pool : config.pools) {
      const auto [it, inserted] = by_name.emplace(pool.name, &pool);
      if (inserted) continue;
      const PoolConfig& first = *it->second;
      errors_.push_back(absl::StrCat(
          source_, ":", pool.line, ":1: duplicate pool name ", text::Quote(pool.name),
          " (first defined at line ", first.line,
          first.inline_in_server || pool.inline_in_server
              ? "; a server whose forward carries backends defines a pool named after the "
                "server)"
              : ")"));
    }
    std::set<std::string> used;
    for (const ServerConfig& server : config.servers) {
      for (const RouteConfig& route : server.routes) {
        used.insert(route.pool);
        if (by_name.contains(route.pool)) continue;
        std::vector<std::string> names;
        for (const auto& [name, pool] : by_name) {
          if (!pool->inline_in_server) names.push_back(text::Quote(name));
        }
        errors_.push_back(absl::StrCat(
            source_, ":", route.line, ":1: server ", text::Quote(server.name), " forwards to pool ",
            text::Quote(route.pool), ", which no [[pool]] defines",
            names.empty() ? " (there is no [[pool]])"
                          : absl::StrCat(" (defined: ", absl::StrJoin(names, ", "), ")")));
      }
    }
    for (const PoolConfig& pool : config.pools) {
      if (!used.contains(pool.name)) {
        warnings_.push_back(absl::StrCat(
            source_, ":", pool.line, ":1: pool ", text::Quote(pool.name),
            " is used by no server: it can be read and changed through the control service, but "
            "takes no traffic"));
      }
    }
  }

  // A pool's connect and idle timeouts and its health checks, from a [[pool]] table or (for an
  // inline pool) its [[server]] table.
  void ReadPoolTimeouts(const toml::table& table, const std::string& path,
                        absl::string_view health_table, PoolConfig& pool) {
    if (auto timeout = GetDuration(table, "connect_timeout", absl::StrCat(path, ".connect_timeout"),
                                   "3s", kMinConnectTimeout, kMaxConnectTimeout)) {
      pool.connect_timeout = *timeout;
    }
    if (auto idle = GetDuration(table, "idle_timeout", absl::StrCat(path, ".idle_timeout"), "1h",
                                absl::Seconds(1), absl::Hours(24 * 7))) {
      pool.idle_timeout = *idle;
    }
    ReadHealth(table, path, health_table, pool.health);
  }

  // How a pool balances: algorithm, slow_start, hash and maglev_table_size.
  void ReadBalance(const toml::table& table, const std::string& path, PoolConfig& pool) {
    if (auto algorithm = GetString(table, "algorithm", absl::StrCat(path, ".algorithm"), "WRR")) {
      absl::StatusOr<balance::Algorithm> parsed = balance::ParseAlgorithm(*algorithm);
      if (parsed.ok()) {
        pool.balance.algorithm = *parsed;
      } else {
        Error(table.get("algorithm")->source(),
              absl::StrCat(path, ".algorithm: ", parsed.status().message()));
      }
    }
    const balance::AlgorithmInfo& info = balance::Describe(pool.balance.algorithm);
    if (auto slow_start = GetDuration(table, "slow_start", absl::StrCat(path, ".slow_start"), "30s",
                                      absl::ZeroDuration(), balance::kMaxSlowStart)) {
      if (absl::Status valid = balance::CheckSlowStart(pool.balance.algorithm, *slow_start);
          !valid.ok()) {
        Error(table.get("slow_start")->source(), absl::StrCat(path, ".", valid.message()));
      } else {
        pool.balance.slow_start = *slow_start;
      }
    }
    if (auto hash = GetString(table, "hash", absl::StrCat(path, ".hash"), "source_ip")) {
      absl::StatusOr<balance::HashKey> parsed = balance::ParseHashKey(*hash);
      if (!parsed.ok()) {
        Error(table.get("hash")->source(),
              absl::StrCat(path, ".hash: ", parsed.status().message()));
      } else {
        pool.balance.hash = *parsed;
      }
    }
    if (const toml::node* size = table.get("maglev_table_size")) {
      const auto* value = size->as_integer();
      if (value == nullptr) {
        Error(size->source(),
              absl::StrCat(path,
                           ".maglev_table_size: expected an integer (a prime "
                           "up to ",
                           balance::kMaxMaglevTableSize, "), got a ", TypeName(*size)));
      } else if (absl::Status valid = balance::ValidateMaglevTableSize(
                     value->get() < 0 ? 0 : static_cast<uint64_t>(value->get()));
                 !valid.ok()) {
        Error(size->source(), absl::StrCat(path, ".", valid.message()));
      } else {
        pool.balance.maglev_table_size = static_cast<uint64_t>(value->get());
      }
    }
    if (!info.needs_key) {
      for (absl::string_view key : {"hash", "maglev_table_size"}) {
        if (const toml::node* unused = table.get(ToStd(key))) {
          Warn(unused->source(), absl::StrCat(path, ".", key, " applies to algorithm maglev only; ",
                                              info.name, " ignores it"));
        }
      }
    }
  }

  void ReadHealth(const toml::table& owner, const std::string& owner_path,
                  absl::string_view context, HealthCheckConfig& health) {
    const std::string path = absl::StrCat(owner_path, ".health");
    const toml::table* table = GetTable(owner, "health", path);
    if (table == nullptr) return;
    CheckKeys(*table, context,
              {"check", "interval", "timeout", "rise", "fall", "passive_failures",
               "passive_cooldown", "when_all_unhealthy"});
    if (auto check = GetChoice(*table, "check", absl::StrCat(path, ".check"), {"tcp", "none"})) {
      health.enabled = *check == 0;
    }
    if (auto interval = GetDuration(*table, "interval", absl::StrCat(path, ".interval"), "1s",
                                    absl::Milliseconds(100), absl::Hours(1))) {
      health.interval = *interval;
    }
    if (auto timeout = GetDuration(*table, "timeout", absl::StrCat(path, ".timeout"), "800ms",
                                   absl::Milliseconds(10), absl::Minutes(1))) {
      health.timeout = *timeout;
    } else if (table->get("timeout") == nullptr) {
      // Unset: the default, or four fifths of a shorter interval.
      health.timeout = std::min(health.timeout, health.interval * 4 / 5);
    }
    if (auto rise = GetInteger(*table, "rise", absl::StrCat(path, ".rise"), 1, 100)) {
      health.rise = static_cast<int>(*rise);
    }
    if (auto fall = GetInteger(*table, "fall", absl::StrCat(path, ".fall"), 1, 100)) {
      health.fall = static_cast<int>(*fall);
    }
    if (auto passive = GetInteger(*table, "passive_failures",
                                  absl::StrCat(path, ".passive_failures"), 0, 1000)) {
      health.passive_failures = static_cast<int>(*passive);
    }
    if (auto cooldown =
            GetDuration(*table, "passive_cooldown", absl::StrCat(path, ".passive_cooldown"), "30s",
                        absl::Seconds(1), absl::Hours(1))) {
      health.passive_cooldown = *cooldown;
      if (health.enabled) {
        Warn(table->get("passive_cooldown")->source(),
             absl::StrCat(path,
                          ".passive_cooldown applies with check = \"none\" only: with active "
                          "checks, rise good checks bring a passively marked backend back"));
      }
    }
    if (auto policy =
            GetChoice(*table, "when_all_unhealthy", absl::StrCat(path, ".when_all_unhealthy"),
                      {"fail_open", "refuse"})) {
      health.when_all_unhealthy =
          *policy == 0 ? AllUnhealthyPolicy::kFailOpen : AllUnhealthyPolicy::kRefuse;
    }
    // A check must end before the next one is due, or a silent backend is checked only every
    // other interval.
    if (health.timeout >= health.interval) {
      Error(table->source(), absl::StrCat(path, ": timeout (", absl::FormatDuration(health.timeout),
                                          ") must be shorter than interval (",
                                          absl::FormatDuration(health.interval), ")"));
    }
  }

  void ReadMetrics(const toml::table& root, MetricsConfig& metrics) {
    const toml::table* table = GetTable(root, "metrics", "metrics");
    if (table == nullptr) return;
    CheckKeys(*table, "[metrics]", {"listen"});
    net::SocketAddress resolved;
    if (auto listen =
            GetAddress(*table, "listen", "metrics.listen", net::AddressUse::kListen, &resolved)) {
      metrics.listen = *listen;
      metrics.listen_address = resolved;
    } else if (table->get("listen") == nullptr) {
      Error(table->source(),
            "[metrics]: missing listen = \"HOST:PORT\" (leave out [metrics] "
            "to serve no metrics)");
    }
  }

  void ReadNode(const toml::table& root, NodeConfig& node) {
    const toml::table* table = GetTable(root, "node", "node");
    if (table == nullptr) return;
    CheckKeys(*table, "[node]", {"drain_timeout", "max_connections"});
    if (auto drain = GetDuration(*table, "drain_timeout", "node.drain_timeout", "30s",
                                 absl::ZeroDuration(), absl::Hours(24))) {
      node.drain_timeout = *drain;
    }
    if (auto max = GetInteger(*table, "max_connections", "node.max_connections", 1, 10'000'000)) {
      node.max_connections = *max;
    }
  }

  // A pool's backends list.
  void ReadBackends(const toml::table& forward, const std::string& path, PoolConfig& server) {
    const toml::node* backends_node = forward.get("backends");
    if (backends_node == nullptr) {
      Error(forward.source(),
            absl::StrCat(path,
                         ": missing required key \"backends\" (e.g. backends = "
                         "[ { address = \"127.0.0.1:8080\" } ]; use [] for a pool that "
                         "the control service fills)"));
      return;
    }
    const toml::array* backends = backends_node->as_array();
    if (backends == nullptr) {
      Error(backends_node->source(), absl::StrCat(path,
                                                  ".backends: expected an array of tables like "
                                                  "[ { address = \"127.0.0.1:8080\" } ], got a ",
                                                  TypeName(*backends_node)));
      return;
    }
    if (backends->empty()) {
      Warn(backends_node->source(), absl::StrCat("pool \"", server.name,
                                                 "\" has no backends: its connections are closed "
                                                 "until backends are added through the control "
                                                 "service"));
    }
    if (backends->size() > kMaxBackendsPerPool) {
      Error(backends_node->source(),
            absl::StrCat(path, ".backends: ", backends->size(), " backends, more than the ",
                         kMaxBackendsPerPool, " a pool may hold"));
      return;
    }
    // A backend listed twice (by one name or address, or two that resolve alike) is one.
    net::BackendAddresses seen;
    bool has_weights = false;
    for (size_t i = 0; i < backends->size(); ++i) {
      const toml::node& entry = *backends->get(i);
      const std::string entry_path = absl::StrCat(path, ".backends[", i, "]");
      const toml::table* table = entry.as_table();
      if (table == nullptr) {
        Error(entry.source(),
              absl::StrCat(entry_path,
                           ": expected a table like { address = \"127.0.0.1:8080\" }, "
                           "got a ",
                           TypeName(entry)));
        continue;
      }
      CheckKeys(*table, "a backend", {"address", "weight"});
      BackendConfig backend;
      backend.line = static_cast<int>(entry.source().begin.line);
      backend.column = static_cast<int>(entry.source().begin.column);
      bool ok = true;
      if (table->get("address") == nullptr) {
        Error(table->source(), absl::StrCat(entry_path, ": missing required key \"address\""));
        ok = false;
      } else if (auto address = GetAddress(*table, "address", absl::StrCat(entry_path, ".address"),
                                           net::AddressUse::kConnect, &backend.resolved)) {
        backend.address = *address;
      } else {
        ok = false;
      }
      if (const toml::node* weight = table->get("weight")) {
        has_weights = true;
        if (const auto* value = weight->as_integer()) {
          if (absl::Status valid = balance::ValidateWeight(value->get()); valid.ok()) {
            backend.weight = value->get();
          } else {
            Error(weight->source(), absl::StrCat(entry_path, ".weight: ", valid.message()));
            ok = false;
          }
        } else {
          Error(weight->source(),
                absl::StrCat(entry_path, ".weight: expected an integer (", balance::kMinWeight, "-",
                             balance::kMaxWeight, "), got a ", TypeName(*weight)));
          ok = false;
        }
      }
      if (!ok) continue;
      if (const std::optional<size_t> earlier = seen.Find(backend.address, &backend.resolved)) {
        Error(entry.source(),
              absl::StrCat(entry_path, ": backend \"", backend.address.ToString(),
                           "\" is listed twice in pool \"", server.name, "\" (as \"",
                           server.backends[*earlier].address.ToString(), "\" before)"));
        continue;
      }
      seen.Add(server.backends.size(), backend.address, &backend.resolved);
      server.backends.push_back(std::move(backend));
    }
    if (has_weights && !balance::Describe(server.balance.algorithm).uses_weights) {
      Warn(backends_node->source(),
           absl::StrCat("pool \"", server.name, "\" uses algorithm ",
                        balance::AlgorithmName(server.balance.algorithm),
                        ", which ignores weights; use WRR to honour them"));
    }
  }

  // No backend may reach one of the node's own listeners (see net/own_listeners.h).
  void CheckNoBackendIsAListener(const Config& config) {
    const net::OwnListeners own = OwnListenersOf(config);
    // Read once: a wildcard listener is reached through any local address, and a pool may list
    // tens of thousands of backends.
    const net::LocalAddresses local = net::LocalAddresses::Read();
    for (const PoolConfig& server : config.pools) {
      for (const BackendConfig& backend : server.backends) {
        if (absl::Status reached = own.CheckBackend(backend.resolved, local); !reached.ok()) {
          errors_.push_back(absl::StrCat(source_, ":", backend.line, ":", backend.column,
                                         ": pool \"", server.name, "\": backend \"",
                                         backend.address.ToString(), "\": ", reached.message()));
        }
      }
    }
  }

  // Every listener of the node (pools, control, health, metrics) needs its own address, so
  // that a config that could not start is refused before anything listens.
  void CheckListenersAreDistinct(const Config& config) {
    const auto line_of = [&](const std::string& key) {
      auto it = address_lines_.find(key);
      return it == address_lines_.end() ? 0 : it->second;
    };
    const std::vector<PlacedListener> listeners = PlaceListeners(config, line_of);
    for (size_t i = 0; i < listeners.size(); ++i) {
      const PlacedListener& listener = listeners[i];
      for (size_t j = 0; j < i; ++j) {
        const PlacedListener& other = listeners[j];
        if (!net::Overlap(listener.listener, other.listener)) continue;
        const net::SocketAddress& address = listener.listener.address;
        const bool same = other.listener.address == address;
        const std::string other_place =
            other.line > 0 ? absl::StrCat(other.listener.name, " at line ", other.line)
                           : other.listener.name;
        const std::string place = listener.line > 0
                                      ? absl::StrCat(source_, ":", listener.line, ":1")
                                      : absl::StrCat(source_, ": (default)");
        errors_.push_back(
            absl::StrCat(place, ": ", listener.key, " \"", address.ToString(), "\" ",
                         same ? "is already used by " : "overlaps ", other_place,
                         same ? "" : absl::StrCat(" (\"", other.listener.address.ToString(), "\")"),
                         "; every listener needs its own address and port"));
      }
    }
  }

  std::string source_;
  ParseOptions options_;
  // Where each address setting read so far ("control.listen", ...) was written.
  std::map<std::string, int> address_lines_;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
};

}  // namespace

const PoolConfig* Config::FindPool(absl::string_view name) const {
  for (const PoolConfig& pool : pools) {
    if (pool.name == name) return &pool;
  }
  return nullptr;
}

absl::StatusOr<Config> ParseConfig(absl::string_view toml_text, absl::string_view source_name,
                                   const ParseOptions& options) {
  toml_text = WithoutByteOrderMark(toml_text);
  if (absl::Status guarded = CheckNonAsciiOnlyInComments(toml_text, source_name); !guarded.ok()) {
    return guarded;
  }
  toml::table root;
  try {
    root = toml::parse(ToStd(toml_text), ToStd(source_name));
  } catch (const toml::parse_error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", error.source().begin.line, ":", error.source().begin.column,
                     ": TOML syntax error: ", ToAbsl(error.description())));
  }
  Validator validator(source_name, options);
  Config config = validator.Run(root);
  if (!validator.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(validator.errors(), "\n"));
  }
  config.warnings = std::move(validator.warnings());
  return config;
}

net::OwnListeners OwnListenersOf(const Config& config) {
  net::OwnListeners own;
  for (PlacedListener& placed : PlaceListeners(config, [](const std::string&) { return 0; })) {
    own.Add(std::move(placed.listener));
  }
  return own;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  const auto unreadable = [&](int error) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read the configuration file: ", std::strerror(error)));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unreadable(errno);
  std::string text;
  struct stat info {};
  if (fstat(fd, &info) != 0 || S_ISDIR(info.st_mode)) {
    const int error = S_ISDIR(info.st_mode) ? EISDIR : errno;
    ::close(fd);
    return unreadable(error);
  }
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return unreadable(error);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return ParseConfig(text, path);
}

}  // namespace plby::config
