#include "tls/certificates.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/memory/memory.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/host_port.h"
#include "net/socket_address.h"
#include "text/quote.h"
#include "tls/openssl_util.h"

namespace plby::tls {
namespace {

using detail::Bio;
using detail::Cert;
using detail::CertStack;
using detail::Key;
using detail::MemoryBio;
using detail::ParseCertificates;
using detail::Ssl;
using detail::SslContext;
using detail::StoreContext;
using detail::SubjectOf;
using detail::TakeError;
using detail::TimeOf;
using detail::X509Store;

std::vector<std::string> DnsNamesOf(X509* cert) {
  std::vector<std::string> names;
  using Names = std::unique_ptr<GENERAL_NAMES, detail::FreedBy<GENERAL_NAMES_free>>;
  Names alternatives(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (alternatives) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alternatives.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(alternatives.get(), i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* text = name->d.dNSName;
      names.push_back(absl::AsciiStrToLower(
          absl::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                            static_cast<size_t>(ASN1_STRING_length(text)))));
    }
    return names;
  }
  char common_name[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, common_name,
                                sizeof(common_name)) > 0) {
    names.push_back(absl::AsciiStrToLower(common_name));
  }
  return names;
}

CertificateFacts FactsOf(X509* cert) {
  CertificateFacts facts;
  facts.subject = SubjectOf(cert);
  facts.not_before = TimeOf(X509_get0_notBefore(cert));
  facts.not_after = TimeOf(X509_get0_notAfter(cert));
  facts.is_ca = X509_check_ca(cert) != 0;
  if (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) {
    const uint32_t usage = X509_get_extended_key_usage(cert);
    facts.client_auth = (usage & XKU_SSL_CLIENT) != 0;
    facts.server_auth = (usage & XKU_SSL_SERVER) != 0;
  }
  facts.names = DnsNamesOf(cert);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &length) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < length; ++i) {
      facts.fingerprint += kHex[digest[i] >> 4];
      facts.fingerprint += kHex[digest[i] & 0xf];
    }
  }
  return facts;
}

// What a PEM file holds, for messages about one that holds the wrong thing.
std::string WhatItHolds(absl::string_view pem) {
  if (absl::StrContains(pem, "PRIVATE KEY-----")) return "a private key";
  if (absl::StrContains(pem, "CERTIFICATE REQUEST-----")) return "a certificate request";
  if (absl::StrContains(pem, "CERTIFICATE-----")) return "a certificate";
  if (absl::StrContains(pem, "-----BEGIN ")) return "PEM blocks of another kind";
  return "no PEM block";
}

// No passphrase prompt: a key the node cannot read unattended is an error.
int NoPassphrase(char*, int, int, void*) { return 0; }

std::string Day(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", time, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<std::vector<CertificateFacts>> ReadCertificates(absl::string_view pem) {
  std::vector<Cert> certificates = ParseCertificates(pem);
  if (certificates.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no certificate in it (it holds ", WhatItHolds(pem), ")"));
  }
  std::vector<CertificateFacts> facts;
  for (const Cert& cert : certificates) facts.push_back(FactsOf(cert.get()));
  return facts;
}

