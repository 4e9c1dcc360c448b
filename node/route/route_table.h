// RouteTable: a listener's routes ([[server.forward]]), in order, and which one a connection
// takes from what inspection learned of it. Immutable once built; shared by the workers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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

// What a route may match on, as inspection found it.
struct RouteFacts {
  absl::string_view server_name;  // the ClientHello's SNI; empty: none was sent (or read)
};

class RouteTable {
 public:
  struct Route {
    std::vector<std::string> server_names;  // normalized patterns; empty: the default route
  };

  explicit RouteTable(std::vector<Route> routes);

  // The first route with a pattern that matches the connection's server name; else the
  // default route (the one without patterns, wherever it is listed); else nothing (the
  // connection is refused).
  std::optional<size_t> Match(const RouteFacts& facts) const;

  size_t size() const { return routes_.size(); }
  const Route& route(size_t index) const { return routes_[index]; }
  std::optional<size_t> default_route() const { return default_; }

 private:
  std::vector<Route> routes_;
  std::optional<size_t> default_;
};

}  // namespace plby::route
