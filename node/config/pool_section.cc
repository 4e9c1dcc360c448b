// [[pool]] tables and the pool settings an inline forward carries: balancing, backends,
// timeouts and [pool.health] / [server.health].
#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "balance/algorithm.h"
#include "balance/settings.h"
#include "config/validator.h"
#include "net/backend_addresses.h"
#include "text/quote.h"

namespace plby::config::detail {

void Validator::ReadPools(const toml::table& root, Config& config) {
  const toml::node* node = root.get("pool");
  if (node == nullptr) {
    if (options_.desired_pools && root.get("server") == nullptr) {
      Error(root.source(),
            "no [[pool]] is defined: a file of desired pools holds [[pool]] tables (name, "
            "algorithm, backends), as a node's config does");
    }
    return;
  }
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
              {"name", "algorithm", "backends", "discover", "slow_start", "hash",
               "maglev_table_size", "connect_timeout", "idle_timeout", "health", "send_proxy",
               "tls", "keepalive", "keepalive_timeout", "retry_budget_percent"});
    PoolConfig pool;
    pool.line = static_cast<int>(table.source().begin.line);
    if (table.get("name") == nullptr) {
      Error(table.source(),
            absl::StrCat(path,
                         ": missing required key \"name\" (e.g. name = \"api\"), which "
                         "servers forward to with pool = \"api\""));
    } else if (auto name = GetName(table, path, "pool name", "api")) {
      pool.name = *name;
    }
    ReadPoolTimeouts(table, path, "[pool.health]", pool);
    ReadBalance(table, path, pool);
    ReadSendProxy(table, path, pool);
    ReadKeepalive(table, path, pool);
    ReadPoolTls(table, path, pool);
    if (table.get("discover") != nullptr) {
      ReadDiscover(table, path, pool);
    } else {
      ReadBackends(table, path, pool);
    }
    if (errors_.size() == errors_before) {
      config.pools.push_back(std::move(pool));
    } else if (!pool.name.empty()) {
      refused_pools_.insert(pool.name);
    }
  }
}

