#include "tls/digest.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"

namespace plby::tls {

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // Only fails when out of memory; then an empty digest never matches a real one.
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(length)));
}

}  // namespace plby::tls
