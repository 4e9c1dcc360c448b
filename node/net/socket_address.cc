#include "net/socket_address.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "files/read_file.h"
#include "text/quote.h"

namespace plby::net {
namespace {

std::string& HostsFileSetting() {
  static std::string* path = new std::string();
  return *path;
}

absl::StatusOr<uint32_t> ZoneIndex(const std::string& zone) {
  uint32_t index = 0;
  const auto [end, ec] = std::from_chars(zone.data(), zone.data() + zone.size(), index);
  if (ec == std::errc() && end == zone.data() + zone.size()) return index;
  index = if_nametoindex(zone.c_str());
  if (index == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("zone ", text::Quote(zone), ": no network interface of that name here"));
  }
  return index;
}

// The addresses the lines of an /etc/hosts-style file give `host`, each once, in file order.
absl::StatusOr<std::vector<SocketAddress>> FromHostsFile(const std::string& path,
                                                         const HostPort& name) {
  const absl::StatusOr<std::string> text = files::ReadFile(path, files::kMaxConfigBytes);
  if (!text.ok()) {
    return absl::UnavailableError(
        absl::StrCat("hosts file ", text::Quote(path),
                     " (PLBY_HOSTS_FILE): cannot read it: ", text.status().message()));
  }
  std::vector<SocketAddress> addresses;
  int number = 0;
  for (const absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++number;
    absl::string_view content = line;
    content = content.substr(0, content.find('#'));
    const std::vector<absl::string_view> fields =
        absl::StrSplit(content, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2) continue;
    const std::string ip(fields[0]);
    sockaddr_storage storage{};
    socklen_t length = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      length = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      length = sizeof(sockaddr_in6);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("hosts file ", text::Quote(path), " line ",
                                                     number, ": ", text::Quote(ip),
                                                     " is not an IP address"));
    }
    for (size_t i = 1; i < fields.size(); ++i) {
      if (absl::AsciiStrToLower(fields[i]) != name.host) continue;
      SocketAddress address =
          SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
      address.set_port(name.port);
      if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
        addresses.push_back(address);
      }
    }
  }
  if (addresses.empty()) {
    return absl::NotFoundError(absl::StrCat("cannot resolve ", text::Quote(name.host),
                                            ": no line of the hosts file ", path,
                                            " (PLBY_HOSTS_FILE) names it"));
  }
  return addresses;
}

absl::StatusOr<std::vector<SocketAddress>> FromResolver(const HostPort& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(name.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    // The name has no records (NXDOMAIN, or NODATA): NOT_FOUND. A resolver that could not
    // answer now (a timeout, SERVFAIL, no memory) is not a bad name: UNAVAILABLE.
    const absl::StatusCode code =
        rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_ADDRFAMILY ? absl::StatusCode::kNotFound
        : rc == EAI_AGAIN || rc == EAI_FAIL || rc == EAI_SYSTEM || rc == EAI_MEMORY
            ? absl::StatusCode::kUnavailable
            : absl::StatusCode::kInvalidArgument;
    return absl::Status(
        code, absl::StrCat("cannot resolve ", text::Quote(name.host), ": ", gai_strerror(rc)));
  }
  std::vector<SocketAddress> addresses;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    SocketAddress address = SocketAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    address.set_port(name.port);
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(address);
    }
  }
  freeaddrinfo(found);
  if (addresses.empty()) {
    return absl::NotFoundError(
        absl::StrCat(text::Quote(name.host), " has no IPv4 or IPv6 address"));
  }
  return addresses;
}

}  // namespace

void UseHostsFile(std::string path) { HostsFileSetting() = std::move(path); }
const std::string& HostsFile() { return HostsFileSetting(); }

absl::StatusOr<SocketAddress> SocketAddress::Resolve(const HostPort& host_port) {
  SocketAddress result;
  if (host_port.kind == HostPort::Kind::kIPv4) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage_);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(host_port.port);
    if (inet_pton(AF_INET, host_port.host.c_str(), &v4->sin_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(text::Quote(host_port.host), " is not an IPv4 address"));
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
          absl::StrCat(text::Quote(host_port.host), " is not an IPv6 address"));
    }
    if (!host_port.zone.empty()) {
      absl::StatusOr<uint32_t> index = ZoneIndex(host_port.zone);
      if (!index.ok()) return index.status();
      v6->sin6_scope_id = *index;
    }
    result.length_ = sizeof(sockaddr_in6);
    return result;
  }

  absl::StatusOr<std::vector<SocketAddress>> all = ResolveAll(host_port);
  if (!all.ok()) return all.status();
  return all->front();
}

