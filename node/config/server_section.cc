// [[server]] tables: listeners and their [[server.forward]].
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/validator.h"
#include "route/route_table.h"
#include "text/quote.h"
#include "tls/certificates.h"
#include "tls/server_context.h"

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
             "accept_proxy", "trusted", "handshake_timeout", "tls", "mode", "http"});

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
  ReadServerTls(table, path, server);
  ReadListenerMode(table, path, server);

  const toml::array* forwards = ReadForwardArray(table, path);
  if (forwards == nullptr) return false;
  bool inline_pool_read = false;
  for (size_t i = 0; i < forwards->size(); ++i) {
    const toml::table& forward = *forwards->get(i)->as_table();
    const std::string forward_path = absl::StrCat(path, ".forward[", i, "]");
    CheckKeys(forward, "[[server.forward]]",
              {"pool",
               "sni",
               "tls",
               "algorithm",
               "backends",
               "slow_start",
               "hash",
               "maglev_table_size",
               "send_proxy",
               "host",
               "path",
               "path_prefix",
               "methods",
               "headers",
               "timeout",
               "add_request_headers",
               "remove_request_headers",
               "strip_prefix",
               "keepalive",
               "keepalive_timeout",
               "retries",
               "retry_budget_percent"});
    // The first forward's inline pool is named after the server, as the seed's one forward
    // always was (state files and scripts know it by that name); later ones get "[i]".
    RouteConfig route{.pool = i == 0 ? server.name : absl::StrCat(server.name, "[", i, "]"),
                      .sni = {},
                      .tls = RouteTls::kNone,
                      .http_match = {},
                      .http = {},
                      .line = static_cast<int>(forward.source().begin.line)};
    ReadRouteMatch(forward, forward_path, route);
    ReadHttpRoute(forward, forward_path, server, route);
    // A listener with certificates terminates TLS unless the route says otherwise.
    if (server.tls && forward.get("tls") == nullptr) route.tls = RouteTls::kTerminate;
    if (auto pool = GetString(forward, "pool", absl::StrCat(forward_path, ".pool"), "api")) {
      route.pool = *pool;
      // The pool's settings are in its [[pool]] table; here they would be a second copy.
      for (absl::string_view key :
           {"algorithm", "backends", "slow_start", "hash", "maglev_table_size", "send_proxy",
            "keepalive", "keepalive_timeout", "retry_budget_percent"}) {
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
      ReadKeepalive(forward, forward_path, pool);
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
  CheckRoutes(path, server, !server.tls && table.contains("tls"));
  if (auto timeout =
          GetDuration(table, "handshake_timeout", absl::StrCat(path, ".handshake_timeout"), "10s",
                      absl::Milliseconds(100), absl::Minutes(5))) {
    if (server.tls) {
      Error(table.get("handshake_timeout")->source(),
            absl::StrCat(path,
                         ".handshake_timeout: this server has a [server.tls]; set it there (one "
                         "place for one setting)"));
    } else if (!server.reads_client_hello() &&
               !(server.accept_proxy && server.mode == ListenerMode::kTcp)) {
      Error(table.get("handshake_timeout")->source(),
            absl::StrCat(path,
                         ".handshake_timeout: bounds the wait for a ClientHello, which only a "
                         "server with tls = \"passthrough\" forwards (or a [server.tls]) reads, "
                         "or, with accept_proxy = true (mode = \"tcp\"), for the rest of an "
                         "untrusted client's first bytes that begin like a PROXY header"));
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
    route.tls = *tls == 0 ? RouteTls::kPassthrough : RouteTls::kTerminate;
  }
}

void Validator::CheckRoutes(const std::string& path, const ServerConfig& server, bool tls_refused) {
  const RouteConfig* first_default = nullptr;
  std::map<std::string, int> pattern_lines;
  bool any_passthrough = false;
  for (const RouteConfig& route : server.routes) {
    any_passthrough |= route.tls == RouteTls::kPassthrough;
    if (route.sni.empty() && route.http_match.empty()) {
      if (first_default != nullptr) {
        errors_.push_back(
            absl::StrCat(source_, ":", route.line, ":1: ", path,
                         server.mode == ListenerMode::kHttp
                             ? ": a second forward without host, path, methods or headers (the "
                               "first is at line "
                             : ": a second forward without sni (the first is at line ",
                         first_default->line,
                         server.mode == ListenerMode::kHttp
                             ? "); only one forward may take the requests no other route matches"
                             : "); only one forward may take the connections no sni route "
                               "matches"));
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
    if (server.mode == ListenerMode::kHttp) {
      if (!route.sni.empty()) {
        errors_.push_back(absl::StrCat(
            source_, ":", route.line, ":1: ", path,
            ": a forward of an HTTP listener routes by the request: match the name with host = "
            "[...] instead of sni"));
        continue;
      }
      if (route.tls == RouteTls::kPassthrough) {
        errors_.push_back(absl::StrCat(
            source_, ":", route.line, ":1: ", path,
            ": an HTTP listener reads every request, so it cannot pass TLS through; terminate it "
            "here with [server.tls], or use mode = \"tcp\""));
        continue;
      }
    }
    if (tls_refused) continue;
    if (route.tls == RouteTls::kTerminate && !server.tls) {
      errors_.push_back(absl::StrCat(
          source_, ":", route.line, ":1: ", path,
          ": tls = \"terminate\" needs the listener's certificates: add [server.tls] with "
          "certificates = [ { cert = \"a.pem\", key = \"a.key\" } ]"));
    } else if (server.tls) {
      continue;  // every connection's ClientHello is read; routes may mix the two modes
    } else if (!route.sni.empty() && route.tls == RouteTls::kNone) {
      errors_.push_back(absl::StrCat(
          source_, ":", route.line, ":1: ", path,
          ": a forward with sni routes by the TLS ClientHello: say tls = \"passthrough\", or "
          "give the server a [server.tls] to terminate TLS here"));
    } else if (any_passthrough && route.tls == RouteTls::kNone) {
      errors_.push_back(absl::StrCat(
          source_, ":", route.line, ":1: ", path,
          ": every forward of a listener that passes TLS through reads the ClientHello, so this "
          "one takes TLS too: say tls = \"passthrough\" here as well, or give the server a "
          "[server.tls] (plaintext clients of such a listener are refused)"));
    }
  }
}

void Validator::ReadServerTls(const toml::table& table, const std::string& path,
                              ServerConfig& server) {
  const std::string tls_path = absl::StrCat(path, ".tls");
  const toml::table* section = GetTable(table, "tls", tls_path);
  if (section == nullptr) return;
  CheckKeys(*section, "[server.tls]",
            {"certificates", "min_version", "alpn", "handshake_timeout", "session_ticket_keys",
             "ciphers", "ciphersuites", "groups"});
  const size_t errors_before = errors_.size();
  tls::ServerTlsSettings settings;
  const auto read_file = [&](const toml::node& where, const std::string& key_path,
                             const std::string& configured, std::string& file, std::string& bytes) {
    file = ResolveRelative(configured);
    if (!options_.touch_the_world) return;
    absl::StatusOr<std::string> read = ReadSmallFile(file);
    if (!read.ok()) {
      Error(where.source(),
            absl::StrCat(key_path, " ", text::Quote(configured), ": ", read.status().message()));
    } else {
      bytes = *std::move(read);
    }
  };
  const toml::node* certificates = section->get("certificates");
  const toml::array* list = certificates != nullptr ? certificates->as_array() : nullptr;
  if (list == nullptr || list->empty() || !list->is_array_of_tables()) {
    Error(certificates != nullptr ? certificates->source() : section->source(),
          absl::StrCat(tls_path,
                       ".certificates: expected a non-empty list like [ { cert = \"a.pem\", key "
                       "= \"a.key\" } ] (the first is the default)"));
  } else {
    for (size_t i = 0; i < list->size(); ++i) {
      const toml::table& entry = *list->get(i)->as_table();
      const std::string entry_path = absl::StrCat(tls_path, ".certificates[", i, "]");
      CheckKeys(entry, "a certificate", {"cert", "key", "ocsp"});
      tls::ServerTlsSettings::Certificate certificate;
      for (const auto& [key, file, bytes] :
           {std::tuple{"cert", &certificate.cert_file, &certificate.cert_pem},
            std::tuple{"key", &certificate.key_file, &certificate.key_pem}}) {
        std::optional<std::string> configured =
            GetString(entry, key, absl::StrCat(entry_path, ".", key), "a.pem");
        if (!configured) {
          if (entry.get(key) == nullptr) {
            Error(entry.source(), absl::StrCat(entry_path, ": missing required key \"", key,
                                               "\" (a PEM file, relative to the config)"));
          }
          continue;
        }
        read_file(*entry.get(key), absl::StrCat(entry_path, ".", key), *configured, *file, *bytes);
      }
      if (auto ocsp = GetString(entry, "ocsp", absl::StrCat(entry_path, ".ocsp"), "www.ocsp")) {
        read_file(*entry.get("ocsp"), absl::StrCat(entry_path, ".ocsp"), *ocsp,
                  certificate.ocsp_file, certificate.ocsp_der);
      }
      settings.certificates.push_back(std::move(certificate));
    }
  }
  if (std::optional<size_t> version = GetChoice(
          *section, "min_version", absl::StrCat(tls_path, ".min_version"), {"1.2", "1.3"})) {
    settings.min_version = *version == 0 ? tls::TlsVersion::kTls12 : tls::TlsVersion::kTls13;
  }
  if (const toml::node* alpn = section->get("alpn")) {
    const toml::array* protocols = alpn->as_array();
    if (protocols == nullptr || protocols->empty()) {
      Error(alpn->source(), absl::StrCat(tls_path,
                                         ".alpn: expected a non-empty list of protocols, like "
                                         "[\"http/1.1\"]"));
    } else {
      for (const toml::node& protocol : *protocols) {
        const auto* text = protocol.as_string();
        if (text == nullptr || text->get().empty() || text->get().size() > 255) {
          Error(protocol.source(), absl::StrCat(tls_path,
                                                ".alpn: each protocol is a string of 1-255 "
                                                "bytes (e.g. \"http/1.1\")"));
          continue;
        }
        settings.alpn.push_back(text->get());
      }
    }
  }
  if (auto timeout =
          GetDuration(*section, "handshake_timeout", absl::StrCat(tls_path, ".handshake_timeout"),
                      "10s", absl::Milliseconds(100), absl::Minutes(5))) {
    server.handshake_timeout = *timeout;
  }
  ReadCipherSettings(*section, tls_path, settings.ciphers);
  if (auto keys = GetString(*section, "session_ticket_keys",
                            absl::StrCat(tls_path, ".session_ticket_keys"), "tickets.key")) {
    read_file(*section->get("session_ticket_keys"), absl::StrCat(tls_path, ".session_ticket_keys"),
              *keys, settings.ticket_keys_file, settings.ticket_keys);
  }
  if (errors_.size() != errors_before) return;
  if (options_.touch_the_world) {
    // Loaded as the node will load it: what OpenSSL refuses is refused here, with the file.
    absl::StatusOr<std::shared_ptr<const tls::ServerContext>> loaded =
        tls::ServerContext::Load(settings, 1);
    if (!loaded.ok()) {
      Error(section->source(), absl::StrCat(tls_path, ": ", loaded.status().message()));
      return;
    }
    for (const tls::LoadedCertificate& certificate : (*loaded)->certificates()) {
      for (const std::string& warning : tls::LoadWarnings(certificate, absl::Now())) {
        Warn(section->source(), absl::StrCat(tls_path, ": ", warning));
      }
    }
  }
  server.tls = std::move(settings);
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
