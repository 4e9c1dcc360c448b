#include "text/quote.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace plby::text {

std::string Quote(absl::string_view value, size_t limit) {
  const absl::string_view shown = value.substr(0, limit);
  std::string out = "\"";
  out.reserve(shown.size() + 32);
  for (const char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", byte);
    } else {
      out += c;
    }
  }
  if (shown.size() == value.size()) return out + "\"";
  return absl::StrCat(out, "...\" (", value.size(), " characters, the first ", limit, " shown)");
}

std::string BytesExcerpt(absl::string_view bytes, size_t max) {
  std::string out = "\"";
  for (const char c : bytes.substr(0, max)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') {
      absl::StrAppendFormat(&out, "\\x%02x", byte);
    } else {
      out += c;
    }
  }
  out += bytes.size() > max ? "\"..." : "\"";
  return out;
}

}  // namespace plby::text
