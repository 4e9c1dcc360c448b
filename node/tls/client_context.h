// TLS from the node to a pool's backends ([pool.tls]): the CA the backends' certificates are
// checked against, the name checked (and sent as SNI), and a client certificate for backends
// that ask for one (mTLS). Immutable once loaded; one set of OpenSSL contexts per worker.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tls/ciphers.h"

namespace plby::tls {

class TlsSession;

// [pool.tls], as the config gives it: file names, and what was read from them.
struct ClientTlsSettings {
  bool verify = true;   // false only when the config says so (and warns)
  std::string ca_file;  // required when verifying
  std::string ca_pem;
  std::string server_name;  // empty: each backend's own host
  std::string cert_file;    // a client certificate, with its key; both or neither
  std::string cert_pem;
  std::string key_file;
  std::string key_pem;
  CipherSettings ciphers;  // what TLS 1.2 and 1.3 offer, and the key exchange groups

  friend bool operator==(const ClientTlsSettings&, const ClientTlsSettings&) = default;
};

class ClientContext {
 public:
  // Refused, naming the file: a CA file with no CA, a client key that is not its
  // certificate's, an expired client certificate.
  static absl::StatusOr<std::shared_ptr<const ClientContext>> Load(
      const ClientTlsSettings& settings, int copies);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // A client session over the connected socket `fd` to a backend whose host is `host` (a name
  // or an IP literal): the name checked is settings.server_name, or `host`; a name is also
  // sent as SNI. Empty when OpenSSL is out of memory.
  TlsSession NewSession(const std::shared_ptr<const ClientContext>& self, int copy,
                        absl::string_view host, int fd) const;

  const ClientTlsSettings& settings() const { return settings_; }

 private:
  struct Contexts;
  ClientContext();

  ClientTlsSettings settings_;
  std::vector<std::unique_ptr<Contexts>> copies_;
};

}  // namespace plby::tls
