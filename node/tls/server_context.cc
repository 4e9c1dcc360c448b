#include "tls/server_context.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "route/route_table.h"
#include "tls/openssl_util.h"
#include "tls/tls_session.h"

namespace plby::tls {
namespace {

using detail::SslContext;
using detail::TakeError;

constexpr size_t kMaxTicketKeys = 64;

// The index of the ex_data slot of an SSL_CTX that points back to its ServerContext.
int ContextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

const ServerContext* OwnerOf(SSL* ssl) {
  return static_cast<const ServerContext*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ContextIndex()));
}

bool SetHmacKey(EVP_MAC_CTX* hmac, const TicketKey& key) {
  char digest[] = "sha256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac_key.data()), key.hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hmac, params) == 1;
}

// The ticket cipher, fetched from the provider once: EVP_aes_256_cbc() would be looked up again
// at every ticket sealed or opened (OpenSSL 3's implicit fetch, under the method store's lock).
const EVP_CIPHER* TicketCipher() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

// RFC 5077's ticket protection with the listener's keys: the first seals new tickets; any of
// them opens one (a ticket sealed with an older key is renewed with the first).
int TicketKeyCallback(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                      EVP_MAC_CTX* hmac, int encrypt) {
  const std::vector<TicketKey>& keys = OwnerOf(ssl)->ticket_keys();
  if (keys.empty()) return encrypt ? -1 : 0;
  if (encrypt) {
    const TicketKey& key = keys.front();
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
    std::memcpy(name, key.name.data(), key.name.size());
    if (TicketCipher() == nullptr ||
        EVP_EncryptInit_ex(cipher, TicketCipher(), nullptr, key.aes_key.data(), iv) != 1 ||
        !SetHmacKey(hmac, key)) {
      return -1;
    }
    return 1;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (std::memcmp(name, keys[i].name.data(), keys[i].name.size()) != 0) continue;
    if (!SetHmacKey(hmac, keys[i]) || TicketCipher() == nullptr ||
        EVP_DecryptInit_ex(cipher, TicketCipher(), nullptr, keys[i].aes_key.data(), iv) != 1) {
      return -1;
    }
    return i == 0 ? 1 : 2;
  }
  return 0;  // a key no longer listed: a full handshake
}

// The protocols offered, in the wire format ALPN uses (each prefixed by its length).
std::string AlpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    wire += static_cast<char>(protocol.size());
    wire += protocol;
  }
  return wire;
}

