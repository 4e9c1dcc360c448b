#include "inspect/client_hello.h"

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "text/quote.h"

namespace plby::inspect {
namespace {

constexpr uint8_t kContentTypeHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeaderLength = 5;
constexpr size_t kHandshakeHeaderLength = 4;
// TLSPlaintext.length: "MUST NOT exceed 2^14 bytes" (RFC 8446 5.1). The +256 and +2048 of
// other limits are for protected records, which a ClientHello never is.
constexpr size_t kMaxRecordLength = 16384;
constexpr size_t kMaxHostName = 255;
constexpr size_t kMaxLabel = 63;

constexpr uint16_t kExtensionServerName = 0;
constexpr uint16_t kExtensionAlpn = 16;
constexpr uint16_t kExtensionSupportedVersions = 43;
constexpr uint8_t kNameTypeHostName = 0;
constexpr uint16_t kTls13 = 0x0304;

ClientHelloParse Fail(ClientHelloState state, std::string error) {
  ClientHelloParse parse;
  parse.state = state;
  parse.error = std::move(error);
  return parse;
}

ClientHelloParse Invalid(std::string error) {
  return Fail(ClientHelloState::kInvalid, std::move(error));
}

// Reads the big-endian fields of one TLS structure, each read checked against what is left.
// A failed read leaves an error naming the field, and every later read fails too.
class Reader {
 public:
  explicit Reader(absl::string_view bytes) : rest_(bytes) {}

  size_t left() const { return rest_.size(); }
  bool empty() const { return rest_.empty(); }

  std::optional<uint32_t> Number(size_t width, absl::string_view what) {
    if (rest_.size() < width) {
      Short(what, width);
      return std::nullopt;
    }
    uint32_t value = 0;
    for (size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(width);
    return value;
  }

  std::optional<absl::string_view> Bytes(size_t count, absl::string_view what) {
    if (rest_.size() < count) {
      Short(what, count);
      return std::nullopt;
    }
    const absl::string_view bytes = rest_.substr(0, count);
    rest_.remove_prefix(count);
    return bytes;
  }

  // A length-prefixed vector (`width`-byte length) whose length lies in [min, max].
  std::optional<absl::string_view> Vector(size_t width, size_t min, size_t max,
                                          absl::string_view what) {
    const std::optional<uint32_t> length = Number(width, what);
    if (!length) return std::nullopt;
    if (*length < min || *length > max) {
      error_ = absl::StrCat(what, " length ", *length, " (valid: ", min, "-", max, ")");
      rest_ = {};
      return std::nullopt;
    }
    return Bytes(*length, what);
  }

  const std::string& error() const { return error_; }

 private:
  void Short(absl::string_view what, size_t needed) {
    if (error_.empty()) {
      error_ = absl::StrCat(what, " needs ", needed, " bytes, ", rest_.size(), " left");
    }
    rest_ = {};
  }

  absl::string_view rest_;
  std::string error_;
};

// A DNS host name as SNI carries it (RFC 6066 3): letters, digits, hyphens, dots; no empty
// label; one trailing dot dropped. Refusing the rest keeps odd bytes out of route matching and
// logs. Returns the lower-cased name, or an error.
std::optional<std::string> HostName(absl::string_view name, std::string* error) {
  if (absl::EndsWith(name, ".")) name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxHostName) {
    *error = absl::StrCat("server_name host_name of ", name.size(), " bytes (valid: 1-",
                          kMaxHostName, ")");
    return std::nullopt;
  }
  size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) break;
      label = 0;
      continue;
    }
    // '_' too: container and compose names have it, and plby's own host names allow it.
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      *error = absl::StrCat("server_name host_name ", text::BytesExcerpt(name, 40),
                            " is not a DNS name (valid: letters, digits, '-', '_' and '.')");
      return std::nullopt;
    }
    if (++label > kMaxLabel) break;
  }
  if (label == 0 || label > kMaxLabel) {
    *error = absl::StrCat("server_name host_name ", text::BytesExcerpt(name, 40), " has a label ",
                          label == 0 ? "that is empty" : "over 63 bytes");
    return std::nullopt;
  }
  return absl::AsciiStrToLower(name);
}

