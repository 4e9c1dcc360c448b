#include "net/socket_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace plby::net {

absl::StatusOr<SocketAddress> SocketAddress::Resolve(const HostPort& host_port) {
  SocketAddress result;
  if (host_port.kind == HostPort::Kind::kIPv4) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage_);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(host_port.port);
    if (inet_pton(AF_INET, host_port.host.c_str(), &v4->sin_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", host_port.host, "\" is not an IPv4 address"));
    }
    result.length_ = sizeof(sockaddr_in);
    return result;
  }
  if (host_port.kind == HostPort::Kind::kIPv6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(host_port.port);
    if (inet_pton(AF_INET6, host_port.host.c_str(), &v6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", host_port.host, "\" is not an IPv6 address"));
    }
    result.length_ = sizeof(sockaddr_in6);
    return result;
  }

  absl::StatusOr<std::vector<SocketAddress>> all = ResolveAll(host_port);
  if (!all.ok()) return all.status();
  return all->front();
}

absl::StatusOr<std::vector<SocketAddress>> SocketAddress::ResolveAll(const HostPort& host_port) {
  if (host_port.kind != HostPort::Kind::kName) {
    absl::StatusOr<SocketAddress> literal = Resolve(host_port);
    if (!literal.ok()) return literal.status();
    return std::vector<SocketAddress>{*literal};
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host_port.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    // A resolver that could not answer now is not a bad name.
    const absl::StatusCode code =
        rc == EAI_AGAIN ? absl::StatusCode::kUnavailable : absl::StatusCode::kInvalidArgument;
    return absl::Status(
        code, absl::StrCat("cannot resolve \"", host_port.host, "\": ", gai_strerror(rc)));
  }
  std::vector<SocketAddress> addresses;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    SocketAddress address = FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    address.set_port(host_port.port);
    const bool seen = std::any_of(addresses.begin(), addresses.end(), [&](const auto& known) {
      return known.ToString() == address.ToString();
    });
    if (!seen) addresses.push_back(address);
  }
  freeaddrinfo(found);
  if (addresses.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", host_port.host, "\" has no IPv4 or IPv6 address"));
  }
  return addresses;
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* address, socklen_t length) {
  SocketAddress result;
  length = std::min<socklen_t>(length, sizeof(result.storage_));
  std::memcpy(&result.storage_, address, length);
  result.length_ = length;
  return result;
}

absl::StatusOr<SocketAddress> SocketAddress::LocalOf(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  return FromSockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

bool SocketAddress::IsWildcard() const {
  if (family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (family() == AF_INET6) {
    const auto& addr = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    return IN6_IS_ADDR_UNSPECIFIED(&addr);
  }
  return false;
}

bool SocketAddress::IsLoopback() const {
  if (family() == AF_INET) {
    const uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr);
    return (ip >> 24) == 127;
  }
  if (family() == AF_INET6) {
    const auto& ip = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&ip);
  }
  return false;
}

std::string SocketAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
              sizeof(text));
    return absl::StrCat(text, ":", port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
              sizeof(text));
    return absl::StrCat("[", text, "]:", port());
  }
  return "(unknown address family)";
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&a.storage_)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(&b.storage_)->sin_addr.s_addr;
  }
  if (a.family() == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&a.storage_)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(&b.storage_)->sin6_addr,
                       sizeof(in6_addr)) == 0;
  }
  return a.length_ == b.length_ && std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

bool WouldReachListener(const SocketAddress& target, const SocketAddress& listener) {
  if (listener.port() == 0 || listener.family() != target.family() ||
      listener.port() != target.port()) {
    return false;
  }
  return listener == target || (listener.IsWildcard() && IsLocalAddress(target));
}

bool IsLocalAddress(const SocketAddress& address) {
  if (address.IsLoopback()) return true;
  if (address.family() != AF_INET && address.family() != AF_INET6) return false;
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) != 0) return false;
  bool local = false;
  for (const ifaddrs* i = interfaces; i != nullptr && !local; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != address.family()) continue;
    const socklen_t length =
        address.family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    SocketAddress candidate = SocketAddress::FromSockaddr(i->ifa_addr, length);
    candidate.set_port(address.port());
    local = candidate == address;
  }
  freeifaddrs(interfaces);
  return local;
}

}  // namespace plby::net
