// Backend: one server a pool forwards to, as a snapshot holds it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/backend_addresses.h"
#include "net/host_port.h"
#include "net/socket_address.h"
#include "pool/backend_runtime.h"

namespace plby::pool {

struct Backend {
  net::HostPort address;              // identifies the backend within its pool
  net::SocketAddress socket_address;  // empty while unresolved
  int64_t weight = 1;
  bool draining = false;  // keeps its open connections, gets no new ones
  // Why the address does not resolve to a usable backend now (a name from the state file that
  // the resolver does not know yet, say); empty once it does. An unresolved backend takes no
  // traffic and is not checked; its name is retried in the background.
  std::string unresolved;
  // Shared by every snapshot that lists this backend, so counters survive pool changes.
  std::shared_ptr<BackendRuntime> runtime;
};

// The addresses of `backends` (index = position), for the one-address-one-backend rule.
inline net::BackendAddresses AddressesOf(const std::vector<Backend>& backends) {
  net::BackendAddresses addresses;
  for (size_t i = 0; i < backends.size(); ++i) {
    addresses.Add(i, backends[i].address,
                  backends[i].unresolved.empty() ? &backends[i].socket_address : nullptr);
  }
  return addresses;
}

}  // namespace plby::pool
