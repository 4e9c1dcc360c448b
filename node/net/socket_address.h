// SocketAddress: a resolved IPv4 or IPv6 address and port, ready for bind(2) and connect(2).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "net/host_port.h"

namespace plby::net {

class SocketAddress {
 public:
  SocketAddress() = default;

  // Literals convert directly; names go through the system resolver (getaddrinfo) and the first
  // address it returns is used. Resolution happens once, when this is called.
  static absl::StatusOr<SocketAddress> Resolve(const HostPort& host_port);
  // Every address (IPv4 and IPv6) a name resolves to, each once, in the resolver's order; a
  // literal gives itself.
  static absl::StatusOr<std::vector<SocketAddress>> ResolveAll(const HostPort& host_port);

  // Copies what accept(2) or getsockname(2) filled in.
  static SocketAddress FromSockaddr(const sockaddr* address, socklen_t length);

  // The address a bound socket actually got (the kernel's port when port 0 was asked for).
  static absl::StatusOr<SocketAddress> LocalOf(int fd);

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  void set_port(uint16_t port);
  // True for 0.0.0.0 and [::].
  bool IsWildcard() const;
  // True for 127.0.0.0/8 and [::1].
  bool IsLoopback() const;

  // "10.0.0.1:80" or "[::1]:80".
  std::string ToString() const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b);

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// True for loopback addresses and the addresses of this machine's interfaces.
bool IsLocalAddress(const SocketAddress& address);

// True when connecting to `target` would reach the socket listening on `listener` (the same
// address, or a local one while the listener is a wildcard on the same port). Port-0
// listeners have no port yet and reach nothing.
bool WouldReachListener(const SocketAddress& target, const SocketAddress& listener);

}  // namespace plby::net