void Validator::CheckPoolNames(Config& config) {
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
  std::set<std::string> used_by_http;
  for (const ServerConfig& server : config.servers) {
    for (const RouteConfig& route : server.routes) {
      used.insert(route.pool);
      if (server.mode == ListenerMode::kHttp) used_by_http.insert(route.pool);
      if (const auto it = by_name.find(route.pool); it != by_name.end()) {
        if (route.tls == RouteTls::kPassthrough && it->second->tls) {
          errors_.push_back(absl::StrCat(
              source_, ":", route.line, ":1: server ", text::Quote(server.name),
              " passes TLS through to pool ", text::Quote(route.pool),
              ", whose [pool.tls] would wrap the client's TLS in a second one: a passthrough "
              "route's backends terminate the client's TLS themselves (drop [pool.tls], or "
              "terminate here with tls = \"terminate\")"));
        }
        continue;
      }
      if (refused_pools_.contains(route.pool)) continue;  // its own errors say why
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
    if (used.contains(pool.name) && !used_by_http.contains(pool.name) &&
        pool.balance.hash.from_request() && balance::UsesHash(pool.balance)) {
      warnings_.push_back(
          absl::StrCat(source_, ":", pool.line, ":1: pool ", text::Quote(pool.name), " hashes ",
                       balance::HashKeyName(pool.balance.hash),
                       ", which only HTTP listeners read, and only TCP servers use it: ",
                       pool.balance.algorithm == balance::Algorithm::kMaglev
                           ? "maglev hashes each client's address instead"
                           : "its draws are random instead"));
    }
    if (!used.contains(pool.name) && !options_.desired_pools) {
      warnings_.push_back(absl::StrCat(
          source_, ":", pool.line, ":1: pool ", text::Quote(pool.name),
          " is used by no server: it can be read and changed through the control service, but "
          "takes no traffic"));
    }
  }
}

void Validator::ReadSendProxy(const toml::table& table, const std::string& path, PoolConfig& pool) {
  if (std::optional<size_t> version =
          GetChoice(table, "send_proxy", absl::StrCat(path, ".send_proxy"), {"v1", "v2"})) {
    pool.send_proxy = *version == 0 ? ProxyProtocol::kV1 : ProxyProtocol::kV2;
  }
}

void Validator::ReadKeepalive(const toml::table& table, const std::string& path, PoolConfig& pool) {
  if (auto idle = GetInteger(table, "keepalive", absl::StrCat(path, ".keepalive"), 0, 4096)) {
    pool.keepalive = *idle;
  }
  if (auto budget = GetInteger(table, "retry_budget_percent",
                               absl::StrCat(path, ".retry_budget_percent"), 0, 100)) {
    pool.retry_budget_percent = *budget;
  }
  if (auto timeout =
          GetDuration(table, "keepalive_timeout", absl::StrCat(path, ".keepalive_timeout"), "4s",
                      absl::Milliseconds(100), absl::Hours(1))) {
    pool.keepalive_timeout = *timeout;
  }
}

void Validator::ReadPoolTls(const toml::table& table, const std::string& path, PoolConfig& pool) {
  const std::string tls_path = absl::StrCat(path, ".tls");
  const toml::table* section = GetTable(table, "tls", tls_path);
  if (section == nullptr) return;
  CheckKeys(*section, "[pool.tls]",
            {"enabled", "ca", "verify", "server_name", "cert", "key", "ciphers", "ciphersuites",
             "groups"});
  const size_t errors_before = errors_.size();
  if (!GetBool(*section, "enabled", absl::StrCat(tls_path, ".enabled")).value_or(false)) {
    if (section->get("enabled") == nullptr) {
      Error(section->source(), absl::StrCat(tls_path,
                                            ": say enabled = true to speak TLS to the backends "
                                            "(or leave [pool.tls] out)"));
    }
    return;
  }
  tls::ClientTlsSettings settings;
  settings.verify = GetBool(*section, "verify", absl::StrCat(tls_path, ".verify")).value_or(true);
  const auto read_file = [&](absl::string_view key, std::string& file, std::string& bytes) {
    std::optional<std::string> configured =
        GetString(*section, key, absl::StrCat(tls_path, ".", key), absl::StrCat(key, ".pem"));
    if (!configured) return;
    file = ResolveRelative(*configured);
    if (!options_.touch_the_world) return;
    absl::StatusOr<std::string> read = ReadSmallFile(file);
    if (!read.ok()) {
      Error(section->get(ToStd(key))->source(),
            absl::StrCat(tls_path, ".", key, " ", text::Quote(*configured), ": ",
                         read.status().message()));
    } else {
      bytes = *std::move(read);
    }
  };
  read_file("ca", settings.ca_file, settings.ca_pem);
  read_file("cert", settings.cert_file, settings.cert_pem);
  read_file("key", settings.key_file, settings.key_pem);
  ReadCipherSettings(*section, tls_path, settings.ciphers);
  if (settings.verify && section->get("ca") == nullptr) {
    Error(section->source(),
          absl::StrCat(tls_path,
                       ": missing ca, the CA file the backends' certificates are checked against "
                       "(or verify = false, which lets anyone on the path pose as a backend)"));
  }
  if ((section->get("cert") == nullptr) != (section->get("key") == nullptr)) {
    Error(section->source(), absl::StrCat(tls_path,
                                          ": cert and key go together (the client certificate "
                                          "shown to backends that ask for one)"));
  }
  if (auto name = GetString(*section, "server_name", absl::StrCat(tls_path, ".server_name"),
                            "api.internal")) {
    settings.server_name = *name;
  } else if (const toml::node* discover = table.get("discover");
             discover != nullptr && discover->as_table() != nullptr) {
    // Discovered backends are addresses: the name they were found by is what their
    // certificates are for.
    if (auto dns = GetString(*discover->as_table(), "dns", absl::StrCat(path, ".discover.dns"),
                             "web.default.svc.cluster.local:8080")) {
      absl::StatusOr<net::HostPort> parsed = net::ParseHostPort(*dns, net::AddressUse::kConnect);
      if (parsed.ok()) settings.server_name = parsed->host;
    }
  }
  if (!settings.verify) {
    Warn(section->get("verify")->source(),
         absl::StrCat(tls_path,
                      ".verify = false: the backends' certificates are not checked, "
                      "so anyone on the path can pose as one"));
  }
  if (errors_.size() != errors_before) return;
  if (options_.touch_the_world) {
    absl::StatusOr<std::shared_ptr<const tls::ClientContext>> loaded =
        tls::ClientContext::Load(settings, 1);
    if (!loaded.ok()) {
      Error(section->source(), absl::StrCat(tls_path, ": ", loaded.status().message()));
      return;
    }
  }
  pool.tls = std::move(settings);
}

void Validator::ReadDiscover(const toml::table& table, const std::string& path, PoolConfig& pool) {
  const std::string discover_path = absl::StrCat(path, ".discover");
  if (const toml::node* backends = table.get("backends")) {
    Error(backends->source(),
          absl::StrCat(path,
                       ": backends and discover exclude each other: a pool that discovers its "
                       "backends in DNS lists none"));
  }
  const toml::table* discover = GetTable(table, "discover", discover_path);
  if (discover == nullptr) return;
  CheckKeys(*discover, "discover", {"dns", "every", "hold_nx"});
  DiscoverConfig config;
  if (discover->get("dns") == nullptr) {
    Error(
        discover->source(),
        absl::StrCat(discover_path,
                     ": missing required key \"dns\" (e.g. dns = "
                     "\"web.default.svc.cluster.local:8080\": the name, and the backends' port)"));
    return;
  }
  std::optional<std::string> dns = GetString(*discover, "dns", absl::StrCat(discover_path, ".dns"),
                                             "web.default.svc.cluster.local:8080");
  if (!dns) return;
  absl::StatusOr<net::HostPort> name = net::ParseHostPort(*dns, net::AddressUse::kConnect);
  if (!name.ok()) {
    Error(discover->get("dns")->source(),
          absl::StrCat(discover_path, ".dns: ", name.status().message()));
    return;
  }
  config.dns = *name;
  if (auto every = GetDuration(*discover, "every", absl::StrCat(discover_path, ".every"), "5s",
                               absl::Seconds(1), absl::Hours(1))) {
    config.every = *every;
  }
  if (auto hold = GetDuration(*discover, "hold_nx", absl::StrCat(discover_path, ".hold_nx"), "30s",
                              absl::ZeroDuration(), absl::Hours(24))) {
    config.hold_nx = *hold;
  }
  pool.discover = config;
}

void Validator::ReadPoolTimeouts(const toml::table& table, const std::string& path,
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

void Validator::ReadBalance(const toml::table& table, const std::string& path, PoolConfig& pool) {
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
      Error(table.get("hash")->source(), absl::StrCat(path, ".hash: ", parsed.status().message()));
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
  if (const toml::node* unused = table.get("hash");
      unused != nullptr && !balance::UsesHash(pool.balance)) {
    Warn(unused->source(),
         absl::StrCat(path,
                      ".hash applies to algorithm maglev, and to p2c in HTTP mode when it "
                      "is header:NAME or cookie:NAME; ",
                      info.name, " ignores this one"));
  }
  if (const toml::node* unused = table.get("maglev_table_size");
      unused != nullptr && !balance::UsesTableSize(pool.balance)) {
    Warn(unused->source(), absl::StrCat(path,
                                        ".maglev_table_size applies to algorithm maglev "
                                        "only; ",
                                        info.name, " ignores it"));
  }
}

void Validator::ReadHealth(const toml::table& owner, const std::string& owner_path,
                           absl::string_view context, HealthCheckConfig& health) {
  const std::string path = absl::StrCat(owner_path, ".health");
  const toml::table* table = GetTable(owner, "health", path);
  if (table == nullptr) return;
  CheckKeys(*table, context,
            {"check", "interval", "timeout", "rise", "fall", "passive_failures", "passive_cooldown",
             "when_all_unhealthy", "path", "host", "expect"});
  if (auto check =
          GetChoice(*table, "check", absl::StrCat(path, ".check"), {"tcp", "none", "http"})) {
    health.enabled = *check != 1;
    if (*check == 2) health.http = HttpHealthCheck{};
  }
  ReadHttpHealth(*table, path, health);
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
  if (auto passive = GetInteger(*table, "passive_failures", absl::StrCat(path, ".passive_failures"),
                                0, 1000)) {
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
  if (auto policy = GetChoice(*table, "when_all_unhealthy",
                              absl::StrCat(path, ".when_all_unhealthy"), {"fail_open", "refuse"})) {
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

void Validator::ReadHttpHealth(const toml::table& table, const std::string& path,
                               HealthCheckConfig& health) {
  if (!health.http) {
    for (absl::string_view key : {"path", "host", "expect"}) {
      if (const toml::node* extra = table.get(ToStd(key))) {
        Error(extra->source(), absl::StrCat(path, ".", key,
                                            ": belongs to HTTP checks; say check = "
                                            "\"http\" to check with a request"));
      }
    }
    return;
  }
  HttpHealthCheck& http = *health.http;
  const auto visible = [](absl::string_view text) {
    if (text.empty()) return false;
    for (const char c : text) {
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
  };
  if (auto request_path = GetString(table, "path", absl::StrCat(path, ".path"), "/healthz")) {
    if (!visible(*request_path) || request_path->front() != '/') {
      Error(table.get("path")->source(),
            absl::StrCat(path, ".path: ", text::Quote(*request_path),
                         " is not a request path (valid: starts with '/', visible ASCII, like "
                         "\"/healthz\")"));
    } else {
      http.path = *std::move(request_path);
    }
  }
  if (auto host = GetString(table, "host", absl::StrCat(path, ".host"), "api.example.com")) {
    if (!visible(*host)) {
      Error(table.get("host")->source(),
            absl::StrCat(path, ".host: ", text::Quote(*host),
                         " is not a Host value (valid: a name, optionally with :port)"));
    } else {
      http.host = *std::move(host);
    }
  }
  if (auto expect = GetString(table, "expect", absl::StrCat(path, ".expect"), "200-399")) {
    const std::vector<absl::string_view> bounds = absl::StrSplit(*expect, '-');
    int low = 0;
    int high = 0;
    const bool parsed =
        (bounds.size() == 1 || bounds.size() == 2) && absl::SimpleAtoi(bounds.front(), &low) &&
        absl::SimpleAtoi(bounds.back(), &high) && low >= 100 && high <= 599 && low <= high;
    if (!parsed) {
      Error(table.get("expect")->source(),
            absl::StrCat(path, ".expect: ", text::Quote(*expect),
                         " is not a status range (valid: \"200\" or \"200-399\", within "
                         "100-599)"));
    } else {
      http.expect_min = low;
      http.expect_max = high;
    }
  }
}

void Validator::ReadBackends(const toml::table& forward, const std::string& path,
                             PoolConfig& pool) {
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
    Warn(backends_node->source(),
         absl::StrCat("pool \"", pool.name, "\" has no backends: ",
                      options_.desired_pools
                          ? "apply removes every backend it has on the nodes"
                          : "its connections are closed until backends are added through the "
                            "control service"));
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
    CheckKeys(*table, "a backend", {"address", "weight", "draining"});
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
    if (table->get("draining") != nullptr) {
      backend.draining = GetBool(*table, "draining", absl::StrCat(entry_path, ".draining"));
      ok = ok && backend.draining.has_value();
    }
    if (!ok) continue;
    if (const std::optional<size_t> earlier = seen.Find(backend.address, &backend.resolved)) {
      Error(entry.source(), absl::StrCat(entry_path, ": backend \"", backend.address.ToString(),
                                         "\" is listed twice in pool \"", pool.name, "\" (as \"",
                                         pool.backends[*earlier].address.ToString(), "\" before)"));
      continue;
    }
    seen.Add(pool.backends.size(), backend.address, &backend.resolved);
    pool.backends.push_back(std::move(backend));
  }
  if (has_weights && !balance::Describe(pool.balance.algorithm).uses_weights) {
    Warn(backends_node->source(), absl::StrCat("pool \"", pool.name, "\" uses algorithm ",
                                               balance::AlgorithmName(pool.balance.algorithm),
                                               ", which ignores weights; use WRR to honour them"));
  }
}

}  // namespace plby::config::detail
