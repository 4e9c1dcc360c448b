#include "net/socket_ops.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace plby::net {
namespace {

constexpr int kListenBacklog = 4096;  // the kernel caps it at net.core.somaxconn

absl::Status ErrnoError(int error, absl::string_view what, const SocketAddress& address) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", address.ToString()));
}

absl::Status SetIntOption(int fd, int level, int name, int value, absl::string_view what,
                          const SocketAddress& address) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    return ErrnoError(errno, absl::StrCat("setsockopt(", what, ") on"), address);
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenOneListener(const SocketAddress& address) {
  UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError(errno, "socket for", address);
  for (const auto& [name, option] :
       {std::pair{"SO_REUSEADDR", SO_REUSEADDR}, std::pair{"SO_REUSEPORT", SO_REUSEPORT}}) {
    if (auto s = SetIntOption(fd.get(), SOL_SOCKET, option, 1, name, address); !s.ok()) return s;
  }
  // Like nginx: "[::]:80" means IPv6 only; IPv4 gets its own listener.
  if (address.family() == AF_INET6) {
    if (auto s = SetIntOption(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", address);
        !s.ok()) {
      return s;
    }
  }
  // Accepted sockets inherit TCP_NODELAY: small writes of request/response traffic go out at once.
  if (auto s = SetIntOption(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", address);
      !s.ok()) {
    return s;
  }
  if (bind(fd.get(), address.sockaddr_ptr(), address.length()) != 0) {
    return ErrnoError(errno, "cannot listen on", address);
  }
  if (listen(fd.get(), kListenBacklog) != 0) return ErrnoError(errno, "listen on", address);
  return fd;
}

}  // namespace

absl::Status CheckNobodyListens(const SocketAddress& address) {
  UniqueFd probe(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return ErrnoError(errno, "socket for", address);
  // SO_REUSEADDR tolerates connections of an earlier run in TIME_WAIT, but not a live listener.
  if (auto s = SetIntOption(probe.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", address);
      !s.ok()) {
    return s;
  }
  if (address.family() == AF_INET6) {
    if (auto s = SetIntOption(probe.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", address);
        !s.ok()) {
      return s;
    }
  }
  if (bind(probe.get(), address.sockaddr_ptr(), address.length()) != 0) {
    return ErrnoError(errno, "cannot listen on", address);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UniqueFd>> OpenListeners(const SocketAddress& address, int count,
                                                    SocketAddress* bound) {
  SocketAddress target = address;
  if (target.port() != 0) {
    if (auto s = CheckNobodyListens(target); !s.ok()) return s;
  }
  std::vector<UniqueFd> listeners;
  listeners.reserve(count);
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<UniqueFd> fd = OpenOneListener(target);
    if (!fd.ok()) return fd.status();
    if (i == 0 && target.port() == 0) {
      absl::StatusOr<SocketAddress> local = SocketAddress::LocalOf(fd->get());
      if (!local.ok()) return local.status();
      target.set_port(local->port());
    }
    listeners.push_back(*std::move(fd));
  }
  *bound = target;
  return listeners;
}

absl::StatusOr<UniqueFd> NewStreamSocket(int family) {
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket");
  SetNoDelay(fd.get());
  return fd;
}

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool IsLocalResourceShortage(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM ||
         error == EADDRNOTAVAIL;  // no free local port for the connection
}

int TakeSocketError(int fd) {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

}  // namespace plby::net
