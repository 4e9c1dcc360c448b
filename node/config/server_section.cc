// [[server]] tables: listeners and their [[server.forward]].
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/validator.h"
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

bool Validator::ReadServer(const toml::table& table, const std::string& path, ServerConfig& server,
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
  if (auto name = GetName(table, path, "name", "web")) server.name = *name;

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
              absl::StrCat(forward_path, ".", key, ": this forward names pool ", text::Quote(*pool),
                           ", whose ", key,
                           " is set in its [[pool]] table; a forward has either pool = or "
                           "its own backends"));
      }
    }
    for (absl::string_view key : {"connect_timeout", "idle_timeout", "health"}) {
      if (const toml::node* extra = table.get(ToStd(key))) {
        Error(extra->source(), absl::StrCat(path, ".", key, ": server ", text::Quote(server.name),
                                            " forwards to pool ", text::Quote(*pool), ", so ", key,
                                            " belongs in that pool's [[pool]] table"));
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

const toml::table* Validator::ReadForwardTable(const toml::table& server_table,
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

}  // namespace plby::config::detail
