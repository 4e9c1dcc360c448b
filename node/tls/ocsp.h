// OCSP stapling: a certificate entry of [server.tls] may name a DER OCSP response for it
// (`ocsp = "www.ocsp"`, fetched by the operator, `openssl ocsp -respout`, as with nginx's
// ssl_stapling_file and HAProxy's .ocsp files). It is checked when loaded, against the
// certificate it must be for, and stapled to the handshakes of clients that ask for it
// (status_request) until its nextUpdate; it is reloaded with the certificate.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plby::tls {

struct OcspStaple {
  std::string der;  // the whole OCSPResponse, as sent
  absl::Time this_update;
  absl::Time next_update;  // InfiniteFuture when the response has none
};

// Reads `der` as the OCSP response for the leaf of `chain_pem` (which must hold the leaf's
// issuer too: the response names the certificate by its issuer's name and key). Refused, with
// the reason: not a DER OCSP response, not "successful", not signed by the issuer (or a
// responder it delegated to), no status for this certificate (a response for another one),
// "revoked" or "unknown". A response whose nextUpdate has passed loads (the certificate stays
// usable): Stapleable says no, and ExpiredOcspWarning says so.
absl::StatusOr<OcspStaple> ReadOcspResponse(absl::string_view der, absl::string_view chain_pem);

// Whether `staple` may be sent at `now`: within [thisUpdate - 5 min, nextUpdate].
bool Stapleable(const OcspStaple& staple, absl::Time now);

// Empty when stapleable; else "the OCSP response ... is not stapled (...)".
std::string OcspWarning(const OcspStaple& staple, absl::Time now);

}  // namespace plby::tls
