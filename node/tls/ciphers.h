// Which TLS 1.2 ciphers, TLS 1.3 cipher suites and key exchange groups a context offers:
// `ciphers`, `ciphersuites` and `groups` in [server.tls] and [pool.tls]. The defaults are
// Mozilla's "intermediate" profile without its DHE suites: ECDHE key exchange and AEAD ciphers
// only. OpenSSL's own default offers CBC suites in TLS 1.2 (testssl: "obsolete CBC ciphers",
// LUCKY13 "potentially vulnerable") and finite-field groups nobody needs.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace plby::tls {

inline constexpr char kDefaultCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr char kDefaultCiphersuites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr char kDefaultGroups[] = "X25519:P-256:P-384";

struct CipherSettings {
  std::string ciphers = kDefaultCiphers;            // TLS 1.2, OpenSSL's cipher list syntax
  std::string ciphersuites = kDefaultCiphersuites;  // TLS 1.3, ':'-separated names
  std::string groups = kDefaultGroups;              // ':'-separated group names

  bool operator==(const CipherSettings&) const = default;
};

// Each list checked element by element, as OpenSSL would take it; else INVALID_ARGUMENT naming
// the element and what is valid: `"TLS_AES_999" is not a TLS 1.3 cipher suite (valid: ...)`.
absl::Status CheckCiphers(absl::string_view list);
absl::Status CheckCiphersuites(absl::string_view list);
absl::Status CheckGroups(absl::string_view list);
// The three, each message starting with its key ("groups: ...").
absl::Status CheckCipherSettings(const CipherSettings& settings);

}  // namespace plby::tls