bool ParseServerName(absl::string_view data, ClientHello* hello, std::string* error) {
  Reader reader(data);
  const std::optional<absl::string_view> list = reader.Vector(2, 1, 0xffff, "server_name list");
  if (list && !reader.empty()) {
    *error = absl::StrCat("server_name: ", reader.left(), " bytes after the list");
    return false;
  }
  if (!list) {
    *error = reader.error();
    return false;
  }
  Reader entries(*list);
  bool found = false;
  while (!entries.empty()) {
    const std::optional<uint32_t> type = entries.Number(1, "server_name name_type");
    const std::optional<absl::string_view> name = entries.Vector(2, 1, 0xffff, "server_name entry");
    if (!type || !name) {
      *error = entries.error();
      return false;
    }
    // The first host_name is the name (RFC 6066 allows one of each type; only host_name is
    // defined). Other types are skipped by their length, as every implementation does.
    if (*type != kNameTypeHostName || found) continue;
    std::optional<std::string> host = HostName(*name, error);
    if (!host) return false;
    hello->server_name = *std::move(host);
    found = true;
  }
  return true;
}

bool ParseAlpn(absl::string_view data, ClientHello* hello, std::string* error) {
  Reader reader(data);
  // RFC 7301 3.1: ProtocolName protocol_name_list<2..2^16-1>, ProtocolName opaque<1..2^8-1>.
  const std::optional<absl::string_view> list = reader.Vector(2, 2, 0xffff, "ALPN list");
  if (list && !reader.empty()) {
    *error = absl::StrCat("ALPN: ", reader.left(), " bytes after the list");
    return false;
  }
  if (!list) {
    *error = reader.error();
    return false;
  }
  Reader protocols(*list);
  while (!protocols.empty()) {
    const std::optional<absl::string_view> protocol = protocols.Vector(1, 1, 0xff, "ALPN protocol");
    if (!protocol) {
      *error = protocols.error();
      return false;
    }
    hello->alpn.emplace_back(*protocol);
  }
  return true;
}

bool ParseSupportedVersions(absl::string_view data, ClientHello* hello, std::string* error) {
  Reader reader(data);
  // RFC 8446 4.2.1: ProtocolVersion versions<2..254> in a ClientHello.
  const std::optional<absl::string_view> list = reader.Vector(1, 2, 254, "supported_versions list");
  if (list && !reader.empty()) {
    *error = absl::StrCat("supported_versions: ", reader.left(), " bytes after the list");
    return false;
  }
  if (!list) {
    *error = reader.error();
    return false;
  }
  if (list->size() % 2 != 0) {
    *error = absl::StrCat("supported_versions list length ", list->size(),
                          " is odd (versions are 2 bytes each)");
    return false;
  }
  Reader versions(*list);
  while (!versions.empty()) {
    if (*versions.Number(2, "supported_versions entry") == kTls13) hello->offers_tls13 = true;
  }
  return true;
}

// The ClientHello body (RFC 8446 4.1.2), after its 4-byte handshake header.
ClientHelloParse ParseBody(absl::string_view body) {
  ClientHelloParse parse;
  ClientHello& hello = parse.hello;
  Reader reader(body);
  const std::optional<uint32_t> legacy_version = reader.Number(2, "legacy_version");
  if (legacy_version && (*legacy_version >> 8) != 3) {
    return Invalid(absl::StrFormat("ClientHello legacy_version 0x%04x (valid: 0x0300-0x03ff)",
                                   *legacy_version));
  }
  reader.Bytes(32, "random");
  reader.Vector(1, 0, 32, "legacy_session_id");
  const std::optional<absl::string_view> ciphers = reader.Vector(2, 2, 0xfffe, "cipher_suites");
  if (ciphers && ciphers->size() % 2 != 0) {
    return Invalid(absl::StrCat("ClientHello cipher_suites length ", ciphers->size(),
                                " is odd (suites are 2 bytes each)"));
  }
  reader.Vector(1, 1, 0xff, "legacy_compression_methods");
  if (!reader.error().empty()) return Invalid(absl::StrCat("ClientHello ", reader.error()));
  hello.legacy_version = static_cast<uint16_t>(*legacy_version);
  // TLS 1.2 (RFC 5246 7.4.1.2) lets the body end here, without extensions.
  if (reader.empty()) return parse;

  const std::optional<absl::string_view> extensions = reader.Vector(2, 0, 0xffff, "extensions");
  if (!extensions) return Invalid(absl::StrCat("ClientHello ", reader.error()));
  if (!reader.empty()) {
    return Invalid(absl::StrCat("ClientHello: ", reader.left(),
                                " bytes after the extensions, inside the message"));
  }
  std::bitset<65536> seen;
  Reader walker(*extensions);
  while (!walker.empty()) {
    const std::optional<uint32_t> type = walker.Number(2, "extension type");
    const std::optional<absl::string_view> data = walker.Vector(2, 0, 0xffff, "extension data");
    if (!type || !data) return Invalid(absl::StrCat("ClientHello ", walker.error()));
    if (seen[*type]) {
      return Invalid(absl::StrCat("ClientHello has extension ", *type,
                                  " twice (RFC 8446 4.2: at most once each)"));
    }
    seen[*type] = true;
    std::string error;
    bool ok = true;
    if (*type == kExtensionServerName) {
      ok = ParseServerName(*data, &hello, &error);
    } else if (*type == kExtensionAlpn) {
      ok = ParseAlpn(*data, &hello, &error);
    } else if (*type == kExtensionSupportedVersions) {
      ok = ParseSupportedVersions(*data, &hello, &error);
    }
    if (!ok) return Invalid(absl::StrCat("ClientHello ", error));
  }
  return parse;
}

}  // namespace

