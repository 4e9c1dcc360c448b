#include "proxy/transport.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace plby::proxy {

ssize_t Transport::Read(char* data, size_t size) {
  if (!tls.valid()) return ::read(fd.get(), data, size);
  const tls::IoResult result = tls.Read(data, size);
  switch (result.status) {
    case tls::IoStatus::kOk:
      return static_cast<ssize_t>(result.bytes);
    case tls::IoStatus::kEnd:
      return 0;
    case tls::IoStatus::kWantRead:
      errno = EAGAIN;
      return -1;
    case tls::IoStatus::kWantWrite:
      errno = ENOBUFS;
      return -1;
    case tls::IoStatus::kError:
      break;
  }
  errno = ECONNRESET;
  return -1;
}

ssize_t Transport::Write(const char* data, size_t size) {
  if (!tls.valid()) return ::write(fd.get(), data, size);
  // OpenSSL takes at most one record (16 KiB) per call with partial writes on: write on until
  // all is taken or the socket is full, so that a short count means what it means for a
  // socket (full: wait for EPOLLOUT), never merely "one record went".
  size_t written = 0;
  while (written < size) {
    const tls::IoResult result = tls.Write(data + written, size - written);
    if (result.status == tls::IoStatus::kOk) {
      written += result.bytes;
      continue;
    }
    if (written > 0) return static_cast<ssize_t>(written);  // the rest waits, as for a socket
    switch (result.status) {
      case tls::IoStatus::kWantWrite:
        errno = EAGAIN;
        return -1;
      case tls::IoStatus::kWantRead:
        // Renegotiation is off, so OpenSSL never needs to read before it writes; should it,
        // the next event on the socket (EPOLLIN) tries again.
        errno = EAGAIN;
        return -1;
      case tls::IoStatus::kOk:
      case tls::IoStatus::kEnd:
      case tls::IoStatus::kError:
        break;
    }
    errno = EPIPE;
    return -1;
  }
  return static_cast<ssize_t>(written);
}

void Transport::ShutdownWrite() {
  if (tls.valid()) tls.ShutdownWrite();  // close_notify, then the FIN
  ::shutdown(fd.get(), SHUT_WR);
}

}  // namespace plby::proxy
