#include "config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/duration.h"
#include "config/toml.h"
#include "config/toml_guard.h"

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

// Walks the parsed document and collects every problem with its position.
class Validator {
 public:
  Validator(absl::string_view source, const ParseOptions& options)
      : source_(source), options_(options) {}

  Config Run(const toml::table& root) {
    Config config;
    config.source = source_;
    CheckKeys(root, "the top level", {"server", "control", "node", "metrics"});
    ReadControl(root, config.control);
    ReadNode(root, config.node);
    ReadMetrics(root, config.metrics);
    ReadServers(root, config);
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
        Error(key.source(), absl::StrCat("unknown key \"", ToAbsl(key.str()), "\" in ", context,
                                         " (valid: ", absl::StrJoin(allowed, ", "), ")"));
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
      Error(where, absl::StrCat(path, " \"", *text, "\" is out of range (valid: ",
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
          absl::StrCat(path, ": \"", *text,
                       "\" is not valid (valid: ", absl::StrJoin(choices, ", "), ")"));
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
                                          absl::string_view path, net::PortZero port_zero,
                                          net::SocketAddress* resolved) {
    std::optional<std::string> text = GetString(table, key, path, "127.0.0.1:8080");
    if (!text) return std::nullopt;
    const toml::source_region& where = table.get(ToStd(key))->source();
    absl::StatusOr<net::HostPort> parsed = net::ParseHostPort(*text, port_zero);
    if (!parsed.ok()) {
      Error(where, absl::StrCat(path, ": ", parsed.status().message()));
      return std::nullopt;
    }
    absl::StatusOr<net::SocketAddress> address =
        options_.touch_the_world || parsed->kind != net::HostPort::Kind::kName
            ? net::SocketAddress::Resolve(*parsed)
            : net::SocketAddress::Resolve(
                  net::HostPort{"127.0.0.1", parsed->port, net::HostPort::Kind::kIPv4});
    if (!address.ok()) {
      Error(where, absl::StrCat(path, " \"", *text, "\": ", address.status().message()));
      return std::nullopt;
    }
    *resolved = *address;
    address_lines_[std::string(path)] = static_cast<int>(where.begin.line);
    return *parsed;
  }

  void ReadControl(const toml::table& root, ControlConfig& control) {
    // The default is a literal, so it always parses and resolves.
    control.listen = *net::ParseHostPort(kDefaultControlListen, net::PortZero::kAllow);
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
            GetAddress(*table, "listen", "control.listen", net::PortZero::kAllow, &resolved)) {
      control.listen = *listen;
      control.listen_address = resolved;
    }
    if (auto health = GetAddress(*table, "health_listen", "control.health_listen",
                                 net::PortZero::kAllow, &resolved)) {
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
        Error(where,
              absl::StrCat("control.", file.key, " \"", *path, "\": ", pem.status().message()));
        ok = false;
      } else if (pem->find("-----BEGIN ") == std::string::npos) {
        Error(where, absl::StrCat("control.", file.key, " \"", *path,
                                  "\": not PEM (expected a \"-----BEGIN ...\" block)"));
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
    if (ok) control.tls = std::move(tls);
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
      if (ReadServer(table, absl::StrCat("server[", i, "]"), server)) {
        const auto [it, inserted] = name_lines.emplace(server.name, server.line);
        if (!inserted) {
          Error(table.source(),
                absl::StrCat("duplicate pool name \"", server.name, "\" (first used at line ",
                             it->second, "); give each [[server]] its own name"));
        }
        config.servers.push_back(std::move(server));
      }
    }
  }

