// Digests, from OpenSSL (which only node/tls/ includes).
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace plby::tls {

// The SHA-256 of `bytes` as 64 lowercase hex digits, as sha256sum prints it.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace plby::tls
