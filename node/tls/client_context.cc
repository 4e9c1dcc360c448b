#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "tls/certificates.h"
#include "tls/openssl_util.h"
#include "tls/tls_session.h"

namespace plby::tls {
namespace {

using detail::Cert;
using detail::ParseCertificates;
using detail::SslContext;
using detail::TakeError;

bool IsIpLiteral(absl::string_view host) {
  unsigned char bytes[16];
  const std::string text(host);
  return inet_pton(AF_INET, text.c_str(), bytes) == 1 ||
         inet_pton(AF_INET6, text.c_str(), bytes) == 1;
}

}  // namespace

struct ClientContext::Contexts {
  SslContext ctx;
};

ClientContext::ClientContext() = default;
ClientContext::~ClientContext() = default;

absl::StatusOr<std::shared_ptr<const ClientContext>> ClientContext::Load(
    const ClientTlsSettings& settings, int copies) {
  auto context = std::shared_ptr<ClientContext>(new ClientContext());
  context->settings_ = settings;
  if (settings.verify) {
    absl::StatusOr<std::vector<CertificateFacts>> cas = ReadCaBundle(settings.ca_pem);
    if (!cas.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(settings.ca_file, ": ", cas.status().message()));
    }
  }
  if (!settings.cert_pem.empty()) {
    absl::StatusOr<std::vector<CertificateFacts>> chain = ReadCertificates(settings.cert_pem);
    if (!chain.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(settings.cert_file, ": ", chain.status().message()));
    }
    if (chain->front().not_after < absl::Now()) {
      return absl::InvalidArgumentError(absl::StrCat(settings.cert_file, ": ",
                                                     ExpiryWarning(chain->front(), absl::Now()),
                                                     "; backends would refuse it"));
    }
    if (absl::Status key = CheckPrivateKey(settings.key_pem, settings.cert_pem); !key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(settings.key_file, ": ", key.message()));
    }
  }
  if (absl::Status ciphers = CheckCipherSettings(settings.ciphers); !ciphers.ok()) {
    return ciphers;
  }
  for (int copy = 0; copy < copies; ++copy) {
    SslContext ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", TakeError()));
    if (!detail::UseCipherSettings(ctx.get(), settings.ciphers)) {
      return absl::InvalidArgumentError(absl::StrCat("ciphers: ", TakeError()));
    }
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(
        ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (settings.verify) {
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
      X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
      for (Cert& ca : ParseCertificates(settings.ca_pem)) {
        if (X509_STORE_add_cert(store, ca.get()) != 1) {
          return absl::InvalidArgumentError(absl::StrCat(settings.ca_file, ": ", TakeError()));
        }
      }
    } else {
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }
    if (!settings.cert_pem.empty()) {
      if (!detail::UseCertificateChain(ctx.get(), settings.cert_pem, settings.key_pem)) {
        return absl::InvalidArgumentError(absl::StrCat(settings.cert_file, ": ", TakeError()));
      }
    }
    auto contexts = std::make_unique<Contexts>();
    contexts->ctx = std::move(ctx);
    context->copies_.push_back(std::move(contexts));
  }
  return std::shared_ptr<const ClientContext>(std::move(context));
}

TlsSession ClientContext::NewSession(const std::shared_ptr<const ClientContext>& self, int copy,
                                     absl::string_view host, int fd) const {
  SSL* ssl = SSL_new(copies_[copy]->ctx.get());
  if (ssl == nullptr) {
    ERR_clear_error();
    return TlsSession();
  }
  const std::string name(settings_.server_name.empty() ? host : settings_.server_name);
  bool ok = SSL_set_fd(ssl, fd) == 1;
  if (IsIpLiteral(name)) {
    // No SNI for an address (RFC 6066 3); the certificate must name the IP.
    ok = ok && (!settings_.verify ||
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1);
  } else {
    ok = ok && SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 &&
         (!settings_.verify || SSL_set1_host(ssl, name.c_str()) == 1);
  }
  if (!ok) {
    SSL_free(ssl);
    ERR_clear_error();
    return TlsSession();
  }
  SSL_set_connect_state(ssl);
  return TlsSession(ssl, self);
}

}  // namespace plby::tls
