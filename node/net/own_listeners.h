// OwnListeners: every address the node itself listens on (its traffic listeners, the control
// service, the health service, the metrics listener), and the rules about them: no two may
// take the same connections, and no backend may reach one. A backend that reached a traffic
// listener would loop every connection back into the node; one that reached the control,
// health or metrics port would expose that service on a traffic port, past its own address
// rules and the network policy in front of it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "net/socket_address.h"

namespace plby::net {

enum class ListenerKind { kTraffic, kControl, kHealth, kMetrics };

struct Listener {
  ListenerKind kind = ListenerKind::kTraffic;
  std::string name;       // for messages: "server \"web\"", "the control service", ...
  SocketAddress address;  // as bound, or as configured (port 0: none yet, it reaches nothing)
  // gRPC binds a wildcard of either family ("0.0.0.0" or "[::]") as a dual-stack "[::]", so
  // that it takes IPv4 and IPv6 alike; plby's own listeners take only their family.
  bool both_families = false;

  static Listener Traffic(std::string pool, SocketAddress address);
  static Listener Grpc(ListenerKind kind, SocketAddress address);
  static Listener Metrics(SocketAddress address);
};

// Whether `a` and `b` would take the same connections (so both could not be bound).
bool Overlap(const Listener& a, const Listener& b);

// This machine's addresses (loopback and every interface's), read once: a wildcard listener
// is reached through any of them.
class LocalAddresses {
 public:
  static LocalAddresses Read();
  // `address` (whatever its port) is one of this machine's.
  bool Contains(const SocketAddress& address) const;

 private:
  std::vector<SocketAddress> interfaces_;  // with port 0
};

class OwnListeners {
 public:
  void Add(Listener listener) { listeners_.push_back(std::move(listener)); }
  const std::vector<Listener>& listeners() const { return listeners_; }

  // The listener a connection to `target` would reach, or nullptr.
  const Listener* ReachedBy(const SocketAddress& target, const LocalAddresses& local) const;

  // OK when a backend may be at `target`; else an error saying which listener it would reach
  // (the caller names the backend).
  absl::Status CheckBackend(const SocketAddress& target, const LocalAddresses& local) const;

  // Resolves a backend's address and checks that it may be one: a unicast address that reaches
  // none of these listeners. The rule for the state file, the control API and the names
  // resolved later alike (the config checks the same two rules once all its listeners are
  // known). The error says why; the caller names the backend.
  absl::StatusOr<SocketAddress> ResolveBackend(const HostPort& address,
                                               const LocalAddresses& local) const;

 private:
  std::vector<Listener> listeners_;
};

}  // namespace plby::net
