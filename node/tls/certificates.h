// Certificates and keys in PEM, read and checked with OpenSSL before anything uses them: the
// node's control-service files at config time, plbyctl's own files before it dials, and the
// client certificates the control service is offered. The only folder that includes OpenSSL.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plby::tls {

// What the checks need to know of one certificate.
struct CertificateFacts {
  std::string subject;  // "CN=plby node,O=..." (RFC 2253)
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;  // basicConstraints CA:TRUE
  // Extended key usage: absent means any use; present, it must name the use.
  bool client_auth = true;
  bool server_auth = true;
  // The DNS names it is for, lower-cased: its subject alternative names, or its common name
  // when it has none (RFC 6125 6.4.4).
  std::vector<std::string> names;
  std::string fingerprint;  // SHA-256 of the DER form, 64 hex digits
};

// The certificates of a PEM file, leaf first. An error when there is none, saying what the
// file holds instead (a private key: the cert and key files were swapped, say).
absl::StatusOr<std::vector<CertificateFacts>> ReadCertificates(absl::string_view pem);

// OK when `key_pem` holds an unencrypted private key, and, with `cert_pem`, the key of that
// file's first certificate.
absl::Status CheckPrivateKey(absl::string_view key_pem, absl::string_view cert_pem = "");

// The certificates of a CA file (what client or node certificates are checked against): an
// error unless at least one of them is a CA.
absl::StatusOr<std::vector<CertificateFacts>> ReadCaBundle(absl::string_view pem);

// A warning for a certificate that has expired or will within `soon` (empty when neither):
// "the certificate CN=x expired on 2026-11-30 ..." or "... expires on ... (in 3 days)".
std::string ExpiryWarning(const CertificateFacts& certificate, absl::Time now,
                          absl::Duration soon = absl::Hours(24 * 14));

// Verifies the client certificates offered to the control service against its client CA: the
// TLS handshake lets any certificate through (with proof of its key), and each call is then
// checked here, so that a refusal can name the peer and the reason instead of ending in a
// handshake failure neither side can explain.
class ClientCertificateVerifier {
 public:
  static absl::StatusOr<std::unique_ptr<ClientCertificateVerifier>> Create(
      absl::string_view ca_pem);
  ~ClientCertificateVerifier();

  // OK when `leaf_pem` (with the intermediates in `chain_pem`, which may repeat the leaf)
  // chains up to one of the CAs, is valid now and allows client authentication; else why not.
  // Thread-safe.
  absl::Status Verify(absl::string_view leaf_pem, absl::string_view chain_pem) const;

 private:
  struct Store;
  explicit ClientCertificateVerifier(std::unique_ptr<Store> store);
  std::unique_ptr<Store> store_;
};

// Makes a TLS handshake with `address` (HOST:PORT) as a client would, verifying the server's
// certificate against `ca_pem` for `expected_name` (a host name or an IP address), and says
// what is wrong with it: for plbyctl, after a call failed in the handshake. OK when nothing is.
absl::Status CheckServerCertificate(const std::string& address, absl::string_view ca_pem,
                                    const std::string& expected_name, absl::Duration timeout);

}  // namespace plby::tls
