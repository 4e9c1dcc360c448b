// Transport: one socket of a proxied connection and, when that side speaks TLS, its session.
// Reads and writes go through here, so that the rest of the proxy is the same for plaintext and
// TLS; the edge-triggered readiness epoll reported is kept next to the socket it is about.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "net/unique_fd.h"
#include "tls/tls_session.h"

namespace plby::proxy {

struct Transport {
  // read(2) or, with TLS, SSL_read: > 0 bytes, 0 at the end, or -1 with errno (EAGAIN: not now;
  // ENOBUFS: TLS must write before it can read on; ECONNRESET: a TLS error).
  ssize_t Read(char* data, size_t size);
  // write(2) or SSL_write: the bytes taken (a short count means the socket is full), or -1
  // with errno (EAGAIN: full; EPIPE: a TLS error).
  ssize_t Write(const char* data, size_t size);
  // Sends the FIN (after a close_notify, with TLS); the other direction goes on.
  void ShutdownWrite();
  // Whether a read shorter than asked proves the socket empty. Not for TLS: OpenSSL returns a
  // record at a time and may hold bytes the socket no longer shows, so only its "want read"
  // says it is empty.
  bool short_read_empties() const { return !tls.valid(); }

  net::UniqueFd fd;
  tls::TlsSession tls;  // valid: the bytes of this side go through TLS
  // What epoll has said (edge-triggered: a flag stays set until a system call says otherwise).
  bool readable = false;
  bool writable = false;
  bool peer_closed = false;  // FIN or error seen: read on until the socket says so
};

}  // namespace plby::proxy
