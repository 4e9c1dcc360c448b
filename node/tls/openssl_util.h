// What the files of node/tls/ share about OpenSSL: its objects owned by std::unique_ptr, its
// error queue read and emptied. Internal to node/tls/ (the only folder that includes OpenSSL).
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tls/ciphers.h"

namespace plby::tls::detail {

// OpenSSL objects owned by std::unique_ptr, each freed by its own function.
template <auto kFree>
struct FreedBy {
  template <typename T>
  void operator()(T* object) const {
    kFree(object);
  }
};
inline void FreeCertStack(STACK_OF(X509) * stack) { sk_X509_pop_free(stack, X509_free); }

using Bio = std::unique_ptr<BIO, FreedBy<BIO_free>>;
using Cert = std::unique_ptr<X509, FreedBy<X509_free>>;
using Key = std::unique_ptr<EVP_PKEY, FreedBy<EVP_PKEY_free>>;
using CertStack = std::unique_ptr<STACK_OF(X509), FreedBy<FreeCertStack>>;
using X509Store = std::unique_ptr<X509_STORE, FreedBy<X509_STORE_free>>;
using StoreContext = std::unique_ptr<X509_STORE_CTX, FreedBy<X509_STORE_CTX_free>>;
using SslContext = std::unique_ptr<SSL_CTX, FreedBy<SSL_CTX_free>>;
using Ssl = std::unique_ptr<SSL, FreedBy<SSL_free>>;

inline Bio MemoryBio(absl::string_view pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// OpenSSL's last error as text, and the queue emptied: errors are per thread and would
// otherwise be reported against a later call.
inline std::string TakeError() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = {};
  if (code != 0) ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return code != 0 ? std::string(text) : "unknown error";
}

// Every certificate in `pem`, in order.
inline std::vector<Cert> ParseCertificates(absl::string_view pem) {
  std::vector<Cert> certificates;
  Bio bio = MemoryBio(pem);
  while (true) {
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certificates.push_back(std::move(cert));
  }
  ERR_clear_error();  // the end of the input reads as an error
  return certificates;
}

// "CN=plby node,O=..." (RFC 2253), or "(no subject)".
inline std::string SubjectOf(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  std::string subject(data, static_cast<size_t>(size));
  return subject.empty() ? "(no subject)" : subject;
}

// An ASN.1 time (a certificate's validity, an OCSP response's updates); InfinitePast when
// absent or unreadable.
inline absl::Time TimeOf(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

// Puts a certificate chain (leaf first) and its key into `ctx`; false, with OpenSSL's error
// queue holding why, when it does not take them. The files were checked before.
inline bool UseCertificateChain(SSL_CTX* ctx, absl::string_view chain_pem,
                                absl::string_view key_pem) {
  std::vector<Cert> chain = ParseCertificates(chain_pem);
  Bio key_bio = MemoryBio(key_pem);
  Key key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (chain.empty() || !key || SSL_CTX_use_certificate(ctx, chain.front().get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    return false;
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) return false;
  }
  return true;
}

// Puts `settings` (checked before, with CheckCipherSettings) into `ctx`; false, with OpenSSL's
// error queue holding why, when it does not take them. (tls/ciphers.cc)
bool UseCipherSettings(SSL_CTX* ctx, const CipherSettings& settings);

}  // namespace plby::tls::detail
