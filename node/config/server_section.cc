// [[server]] tables: listeners and their [[server.forward]].
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/validator.h"
#include "route/route_table.h"
#include "text/quote.h"

namespace plby::config::detail {

void Validator::ReadServers(const toml::table& root, Config& config) {
  const toml::node* node = root.get("server");
  if (node == nullptr) {
    if (!options_.desired_pools) {
      Error(root.source(),
            "no [[server]] is defined: add one with listen and a [[server.forward]]");
    }
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
    std::vector<PoolConfig> inline_pools;
    if (ReadServer(table, absl::StrCat("server[", i, "]"), server, inline_pools)) {
      const auto [it, inserted] = name_lines.emplace(server.name, server.line);
      if (!inserted) {
        Error(table.source(),
              absl::StrCat("duplicate server name \"", server.name, "\" (first used at line ",
                           it->second, "); give each [[server]] its own name"));
      } else {
        for (PoolConfig& pool : inline_pools) config.pools.push_back(std::move(pool));
      }
      config.servers.push_back(std::move(server));
    }
  }
}

bool Validator::ReadServer(const toml::table& table, const std::string& path, ServerConfig& server,
                           std::vector<PoolConfig>& inline_pools) {
  const size_t errors_before = errors_.size();
  server.line = static_cast<int>(table.source().begin.line);
  CheckKeys(table, absl::StrCat("[[server]] (", path, ")"),
            {"name", "listen", "connect_timeout", "idle_timeout", "health", "forward",
             "accept_proxy", "trusted", "handshake_timeout"});

  if (table.get("listen") == nullptr) {
    Error(table.source(), absl::StrCat(path,
                                       ": missing required key \"listen\" (e.g. listen = "
                                       "\"0.0.0.0:8200\")"));
  } else if (auto listen = GetAddress(table, "listen", absl::StrCat(path, ".listen"),
                                      net::AddressUse::kListen, &server.listen_address)) {
    server.listen = *listen;
    server.name = listen->ToString();
  }
  if (auto name = GetName(table, path, "name", "web")) server.name = *name;
  ReadAcceptProxy(table, path, server);

  const toml::array* forwards = ReadForwardArray(table, path);
  if (forwards == nullptr) return false;
  bool inline_pool_read = false;
  for (size_t i = 0; i < forwards->size(); ++i) {
    const toml::table& forward = *forwards->get(i)->as_table();
    const std::string forward_path = absl::StrCat(path, ".forward[", i, "]");
    CheckKeys(forward, "[[server.forward]]",
              {"pool", "sni", "tls", "algorithm", "backends", "slow_start", "hash",
               "maglev_table_size", "send_proxy"});
    // The first forward's inline pool is named after the server, as the seed's one forward
    // always was (state files and scripts know it by that name); later ones get "[i]".
    RouteConfig route{.pool = i == 0 ? server.name : absl::StrCat(server.name, "[", i, "]"),
                      .sni = {},
                      .tls = RouteTls::kNone,
                      .line = static_cast<int>(forward.source().begin.line)};
    ReadRouteMatch(forward, forward_path, route);
    if (auto pool = GetString(forward, "pool", absl::StrCat(forward_path, ".pool"), "api")) {
      route.pool = *pool;
      // The pool's settings are in its [[pool]] table; here they would be a second copy.
      for (absl::string_view key :
           {"algorithm", "backends", "slow_start", "hash", "maglev_table_size", "send_proxy"}) {
        if (const toml::node* extra = forward.get(ToStd(key))) {
          Error(extra->source(), absl::StrCat(forward_path, ".", key, ": this forward names pool ",
                                              text::Quote(*pool), ", whose ", key,
                                              " is set in its [[pool]] table; a forward has "
                                              "either pool = or its own backends"));
        }
      }
    } else if (forward.get("pool") == nullptr) {
      if (!IsValidPoolName(route.pool)) {
        Error(
            forward.source(),
            absl::StrCat(forward_path, ": its inline pool would be named ", text::Quote(route.pool),
                         ", which is not a valid pool name (1-64 characters); give the server "
                         "a shorter name, or name a [[pool]] with pool ="));
      }
      PoolConfig pool;
      pool.name = route.pool;
      pool.line = i == 0 ? server.line : route.line;
      pool.inline_in_server = true;
      ReadPoolTimeouts(table, path, "[server.health]", pool);
      ReadBalance(forward, forward_path, pool);
      ReadSendProxy(forward, forward_path, pool);
      ReadBackends(forward, forward_path, pool);
      inline_pools.push_back(std::move(pool));
      inline_pool_read = true;
    }
    server.routes.push_back(std::move(route));
  }
  if (!inline_pool_read && !server.routes.empty()) {
    std::vector<std::string> pools;
    for (const RouteConfig& route : server.routes) pools.push_back(text::Quote(route.pool));
    for (absl::string_view key : {"connect_timeout", "idle_timeout", "health"}) {
      if (const toml::node* extra = table.get(ToStd(key))) {
        Error(extra->source(),
              absl::StrCat(path, ".", key, ": server ", text::Quote(server.name),
                           pools.size() == 1 ? " forwards to pool " : " forwards to pools ",
                           absl::StrJoin(pools, ", "), ", so ", key,
                           pools.size() == 1 ? " belongs in that pool's [[pool]] table"
                                             : " belongs in those pools' [[pool]] tables"));
      }
    }
  }
  CheckRoutes(path, server);
  if (auto timeout =
          GetDuration(table, "handshake_timeout", absl::StrCat(path, ".handshake_timeout"), "10s",
                      absl::Milliseconds(100), absl::Minutes(5))) {
    if (!server.reads_client_hello()) {
      Error(table.get("handshake_timeout")->source(),
            absl::StrCat(path,
                         ".handshake_timeout: bounds the wait for a ClientHello, which only a "
                         "server with tls = \"passthrough\" forwards reads"));
    }
    server.handshake_timeout = *timeout;
  }
  return errors_.size() == errors_before;
}

void Validator::ReadRouteMatch(const toml::table& forward, const std::string& path,
                               RouteConfig& route) {
  if (const toml::node* sni = forward.get("sni")) {
    const toml::array* names = sni->as_array();
    if (names == nullptr || names->empty()) {
      Error(sni->source(), absl::StrCat(path,
                                        ".sni: expected a non-empty list of server names, like "
                                        "[\"api.example.com\", \"*.example.com\"]"));
    } else {
      for (const toml::node& name : *names) {
        const auto* text = name.as_string();
        if (text == nullptr) {
          Error(name.source(), absl::StrCat(path, ".sni: expected server names (strings), got a ",
                                            TypeName(name)));
          continue;
        }
        absl::StatusOr<std::string> pattern = route::NormalizeSniPattern(ToAbsl(text->get()));
        if (!pattern.ok()) {
          Error(name.source(), absl::StrCat(path, ".sni: ", pattern.status().message()));
        } else {
          route.sni.push_back(*std::move(pattern));
        }
      }
    }
  }
  if (std::optional<size_t> tls =
          GetChoice(forward, "tls", absl::StrCat(path, ".tls"), {"passthrough", "terminate"})) {
    if (*tls == 0) {
      route.tls = RouteTls::kPassthrough;
    } else {
      Error(forward.get("tls")->source(),
            absl::StrCat(path,
                         ".tls: \"terminate\" is not built yet (TLS termination is in progress); "
                         "valid now: \"passthrough\" (route by the ClientHello's server name and "
                         "relay the TLS bytes unchanged to a backend that terminates them)"));
    }
  }
}

void Validator::CheckRoutes(const std::string& path, const ServerConfig& server) {
  const RouteConfig* first_default = nullptr;
  std::map<std::string, int> pattern_lines;
  bool any_passthrough = false;
  for (const RouteConfig& route : server.routes) {
    any_passthrough |= route.tls == RouteTls::kPassthrough;
    if (route.sni.empty()) {
      if (first_default != nullptr) {
        errors_.push_back(
            absl::StrCat(source_, ":", route.line, ":1: ", path,
                         ": a second forward without sni (the first "
                         "is at line ",
                         first_default->line,
                         "); only one forward may take the connections no sni route matches"));
      } else {
        first_default = &route;
      }
    }
    for (const std::string& pattern : route.sni) {
      const auto [it, inserted] = pattern_lines.emplace(pattern, route.line);
      if (!inserted) {
        warnings_.push_back(absl::StrCat(source_, ":", route.line, ":1: ", path, ": sni ",
                                         text::Quote(pattern),
                                         " never matches here: the forward "
                                         "at line ",
                                         it->second, " takes it first"));
      }
    }
  }
  for (const RouteConfig& route : server.routes) {
    if (!route.sni.empty() && route.tls == RouteTls::kNone) {
      errors_.push_back(absl::StrCat(
          source_, ":", route.line, ":1: ", path,
          ": a forward with sni routes by the TLS ClientHello: say tls = \"passthrough\" (the "
          "only TLS mode built so far)"));
    } else if (any_passthrough && route.tls == RouteTls::kNone) {
      errors_.push_back(absl::StrCat(
          source_, ":", route.line, ":1: ", path,
          ": every forward of a listener that passes TLS through reads the ClientHello, so this "
          "one takes TLS too: say tls = \"passthrough\" here as well (plaintext clients of such "
          "a listener are refused)"));
    }
  }
}

void Validator::ReadAcceptProxy(const toml::table& table, const std::string& path,
                                ServerConfig& server) {
  const std::optional<bool> accept =
      GetBool(table, "accept_proxy", absl::StrCat(path, ".accept_proxy"));
  const toml::node* trusted = table.get("trusted");
  if (!accept.value_or(false)) {
    if (trusted != nullptr) {
      Error(trusted->source(),
            absl::StrCat(path,
                         ".trusted: names who may send a PROXY header, which only a server with "
                         "accept_proxy = true reads"));
    }
    return;
  }
  const std::string trusted_path = absl::StrCat(path, ".trusted");
  if (trusted == nullptr) {
    Error(table.get("accept_proxy")->source(),
          absl::StrCat(path,
                       ": accept_proxy = true needs trusted = [...], the sources that must send "
                       "the header (e.g. [\"10.0.0.0/8\"]; [\"0.0.0.0/0\", \"::/0\"] for any): a "
                       "header from anyone else would let them pose as any client"));
    return;
  }
  const toml::array* list = trusted->as_array();
  if (list == nullptr || list->empty()) {
    Error(trusted->source(), absl::StrCat(trusted_path,
                                          ": expected a non-empty list of networks, like "
                                          "[\"10.0.0.0/8\", \"fd00::/8\", \"192.168.1.7\"]"));
    return;
  }
  AcceptProxyConfig accept_proxy;
  for (const toml::node& entry : *list) {
    const auto* text = entry.as_string();
    if (text == nullptr) {
      Error(entry.source(),
            absl::StrCat(trusted_path, ": expected networks (strings), got a ", TypeName(entry)));
      continue;
    }
    absl::StatusOr<net::Cidr> network = net::Cidr::Parse(ToAbsl(text->get()));
    if (!network.ok()) {
      Error(entry.source(), absl::StrCat(trusted_path, ": ", network.status().message()));
    } else {
      accept_proxy.trusted.push_back(*network);
    }
  }
  server.accept_proxy = std::move(accept_proxy);
}

const toml::array* Validator::ReadForwardArray(const toml::table& server_table,
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
  if (forwards == nullptr || !forwards->is_array_of_tables() || forwards->empty()) {
    Error(node->source(), absl::StrCat(server_path,
                                       ".forward: expected an array of tables: "
                                       "write [[server.forward]]"));
    return nullptr;
  }
  if (forwards->size() > kMaxRoutesPerServer) {
    Error(node->source(),
          absl::StrCat(server_path, ": ", forwards->size(), " forwards; a server may have at most ",
                       kMaxRoutesPerServer));
    return nullptr;
  }
  return forwards;
}

}  // namespace plby::config::detail
