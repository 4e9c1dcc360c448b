// SocketAddress: a resolved IPv4 or IPv6 address and port, ready for bind(2) and connect(2).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/host_port.h"

namespace plby::net {

class SocketAddress {
 public:
  SocketAddress() = default;

  // Literals convert directly (a zone becomes the interface's index); names go through the
  // system resolver, or the hosts file set with UseHostsFile, and the first address found is
  // used. Resolution happens once, when this is called.
  static absl::StatusOr<SocketAddress> Resolve(const HostPort& host_port);
  // Every address (IPv4 and IPv6) a name resolves to, each once, in the resolver's order; a
  // literal gives itself.
  static absl::StatusOr<std::vector<SocketAddress>> ResolveAll(const HostPort& host_port);
  // The same, with the answer's kind in the code, for DNS discovery: NOT_FOUND when the name
  // has no records (NXDOMAIN or NODATA, or no line of the hosts file), UNAVAILABLE when the
  // resolver could not answer now (a timeout, SERVFAIL; an unreadable hosts file).
  // (ResolveAll makes NOT_FOUND an INVALID_ARGUMENT: there, the name is a bad value.)
  static absl::StatusOr<std::vector<SocketAddress>> LookUpAll(const HostPort& host_port);

  // Copies what accept(2), getsockname(2) or getaddrinfo(3) filled in. An IPv4-mapped IPv6
  // address becomes the IPv4 address it stands for: the same endpoint has one form.
  static SocketAddress FromSockaddr(const sockaddr* address, socklen_t length);

  // The address a bound socket actually got (the kernel's port when port 0 was asked for).
  static absl::StatusOr<SocketAddress> LocalOf(int fd);

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }
  bool valid() const { return family() == AF_INET || family() == AF_INET6; }
  uint16_t port() const;
  void set_port(uint16_t port);
  // True for 0.0.0.0 and [::].
  bool IsWildcard() const;
  // True for 127.0.0.0/8 and [::1].
  bool IsLoopback() const;
  // The IP address alone, without port: 4 or 16 bytes (none for an empty address).
  std::pair<const unsigned char*, size_t> AddressBytes() const;

  // "10.0.0.1:80", "[::1]:80" or "[fe80::1%eth0]:80".
  std::string ToString() const;

  // The same endpoint: family, address, port (and zone, for IPv6).
  friend bool operator==(const SocketAddress& a, const SocketAddress& b);

  template <typename H>
  friend H AbslHashValue(H state, const SocketAddress& address) {
    const auto [bytes, size] = address.AddressBytes();
    return H::combine(H::combine_contiguous(std::move(state), bytes, size), address.family(),
                      address.port(), address.scope_id());
  }

 private:
  uint32_t scope_id() const;

  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// OK for a unicast address; otherwise an error that says what it is instead: unspecified
// (0.0.0.0, [::]), broadcast (255.255.255.255) or multicast (224.0.0.0/4, ff00::/8). Nothing
// can be connected to at those.
absl::Status CheckUnicast(const SocketAddress& address);

// Names are looked up in `path`, an /etc/hosts-style file ("ADDRESS NAME [NAME...]" per line,
// # comments, read afresh at each lookup) instead of with the system resolver, by every
// resolution of this process from now on; empty: the system resolver again. Call it before
// starting threads (PLBY_HOSTS_FILE, for tests: names that appear and vanish on demand).
void UseHostsFile(std::string path);
const std::string& HostsFile();

}  // namespace plby::net
