#include "tls/ciphers.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tls/openssl_util.h"

namespace plby::tls {
namespace {

// What OpenSSL 3 implements of RFC 8446's suites.
constexpr absl::string_view kTls13Suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                              "TLS_CHACHA20_POLY1305_SHA256",
                                              "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"};

absl::Status Refuse(absl::string_view element, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("\"", element, "\" ", what));
}

// Calls `takes` with each ':'-separated element; the first it refuses is named.
template <typename Takes>
absl::Status CheckEach(absl::string_view list, absl::string_view what, Takes takes) {
  if (list.empty()) {
    return absl::InvalidArgumentError("expected a non-empty list, names joined by ':'");
  }
  for (const absl::string_view element : absl::StrSplit(list, ':')) {
    if (element.empty() || !takes(element)) return Refuse(element, what);
  }
  return absl::OkStatus();
}

// A context to try settings on, one per thread (the config is read on one).
SSL_CTX* Scratch() {
  static thread_local detail::SslContext scratch(SSL_CTX_new(TLS_method()));
  return scratch.get();
}

}  // namespace

absl::Status CheckCiphers(absl::string_view list) {
  absl::Status status = CheckEach(
      list,
      "selects no TLS 1.2 cipher OpenSSL knows (valid: names as `openssl ciphers -v` lists "
      "them, joined by ':', such as ECDHE-ECDSA-AES128-GCM-SHA256)",
      [](absl::string_view element) {
        // Rules that remove or reorder ("!aNULL", "-SHA1", "@STRENGTH") select nothing alone.
        if (absl::string_view("!-+@").find(element.front()) != absl::string_view::npos) {
          return true;
        }
        const bool taken = SSL_CTX_set_cipher_list(Scratch(), std::string(element).c_str()) == 1;
        ERR_clear_error();
        return taken;
      });
  if (status.ok() && SSL_CTX_set_cipher_list(Scratch(), std::string(list).c_str()) != 1) {
    ERR_clear_error();
    status = Refuse(list, "selects no TLS 1.2 cipher at all");
  }
  return status;
}

absl::Status CheckCiphersuites(absl::string_view list) {
  return CheckEach(list,
                   "is not a TLS 1.3 cipher suite (valid: TLS_AES_128_GCM_SHA256, "
                   "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_CCM_SHA256, "
                   "TLS_AES_128_CCM_8_SHA256)",
                   [](absl::string_view element) {
                     return std::find(std::begin(kTls13Suites), std::end(kTls13Suites), element) !=
                            std::end(kTls13Suites);
                   });
}

absl::Status CheckGroups(absl::string_view list) {
  return CheckEach(list,
                   "is not a key exchange group OpenSSL knows (valid: X25519, X448, P-256, P-384, "
                   "P-521, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192)",
                   [](absl::string_view element) {
                     const bool taken =
                         SSL_CTX_set1_groups_list(Scratch(), std::string(element).c_str()) == 1;
                     ERR_clear_error();
                     return taken;
                   });
}

absl::Status CheckCipherSettings(const CipherSettings& settings) {
  for (const auto& [key, status] :
       {std::pair{"ciphers", CheckCiphers(settings.ciphers)},
        std::pair{"ciphersuites", CheckCiphersuites(settings.ciphersuites)},
        std::pair{"groups", CheckGroups(settings.groups)}}) {
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

namespace detail {

bool UseCipherSettings(SSL_CTX* ctx, const CipherSettings& settings) {
  return SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) == 1 &&
         SSL_CTX_set_ciphersuites(ctx, settings.ciphersuites.c_str()) == 1 &&
         SSL_CTX_set1_groups_list(ctx, settings.groups.c_str()) == 1;
}

}  // namespace detail
}  // namespace plby::tls
