#include "tls/ocsp.h"

#include <openssl/ocsp.h>

#include "absl/strings/str_cat.h"
#include "tls/openssl_util.h"

namespace plby::tls {
namespace {

using detail::Cert;
using detail::FreedBy;
using detail::TakeError;
using detail::TimeOf;

using OcspResponse = std::unique_ptr<OCSP_RESPONSE, FreedBy<OCSP_RESPONSE_free>>;
using BasicResponse = std::unique_ptr<OCSP_BASICRESP, FreedBy<OCSP_BASICRESP_free>>;
using CertId = std::unique_ptr<OCSP_CERTID, FreedBy<OCSP_CERTID_free>>;

// A response made a little before the clock here says is no error (HAProxy and OpenSSL allow
// the same skew).
constexpr absl::Duration kClockSkew = absl::Minutes(5);

absl::Status Refuse(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("the OCSP response ", why));
}

}  // namespace

absl::StatusOr<OcspStaple> ReadOcspResponse(absl::string_view der, absl::string_view chain_pem) {
  std::vector<Cert> chain = detail::ParseCertificates(chain_pem);
  if (chain.size() < 2) {
    return absl::InvalidArgumentError(
        "the certificate file holds no issuer certificate after the leaf, which an OCSP response "
        "is checked against: put the chain in it (leaf, then its issuer)");
  }
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(der.data());
  OcspResponse response(d2i_OCSP_RESPONSE(nullptr, &bytes, static_cast<long>(der.size())));
  if (!response || bytes != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ERR_clear_error();
    return Refuse("is not a DER OCSP response (as `openssl ocsp -respout FILE` writes)");
  }
  if (const int status = OCSP_response_status(response.get());
      status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return Refuse(absl::StrCat("says \"", OCSP_response_status_str(status), "\", not successful"));
  }
  BasicResponse basic(OCSP_response_get1_basic(response.get()));
  if (!basic) return Refuse(absl::StrCat("has no basic response: ", TakeError()));

  // Signed by the issuer, or by a responder the issuer certified for it (RFC 6960 4.2.2.2).
  X509* leaf = chain[0].get();
  X509* issuer = chain[1].get();
  detail::X509Store store(X509_STORE_new());
  detail::CertStack issuers(sk_X509_new_null());
  if (!store || !issuers || X509_STORE_add_cert(store.get(), issuer) != 1 ||
      !sk_X509_push(issuers.get(), X509_dup(issuer))) {
    return absl::InternalError(absl::StrCat("OCSP check: ", TakeError()));
  }
  if (OCSP_basic_verify(basic.get(), issuers.get(), store.get(), OCSP_TRUSTOTHER) != 1) {
    return Refuse(absl::StrCat("is not signed by the certificate's issuer ",
                               detail::SubjectOf(issuer), ": ", TakeError()));
  }
  int status = 0, reason = 0;
  ASN1_GENERALIZEDTIME* revoked_at = nullptr;
  ASN1_GENERALIZEDTIME* this_update = nullptr;
  ASN1_GENERALIZEDTIME* next_update = nullptr;
  // The certificate is named by hashes of its issuer's name and key: SHA-1 (what responders
  // use, and OpenSSL's default) or SHA-256.
  bool found = false;
  for (const EVP_MD* digest : {EVP_sha1(), EVP_sha256()}) {
    CertId id(OCSP_cert_to_id(digest, leaf, issuer));
    found = id && OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked_at,
                                        &this_update, &next_update) == 1;
    if (found) break;
  }
  if (!found) {
    ERR_clear_error();
    return Refuse(absl::StrCat("has no status for this certificate (", detail::SubjectOf(leaf),
                               "): it is for another one"));
  }
  if (status == V_OCSP_CERTSTATUS_REVOKED) {
    return Refuse(absl::StrCat(
        "says the certificate ", detail::SubjectOf(leaf), " is revoked (since ",
        absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", TimeOf(revoked_at), absl::UTCTimeZone()), ")"));
  }
  if (status != V_OCSP_CERTSTATUS_GOOD) {
    return Refuse(absl::StrCat("says the status of the certificate ", detail::SubjectOf(leaf),
                               " is unknown to its responder"));
  }
  return OcspStaple{
      .der = std::string(der),
      .this_update = TimeOf(this_update),
      .next_update = next_update != nullptr ? TimeOf(next_update) : absl::InfiniteFuture()};
}

bool Stapleable(const OcspStaple& staple, absl::Time now) {
  return now + kClockSkew >= staple.this_update && now <= staple.next_update;
}

std::string OcspWarning(const OcspStaple& staple, absl::Time now) {
  const auto when = [](absl::Time time) {
    return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", time, absl::UTCTimeZone());
  };
  if (now > staple.next_update) {
    return absl::StrCat("the OCSP response expired on ", when(staple.next_update),
                        " (its nextUpdate): it is not stapled; fetch a fresh one");
  }
  if (now + kClockSkew < staple.this_update) {
    return absl::StrCat("the OCSP response is not valid before ", when(staple.this_update),
                        " (its thisUpdate): it is not stapled until then");
  }
  return "";
}

}  // namespace plby::tls
