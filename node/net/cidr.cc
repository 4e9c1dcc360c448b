#include "net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "text/quote.h"

namespace plby::net {
namespace {

constexpr absl::string_view kValid =
    "an IP address or ADDRESS/PREFIX, e.g. 10.0.0.0/8, 192.168.1.7 or fd00::/8";

absl::Status Invalid(absl::string_view text, absl::string_view why,
                     absl::string_view valid = kValid) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid network ", text::Quote(text), ": ", why, " (valid: ", valid, ")"));
}

// Why `address` is not an IP literal, as far as the usual mistakes go.
std::string NotAnAddressReason(absl::string_view address) {
  if (address.empty()) return "no address";
  if (address.find_first_of("[]") != absl::string_view::npos) return "no brackets around IPv6";
  if (address.find('%') != absl::string_view::npos) return "a zone is not part of a network";
  if (address.find(':') != absl::string_view::npos &&
      address.find('.') != absl::string_view::npos && address.find(':') == address.rfind(':')) {
    return "a port is not part of a network";
  }
  return "not an IP address (names are not resolved here)";
}

// Whether bit `index` (0 = the most significant bit of the first byte) is set.
bool Bit(const unsigned char* bytes, int index) {
  return (bytes[index / 8] >> (7 - index % 8)) & 1;
}

// Whether the first `prefix` bits of a and b agree.
bool SamePrefix(const unsigned char* a, const unsigned char* b, int prefix) {
  const int whole = prefix / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  // inet_pton reads a C string: a NUL inside would end the address early and hide the rest.
  if (text.find('\0') != absl::string_view::npos) return Invalid(text, "a NUL byte inside");
  const size_t slash = text.find('/');
  const absl::string_view address = text.substr(0, slash);
  const bool has_prefix = slash != absl::string_view::npos;
  const absl::string_view prefix_text = has_prefix ? text.substr(slash + 1) : "";

  Cidr cidr;
  // INET6_ADDRSTRLEN bounds every literal; a longer one is refused without a copy.
  if (address.size() >= INET6_ADDRSTRLEN) return Invalid(text, NotAnAddressReason(address));
  const std::string address_copy(address);
  if (inet_pton(AF_INET, address_copy.c_str(), cidr.bytes_.data()) == 1) {
    cidr.family_ = AF_INET;
  } else if (inet_pton(AF_INET6, address_copy.c_str(), cidr.bytes_.data()) == 1) {
    cidr.family_ = AF_INET6;
  } else {
    return Invalid(text, NotAnAddressReason(address));
  }
  const int bits = cidr.family_ == AF_INET ? 32 : 128;
  const absl::string_view family_name = cidr.family_ == AF_INET ? "IPv4" : "IPv6";

  cidr.prefix_ = bits;
  if (has_prefix) {
    const bool digits_only = !prefix_text.empty() && prefix_text.size() <= 3 &&
                             prefix_text.find_first_not_of("0123456789") == absl::string_view::npos;
    if (!digits_only || (prefix_text.size() > 1 && prefix_text[0] == '0')) {
      return Invalid(
          text,
          absl::StrCat("the prefix ", text::Quote(prefix_text, 8), " is not a number of bits"),
          absl::StrCat("for ", family_name, ", 0-", bits, " without leading zeros"));
    }
    int prefix = 0;
    for (const char c : prefix_text) prefix = prefix * 10 + (c - '0');
    if (prefix > bits) {
      return Invalid(
          text,
          absl::StrCat("the prefix /", prefix, " is longer than an ", family_name, " address"),
          absl::StrCat("0-", bits));
    }
    cidr.prefix_ = prefix;
  }

  for (int bit = cidr.prefix_; bit < bits; ++bit) {
    if (!Bit(cidr.bytes_.data(), bit)) continue;
    Cidr network = cidr;
    for (int clear = cidr.prefix_; clear < bits; ++clear) {
      network.bytes_[clear / 8] &= static_cast<unsigned char>(~(0x80 >> (clear % 8)));
    }
    return absl::InvalidArgumentError(absl::StrCat(text::Quote(text), " has bits set past its /",
                                                   cidr.prefix_, ": write ", network.ToString()));
  }

  // SocketAddress turns IPv4-mapped IPv6 addresses into IPv4 ones, so a mapped network would
  // never contain anything: it is the IPv4 network it stands for. (A mapped address with a
  // prefix under 96 has the ffff bits past it and was refused above.)
  if (cidr.family_ == AF_INET6 && cidr.prefix_ >= 96) {
    in6_addr v6;
    std::memcpy(&v6, cidr.bytes_.data(), sizeof(v6));
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      Cidr v4;
      v4.family_ = AF_INET;
      std::memcpy(v4.bytes_.data(), cidr.bytes_.data() + 12, 4);
      v4.prefix_ = cidr.prefix_ - 96;
      return v4;
    }
  }
  return cidr;
}

bool Cidr::Contains(const SocketAddress& address) const {
  if (family_ == 0 || address.family() != family_) return false;
  const auto [bytes, size] = address.AddressBytes();
  if (size != (family_ == AF_INET ? 4u : 16u)) return false;
  return SamePrefix(bytes, bytes_.data(), prefix_);
}

std::string Cidr::ToString() const {
  if (family_ == 0) return "(no network)";
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_, bytes_.data(), text, sizeof(text));
  return absl::StrCat(text, "/", prefix_);
}

}  // namespace plby::net
