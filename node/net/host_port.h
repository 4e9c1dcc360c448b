// HostPort: the text form of an address as an operator writes it ("10.0.0.1:80", "[::1]:80",
// "backend.example:80"), parsed and validated but not resolved.
//
// The grammar, one for every address plby reads (config, state file, control API, plbyctl):
//   HOST:PORT where HOST is
//     - an IPv4 address as four decimal numbers 0-255 without leading zeros ("10.0.0.1"; the
//       legacy forms inet_aton takes, "127.1" or "0x7f.1", are refused);
//     - an IPv6 address in brackets, optionally with a zone ("[fe80::1%eth0]", link-local
//       addresses only), kept in its canonical form (RFC 5952: "[::1]", not "[0:0::1]"); an
//       IPv4-mapped one ("[::ffff:10.0.0.1]") is that IPv4 address and is shown as such;
//     - a host name: dot-separated labels of letters, digits, hyphens and underscores (container
//       and compose names use them), 1-63 characters each, not starting or ending with a
//       hyphen, 253 at most, lower-cased; its last label is not a number (it would be an IPv4
//       address to the resolver);
//   and PORT is a decimal number without leading zeros, 1-65535 (0 too for a listener).
// Addresses to connect to must be unicast: unspecified (0.0.0.0, [::]), broadcast
// (255.255.255.255) and multicast addresses are refused.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plby::net {

struct HostPort {
  enum class Kind { kIPv4, kIPv6, kName };

  std::string host;  // without brackets or zone; names are lower-cased
  uint16_t port = 0;
  Kind kind = Kind::kName;
  std::string zone;  // IPv6 link-local only: the interface ("eth0") or its index

  // Canonical text: "10.0.0.1:80", "[::1]:80", "[fe80::1%eth0]:80", "backend.example:80".
  std::string ToString() const;

  friend bool operator==(const HostPort&, const HostPort&) = default;
};

enum class AddressUse {
  kListen,   // port 0 asks the kernel for a free port (tests use this); any address kind
  kConnect,  // a backend or a node: a real port, a unicast address
};

// Parses "HOST:PORT" by the grammar above. The error message quotes the input and says what a
// valid address looks like.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, AddressUse use);

}  // namespace plby::net
