// Thin, checked wrappers over the socket system calls the node uses.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "net/socket_address.h"
#include "net/unique_fd.h"

namespace plby::net {

// Opens `count` non-blocking listening sockets on `address`, all in one SO_REUSEPORT group, so
// that the kernel spreads new connections over the workers that own them. When the address asks
// for port 0, the first socket gets a port from the kernel and the others join it; `bound`
// receives the address actually listened on.
//
// SO_REUSEPORT would also let a second process (same user) join the group silently and steal
// half the traffic, so the address is first probed without it: an address someone else is
// listening on is refused with "address already in use".
absl::StatusOr<std::vector<UniqueFd>> OpenListeners(const SocketAddress& address, int count,
                                                    SocketAddress* bound);

// Fails with "address already in use" when a socket is listening on `address` already (or the
// address cannot be bound at all); connections of an earlier run in TIME_WAIT are no obstacle.
absl::Status CheckNobodyListens(const SocketAddress& address);

// A non-blocking, close-on-exec TCP socket for `family`, with TCP_NODELAY set.
absl::StatusOr<UniqueFd> NewStreamSocket(int family);

void SetNoDelay(int fd);

// True for errors of this machine (out of descriptors, memory or local ports) rather than of
// the peer being connected to: they say nothing about a backend's health.
bool IsLocalResourceShortage(int error);
// The pending error of a socket (SO_ERROR), 0 when none.
int TakeSocketError(int fd);

}  // namespace plby::net
