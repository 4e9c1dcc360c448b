// Cidr: an IPv4 or IPv6 network ("10.0.0.0/8", "fd00::/8", or one address), for the sources a
// listener trusts to send a PROXY header.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/socket_address.h"

namespace plby::net {

class Cidr {
 public:
  // "10.0.0.0/8", "192.168.1.7" (= /32), "fd00::/8", "::1" (= /128). Refused, with the value
  // and what is valid named: a prefix longer than the family allows, bits set past the prefix
  // ("10.0.0.1/8": write 10.0.0.0/8), a port, a zone, a name.
  static absl::StatusOr<Cidr> Parse(absl::string_view text);

  // Whether `address` (its IP; the port is ignored) is in the network. An IPv4 network never
  // contains an IPv6 address and the other way round (SocketAddress has already turned
  // IPv4-mapped IPv6 addresses into IPv4 ones).
  bool Contains(const SocketAddress& address) const;

  // "10.0.0.0/8", "fd00::/8".
  std::string ToString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  int family_ = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> bytes_{};
  int prefix_ = 0;
};

}  // namespace plby::net
