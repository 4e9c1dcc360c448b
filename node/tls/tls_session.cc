#include "tls/tls_session.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tls/openssl_util.h"

namespace plby::tls {
namespace {

constexpr absl::string_view kFailureLabels[] = {
#define PLBY_LABEL(name, label) label,
    PLBY_TLS_HANDSHAKE_FAILURES(PLBY_LABEL)
#undef PLBY_LABEL
};

HandshakeFailure Classify(unsigned long code) {
  if (ERR_GET_LIB(code) != ERR_LIB_SSL) return HandshakeFailure::kOther;
  const int reason = ERR_GET_REASON(code);
  switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_WRONG_VERSION_NUMBER:
      return HandshakeFailure::kProtocolVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      return HandshakeFailure::kNoSharedCipher;
    default:
      // The alerts a peer sends are reasons SSL_AD_REASON_OFFSET + the alert's number.
      if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
        return HandshakeFailure::kPeerAlert;
      }
      return HandshakeFailure::kOther;
  }
}

}  // namespace

absl::string_view HandshakeFailureLabel(HandshakeFailure failure) {
  return kFailureLabels[static_cast<size_t>(failure)];
}

TlsSession::TlsSession(ssl_st* ssl, std::shared_ptr<const void> context)
    : ssl_(ssl), context_(std::move(context)) {}

TlsSession::TlsSession(TlsSession&& other) noexcept { *this = std::move(other); }

TlsSession& TlsSession::operator=(TlsSession&& other) noexcept {
  if (this != &other) {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = std::exchange(other.ssl_, nullptr);
    context_ = std::move(other.context_);
    error_ = std::move(other.error_);
    failure_ = other.failure_;
  }
  return *this;
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

IoResult TlsSession::Result(int returned, size_t bytes) {
  if (returned == 1) return {IoStatus::kOk, bytes};
  const int error = SSL_get_error(ssl_, returned);
  IoResult result{IoStatus::kError, 0};
  switch (error) {
    case SSL_ERROR_WANT_READ:
      result.status = IoStatus::kWantRead;
      break;
    case SSL_ERROR_WANT_WRITE:
      result.status = IoStatus::kWantWrite;
      break;
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a TCP FIN
      result.status = IoStatus::kEnd;
      break;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        error_ = errno != 0 ? std::strerror(errno) : "the peer closed the connection";
        failure_ = HandshakeFailure::kClosed;
        break;
      }
      [[fallthrough]];
    default: {
      const unsigned long code = ERR_peek_error();
      failure_ = Classify(code);
      char text[256] = {};
      ERR_error_string_n(code, text, sizeof(text));
      const char* reason = ERR_reason_error_string(code);
      error_ = reason != nullptr ? reason : text;
      // A certificate refused by our own verification says why in the verify result.
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK && SSL_is_server(ssl_) == 0) {
        error_ = absl::StrCat(error_, ": ", X509_verify_cert_error_string(verify));
      }
      break;
    }
  }
  // Errors are queued per thread: what is left would be blamed on the next connection.
  ERR_clear_error();
  return result;
}

IoResult TlsSession::Handshake() {
  ERR_clear_error();
  errno = 0;  // SSL_ERROR_SYSCALL reads it
  return Result(SSL_do_handshake(ssl_), 0);
}

IoResult TlsSession::Read(char* data, size_t size) {
  ERR_clear_error();
  errno = 0;  // SSL_ERROR_SYSCALL reads it
  size_t read = 0;
  const int returned = SSL_read_ex(ssl_, data, size, &read);  // before `read` is looked at
  return Result(returned, read);
}

IoResult TlsSession::Peek(char* data, size_t size) {
  ERR_clear_error();
  errno = 0;  // SSL_ERROR_SYSCALL reads it
  size_t peeked = 0;
  const int returned = SSL_peek_ex(ssl_, data, size, &peeked);
  return Result(returned, peeked);
}

IoResult TlsSession::Write(const char* data, size_t size) {
  ERR_clear_error();
  errno = 0;  // SSL_ERROR_SYSCALL reads it
  size_t written = 0;
  const int returned = SSL_write_ex(ssl_, data, size, &written);
  return Result(returned, written);
}

void TlsSession::ShutdownWrite() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

absl::string_view TlsSession::version() const { return SSL_get_version(ssl_); }

absl::string_view TlsSession::alpn() const {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &protocol, &length);
  return protocol == nullptr ? absl::string_view()
                             : absl::string_view(reinterpret_cast<const char*>(protocol), length);
}

size_t TlsSession::pending() const {
  return ssl_ != nullptr ? static_cast<size_t>(SSL_pending(ssl_)) : 0;
}

bool TlsSession::resumed() const { return SSL_session_reused(ssl_) == 1; }

}  // namespace plby::tls
