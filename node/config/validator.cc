// The readers every section uses, the walk over the document, and the checks across sections.
#include "config/validator.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/duration.h"
#include "files/read_file.h"
#include "text/quote.h"

namespace plby::config::detail {

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

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = files::ReadFile(path, files::kMaxPemBytes);
  if (bytes.ok()) return bytes;
  if (absl::IsFailedPrecondition(bytes.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat(bytes.status().message(), ": not a certificate, key or CA file"));
  }
  return absl::Status(bytes.status().code(),
                      absl::StrCat("cannot read it: ", bytes.status().message()));
}

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

Config Validator::Run(const toml::table& root) {
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

std::string Validator::Where(const toml::source_region& where) const {
  return absl::StrCat(source_, ":", where.begin.line, ":", where.begin.column);
}

void Validator::Error(const toml::source_region& where, absl::string_view message) {
  errors_.push_back(absl::StrCat(Where(where), ": ", message));
}

void Validator::Warn(const toml::source_region& where, absl::string_view message) {
  warnings_.push_back(absl::StrCat(Where(where), ": ", message));
}

void Validator::CheckKeys(const toml::table& table, absl::string_view context,
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

std::optional<std::string> Validator::GetString(const toml::table& table, absl::string_view key,
                                                absl::string_view path, absl::string_view example) {
  const toml::node* node = table.get(ToStd(key));
  if (node == nullptr) return std::nullopt;
  if (const auto* text = node->as_string()) return text->get();
  Error(node->source(),
        absl::StrCat(path, ": expected a string like \"", example, "\", got a ", TypeName(*node)));
  return std::nullopt;
}

std::optional<absl::Duration> Validator::GetDuration(const toml::table& table,
                                                     absl::string_view key, absl::string_view path,
                                                     absl::string_view example, absl::Duration min,
                                                     absl::Duration max) {
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

std::optional<int64_t> Validator::GetInteger(const toml::table& table, absl::string_view key,
                                             absl::string_view path, int64_t min, int64_t max) {
  const toml::node* node = table.get(ToStd(key));
  if (node == nullptr) return std::nullopt;
  const auto* value = node->as_integer();
  if (value == nullptr) {
    Error(node->source(), absl::StrCat(path, ": expected an integer (", min, "-", max, "), got a ",
                                       TypeName(*node)));
    return std::nullopt;
  }
  if (value->get() < min || value->get() > max) {
    Error(node->source(),
          absl::StrCat(path, " ", value->get(), " is out of range (valid: ", min, "-", max, ")"));
    return std::nullopt;
  }
  return value->get();
}

std::optional<bool> Validator::GetBool(const toml::table& table, absl::string_view key,
                                       absl::string_view path) {
  const toml::node* node = table.get(ToStd(key));
  if (node == nullptr) return std::nullopt;
  if (const auto* value = node->as_boolean()) return value->get();
  Error(node->source(), absl::StrCat(path, ": expected true or false, got a ", TypeName(*node)));
  return std::nullopt;
}

std::optional<std::string> Validator::GetName(const toml::table& table, absl::string_view path,
                                              absl::string_view what, absl::string_view example) {
  std::optional<std::string> name = GetString(table, "name", absl::StrCat(path, ".name"), example);
  if (!name || IsValidPoolName(*name)) return name;
  Error(table.get("name")->source(),
        absl::StrCat(path, ".name: invalid ", what, " ", text::Quote(*name),
                     " (valid: 1-64 characters from A-Z a-z 0-9 . _ - : [ ])"));
  return std::nullopt;
}

std::optional<size_t> Validator::GetChoice(const toml::table& table, absl::string_view key,
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

const toml::table* Validator::GetTable(const toml::table& table, absl::string_view key,
                                       absl::string_view path) {
  const toml::node* node = table.get(ToStd(key));
  if (node == nullptr) return nullptr;
  if (const toml::table* sub = node->as_table()) return sub;
  Error(node->source(),
        absl::StrCat(path, ": expected a table ([", path, "]), got a ", TypeName(*node)));
  return nullptr;
}

std::optional<net::HostPort> Validator::GetAddress(const toml::table& table, absl::string_view key,
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

std::string Validator::ResolveRelative(const std::string& path) const {
  if (path.empty() || path.front() == '/') return path;
  const size_t slash = source_.rfind('/');
  if (slash == std::string::npos) return path;
  return absl::StrCat(source_.substr(0, slash + 1), path);
}

void Validator::ReadCipherSettings(const toml::table& section, const std::string& tls_path,
                                   tls::CipherSettings& settings) {
  for (const auto& [key, field, example, check] :
       {std::tuple{"ciphers", &settings.ciphers, tls::kDefaultCiphers, &tls::CheckCiphers},
        std::tuple{"ciphersuites", &settings.ciphersuites, tls::kDefaultCiphersuites,
                   &tls::CheckCiphersuites},
        std::tuple{"groups", &settings.groups, tls::kDefaultGroups, &tls::CheckGroups}}) {
    const std::string key_path = absl::StrCat(tls_path, ".", key);
    std::optional<std::string> list = GetString(section, key, key_path, example);
    if (!list) continue;
    if (absl::Status valid = check(*list); !valid.ok()) {
      Error(section.get(key)->source(), absl::StrCat(key_path, ": ", valid.message()));
      continue;
    }
    *field = *std::move(list);
  }
}

void Validator::CheckNoBackendIsAListener(const Config& config) {
  const net::OwnListeners own = OwnListenersOf(config);
  // Read once: a wildcard listener is reached through any local address, and a pool may list
  // tens of thousands of backends.
  const net::LocalAddresses local = net::LocalAddresses::Read();
  for (const PoolConfig& server : config.pools) {
    for (const BackendConfig& backend : server.backends) {
      if (absl::Status reached = own.CheckBackend(backend.resolved, local); !reached.ok()) {
        errors_.push_back(absl::StrCat(source_, ":", backend.line, ":", backend.column, ": pool \"",
                                       server.name, "\": backend \"", backend.address.ToString(),
                                       "\": ", reached.message()));
      }
    }
  }
}

void Validator::CheckListenersAreDistinct(const Config& config) {
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
      const std::string place = listener.line > 0 ? absl::StrCat(source_, ":", listener.line, ":1")
                                                  : absl::StrCat(source_, ": (default)");
      errors_.push_back(
          absl::StrCat(place, ": ", listener.key, " \"", address.ToString(), "\" ",
                       same ? "is already used by " : "overlaps ", other_place,
                       same ? "" : absl::StrCat(" (\"", other.listener.address.ToString(), "\")"),
                       "; every listener needs its own address and port"));
    }
  }
}

}  // namespace plby::config::detail
