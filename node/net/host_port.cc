#include "net/host_port.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "net/socket_address.h"
#include "text/quote.h"

namespace plby::net {
namespace {

// A part of the address, named inside a message that quotes the whole address already: a
// shorter excerpt, so that the message stays small whatever came in.
constexpr size_t kPartInMessage = 40;

std::string QuotePart(absl::string_view part) { return text::Quote(part, kPartInMessage); }

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid address ", text::Quote(text), ": ", why,
                   " (valid: HOST:PORT, e.g. 127.0.0.1:8080, [::1]:8080 or backend.example:8080)"));
}

// For a port outside its range the range is what the reader needs, not the address syntax.
absl::Status PortOutOfRange(absl::string_view text, absl::string_view port, int min_port) {
  return absl::InvalidArgumentError(absl::StrCat("invalid address ", text::Quote(text), ": port ",
                                                 port, " is out of range (valid: ", min_port,
                                                 "-65535)"));
}

bool IsDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// What inet_aton, and so the system resolver, would read as a number: decimal, octal or hex.
bool IsNumericLabel(absl::string_view label) {
  if (IsDigits(label)) return true;
  if (label.size() < 2 || label[0] != '0' || (label[1] != 'x' && label[1] != 'X')) return false;
  for (char c : label.substr(2)) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Empty when `name` is a valid host name, else why not.
std::string HostNameProblem(absl::string_view name) {
  if (name.size() > 253) return "a host name has at most 253 characters";
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  absl::string_view last_label;
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '.') {
      const char c = name[i];
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return absl::StrCat(QuotePart(name),
                            " is not an IP address or host name (a host name has letters, "
                            "digits, '-', '_' and dots only)");
      }
      continue;
    }
    last_label = name.substr(label_start, i - label_start);
    if (last_label.empty() || last_label.size() > 63) {
      return absl::StrCat(QuotePart(name),
                          " is not an IP address or host name (each dot-separated label has "
                          "1-63 characters)");
    }
    if (last_label.front() == '-' || last_label.back() == '-') {
      return absl::StrCat(QuotePart(name),
                          " is not an IP address or host name (a label may not start or end "
                          "with '-')");
    }
    label_start = i + 1;
  }
  if (IsNumericLabel(last_label)) {
    return absl::StrCat(QuotePart(name),
                        " is not an IPv4 address (write IPv4 as four decimal numbers 0-255, "
                        "like 127.0.0.1) and not a host name (its last label is a number)");
  }
  return "";
}

// A zone names the interface of a link-local address: its name or its index.
bool IsValidZone(absl::string_view zone) {
  if (zone.empty() || zone.size() > 15) return false;  // IFNAMSIZ - 1
  for (char c : zone) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// Parses the inside of "[...]" into `result`; an error message, or empty.
std::string ParseBracketed(absl::string_view inside, HostPort& result) {
  const size_t percent = inside.find('%');
  const bool has_zone = percent != absl::string_view::npos;
  const absl::string_view address = inside.substr(0, percent);
  const absl::string_view zone = has_zone ? inside.substr(percent + 1) : absl::string_view();
  in6_addr v6{};
  if (inet_pton(AF_INET6, std::string(address).c_str(), &v6) != 1) {
    return absl::StrCat(QuotePart(address), " is not an IPv6 address");
  }
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    if (has_zone) return "an IPv4-mapped address has no zone";
    // The same endpoint as the IPv4 address: one address, one name.
    char v4[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &v6.s6_addr[12], v4, sizeof(v4));
    result.kind = HostPort::Kind::kIPv4;
    result.host = v4;
    return "";
  }
  if (has_zone) {
    if (!IsValidZone(zone)) {
      return absl::StrCat("zone ", QuotePart(zone),
                          " is not an interface name or index (1-15 letters, digits, '-', '_' "
                          "or '.')");
    }
    if (!IN6_IS_ADDR_LINKLOCAL(&v6)) {
      return absl::StrCat("a zone (%", zone, ") applies to link-local addresses (fe80::/10) only");
    }
    result.zone = std::string(zone);
  }
  // The canonical text ("::1", not "0:0::1"), so that one address has one name.
  char canonical[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &v6, canonical, sizeof(canonical));
  result.kind = HostPort::Kind::kIPv6;
  result.host = canonical;
  return "";
}

}  // namespace

std::string HostPort::ToString() const {
  if (kind == Kind::kIPv6) {
    return absl::StrCat("[", host, zone.empty() ? "" : "%", zone, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, AddressUse use) {
  HostPort result;
  absl::string_view port;
  if (text.empty()) return Invalid(text, "empty");
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return Invalid(text, "missing ']' after IPv6 address");
    const absl::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return Invalid(text, "missing \":PORT\" after ']'");
    port = rest.substr(1);
    if (std::string problem = ParseBracketed(text.substr(1, close - 1), result); !problem.empty()) {
      return Invalid(text, problem);
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return Invalid(text, "missing \":PORT\"");
    const absl::string_view host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return Invalid(text, "IPv6 addresses must be written in brackets, like [::1]:8080");
    }
    if (host.empty()) return Invalid(text, "missing host before ':' (use 0.0.0.0 for any)");
    in_addr v4{};
    // glibc's inet_pton takes exactly four decimal parts without leading zeros.
    if (inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1) {
      result.kind = HostPort::Kind::kIPv4;
      result.host = std::string(host);
    } else if (host.find_first_not_of("0123456789.") == absl::string_view::npos) {
      return Invalid(text, absl::StrCat(QuotePart(host),
                                        " is not an IPv4 address (four decimal numbers 0-255 "
                                        "without leading zeros, like 127.0.0.1)"));
    } else if (std::string problem = HostNameProblem(host); !problem.empty()) {
      return Invalid(text, problem);
    } else {
      result.kind = HostPort::Kind::kName;
      result.host = absl::AsciiStrToLower(host);
    }
  }

  const int min_port = use == AddressUse::kListen ? 0 : 1;
  if (port.empty()) return Invalid(text, "missing port after ':'");
  if (!IsDigits(port)) {
    return Invalid(text, absl::StrCat("port ", QuotePart(port), " is not a number"));
  }
  if (port.size() > 1 && port.front() == '0') {
    return Invalid(text, absl::StrCat("port ", QuotePart(port),
                                      " has a leading zero (write it as a plain decimal number)"));
  }
  if (port.size() > 5) return PortOutOfRange(text, QuotePart(port), min_port);
  int value = 0;
  for (char c : port) value = value * 10 + (c - '0');
  if (value > 65535 || value < min_port) return PortOutOfRange(text, port, min_port);
  result.port = static_cast<uint16_t>(value);

  if (use == AddressUse::kConnect && result.kind != HostPort::Kind::kName) {
    // A literal is checked now; a name once it is resolved, by the same rule.
    HostPort without_zone = result;  // the zone needs the interface list; the address does not
    without_zone.zone.clear();
    absl::StatusOr<SocketAddress> literal = SocketAddress::Resolve(without_zone);
    if (!literal.ok()) return Invalid(text, literal.status().message());
    if (absl::Status unicast = CheckUnicast(*literal); !unicast.ok()) {
      return Invalid(text, unicast.message());
    }
  }
  return result;
}

}  // namespace plby::net
