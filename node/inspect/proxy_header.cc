#include "inspect/proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "text/quote.h"

namespace plby::inspect {
namespace {

constexpr absl::string_view kV1Prefix = "PROXY ";
constexpr size_t kV2FixedLength = 16;  // signature, ver_cmd, fam, 16-bit length

constexpr uint8_t kCommandLocal = 0x0;
constexpr uint8_t kCommandProxy = 0x1;

constexpr uint8_t kFamilyUnspec = 0x00;
constexpr uint8_t kFamilyTcp4 = 0x11;
constexpr uint8_t kFamilyUdp4 = 0x12;
constexpr uint8_t kFamilyTcp6 = 0x21;
constexpr uint8_t kFamilyUdp6 = 0x22;
constexpr uint8_t kFamilyUnixStream = 0x31;
constexpr uint8_t kFamilyUnixDgram = 0x32;

constexpr uint8_t kTlvAlpn = 0x01;
constexpr uint8_t kTlvAuthority = 0x02;

// The longest text a v1 address field can have: "255.255.255.255" and INET6_ADDRSTRLEN - 1
// (an IPv6 address with an embedded IPv4 one). Past that, no more bytes can make it valid.
constexpr size_t kV1MaxIpv4Text = 15;
constexpr size_t kV1MaxIpv6Text = 45;
constexpr size_t kV1MaxPortText = 5;

ProxyParse Invalid(std::string error) {
  ProxyParse parse;
  parse.state = ProxyParseState::kInvalid;
  parse.error = std::move(error);
  return parse;
}

// Refused for its length alone: the caller counts these apart from malformed headers.
ProxyParse TooLong(std::string error) {
  ProxyParse parse = Invalid(std::move(error));
  parse.too_long = true;
  return parse;
}

ProxyParse NeedMore() { return ProxyParse{}; }

net::SocketAddress FromIpv4(const unsigned char* address, uint16_t port) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(port);
  std::memcpy(&v4.sin_addr, address, 4);
  return net::SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4));
}

net::SocketAddress FromIpv6(const unsigned char* address, uint16_t port) {
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(port);
  std::memcpy(&v6.sin6_addr, address, 16);
  return net::SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof(v6));
}

uint16_t BigEndian16(absl::string_view bytes, size_t at) {
  return static_cast<uint16_t>((static_cast<unsigned char>(bytes[at]) << 8) |
                               static_cast<unsigned char>(bytes[at + 1]));
}

void AppendBigEndian16(std::string* out, size_t value) {
  out->push_back(static_cast<char>((value >> 8) & 0xff));
  out->push_back(static_cast<char>(value & 0xff));
}

// ---- Version 1 ----

enum class V1Field { kSource, kDestination, kSourcePort, kDestinationPort };

absl::string_view FieldName(V1Field field) {
  switch (field) {
    case V1Field::kSource:
      return "source address";
    case V1Field::kDestination:
      return "destination address";
    case V1Field::kSourcePort:
      return "source port";
    case V1Field::kDestinationPort:
      return "destination port";
  }
  return "field";
}

bool IsAddressField(V1Field field) {
  return field == V1Field::kSource || field == V1Field::kDestination;
}