int AlpnCallback(SSL*, const unsigned char** out, unsigned char* out_length,
                 const unsigned char* offered, unsigned int offered_length, void* arg) {
  const std::string& ours = *static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  // Ours first: the server's preference, as nginx and HAProxy choose.
  if (SSL_select_next_proto(&chosen, out_length,
                            reinterpret_cast<const unsigned char*>(ours.data()),
                            static_cast<unsigned int>(ours.size()), offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: go on without ALPN, as they do
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// A client asked for the certificate's status (status_request): its OCSP response, while valid.
int StapleCallback(SSL* ssl, void* arg) {
  const std::optional<OcspStaple>& ocsp = static_cast<const LoadedCertificate*>(arg)->ocsp;
  if (!ocsp || !Stapleable(*ocsp, absl::Now())) return SSL_TLSEXT_ERR_NOACK;
  // OpenSSL takes the buffer and frees it with the handshake.
  void* copy = OPENSSL_memdup(ocsp->der.data(), ocsp->der.size());
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  SSL_set_tlsext_status_ocsp_resp(ssl, static_cast<unsigned char*>(copy),
                                  static_cast<long>(ocsp->der.size()));
  return SSL_TLSEXT_ERR_OK;
}

absl::StatusOr<TicketKey> ProcessTicketKey() {
  static const absl::StatusOr<TicketKey>* const key = [] {
    TicketKey made;
    if (RAND_bytes(made.name.data(), made.name.size()) != 1 ||
        RAND_bytes(made.hmac_key.data(), made.hmac_key.size()) != 1 ||
        RAND_bytes(made.aes_key.data(), made.aes_key.size()) != 1) {
      return new absl::StatusOr<TicketKey>(
          absl::InternalError(absl::StrCat("cannot make session ticket keys: ", TakeError())));
    }
    return new absl::StatusOr<TicketKey>(made);
  }();
  return *key;
}

}  // namespace

std::vector<std::string> LoadWarnings(const LoadedCertificate& certificate, absl::Time now) {
  std::vector<std::string> warnings;
  if (std::string expiry = ExpiryWarning(certificate.facts, now); !expiry.empty()) {
    warnings.push_back(absl::StrCat(certificate.cert_file, ": ", expiry));
  }
  if (certificate.ocsp) {
    if (std::string ocsp = OcspWarning(*certificate.ocsp, now); !ocsp.empty()) {
      warnings.push_back(absl::StrCat(certificate.cert_file, ": ", ocsp));
    }
  }
  return warnings;
}

absl::StatusOr<std::vector<TicketKey>> ParseTicketKeys(absl::string_view text) {
  std::vector<TicketKey> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::string raw;
    if (!absl::Base64Unescape(line, &raw) || raw.size() != 80) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number,
          " is not a key: each line is the base64 of 80 random bytes (16 name, 32 HMAC, 32 AES; "
          "make one with: openssl rand -base64 80 | tr -d '\\n')"));
    }
    if (keys.size() == kMaxTicketKeys) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kMaxTicketKeys, " keys (line ", line_number, ")"));
    }
    TicketKey key;
    std::memcpy(key.name.data(), raw.data(), 16);
    std::memcpy(key.hmac_key.data(), raw.data() + 16, 32);
    std::memcpy(key.aes_key.data(), raw.data() + 48, 32);
    keys.push_back(key);
  }
  if (keys.empty()) return absl::InvalidArgumentError("no key in it");
  return keys;
}

// One copy of the listener's contexts: one SSL_CTX per certificate, used by one worker.
struct ServerContext::Contexts {
  std::vector<SslContext> by_certificate;
};

ServerContext::ServerContext() = default;
ServerContext::~ServerContext() = default;

