// Quote: how a value that came from outside (a request, a file, a command line) appears in a
// message. It is cut to its first 100 characters, with its length said, so that a huge value
// cannot swell a reply past gRPC's metadata limit or a log line past reading; bytes that would
// break the line (control characters, quotes, backslashes) are escaped.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace plby::text {

// Values longer than this are cut in messages.
inline constexpr size_t kQuotedPrefix = 100;

// "value", or "first 100 characters..." (123456 characters, the first 100 shown) for a longer
// one. A message of plby's own (bounded already) may be shown whole with a larger `limit`.
std::string Quote(absl::string_view value, size_t limit = kQuotedPrefix);

// The first `max` bytes of what a peer sent, quoted, with every byte outside printable ASCII
// as \xNN (Quote passes bytes >= 0x80 through, which suits text but not a binary protocol):
// "PROXY TCP4 1.2.3" or "\x16\x03\x01\x02\x00"... for a longer input.
std::string BytesExcerpt(absl::string_view bytes, size_t max = 16);

}  // namespace plby::text
