// mode = "http": a [[server]]'s [server.http] limits and timeouts, and the HTTP conditions and
// rewrites of its [[server.forward]] routes.
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/validator.h"
#include "http/parser.h"
#include "route/route_table.h"
#include "text/quote.h"

namespace plby::config::detail {
namespace {

// A field value plby writes: visible ASCII, spaces and tabs inside, nothing that ends a line.
bool IsFieldValue(absl::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 && c != '\t') return false;
    if (byte == 0x7f) return false;
  }
  return text.empty() ||
         (text.front() != ' ' && text.front() != '\t' && text.back() != ' ' && text.back() != '\t');
}

// Fields plby writes itself, or that frame the message: a route may not add or remove them.
bool IsManagedField(absl::string_view lower_name) {
  for (absl::string_view managed : {"host", "content-length", "transfer-encoding", "connection",
                                    "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
                                    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}) {
    if (lower_name == managed) return true;
  }
  return false;
}

constexpr absl::string_view kHttpRouteKeys[] = {
    "host",         "path",    "path_prefix",         "methods",
    "headers",      "timeout", "add_request_headers", "remove_request_headers",
    "strip_prefix", "retries"};

}  // namespace

void Validator::ReadListenerMode(const toml::table& table, const std::string& path,
                                 ServerConfig& server) {
  if (std::optional<size_t> mode =
          GetChoice(table, "mode", absl::StrCat(path, ".mode"), {"tcp", "http"})) {
    server.mode = *mode == 0 ? ListenerMode::kTcp : ListenerMode::kHttp;
  }
  const std::string http_path = absl::StrCat(path, ".http");
  const toml::table* section = GetTable(table, "http", http_path);
  if (section == nullptr) return;
  if (server.mode != ListenerMode::kHttp) {
    Error(section->source(), absl::StrCat(http_path,
                                          ": [server.http] sets how HTTP requests are read, "
                                          "which needs mode = \"http\" on the server"));
    return;
  }
  CheckKeys(*section, "[server.http]",
            {"max_head_bytes", "max_headers", "max_uri_bytes", "max_body_bytes", "head_timeout",
             "keepalive_timeout", "response_timeout", "body_timeout", "access_log",
             "underscores_in_headers"});
  HttpListenerConfig& http = server.http;
  // The head is read into one buffer of 64 KiB: more is not offered.
  if (auto bytes = GetInteger(*section, "max_head_bytes",
                              absl::StrCat(http_path, ".max_head_bytes"), 1024, 64 * 1024)) {
    http.limits.max_head_bytes = static_cast<size_t>(*bytes);
  }
  if (auto count =
          GetInteger(*section, "max_headers", absl::StrCat(http_path, ".max_headers"), 1, 1000)) {
    http.limits.max_headers = static_cast<size_t>(*count);
  }
  if (auto bytes = GetInteger(*section, "max_uri_bytes", absl::StrCat(http_path, ".max_uri_bytes"),
                              64, 64 * 1024)) {
    http.limits.max_uri_bytes = static_cast<size_t>(*bytes);
  }
  if (auto bytes = GetInteger(*section, "max_body_bytes",
                              absl::StrCat(http_path, ".max_body_bytes"), 0, int64_t{1} << 50)) {
    http.max_body_bytes = static_cast<uint64_t>(*bytes);
  }
  if (std::optional<size_t> log = GetChoice(
          *section, "access_log", absl::StrCat(http_path, ".access_log"), {"off", "json"})) {
    http.access_log = *log == 1;
  }
  if (auto keep = GetBool(*section, "underscores_in_headers",
                          absl::StrCat(http_path, ".underscores_in_headers"))) {
    http.underscores_in_headers = *keep;
  }
  for (const auto& [key, example, field] :
       {std::tuple{"head_timeout", "10s", &http.head_timeout},
        std::tuple{"keepalive_timeout", "60s", &http.keepalive_timeout},
        std::tuple{"response_timeout", "60s", &http.response_timeout},
        std::tuple{"body_timeout", "60s", &http.body_timeout}}) {
    if (auto duration = GetDuration(*section, key, absl::StrCat(http_path, ".", key), example,
                                    absl::Milliseconds(100), absl::Hours(1))) {
      *field = *duration;
    }
  }
}