absl::Status CheckPrivateKey(absl::string_view key_pem, absl::string_view cert_pem) {
  if (absl::StrContains(key_pem, "ENCRYPTED")) {
    return absl::InvalidArgumentError(
        "the private key is encrypted with a passphrase, which the node cannot type: decrypt "
        "it (openssl pkey -in KEY -out KEY.plain)");
  }
  Bio bio = MemoryBio(key_pem);
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("no private key in it (it holds ", WhatItHolds(key_pem), ")"));
  }
  if (cert_pem.empty()) return absl::OkStatus();
  std::vector<Cert> certificates = ParseCertificates(cert_pem);
  if (certificates.empty()) return absl::OkStatus();  // the certificate's own check says why
  if (X509_check_private_key(certificates.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("the private key does not belong to the certificate ",
                     SubjectOf(certificates.front().get()),
                     " (a key from another pair: compare `openssl x509 -pubkey` and "
                     "`openssl pkey -pubout`)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CertificateFacts>> ReadCaBundle(absl::string_view pem) {
  absl::StatusOr<std::vector<CertificateFacts>> certificates = ReadCertificates(pem);
  if (!certificates.ok()) return certificates.status();
  for (const CertificateFacts& certificate : *certificates) {
    if (certificate.is_ca) return certificates;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "not a CA: its certificate ", certificates->front().subject,
      " has no basicConstraints CA:TRUE, so no certificate can be verified against it (is it "
      "a node or client certificate instead of the CA that signed them?)"));
}

std::string ExpiryWarning(const CertificateFacts& certificate, absl::Time now,
                          absl::Duration soon) {
  if (certificate.not_after <= now) {
    return absl::StrCat("the certificate ", certificate.subject, " expired on ",
                        Day(certificate.not_after), ": peers will refuse it");
  }
  if (certificate.not_before > now) {
    return absl::StrCat("the certificate ", certificate.subject, " is not valid before ",
                        Day(certificate.not_before), ": peers will refuse it until then");
  }
  if (certificate.not_after - now < soon) {
    const int64_t days = absl::ToInt64Hours(certificate.not_after - now) / 24;
    return absl::StrCat("the certificate ", certificate.subject, " expires on ",
                        Day(certificate.not_after), " (in ",
                        days == 0   ? std::string("less than a day")
                        : days == 1 ? std::string("1 day")
                                    : absl::StrCat(days, " days"),
                        "): renew it");
  }
  return "";
}

struct ClientCertificateVerifier::Store {
  X509Store store;
};

ClientCertificateVerifier::ClientCertificateVerifier(std::unique_ptr<Store> store)
    : store_(std::move(store)) {}
ClientCertificateVerifier::~ClientCertificateVerifier() = default;

absl::StatusOr<std::unique_ptr<ClientCertificateVerifier>> ClientCertificateVerifier::Create(
    absl::string_view ca_pem) {
  if (absl::StatusOr<std::vector<CertificateFacts>> bundle = ReadCaBundle(ca_pem); !bundle.ok()) {
    return bundle.status();
  }
  auto store = std::make_unique<Store>();
  store->store.reset(X509_STORE_new());
  for (Cert& cert : ParseCertificates(ca_pem)) {
    if (X509_STORE_add_cert(store->store.get(), cert.get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("cannot use a CA certificate: ", TakeError()));
    }
  }
  return absl::WrapUnique(new ClientCertificateVerifier(std::move(store)));
}

absl::Status ClientCertificateVerifier::Verify(absl::string_view leaf_pem,
                                               absl::string_view chain_pem) const {
  std::vector<Cert> leaf = ParseCertificates(leaf_pem);
  if (leaf.empty()) return absl::UnauthenticatedError("no client certificate was presented");
  CertStack intermediates(sk_X509_new_null());
  for (Cert& cert : ParseCertificates(chain_pem)) {
    if (X509_cmp(cert.get(), leaf.front().get()) == 0) continue;
    sk_X509_push(intermediates.get(), cert.release());
  }
  StoreContext context(X509_STORE_CTX_new());
  if (!context || X509_STORE_CTX_init(context.get(), store_->store.get(), leaf.front().get(),
                                      intermediates.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot verify a certificate: ", TakeError()));
  }
  X509_STORE_CTX_set_purpose(context.get(), X509_PURPOSE_SSL_CLIENT);
  const bool verified = X509_verify_cert(context.get()) == 1;
  const int error = X509_STORE_CTX_get_error(context.get());
  ERR_clear_error();
  if (verified) return absl::OkStatus();
  std::string why = X509_verify_cert_error_string(error);
  if (error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
      error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
      error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
      error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
    why += " (it is not signed by this node's control.tls_client_ca)";
  } else if (error == X509_V_ERR_INVALID_PURPOSE) {
    why += " (its extended key usage does not allow client authentication, clientAuth)";
  }
  return absl::UnauthenticatedError(
      absl::StrCat("the client certificate ", SubjectOf(leaf.front().get()), " is refused: ", why));
}

absl::Status CheckServerCertificate(const std::string& address, absl::string_view ca_pem,
                                    const std::string& expected_name, absl::Duration timeout) {
  absl::StatusOr<net::HostPort> host_port = net::ParseHostPort(address, net::AddressUse::kConnect);
  if (!host_port.ok()) return host_port.status();
  absl::StatusOr<net::SocketAddress> target = net::SocketAddress::Resolve(*host_port);
  if (!target.ok()) return target.status();
  const int fd = socket(target->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  timeval limit = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));  // connect(2) too
  if (connect(fd, target->sockaddr_ptr(), target->length()) != 0) {
    const absl::Status status = absl::ErrnoToStatus(errno, "connect");
    close(fd);
    return status;
  }
  SslContext context(SSL_CTX_new(TLS_client_method()));
  // Verified by hand below, so that the handshake completes and the reason can be told.
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
  X509_STORE* store = SSL_CTX_get_cert_store(context.get());
  for (Cert& cert : ParseCertificates(ca_pem)) X509_STORE_add_cert(store, cert.get());
  Ssl ssl(SSL_new(context.get()));
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  unsigned char ip[sizeof(in6_addr)];
  if (inet_pton(AF_INET, expected_name.c_str(), ip) == 1 ||
      inet_pton(AF_INET6, expected_name.c_str(), ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, expected_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, expected_name.c_str(), 0);
    SSL_set_tlsext_host_name(ssl.get(), expected_name.c_str());
  }
  SSL_set_fd(ssl.get(), fd);
  const int handshake = SSL_connect(ssl.get());
  absl::Status result = absl::OkStatus();
  if (handshake != 1) {
    result = absl::UnavailableError(absl::StrCat(
        "the TLS handshake failed (", TakeError(),
        "): does the node speak TLS on this port, and with a certificate of its own?"));
  } else if (const long verify = SSL_get_verify_result(ssl.get()); verify != X509_V_OK) {
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    std::string why = X509_verify_cert_error_string(verify);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      why = absl::StrCat("it does not name ", text::Quote(expected_name),
                         " (set the name it carries with --tls-server-name)");
    } else if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
               verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) {
      why += ": it is not signed by the CA given with --ca";
    }
    result = absl::UnavailableError(absl::StrCat(
        "the node's certificate ", peer != nullptr ? SubjectOf(peer) : std::string("(none)"),
        " does not verify: ", why));
  }
  ERR_clear_error();
  close(fd);
  return result;
}

}  // namespace plby::tls
