// RouteTable: a listener's routes ([[server.forward]]), in order, and which one a connection
// takes from what inspection learned of it. Immutable once built; shared by the workers.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "http/parser.h"

namespace plby::route {

// "api.example.com" or "*.example.com", as the config writes it: lower-cased, no trailing dot.
// A wildcard is a whole leftmost label and stands for exactly one label (RFC 6125 6.4.3):
// "*.example.com" matches "a.example.com", not "example.com" nor "a.b.example.com".
// Refused, naming the value: empty labels, characters other than letters, digits, '-', '_'
// and '.',
// a '*' anywhere but as the whole first label, names over 253 characters.
absl::StatusOr<std::string> NormalizeSniPattern(absl::string_view text);

// Whether `server_name` (as the ClientHello sent it; lower-cased by its parser) matches
// `pattern` (normalized).
bool SniMatches(absl::string_view pattern, absl::string_view server_name);

// An HTTP route's conditions (mode = "http"); all that are set must hold. None set: the
// default route.
struct HttpMatch {
  std::vector<std::string> hosts;    // normalized patterns (as server names); empty: any host
  std::string path;                  // empty: any path
  bool path_is_prefix = false;       // `path` is a prefix (plain bytes: "/api" takes "/apix")
  std::vector<std::string> methods;  // exact (methods are case-sensitive); empty: any
  // Each field must be present with exactly this value; names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;

  bool empty() const { return hosts.empty() && path.empty() && methods.empty() && headers.empty(); }
};

// "host=api.example.com,*.example.org path_prefix=/v1/ methods=GET,POST headers=x-canary"
// (empty for the default): for metrics and the status page.
std::string Describe(const HttpMatch& match);

// The Host of a request as routes match it: lower-cased, without its port or a trailing dot
// ("API.example.com.:8080" -> "api.example.com"; "[::1]:80" -> "[::1]"). Written to `out`, whose
// capacity is kept across requests.
void NormalizeRequestHost(absl::string_view host, std::string& out);

// What a route may match on, as inspection found it.
struct RouteFacts {
  absl::string_view server_name;  // the ClientHello's SNI; empty: none was sent (or read)
};

// What an HTTP route may match on: one request's.
struct HttpRequestFacts {
  absl::string_view host;  // NormalizeRequestHost's
  absl::string_view path;  // the request-target up to its '?'
  absl::string_view method;
  std::span<const http::Header> headers;
};

class RouteTable {
 public:
  struct Route {
    std::vector<std::string> server_names;  // normalized patterns; empty: the default route
    HttpMatch http;
  };

  explicit RouteTable(std::vector<Route> routes);

  // The first route with a pattern that matches the connection's server name; else the
  // default route (the one without patterns, wherever it is listed); else nothing (the
  // connection is refused).
  std::optional<size_t> Match(const RouteFacts& facts) const;
  // HTTP mode: the first route whose conditions all hold for the request, else the default
  // route (the one without conditions, wherever it is listed), else nothing (404).
  std::optional<size_t> MatchRequest(const HttpRequestFacts& facts) const;

  size_t size() const { return routes_.size(); }
  const Route& route(size_t index) const { return routes_[index]; }
  std::optional<size_t> default_route() const { return default_; }

 private:
  std::vector<Route> routes_;
  std::optional<size_t> default_;
};

}  // namespace plby::route
