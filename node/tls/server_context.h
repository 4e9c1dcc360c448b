// TLS termination for a listener: its certificates loaded into OpenSSL contexts, each
// certificate's names for choosing by SNI, the session ticket keys every node of a fleet can
// share, and the sessions (TlsSession) that connections run over them. Immutable once loaded;
// a reload builds a new one.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tls/certificates.h"
#include "tls/ciphers.h"
#include "tls/ocsp.h"

namespace plby::tls {

class TlsSession;

enum class TlsVersion { kTls12, kTls13 };

// [server.tls], as the config gives it: file names, and what was read from them.
struct ServerTlsSettings {
  struct Certificate {
    std::string cert_file;  // as configured, for messages and listings
    std::string key_file;
    std::string cert_pem;  // the chain, leaf first
    std::string key_pem;
    std::string ocsp_file;  // a DER OCSP response to staple; empty: none
    std::string ocsp_der;
  };
  std::vector<Certificate> certificates;  // at least one; the first is the default
  TlsVersion min_version = TlsVersion::kTls12;
  std::vector<std::string> alpn;  // offered, in order of preference; empty: no ALPN
  // A file of session ticket keys (session_ticket_keys), and its bytes; empty: keys of this
  // process only (resumption works on this node, not across a fleet).
  std::string ticket_keys_file;
  std::string ticket_keys;
  CipherSettings ciphers;  // what TLS 1.2 and 1.3 offer, and the key exchange groups
};

// One loaded certificate, as `plbyctl certs list` and the metrics show it.
struct LoadedCertificate {
  std::string cert_file;
  CertificateFacts facts;          // of the leaf: names, expiry, fingerprint
  std::optional<OcspStaple> ocsp;  // stapled to clients that ask, while Stapleable
};

// What is worth a warning about a certificate as loaded: it expires soon (or has), its OCSP
// response is not stapled (expired, or not valid yet). Each names the file.
std::vector<std::string> LoadWarnings(const LoadedCertificate& certificate, absl::Time now);

// The ticket key file: one key per line, base64 of 80 bytes (16 name, 32 HMAC secret, 32 AES
// key), HAProxy's tls-ticket-keys format, so a fleet can share HAProxy's files. Blank lines
// and lines starting with # are skipped. At most 64 keys.
struct TicketKey {
  std::array<unsigned char, 16> name;
  std::array<unsigned char, 32> hmac_key;
  std::array<unsigned char, 32> aes_key;
};
absl::StatusOr<std::vector<TicketKey>> ParseTicketKeys(absl::string_view text);

class ServerContext {
 public:
  // Loads `settings` into `copies` independent sets of OpenSSL contexts (one per worker: OpenSSL
  // 3.0 contends on locks shared by the threads of one context). Refused, naming the file: a
  // certificate file without a certificate, a key that is not its certificate's, an expired
  // certificate, an OCSP response that is not for its certificate (ReadOcspResponse), a bad
  // ticket key file; or the cipher settings OpenSSL does not take.
  static absl::StatusOr<std::shared_ptr<const ServerContext>> Load(
      const ServerTlsSettings& settings, int copies);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // The certificate for a client that sent `server_name` (lower-cased; may be empty): the first
  // whose names match it (a "*.example.com" name stands for one label, RFC 6125 6.4.3), else
  // the first one.
  size_t Select(absl::string_view server_name) const;

  // A server session over the connected socket `fd` with certificate `certificate`, from the
  // contexts of copy `copy`; `self` keeps this context alive for the session's handshake.
  // Empty when OpenSSL is out of memory.
  TlsSession NewSession(const std::shared_ptr<const ServerContext>& self, int copy,
                        size_t certificate, int fd) const;

  const std::vector<LoadedCertificate>& certificates() const { return certificates_; }
  const std::vector<TicketKey>& ticket_keys() const { return ticket_keys_; }

 private:
  struct Contexts;
  ServerContext();

  std::vector<LoadedCertificate> certificates_;
  std::vector<TicketKey> ticket_keys_;  // [0] encrypts; all decrypt
  std::string alpn_wire_;               // the protocols offered, as ALPN writes them
  std::vector<std::unique_ptr<Contexts>> copies_;
};

// A listener's current ServerContext: replaced whole by a reload, while the workers read it.
// Readers compare generation() (one atomic load) with what they hold, and lock only to take a
// new one; open connections keep the context they started with.
class ServerContextSlot {
 public:
  explicit ServerContextSlot(std::shared_ptr<const ServerContext> initial)
      : current_(std::move(initial)) {}

  std::shared_ptr<const ServerContext> Get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  void Set(std::shared_ptr<const ServerContext> context) {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(context);
    generation_.fetch_add(1, std::memory_order_release);
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ServerContext> current_;  // guarded by mutex_
  std::atomic<uint64_t> generation_{1};
};

}  // namespace plby::tls