ClientHelloParse ParseClientHello(absl::string_view bytes) {
  // The handshake message, gathered from the records' fragments. It is copied only when it
  // spans records; most hellos fit in the first one and are read in place.
  std::string joined;
  absl::string_view message;
  size_t pos = 0;
  for (int record = 0;; ++record) {
    const absl::string_view header = bytes.substr(pos, kRecordHeaderLength);
    if (header.empty()) return ClientHelloParse{};
    const int type = static_cast<unsigned char>(header[0]);
    if (type != kContentTypeHandshake) {
      if (record == 0) {
        return Fail(ClientHelloState::kNotTls,
                    absl::StrCat("not TLS: the first byte is ", type, " ",
                                 text::BytesExcerpt(header.substr(0, 1)),
                                 " (valid: 22, a TLS handshake record)"));
      }
      return Invalid(absl::StrCat("a record of content type ", type,
                                  " before the ClientHello ended (valid: 22, handshake)"));
    }
    if (header.size() < 2) return ClientHelloParse{};
    if (header[1] != 3) {
      const std::string error = absl::StrFormat("record version 0x%02x.. (valid: 0x0301-0x0303)",
                                                static_cast<unsigned char>(header[1]));
      return record == 0 ? Fail(ClientHelloState::kNotTls, absl::StrCat("not TLS: ", error))
                         : Invalid(error);
    }
    if (header.size() < 3) return ClientHelloParse{};
    const auto minor = static_cast<uint8_t>(header[2]);
    if (minor < 1 || minor > 3) {
      return Invalid(absl::StrFormat("record version 0x03%02x (valid: 0x0301-0x0303)", minor));
    }
    if (header.size() < kRecordHeaderLength) return ClientHelloParse{};
    const size_t length =
        (static_cast<unsigned char>(header[3]) << 8) | static_cast<unsigned char>(header[4]);
    if (length < 1 || length > kMaxRecordLength) {
      return Invalid(absl::StrCat("record length ", length, " (valid: 1-", kMaxRecordLength, ")"));
    }
    pos += kRecordHeaderLength;
    const absl::string_view fragment = bytes.substr(pos, length);
    if (record == 0) {
      message = fragment;
    } else {
      if (record == 1) joined = std::string(message);
      // No message longer than kMaxClientHello is accepted, so no more than that is kept.
      const absl::string_view wanted =
          fragment.substr(0, kMaxClientHello - std::min(joined.size(), kMaxClientHello));
      joined.append(wanted.data(), wanted.size());
      message = joined;
    }
    if (!message.empty() && static_cast<uint8_t>(message[0]) != kHandshakeClientHello) {
      return Invalid(absl::StrCat("handshake message type ",
                                  static_cast<int>(static_cast<unsigned char>(message[0])),
                                  " (valid: 1, ClientHello, first)"));
    }
    if (message.size() >= kHandshakeHeaderLength) {
      const size_t body_length = (static_cast<unsigned char>(message[1]) << 16) |
                                 (static_cast<unsigned char>(message[2]) << 8) |
                                 static_cast<unsigned char>(message[3]);
      const size_t total = kHandshakeHeaderLength + body_length;
      if (total > kMaxClientHello) {
        ClientHelloParse parse = Invalid(absl::StrCat(
            "ClientHello too long (", total, " bytes, at most ", kMaxClientHello, " accepted)"));
        parse.too_long = true;
        return parse;
      }
      // Complete once the record holding its last byte is all in: records are the unit the
      // caller's bytes are counted in.
      if (message.size() >= total && fragment.size() == length) {
        ClientHelloParse parse = ParseBody(message.substr(kHandshakeHeaderLength, body_length));
        if (parse.state == ClientHelloState::kInvalid) return parse;
        parse.state = ClientHelloState::kComplete;
        parse.length = pos + length;
        return parse;
      }
    }
    if (fragment.size() < length) return ClientHelloParse{};
    pos += length;
  }
}

std::string PlaintextAlert(uint8_t description) {
  // Record type alert (21), version 0x0303, length 2, level fatal (2), the description.
  return std::string({0x15, 0x03, 0x03, 0x00, 0x02, 0x02, static_cast<char>(description)});
}

}  // namespace plby::inspect