// Whether `c` may appear in the field: rejecting other bytes as they arrive is what makes a
// garbage line fail at once instead of after 107 bytes.
bool AllowedInField(char c, V1Field field, int family) {
  if (c >= '0' && c <= '9') return true;
  if (!IsAddressField(field)) return false;
  if (c == '.') return true;
  if (family != AF_INET6) return false;
  return c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The whole field, once its end is known. The address is stored into `address` (4 or 16
// bytes), the port into `port`.
std::string CheckV1Field(absl::string_view text, V1Field field, int family, unsigned char* address,
                         uint16_t* port) {
  if (IsAddressField(field)) {
    const std::string copy(text);  // no NUL inside: AllowedInField refused it
    if (inet_pton(family, copy.c_str(), address) != 1) {
      return absl::StrCat("v1: bad ", FieldName(field), " ", text::BytesExcerpt(text, 48),
                          " (valid: an ", family == AF_INET ? "IPv4" : "IPv6", " address, as TCP",
                          family == AF_INET ? "4" : "6", " says)");
    }
    return "";
  }
  if (text.size() > 1 && text[0] == '0') {
    return absl::StrCat("v1: bad ", FieldName(field), " ", text::BytesExcerpt(text),
                        " (valid: 0-65535 without leading zeros)");
  }
  uint32_t value = 0;
  for (const char c : text) value = value * 10 + static_cast<uint32_t>(c - '0');
  if (value > 65535) {
    return absl::StrCat("v1: bad ", FieldName(field), " ", text::BytesExcerpt(text),
                        " (valid: 0-65535)");
  }
  *port = static_cast<uint16_t>(value);
  return "";
}

// "PROXY UNKNOWN" then anything up to CRLF: the sender does not know the addresses.
ProxyParse ParseV1Unknown(absl::string_view line, size_t pos, bool line_full) {
  for (; pos < line.size(); ++pos) {
    if (line[pos] == '\n') return Invalid("v1: a line feed without a carriage return before it");
    if (line[pos] != '\r') continue;
    if (pos + 1 == line.size()) break;
    if (line[pos + 1] != '\n') return Invalid("v1: a carriage return not followed by a line feed");
    ProxyParse parse;
    parse.state = ProxyParseState::kComplete;
    parse.header.version = 1;
    parse.header.local = true;
    parse.header.length = pos + 2;
    return parse;
  }
  if (line_full) return TooLong("v1: too long (no CRLF in the first 107 bytes)");
  return NeedMore();
}

ProxyParse ParseV1(absl::string_view bytes) {
  // A valid line is complete within its first 107 bytes: nothing past them is looked at.
  const absl::string_view line = bytes.substr(0, kProxyV1MaxLength);
  const bool line_full = line.size() == kProxyV1MaxLength;
  const auto need_more = [&] {
    return line_full ? TooLong("v1: too long (no CRLF in the first 107 bytes)") : NeedMore();
  };

  // The protocol: TCP4, TCP6 or UNKNOWN, followed by a space (or CRLF, for UNKNOWN).
  size_t pos = kV1Prefix.size();
  size_t protocol_end = pos;
  while (protocol_end < line.size() && absl::ascii_isupper(line[protocol_end])) ++protocol_end;
  while (protocol_end < line.size() && absl::ascii_isdigit(line[protocol_end])) ++protocol_end;
  const absl::string_view protocol = line.substr(pos, protocol_end - pos);
  const bool protocol_ended = protocol_end < line.size();
  const char after_protocol = protocol_ended ? line[protocol_end] : '\0';
  const bool line_ends = after_protocol == '\r' || after_protocol == '\n';
  int family = 0;
  if (protocol == "TCP4") family = AF_INET;
  if (protocol == "TCP6") family = AF_INET6;
  const bool known = family != 0 || protocol == "UNKNOWN";
  if (!known || (protocol_ended && after_protocol != ' ' && !line_ends)) {
    const bool could_grow = !protocol_ended && (absl::StartsWith("TCP4", protocol) ||
                                                absl::StartsWith("TCP6", protocol) ||
                                                absl::StartsWith("UNKNOWN", protocol));
    if (could_grow) return need_more();
    return Invalid(absl::StrCat("v1: bad protocol ", text::BytesExcerpt(line.substr(pos), 8),
                                " (valid: TCP4, TCP6 or UNKNOWN)"));
  }
  if (!protocol_ended) return need_more();
  if (family == 0) return ParseV1Unknown(line, protocol_end, line_full);
  if (after_protocol != ' ') {
    return Invalid(absl::StrCat("v1: ", protocol, " without addresses (valid: PROXY ", protocol,
                                " SOURCE DESTINATION SOURCE_PORT DESTINATION_PORT)"));
  }
  pos = protocol_end + 1;

  unsigned char source[16] = {};
  unsigned char destination[16] = {};
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  const size_t max_address = family == AF_INET ? kV1MaxIpv4Text : kV1MaxIpv6Text;
  for (const V1Field field :
       {V1Field::kSource, V1Field::kDestination, V1Field::kSourcePort, V1Field::kDestinationPort}) {
    const size_t start = pos;
    const size_t max = IsAddressField(field) ? max_address : kV1MaxPortText;
    while (pos < line.size() && AllowedInField(line[pos], field, family) && pos - start < max) {
      ++pos;
    }
    const absl::string_view text = line.substr(start, pos - start);
    if (pos == line.size()) {
      // A port that starts with 0 can only be "0": "01" is refused before the line ends.
      if (!IsAddressField(field) && text.size() > 1 && text[0] == '0') {
        return Invalid(absl::StrCat("v1: bad ", FieldName(field), " ", text::BytesExcerpt(text),
                                    " (valid: 0-65535 without leading zeros)"));
      }
      return need_more();
    }
    const char expected = field == V1Field::kDestinationPort ? '\r' : ' ';
    const bool field_ended = line[pos] == ' ' || line[pos] == '\r';
    if (!field_ended) {
      return Invalid(absl::StrCat(
          "v1: bad ", FieldName(field), " ",
          text::BytesExcerpt(line.substr(start, pos - start + 1), 48),
          IsAddressField(field)
              ? (family == AF_INET ? " (valid: an IPv4 address)" : " (valid: an IPv6 address)")
              : " (valid: 0-65535)"));
    }
    if (text.empty()) {
      return Invalid(absl::StrCat("v1: no ", FieldName(field), " (fields are separated by ",
                                  "single spaces)"));
    }
    if (line[pos] != expected) {
      return Invalid(absl::StrCat(
          "v1: ", expected == ' ' ? "a field is missing after the " : "CRLF expected after the ",
          FieldName(field)));
    }
    unsigned char* address = field == V1Field::kSource ? source : destination;
    uint16_t* port = field == V1Field::kSourcePort ? &source_port : &destination_port;
    if (std::string error = CheckV1Field(text, field, family, address, port); !error.empty()) {
      return Invalid(std::move(error));
    }
    ++pos;  // the space, or the CR
  }
  if (pos == line.size()) return need_more();
  if (line[pos] != '\n') return Invalid("v1: a carriage return not followed by a line feed");

  ProxyParse parse;
  parse.state = ProxyParseState::kComplete;
  parse.header.version = 1;
  parse.header.length = pos + 1;
  if (family == AF_INET) {
    parse.header.source = FromIpv4(source, source_port);
    parse.header.destination = FromIpv4(destination, destination_port);
  } else {
    parse.header.source = FromIpv6(source, source_port);
    parse.header.destination = FromIpv6(destination, destination_port);
  }
  return parse;
}

// ---- Version 2 ----

// The address block a family needs; -1 for a family the spec does not define.
int AddressBlockLength(uint8_t family) {
  switch (family) {
    case kFamilyUnspec:
      return 0;
    case kFamilyTcp4:
    case kFamilyUdp4:
      return 12;
    case kFamilyTcp6:
    case kFamilyUdp6:
      return 36;
    case kFamilyUnixStream:
    case kFamilyUnixDgram:
      return 216;
    default:
      return -1;
  }
}

absl::string_view FamilyName(uint8_t family) {
  switch (family) {
    case kFamilyUnspec:
      return "UNSPEC";
    case kFamilyTcp4:
      return "TCP4";
    case kFamilyUdp4:
      return "UDP4";
    case kFamilyTcp6:
      return "TCP6";
    case kFamilyUdp6:
      return "UDP6";
    case kFamilyUnixStream:
      return "UNIX stream";
    case kFamilyUnixDgram:
      return "UNIX datagram";
    default:
      return "unknown";
  }
}

ProxyParse ParseV2(absl::string_view bytes) {
  if (bytes.size() <= 12) return NeedMore();
  const auto ver_cmd = static_cast<uint8_t>(bytes[12]);
  if ((ver_cmd >> 4) != 2) {
    return Invalid(
        absl::StrFormat("v2: version %d in byte 0x%02x (valid: 2)", ver_cmd >> 4, ver_cmd));
  }
  const uint8_t command = ver_cmd & 0x0f;
  if (command != kCommandLocal && command != kCommandProxy) {
    return Invalid(
        absl::StrFormat("v2: command %d (valid: 0 LOCAL, 1 PROXY)", static_cast<int>(command)));
  }
  if (bytes.size() <= 13) return NeedMore();
  const auto family = static_cast<uint8_t>(bytes[13]);
  const int block = AddressBlockLength(family);
  if (block < 0) {
    return Invalid(absl::StrFormat(
        "v2: address family and protocol 0x%02x (valid: 0x00 UNSPEC, 0x11 TCP4, 0x12 UDP4, "
        "0x21 TCP6, 0x22 UDP6, 0x31 or 0x32 UNIX)",
        family));
  }
  if (bytes.size() < kV2FixedLength) return NeedMore();
  const size_t length = BigEndian16(bytes, 14);
  const size_t total = kV2FixedLength + length;
  if (total > kMaxProxyHeader) {
    return TooLong(absl::StrCat("v2: too long (", total, " bytes announced, at most ",
                                kMaxProxyHeader, " accepted)"));
  }
  // LOCAL: the spec has the receiver discard the whole block, family included, unread.
  if (command == kCommandProxy && length < static_cast<size_t>(block)) {
    return Invalid(absl::StrCat("v2: length ", length, " is shorter than the ", block,
                                " bytes of a ", FamilyName(family), " address block"));
  }
  if (bytes.size() < total) return NeedMore();

  ProxyParse parse;
  parse.state = ProxyParseState::kComplete;
  parse.header.version = 2;
  parse.header.length = total;
  if (command == kCommandLocal) {
    parse.header.local = true;
    return parse;
  }

  const auto* addresses = reinterpret_cast<const unsigned char*>(bytes.data()) + kV2FixedLength;
  if (family == kFamilyTcp4 || family == kFamilyUdp4) {
    parse.header.source = FromIpv4(addresses, BigEndian16(bytes, kV2FixedLength + 8));
    parse.header.destination = FromIpv4(addresses + 4, BigEndian16(bytes, kV2FixedLength + 10));
  } else if (family == kFamilyTcp6 || family == kFamilyUdp6) {
    parse.header.source = FromIpv6(addresses, BigEndian16(bytes, kV2FixedLength + 32));
    parse.header.destination = FromIpv6(addresses + 16, BigEndian16(bytes, kV2FixedLength + 34));
  }
  // UNSPEC and UNIX: no IP addresses to report; the receiver keeps the socket's own.

  bool seen_alpn = false;
  bool seen_authority = false;
  for (size_t pos = kV2FixedLength + block; pos < total;) {
    if (total - pos < 3) {
      return Invalid(absl::StrCat("v2: ", total - pos, " bytes after the last TLV, too few for ",
                                  "a TLV header (3 bytes)"));
    }
    const auto type = static_cast<uint8_t>(bytes[pos]);
    const size_t value_length = BigEndian16(bytes, pos + 1);
    pos += 3;
    if (value_length > total - pos) {
      return Invalid(absl::StrFormat("v2: TLV 0x%02x of %d bytes overruns the header (%d left)",
                                     type, value_length, total - pos));
    }
    const absl::string_view value = bytes.substr(pos, value_length);
    pos += value_length;
    if (type == kTlvAlpn || type == kTlvAuthority) {
      bool& seen = type == kTlvAlpn ? seen_alpn : seen_authority;
      if (seen) {
        // Two values for one fact: which one a router would use is a guess; refuse instead.
        return Invalid(absl::StrCat("v2: two ", type == kTlvAlpn ? "ALPN" : "AUTHORITY",
                                    " TLVs (at most one is valid)"));
      }
      seen = true;
      (type == kTlvAlpn ? parse.header.alpn : parse.header.authority) = std::string(value);
    }
    // Other TLVs (SSL, NETNS, CRC32C, NOOP, vendors' own) are not needed here: skipped.
  }
  return parse;
}

void AppendTlv(std::string* out, uint8_t type, absl::string_view value) {
  out->push_back(static_cast<char>(type));
  AppendBigEndian16(out, value.size());
  out->append(value.data(), value.size());
}

bool SameIpFamily(const ProxyHeaderFields& fields) {
  return fields.source.valid() && fields.source.family() == fields.destination.family();
}

std::string AddressText(const net::SocketAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  const auto [bytes, size] = address.AddressBytes();
  inet_ntop(size == 4 ? AF_INET : AF_INET6, bytes, text, sizeof(text));
  return text;
}

}  // namespace

ProxyParse ParseProxyHeader(absl::string_view bytes) {
  if (bytes.empty()) return NeedMore();
  const absl::string_view v1_start = bytes.substr(0, kV1Prefix.size());
  if (absl::StartsWith(kV1Prefix, v1_start)) {
    return v1_start.size() < kV1Prefix.size() ? NeedMore() : ParseV1(bytes);
  }
  const absl::string_view v2_start = bytes.substr(0, kProxyV2Signature.size());
  if (absl::StartsWith(kProxyV2Signature, v2_start)) {
    return v2_start.size() < kProxyV2Signature.size() ? NeedMore() : ParseV2(bytes);
  }
  return Invalid(absl::StrCat("not a PROXY header: the connection starts with ",
                              text::BytesExcerpt(bytes, 8),
                              " (valid: \"PROXY \" or the v2 signature)"));
}

SignatureMatch MatchProxySignature(absl::string_view bytes) {
  for (const absl::string_view signature : {kV1Prefix, kProxyV2Signature}) {
    if (absl::StartsWith(bytes, signature)) return SignatureMatch::kWhole;
    if (absl::StartsWith(signature, bytes)) return SignatureMatch::kPartial;
  }
  return SignatureMatch::kNone;
}

std::string BuildProxyV1(const ProxyHeaderFields& fields) {
  if (!SameIpFamily(fields)) return "PROXY UNKNOWN\r\n";
  return absl::StrCat("PROXY ", fields.source.family() == AF_INET ? "TCP4 " : "TCP6 ",
                      AddressText(fields.source), " ", AddressText(fields.destination), " ",
                      fields.source.port(), " ", fields.destination.port(), "\r\n");
}

std::string BuildProxyV2(const ProxyHeaderFields& fields) {
  std::string out(kProxyV2Signature);
  out.push_back(static_cast<char>(0x20 | kCommandProxy));
  std::string body;
  if (SameIpFamily(fields)) {
    const bool v4 = fields.source.family() == AF_INET;
    out.push_back(static_cast<char>(v4 ? kFamilyTcp4 : kFamilyTcp6));
    const auto [source, size] = fields.source.AddressBytes();
    const auto [destination, unused] = fields.destination.AddressBytes();
    body.append(reinterpret_cast<const char*>(source), size);
    body.append(reinterpret_cast<const char*>(destination), size);
    AppendBigEndian16(&body, fields.source.port());
    AppendBigEndian16(&body, fields.destination.port());
  } else {
    out.push_back(static_cast<char>(kFamilyUnspec));
  }
  // A TLV that would take the header past kMaxProxyHeader is left out: receivers (plby among
  // them) refuse such a header, and a connection without the fact beats one refused.
  for (const auto& [type, value] :
       {std::pair{kTlvAlpn, fields.alpn}, std::pair{kTlvAuthority, fields.authority}}) {
    if (value.empty()) continue;
    if (kV2FixedLength + body.size() + 3 + value.size() > kMaxProxyHeader) continue;
    AppendTlv(&body, type, value);
  }
  AppendBigEndian16(&out, body.size());
  return out + body;
}

std::string BuildProxyLocal(int version) {
  if (version == 1) return "PROXY UNKNOWN\r\n";
  std::string out(kProxyV2Signature);
  out.push_back(static_cast<char>(0x20 | kCommandLocal));
  out.push_back(static_cast<char>(kFamilyUnspec));
  AppendBigEndian16(&out, 0);
  return out;
}

}  // namespace plby::inspect
