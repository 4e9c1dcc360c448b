// Backend: one server a pool forwards to, as a snapshot holds it (immutable).
#pragma once

#include <cstdint>

#include "net/host_port.h"
#include "net/socket_address.h"

namespace plby::pool {

struct Backend {
  net::HostPort address;  // identifies the backend within its pool
  net::SocketAddress socket_address;
  int64_t weight = 1;
};

}  // namespace plby::pool
