#include "net/host_port.h"

#include <arpa/inet.h>

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace plby::net {
namespace {

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid address \"", text, "\": ", why,
                   " (valid: HOST:PORT, e.g. 127.0.0.1:8080, [::1]:8080 or backend.example:8080)"));
}

// For a port outside its range the range is what the reader needs, not the address syntax.
absl::Status PortOutOfRange(absl::string_view text, absl::string_view port, int min_port) {
  return absl::InvalidArgumentError(absl::StrCat("invalid address \"", text, "\": port ", port,
                                                 " is out of range (valid: ", min_port, "-65535)"));
}

bool IsValidHostName(absl::string_view name) {
  // RFC 1123: dot-separated labels of letters, digits and hyphens, 1-63 characters each, not
  // starting or ending with a hyphen; 253 characters at most. A trailing dot is allowed.
  if (name.empty() || name.size() > 253) return false;
  if (name.back() == '.') name.remove_suffix(1);
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const absl::string_view label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > 63) return false;
      if (label.front() == '-' || label.back() == '-') return false;
      label_start = i + 1;
      continue;
    }
    const char c = name[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

bool LooksNumeric(absl::string_view host) {
  for (char c : host) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string HostPort::ToString() const {
  if (kind == Kind::kIPv6) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, PortZero port_zero) {
  HostPort result;
  absl::string_view host;
  absl::string_view port;
  if (text.empty()) return Invalid(text, "empty");
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return Invalid(text, "missing ']' after IPv6 address");
    host = text.substr(1, close - 1);
    const absl::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return Invalid(text, "missing \":PORT\" after ']'");
    port = rest.substr(1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return Invalid(text, absl::StrCat("\"", host, "\" is not an IPv6 address"));
    }
    // The canonical text ("[::1]", not "[0:0::1]"), so that one address has one name.
    char canonical[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &v6, canonical, sizeof(canonical));
    result.kind = HostPort::Kind::kIPv6;
    result.host = canonical;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return Invalid(text, "missing \":PORT\"");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return Invalid(text, "IPv6 addresses must be written in brackets, like [::1]:8080");
    }
    if (host.empty()) return Invalid(text, "missing host before ':' (use 0.0.0.0 for any)");
    in_addr v4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1) {
      result.kind = HostPort::Kind::kIPv4;
      result.host = std::string(host);
    } else if (LooksNumeric(host)) {
      return Invalid(text, absl::StrCat("\"", host, "\" is not an IPv4 address"));
    } else if (IsValidHostName(host)) {
      result.kind = HostPort::Kind::kName;
      result.host = absl::AsciiStrToLower(host);
    } else {
      return Invalid(text, absl::StrCat("\"", host, "\" is not an IP address or host name"));
    }
  }

  const int min_port = port_zero == PortZero::kAllow ? 0 : 1;
  if (port.empty()) return Invalid(text, "missing port after ':'");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && end == port.data() + port.size() && value > 65535)) {
    return PortOutOfRange(text, port, min_port);
  }
  if (ec != std::errc() || end != port.data() + port.size()) {
    return Invalid(text, absl::StrCat("port \"", port, "\" is not a number"));
  }
  if (static_cast<int>(value) < min_port) {
    return PortOutOfRange(text, port, min_port);
  }
  result.port = static_cast<uint16_t>(value);
  return result;
}

}  // namespace plby::net
