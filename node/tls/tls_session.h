// TlsSession: one TLS connection over a non-blocking socket (OpenSSL's SSL), as the relay
// needs it: calls that never block and say what they wait for, the error queue emptied by each
// call, and no buffer held while idle (SSL_MODE_RELEASE_BUFFERS). Owned by one connection, used
// only by its worker's thread. Movable; empty when default-constructed.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

struct ssl_st;  // OpenSSL's SSL, which only node/tls/ includes

namespace plby::tls {

class ClientContext;
class ServerContext;

enum class IoStatus {
  kOk,         // `bytes` moved (or the handshake is done)
  kWantRead,   // wait until the socket is readable, then call again
  kWantWrite,  // wait until the socket is writable, then call again
  kEnd,        // the peer ended the stream (close_notify, or a clean TCP close)
  kError,      // the connection is broken: see failure()
};

struct IoResult {
  IoStatus status = IoStatus::kError;
  size_t bytes = 0;
};

// Why a handshake failed, for the metrics (X: enumerator, label).
#define PLBY_TLS_HANDSHAKE_FAILURES(X)                                                    \
  X(kProtocolVersion, "protocol_version") /* no common version (say, 1.1 to a 1.2 min) */ \
  X(kNoSharedCipher, "no_shared_cipher")                                                  \
  X(kPeerAlert, "peer_alert") /* the client refused us (an unknown CA, say) */            \
  X(kClosed, "closed")        /* the client went before the handshake ended */            \
  X(kOther, "other")

#define PLBY_ENUMERATOR(name, label) name,
enum class HandshakeFailure : size_t { PLBY_TLS_HANDSHAKE_FAILURES(PLBY_ENUMERATOR) kCount };
#undef PLBY_ENUMERATOR
absl::string_view HandshakeFailureLabel(HandshakeFailure failure);

class TlsSession {
 public:
  TlsSession() = default;
  TlsSession(TlsSession&& other) noexcept;
  TlsSession& operator=(TlsSession&& other) noexcept;
  ~TlsSession();

  bool valid() const { return ssl_ != nullptr; }

  // Moves the handshake on. kOk once it is done.
  IoResult Handshake();
  // Up to `size` decrypted bytes. A short read does not mean the socket is empty: OpenSSL may
  // hold more of a record; only kWantRead says there is nothing.
  IoResult Read(char* data, size_t size);
  // As Read, but what it returns stays to be read (SSL_peek): kEnd when the peer has ended
  // (close_notify, or its FIN) before sending a byte more.
  IoResult Peek(char* data, size_t size);
  // Encrypts and sends up to `size` bytes (partial writes allowed). After kWantWrite, call
  // again with the same bytes (they may sit elsewhere: a moving buffer is allowed).
  IoResult Write(const char* data, size_t size);
  // Sends close_notify, best effort: the TCP half-close follows it either way.
  void ShutdownWrite();

  // After the handshake.
  absl::string_view version() const;  // "TLSv1.3"
  absl::string_view alpn() const;     // "" when none was agreed
  bool resumed() const;
  // Decrypted bytes OpenSSL holds that no Read took yet.
  size_t pending() const;
  // After a kError: what went wrong, for the log ("no shared cipher", or why the peer's
  // certificate was not trusted), and its kind.
  const std::string& error() const { return error_; }
  HandshakeFailure failure() const { return failure_; }

 private:
  friend class ClientContext;
  friend class ServerContext;
  TlsSession(ssl_st* ssl, std::shared_ptr<const void> context);
  IoResult Result(int returned, size_t bytes);

  ssl_st* ssl_ = nullptr;
  // Keeps the contexts (and the ticket keys their callback reads) alive while this session
  // may still use them.
  std::shared_ptr<const void> context_;
  std::string error_;
  HandshakeFailure failure_ = HandshakeFailure::kOther;
};

}  // namespace plby::tls