absl::StatusOr<std::vector<SocketAddress>> SocketAddress::LookUpAll(const HostPort& host_port) {
  if (host_port.kind != HostPort::Kind::kName) {
    absl::StatusOr<SocketAddress> literal = Resolve(host_port);
    if (!literal.ok()) return literal.status();
    return std::vector<SocketAddress>{*literal};
  }
  const std::string& hosts_file = HostsFile();
  return hosts_file.empty() ? FromResolver(host_port) : FromHostsFile(hosts_file, host_port);
}

absl::StatusOr<std::vector<SocketAddress>> SocketAddress::ResolveAll(const HostPort& host_port) {
  absl::StatusOr<std::vector<SocketAddress>> all = LookUpAll(host_port);
  // To a caller that needs the name to resolve, a name without records is a bad value.
  if (all.status().code() == absl::StatusCode::kNotFound) {
    return absl::InvalidArgumentError(all.status().message());
  }
  return all;
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* address, socklen_t length) {
  SocketAddress result;
  length = std::min<socklen_t>(length, sizeof(result.storage_));
  std::memcpy(&result.storage_, address, length);
  result.length_ = length;
  if (result.family() == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const sockaddr_in6 v6 = *reinterpret_cast<const sockaddr_in6*>(&result.storage_);
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
      result.storage_ = {};
      auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage_);
      v4->sin_family = AF_INET;
      v4->sin_port = v6.sin6_port;
      std::memcpy(&v4->sin_addr, &v6.sin6_addr.s6_addr[12], 4);
      result.length_ = sizeof(sockaddr_in);
    }
  }
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

std::pair<const unsigned char*, size_t> SocketAddress::AddressBytes() const {
  if (family() == AF_INET) {
    return {reinterpret_cast<const unsigned char*>(
                &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr),
            4};
  }
  if (family() == AF_INET6) {
    return {reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr.s6_addr, 16};
  }
  return {nullptr, 0};
}

uint32_t SocketAddress::scope_id() const {
  if (family() != AF_INET6) return 0;
  return reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_scope_id;
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
    std::string zone;
    if (const uint32_t scope = scope_id(); scope != 0) {
      char name[IF_NAMESIZE] = {};
      zone = absl::StrCat(
          "%", if_indextoname(scope, name) != nullptr ? std::string(name) : absl::StrCat(scope));
    }
    return absl::StrCat("[", text, zone, "]:", port());
  }
  return "(unknown address family)";
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  if (a.family() != b.family() || a.port() != b.port() || a.scope_id() != b.scope_id()) {
    return false;
  }
  const auto [a_bytes, a_size] = a.AddressBytes();
  const auto [b_bytes, b_size] = b.AddressBytes();
  if (a_size == 0) return a.length_ == b.length_;  // two empty addresses
  return a_size == b_size && std::memcmp(a_bytes, b_bytes, a_size) == 0;
}

absl::Status CheckUnicast(const SocketAddress& address) {
  const auto refused = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        address.ToString(), " is ", what, ", not an address to connect to (valid: unicast)"));
  };
  if (address.IsWildcard()) return refused("the unspecified address");
  const auto [bytes, size] = address.AddressBytes();
  if (size == 4) {
    if (bytes[0] == 255 && bytes[1] == 255 && bytes[2] == 255 && bytes[3] == 255) {
      return refused("the broadcast address");
    }
    if ((bytes[0] & 0xf0) == 0xe0) return refused("a multicast address (224.0.0.0/4)");
  } else if (size == 16 && bytes[0] == 0xff) {
    return refused("a multicast address (ff00::/8)");
  } else if (size == 0) {
    return absl::InvalidArgumentError("an empty address, not an address to connect to");
  }
  return absl::OkStatus();
}

}  // namespace plby::net
