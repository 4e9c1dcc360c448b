// HostPort: the text form of an address as an operator writes it ("10.0.0.1:80", "[::1]:80",
// "backend.example:80"), parsed and validated but not resolved.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plby::net {

struct HostPort {
  enum class Kind { kIPv4, kIPv6, kName };

  std::string host;  // without brackets; names are lower-cased
  uint16_t port = 0;
  Kind kind = Kind::kName;

  // Canonical text: "10.0.0.1:80", "[::1]:80", "backend.example:80".
  std::string ToString() const;

  friend bool operator==(const HostPort&, const HostPort&) = default;
};

enum class PortZero {
  kRefuse,  // a backend must name a real port
  kAllow,   // a listener may ask the kernel for a free port (tests use this)
};

// Parses "HOST:PORT". IPv6 literals must be in brackets. The error message quotes the input and
// says what a valid address looks like.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, PortZero port_zero);

}  // namespace plby::net