  bool ReadServer(const toml::table& table, const std::string& path, ServerConfig& server) {
    const size_t errors_before = errors_.size();
    server.line = static_cast<int>(table.source().begin.line);
    CheckKeys(table, absl::StrCat("[[server]] (", path, ")"),
              {"name", "listen", "connect_timeout", "idle_timeout", "health", "forward"});

    if (table.get("listen") == nullptr) {
      Error(table.source(), absl::StrCat(path,
                                         ": missing required key \"listen\" (e.g. listen = "
                                         "\"0.0.0.0:8200\")"));
    } else if (auto listen = GetAddress(table, "listen", absl::StrCat(path, ".listen"),
                                        net::PortZero::kAllow, &server.listen_address)) {
      server.listen = *listen;
      server.name = listen->ToString();
    }

    if (auto name = GetString(table, "name", absl::StrCat(path, ".name"), "web")) {
      if (IsValidPoolName(*name)) {
        server.name = *name;
      } else {
        Error(table.get("name")->source(),
              absl::StrCat(path, ".name: invalid pool name \"", *name,
                           "\" (valid: 1-64 characters from A-Z a-z 0-9 . _ - : [ ])"));
      }
    }

    if (auto timeout = GetDuration(table, "connect_timeout", absl::StrCat(path, ".connect_timeout"),
                                   "3s", kMinConnectTimeout, kMaxConnectTimeout)) {
      server.connect_timeout = *timeout;
    }
    if (auto idle = GetDuration(table, "idle_timeout", absl::StrCat(path, ".idle_timeout"), "1h",
                                absl::Seconds(1), absl::Hours(24 * 7))) {
      server.idle_timeout = *idle;
    }
    ReadHealth(table, path, server.health);

    ReadForward(table, path, server);
    return errors_.size() == errors_before;
  }

