#include "net/own_listeners.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace plby::net {
namespace {

// Whether a wildcard listener takes connections of `family`.
bool Takes(const Listener& wildcard, int family) {
  return wildcard.both_families || wildcard.address.family() == family;
}

absl::string_view Consequence(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::kTraffic:
      return "its connections would loop back into the node";
    case ListenerKind::kControl:
      return "it would expose the control service on a traffic port, past its address rules";
    case ListenerKind::kHealth:
      return "it would expose the health service on a traffic port";
    case ListenerKind::kMetrics:
      return "it would expose the metrics listener on a traffic port";
  }
  return "";
}

}  // namespace

Listener Listener::Traffic(std::string pool, SocketAddress address) {
  return {.kind = ListenerKind::kTraffic,
          .name = absl::StrCat("server \"", pool, "\""),
          .address = address,
          .both_families = false};
}

Listener Listener::Grpc(ListenerKind kind, SocketAddress address) {
  return {.kind = kind,
          .name = kind == ListenerKind::kHealth ? "the health service" : "the control service",
          .address = address,
          .both_families = address.IsWildcard()};
}

Listener Listener::Metrics(SocketAddress address) {
  return {.kind = ListenerKind::kMetrics,
          .name = "the metrics listener",
          .address = address,
          .both_families = false};
}

bool Overlap(const Listener& a, const Listener& b) {
  const uint16_t port = a.address.port();
  if (port == 0 || b.address.port() != port) return false;  // port 0: each gets its own
  if (a.address == b.address) return true;
  if (a.address.IsWildcard() && Takes(a, b.address.family())) return true;
  if (b.address.IsWildcard() && Takes(b, a.address.family())) return true;
  // Two dual-stack wildcards of different families are the same "[::]".
  return a.both_families && b.both_families;
}

LocalAddresses LocalAddresses::Read() {
  LocalAddresses local;
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) != 0) return local;  // loopback is still known
  for (const ifaddrs* i = interfaces; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    const socklen_t length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    SocketAddress address = SocketAddress::FromSockaddr(i->ifa_addr, length);
    address.set_port(0);
    local.interfaces_.push_back(address);
  }
  freeifaddrs(interfaces);
  return local;
}

bool LocalAddresses::Contains(const SocketAddress& address) const {
  if (address.IsLoopback()) return true;
  SocketAddress any_port = address;
  any_port.set_port(0);
  return std::find(interfaces_.begin(), interfaces_.end(), any_port) != interfaces_.end();
}

const Listener* OwnListeners::ReachedBy(const SocketAddress& target,
                                        const LocalAddresses& local) const {
  for (const Listener& listener : listeners_) {
    const SocketAddress& address = listener.address;
    if (address.port() == 0 || address.port() != target.port()) continue;
    if (address == target) return &listener;
    if (address.IsWildcard() && Takes(listener, target.family()) && local.Contains(target)) {
      return &listener;
    }
  }
  return nullptr;
}

absl::Status OwnListeners::CheckBackend(const SocketAddress& target,
                                        const LocalAddresses& local) const {
  const Listener* reached = ReachedBy(target, local);
  if (reached == nullptr) return absl::OkStatus();
  const std::string listener_address =
      reached->address == target ? "" : absl::StrCat(" (", reached->address.ToString(), ")");
  return absl::InvalidArgumentError(
      absl::StrCat(target.ToString(), " is one of this node's own listeners, ", reached->name,
                   listener_address, ": ", Consequence(reached->kind),
                   " (a backend may not reach the node's traffic, control, health or metrics "
                   "listeners)"));
}

absl::StatusOr<SocketAddress> OwnListeners::ResolveBackend(const HostPort& address,
                                                           const LocalAddresses& local) const {
  absl::StatusOr<SocketAddress> resolved = SocketAddress::Resolve(address);
  if (!resolved.ok()) return resolved.status();
  if (absl::Status unicast = CheckUnicast(*resolved); !unicast.ok()) return unicast;
  if (absl::Status own = CheckBackend(*resolved, local); !own.ok()) return own;
  return resolved;
}

}  // namespace plby::net