void Validator::ReadHttpRoute(const toml::table& forward, const std::string& path,
                              const ServerConfig& server, RouteConfig& route) {
  if (server.mode != ListenerMode::kHttp) {
    for (absl::string_view key : kHttpRouteKeys) {
      if (const toml::node* extra = forward.get(ToStd(key))) {
        Error(extra->source(), absl::StrCat(path, ".", key,
                                            ": matches or rewrites HTTP requests, which needs "
                                            "mode = \"http\" on the server"));
      }
    }
    return;
  }
  route::HttpMatch& match = route.http_match;
  const auto read_strings = [&](absl::string_view key, absl::string_view example,
                                const auto& accept) {
    const toml::node* node = forward.get(ToStd(key));
    if (node == nullptr) return;
    const std::string key_path = absl::StrCat(path, ".", key);
    if (const auto* one = node->as_string()) {
      accept(*node, ToAbsl(one->get()), key_path);
      return;
    }
    const toml::array* list = node->as_array();
    if (list == nullptr || list->empty()) {
      Error(node->source(),
            absl::StrCat(key_path, ": expected a string or a non-empty list, like ", example));
      return;
    }
    for (const toml::node& entry : *list) {
      const auto* text = entry.as_string();
      if (text == nullptr) {
        Error(entry.source(),
              absl::StrCat(key_path, ": expected strings, got a ", TypeName(entry)));
        continue;
      }
      accept(entry, ToAbsl(text->get()), key_path);
    }
  };
  read_strings("host", "[\"api.example.com\", \"*.example.com\"]",
               [&](const toml::node& where, absl::string_view text, const std::string& key_path) {
                 absl::StatusOr<std::string> pattern = route::NormalizeSniPattern(text);
                 if (!pattern.ok()) {
                   Error(where.source(), absl::StrCat(key_path, ": ", pattern.status().message()));
                 } else {
                   match.hosts.push_back(*std::move(pattern));
                 }
               });
  read_strings("methods", "[\"GET\", \"HEAD\"]",
               [&](const toml::node& where, absl::string_view text, const std::string& key_path) {
                 if (!http::IsToken(text)) {
                   Error(where.source(),
                         absl::StrCat(key_path, ": ", text::Quote(text),
                                      " is not a method (valid: a token such as \"GET\"; methods "
                                      "are case-sensitive)"));
                 } else {
                   match.methods.emplace_back(text);
                 }
               });
  const toml::node* exact = forward.get("path");
  const toml::node* prefix = forward.get("path_prefix");
  if (exact != nullptr && prefix != nullptr) {
    Error(prefix->source(), absl::StrCat(path,
                                         ": path and path_prefix exclude each other (path "
                                         "matches exactly, path_prefix the start)"));
  }
  for (const auto& [key, node] : {std::pair{"path", exact}, std::pair{"path_prefix", prefix}}) {
    if (node == nullptr) continue;
    std::optional<std::string> value =
        GetString(forward, key, absl::StrCat(path, ".", key), "/api/");
    if (!value) continue;
    bool visible = !value->empty() && value->front() == '/';
    for (const char c : *value) visible &= c > 0x20 && c < 0x7f && c != '?' && c != '#';
    if (!visible) {
      Error(node->source(), absl::StrCat(path, ".", key, ": ", text::Quote(*value),
                                         " is not a path (valid: starts with '/', visible ASCII, "
                                         "no '?' or '#', like \"/api/\")"));
      continue;
    }
    match.path = *std::move(value);
    match.path_is_prefix = node == prefix;
  }
  const auto read_field_map = [&](absl::string_view key,
                                  std::vector<std::pair<std::string, std::string>>& out,
                                  bool lower_names) {
    const toml::node* node = forward.get(ToStd(key));
    if (node == nullptr) return;
    const std::string key_path = absl::StrCat(path, ".", key);
    const toml::table* fields = node->as_table();
    if (fields == nullptr || fields->empty()) {
      Error(node->source(), absl::StrCat(key_path,
                                         ": expected a non-empty inline table of fields, like { "
                                         "\"x-canary\" = \"1\" }"));
      return;
    }
    for (const auto& [name, value] : *fields) {
      const absl::string_view field = ToAbsl(name.str());
      const auto* text = value.as_string();
      if (!http::IsToken(field)) {
        Error(value.source(), absl::StrCat(key_path, ": ", text::Quote(field),
                                           " is not a field name (valid: a token such as "
                                           "\"x-canary\")"));
      } else if (text == nullptr) {
        Error(value.source(),
              absl::StrCat(key_path, ".", field, ": expected a string, got a ", TypeName(value)));
      } else if (!IsFieldValue(ToAbsl(text->get()))) {
        Error(value.source(),
              absl::StrCat(key_path, ".", field, ": ", text::Quote(ToAbsl(text->get())),
                           " is not a field value (valid: visible ASCII and inner spaces)"));
      } else {
        std::string stored(field);
        if (lower_names) absl::AsciiStrToLower(&stored);
        out.emplace_back(std::move(stored), text->get());
      }
    }
  };
  read_field_map("headers", match.headers, true);
  for (const auto& [name, value] : match.headers) {
    if (!server.http.underscores_in_headers && absl::StrContains(name, '_')) {
      Error(forward.get("headers")->source(),
            absl::StrCat(path, ".headers: ", text::Quote(name),
                         " has '_', and this server drops such fields from requests; set "
                         "[server.http] underscores_in_headers = true to route on it"));
    }
  }
  read_field_map("add_request_headers", route.http.add_request_headers, false);
  for (const auto& [name, value] : route.http.add_request_headers) {
    if (IsManagedField(absl::AsciiStrToLower(name))) {
      Error(forward.get("add_request_headers")->source(),
            absl::StrCat(path, ".add_request_headers: ", text::Quote(name),
                         " is written by plby itself (framing, hop-by-hop and X-Forwarded-* "
                         "fields); it cannot be added"));
    }
  }
  read_strings("remove_request_headers", "[\"x-debug\"]",
               [&](const toml::node& where, absl::string_view text, const std::string& key_path) {
                 const std::string lower = absl::AsciiStrToLower(text);
                 if (!http::IsToken(text)) {
                   Error(where.source(), absl::StrCat(key_path, ": ", text::Quote(text),
                                                      " is not a field name (valid: a token)"));
                 } else if (IsManagedField(lower)) {
                   Error(where.source(),
                         absl::StrCat(key_path, ": ", text::Quote(text),
                                      " is written by plby itself (framing, hop-by-hop and "
                                      "X-Forwarded-* fields); it cannot be removed"));
                 } else {
                   route.http.remove_request_headers.push_back(lower);
                 }
               });
  if (auto timeout = GetDuration(forward, "timeout", absl::StrCat(path, ".timeout"), "30s",
                                 absl::Milliseconds(10), absl::Hours(24))) {
    route.http.timeout = *timeout;
  }
  if (auto retries = GetInteger(forward, "retries", absl::StrCat(path, ".retries"), 0, 10)) {
    route.http.retries = *retries;
  }
  if (auto strip = GetBool(forward, "strip_prefix", absl::StrCat(path, ".strip_prefix"))) {
    if (*strip && !match.path_is_prefix) {
      Error(forward.get("strip_prefix")->source(),
            absl::StrCat(path,
                         ".strip_prefix: takes the route's path_prefix off the path forwarded; "
                         "set path_prefix (e.g. path_prefix = \"/api/\")"));
    }
    route.http.strip_prefix = *strip;
  }
}

}  // namespace plby::config::detail
