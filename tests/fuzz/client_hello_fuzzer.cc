// libFuzzer target: the TLS ClientHello reader (inspect/client_hello), which sees the first
// bytes of every connection to a passthrough listener before anything else does. What it
// accepts must be what it says it took and parse alone the same way, with a server name that
// is a plain lower-case DNS name; what it refuses, it refuses with a short printable message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "inspect/client_hello.h"

namespace {

using plby::inspect::ClientHello;
using plby::inspect::ClientHelloParse;
using plby::inspect::ClientHelloState;

bool Printable(const std::string& text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool DnsName(const std::string& name) {
  if (name.empty()) return true;  // not sent
  if (name.size() > 255 || name.front() == '.' || name.back() == '.') return false;
  if (name.find("..") != std::string::npos) return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

bool SameHello(const ClientHello& a, const ClientHello& b) {
  return a.server_name == b.server_name && a.alpn == b.alpn &&
         a.legacy_version == b.legacy_version && a.offers_tls13 == b.offers_tls13;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const ClientHelloParse parse = plby::inspect::ParseClientHello(bytes);
  if (parse.too_long && (parse.state != ClientHelloState::kInvalid ||
                         parse.error.find("too long") == std::string::npos)) {
    std::abort();
  }
  switch (parse.state) {
    case ClientHelloState::kNotTls:
    case ClientHelloState::kInvalid:
      if (parse.error.empty() || parse.error.size() > 200 || !Printable(parse.error)) {
        std::abort();
      }
      break;
    case ClientHelloState::kNeedMore:
      if (!parse.error.empty()) std::abort();
      // At most kMaxClientHello bytes of handshake in records of at least one byte each, and
      // the last record (up to 5 + 16384 bytes) still coming in.
      if (size > 6 * plby::inspect::kMaxClientHello + 5 + 16384) std::abort();
      break;
    case ClientHelloState::kComplete: {
      const ClientHello& hello = parse.hello;
      if (parse.length == 0 || parse.length > size || !parse.error.empty()) std::abort();
      if (!DnsName(hello.server_name)) std::abort();
      if ((hello.legacy_version >> 8) != 3) std::abort();
      for (const std::string& protocol : hello.alpn) {
        if (protocol.empty() || protocol.size() > 255) std::abort();
      }
      // The records it took are the hello, whatever followed them.
      const ClientHelloParse alone = plby::inspect::ParseClientHello(bytes.substr(0, parse.length));
      if (alone.state != ClientHelloState::kComplete || alone.length != parse.length ||
          !SameHello(alone.hello, hello)) {
        std::abort();
      }
      break;
    }
  }
  if (plby::inspect::PlaintextAlert(size & 0xff).size() != 7) std::abort();
  return 0;
}