  void ReadHealth(const toml::table& server_table, const std::string& server_path,
                  HealthCheckConfig& health) {
    const std::string path = absl::StrCat(server_path, ".health");
    const toml::table* table = GetTable(server_table, "health", path);
    if (table == nullptr) return;
    CheckKeys(
        *table, "[server.health]",
        {"check", "interval", "timeout", "rise", "fall", "passive_failures", "when_all_unhealthy"});
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
            GetAddress(*table, "listen", "metrics.listen", net::PortZero::kAllow, &resolved)) {
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

  void ReadForward(const toml::table& server_table, const std::string& server_path,
                   ServerConfig& server) {
    const toml::node* node = server_table.get("forward");
    if (node == nullptr) {
      Error(server_table.source(),
            absl::StrCat(server_path,
                         ": missing [[server.forward]] with the algorithm and "
                         "backends of this server"));
      return;
    }
    const toml::array* forwards = node->as_array();
    if (forwards == nullptr || !forwards->is_array_of_tables()) {
      Error(node->source(), absl::StrCat(server_path,
                                         ".forward: expected an array of tables: "
                                         "write [[server.forward]]"));
      return;
    }
    if (forwards->size() != 1) {
      Error(forwards->get(1)->source(),
            absl::StrCat(server_path,
                         ": exactly one [[server.forward]] per server is supported, "
                         "found ",
                         forwards->size(), " (routing between several is not implemented)"));
      return;
    }
    const toml::table& forward = *forwards->get(0)->as_table();
    const std::string path = absl::StrCat(server_path, ".forward[0]");
    CheckKeys(forward, "[[server.forward]]", {"algorithm", "backends"});

    if (auto algorithm = GetString(forward, "algorithm", absl::StrCat(path, ".algorithm"), "WRR")) {
      absl::StatusOr<balance::Algorithm> parsed = balance::ParseAlgorithm(*algorithm);
      if (parsed.ok()) {
        server.algorithm = *parsed;
      } else {
        Error(forward.get("algorithm")->source(),
              absl::StrCat(path, ".algorithm: ", parsed.status().message()));
      }
    }

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
                                           net::PortZero::kRefuse, &backend.resolved)) {
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
      for (const BackendConfig& earlier : server.backends) {
        if (earlier.resolved == backend.resolved) {
          Error(entry.source(),
                absl::StrCat(entry_path, ": backend \"", backend.address.ToString(),
                             "\" is listed twice in pool \"", server.name, "\" (as \"",
                             earlier.address.ToString(), "\" before)"));
          ok = false;
          break;
        }
      }
      if (ok) server.backends.push_back(std::move(backend));
    }
    if (has_weights && server.algorithm == balance::Algorithm::kRoundRobin) {
      Warn(backends_node->source(),
           absl::StrCat("pool \"", server.name,
                        "\" uses algorithm RR, which ignores weights; use WRR to honour them"));
    }
  }

  // A backend that is one of this node's own listeners would make every connection loop back
  // into the node until it runs out of descriptors.
  void CheckNoBackendIsAListener(const Config& config) {
    for (const ServerConfig& server : config.servers) {
      for (const BackendConfig& backend : server.backends) {
        for (const ServerConfig& listener : config.servers) {
          if (net::WouldReachListener(backend.resolved, listener.listen_address)) {
            errors_.push_back(absl::StrCat(
                source_, ":", backend.line, ":", backend.column, ": pool \"", server.name,
                "\": backend \"", backend.address.ToString(), "\" is this node's own listener \"",
                listener.listen.ToString(), "\" (server \"", listener.name,
                "\"): its connections would loop back into the node"));
          }
        }
      }
    }
  }

  // Every listener of the node (pools, control, health, metrics) needs its own address, so
  // that a config that could not start is refused before anything listens.
  void CheckListenersAreDistinct(const Config& config) {
    struct Listener {
      std::string what;  // for "is already used by ..."
      std::string key;   // the setting, as the error names it
      net::SocketAddress address;
      int line;  // 0: the default, not written in the file
      // gRPC binds "[::]" for IPv4 too (IPV6_V6ONLY off); plby's own listeners do not.
      bool dual_stack = false;
    };
    const auto line_of = [&](const std::string& key) {
      auto it = address_lines_.find(key);
      return it == address_lines_.end() ? 0 : it->second;
    };
    std::vector<Listener> listeners;
    const auto add_grpc = [&](std::string what, std::string key,
                              const net::SocketAddress& address) {
      const int line = line_of(key);
      listeners.push_back({std::move(what), std::move(key), address, line,
                           address.family() == AF_INET6 && address.IsWildcard()});
    };
    add_grpc("the control service", "control.listen", config.control.listen_address);
    if (config.control.health_listen) {
      add_grpc("the health service", "control.health_listen", config.control.health_listen_address);
    }
    if (config.metrics.listen) {
      listeners.push_back({"the metrics listener", "metrics.listen", config.metrics.listen_address,
                           line_of("metrics.listen")});
    }
    for (const ServerConfig& server : config.servers) {
      listeners.push_back({absl::StrCat("server \"", server.name, "\""),
                           absl::StrCat("server \"", server.name, "\": listen"),
                           server.listen_address, server.line});
    }
    for (size_t i = 0; i < listeners.size(); ++i) {
      const Listener& listener = listeners[i];
      const net::SocketAddress& address = listener.address;
      if (address.port() == 0) continue;  // each port-0 listener gets a port of its own
      for (size_t j = 0; j < i; ++j) {
        const Listener& other = listeners[j];
        if (other.address.port() != address.port()) continue;
        const bool same = other.address == address;
        if (!same) {
          const bool dual_stack = listener.dual_stack || other.dual_stack;
          if (other.address.family() != address.family() && !dual_stack) continue;
          if (!other.address.IsWildcard() && !address.IsWildcard()) continue;
        }
        const std::string other_place =
            other.line > 0 ? absl::StrCat(other.what, " at line ", other.line) : other.what;
        const std::string place = listener.line > 0
                                      ? absl::StrCat(source_, ":", listener.line, ":1")
                                      : absl::StrCat(source_, ": (default)");
        errors_.push_back(
            absl::StrCat(place, ": ", listener.key, " \"", address.ToString(), "\" ",
                         same ? "is already used by " : "overlaps ", other_place,
                         same ? "" : absl::StrCat(" (\"", other.address.ToString(), "\")"),
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

absl::StatusOr<Config> ParseConfig(absl::string_view toml_text, absl::string_view source_name,
                                   const ParseOptions& options) {
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