absl::StatusOr<std::shared_ptr<const ServerContext>> ServerContext::Load(
    const ServerTlsSettings& settings, int copies) {
  if (settings.certificates.empty()) {
    return absl::InvalidArgumentError("no certificate: list at least one");
  }
  auto context = std::shared_ptr<ServerContext>(new ServerContext());
  const absl::Time now = absl::Now();
  for (const ServerTlsSettings::Certificate& file : settings.certificates) {
    absl::StatusOr<std::vector<CertificateFacts>> chain = ReadCertificates(file.cert_pem);
    if (!chain.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.cert_file, ": ", chain.status().message()));
    }
    const CertificateFacts& leaf = chain->front();
    if (leaf.not_after < now) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.cert_file, ": ", ExpiryWarning(leaf, now),
                       "; clients would refuse it (renew it, or leave it out)"));
    }
    if (leaf.not_before > now) {
      return absl::InvalidArgumentError(absl::StrCat(file.cert_file, ": the certificate ",
                                                     leaf.subject, " is not valid before ",
                                                     absl::FormatTime(leaf.not_before)));
    }
    if (absl::Status key = CheckPrivateKey(file.key_pem, file.cert_pem); !key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file.key_file, ": ", key.message()));
    }
    std::optional<OcspStaple> ocsp;
    if (!file.ocsp_file.empty()) {
      absl::StatusOr<OcspStaple> read = ReadOcspResponse(file.ocsp_der, file.cert_pem);
      if (!read.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(file.ocsp_file, ": ", read.status().message()));
      }
      ocsp = *std::move(read);
    }
    context->certificates_.push_back(
        {.cert_file = file.cert_file, .facts = leaf, .ocsp = std::move(ocsp)});
  }
  if (absl::Status ciphers = CheckCipherSettings(settings.ciphers); !ciphers.ok()) {
    return ciphers;
  }
  if (!settings.ticket_keys.empty()) {
    absl::StatusOr<std::vector<TicketKey>> keys = ParseTicketKeys(settings.ticket_keys);
    if (!keys.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(settings.ticket_keys_file, ": ", keys.status().message()));
    }
    context->ticket_keys_ = *std::move(keys);
  } else {
    // Keys of this process, shared by its workers (OpenSSL's own would be per SSL_CTX, and a
    // client's next connection may reach another worker), made once: a certificate reload
    // keeps the sessions resumable.
    absl::StatusOr<TicketKey> key = ProcessTicketKey();
    if (!key.ok()) return key.status();
    context->ticket_keys_.push_back(*key);
  }
  context->alpn_wire_ = AlpnWire(settings.alpn);

  for (int copy = 0; copy < copies; ++copy) {
    auto contexts = std::make_unique<Contexts>();
    for (const ServerTlsSettings::Certificate& file : settings.certificates) {
      SslContext ctx(SSL_CTX_new(TLS_server_method()));
      if (!ctx) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", TakeError()));
      SSL_CTX_set_min_proto_version(
          ctx.get(), settings.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
      SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                         SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
      SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      // Resumption by tickets only: they work on any worker and any node that has the keys,
      // where a session cache would be one worker's.
      SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets(ctx.get(), 1);
      SSL_CTX_set_ex_data(ctx.get(), ContextIndex(), context.get());
      // A session is resumed only with the certificate it began with: a ticket from one name's
      // handshake must not skip another's certificate (virtual host confusion).
      const std::string& fingerprint =
          context->certificates_[contexts->by_certificate.size()].facts.fingerprint;
      SSL_CTX_set_session_id_context(
          ctx.get(), reinterpret_cast<const unsigned char*>(fingerprint.data()),
          static_cast<unsigned int>(std::min<size_t>(fingerprint.size(), SSL_MAX_SID_CTX_LENGTH)));
      SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx.get(), TicketKeyCallback);
      if (!detail::UseCipherSettings(ctx.get(), settings.ciphers)) {
        return absl::InvalidArgumentError(absl::StrCat("ciphers: ", TakeError()));
      }
      const LoadedCertificate& loaded = context->certificates_[contexts->by_certificate.size()];
      if (loaded.ocsp) {
        SSL_CTX_set_tlsext_status_cb(ctx.get(), StapleCallback);
        SSL_CTX_set_tlsext_status_arg(ctx.get(), const_cast<LoadedCertificate*>(&loaded));
      }
      if (!context->alpn_wire_.empty()) {
        SSL_CTX_set_alpn_select_cb(ctx.get(), AlpnCallback, &context->alpn_wire_);
      }
      if (!detail::UseCertificateChain(ctx.get(), file.cert_pem, file.key_pem)) {
        return absl::InvalidArgumentError(absl::StrCat(file.cert_file, ": ", TakeError()));
      }
      contexts->by_certificate.push_back(std::move(ctx));
    }
    context->copies_.push_back(std::move(contexts));
  }
  return std::shared_ptr<const ServerContext>(std::move(context));
}

size_t ServerContext::Select(absl::string_view server_name) const {
  if (server_name.empty()) return 0;
  for (size_t i = 0; i < certificates_.size(); ++i) {
    for (const std::string& name : certificates_[i].facts.names) {
      if (route::SniMatches(name, server_name)) return i;
    }
  }
  return 0;
}

TlsSession ServerContext::NewSession(const std::shared_ptr<const ServerContext>& self, int copy,
                                     size_t certificate, int fd) const {
  SSL* ssl = SSL_new(copies_[copy]->by_certificate[certificate].get());
  if (ssl == nullptr) {
    ERR_clear_error();
    return TlsSession();
  }
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    ERR_clear_error();
    return TlsSession();
  }
  SSL_set_accept_state(ssl);
  return TlsSession(ssl, self);
}

}  // namespace plby::tls
