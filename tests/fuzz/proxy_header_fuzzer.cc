// libFuzzer target: the PROXY protocol header (inspect/proxy_header), the first bytes of every
// connection to a listener that expects one, sent by whoever can reach it. What it accepts
// must be what it says it took, parse alone the same way, and build back into a header that
// parses to the same addresses; what it refuses, it refuses with a short printable message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "inspect/proxy_header.h"

namespace {

using plby::inspect::ProxyHeader;
using plby::inspect::ProxyParse;
using plby::inspect::ProxyParseState;

bool Printable(const std::string& text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool SameHeader(const ProxyHeader& a, const ProxyHeader& b) {
  return a.version == b.version && a.local == b.local && a.source == b.source &&
         a.destination == b.destination && a.alpn == b.alpn && a.authority == b.authority &&
         a.length == b.length;
}

// A header plby builds from `header`'s facts must give them back.
void CheckRebuilt(const ProxyHeader& header) {
  const plby::inspect::ProxyHeaderFields fields{header.source, header.destination, header.alpn,
                                                header.authority};
  for (const int version : {1, 2}) {
    const std::string built =
        version == 1 ? plby::inspect::BuildProxyV1(fields) : plby::inspect::BuildProxyV2(fields);
    const ProxyParse again = plby::inspect::ParseProxyHeader(built);
    if (again.state != ProxyParseState::kComplete || again.header.length != built.size() ||
        again.header.version != version || again.header.local ||
        !(again.header.source == header.source) ||
        !(again.header.destination == header.destination)) {
      std::abort();
    }
    if (version == 2 &&
        (again.header.alpn != header.alpn || again.header.authority != header.authority)) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const ProxyParse parse = plby::inspect::ParseProxyHeader(bytes);
  const plby::inspect::SignatureMatch signature = plby::inspect::MatchProxySignature(bytes);
  const bool starts_like = signature != plby::inspect::SignatureMatch::kNone;
  // kWhole and kPartial are what the names say: the screen of untrusted sources relies on it.
  const bool whole = absl::StartsWith(bytes, "PROXY ") ||
                     absl::StartsWith(bytes, plby::inspect::kProxyV2Signature);
  if ((signature == plby::inspect::SignatureMatch::kWhole) != whole) std::abort();
  if (signature == plby::inspect::SignatureMatch::kPartial && !absl::StartsWith("PROXY ", bytes) &&
      !absl::StartsWith(plby::inspect::kProxyV2Signature, bytes)) {
    std::abort();
  }
  // Refused for its length: said so in the error too, and never on anything but a refusal.
  if (parse.too_long && (parse.state != ProxyParseState::kInvalid ||
                         parse.error.find("too long") == std::string::npos)) {
    std::abort();
  }
  switch (parse.state) {
    case ProxyParseState::kInvalid:
      // Short, and nothing of the peer's bytes shown raw.
      if (parse.error.empty() || parse.error.size() > 200 || !Printable(parse.error)) {
        std::abort();
      }
      break;
    case ProxyParseState::kNeedMore:
      // Never asks to buffer more than the limit, and only for what could be a header.
      if (size >= plby::inspect::kMaxProxyHeader || !starts_like || !parse.error.empty()) {
        std::abort();
      }
      break;
    case ProxyParseState::kComplete: {
      const ProxyHeader& header = parse.header;
      if (!starts_like || header.length == 0 || header.length > size ||
          header.length > plby::inspect::kMaxProxyHeader) {
        std::abort();
      }
      if (header.version == 1 && header.length > plby::inspect::kProxyV1MaxLength) std::abort();
      if (header.version != 1 && header.version != 2) std::abort();
      if (header.local && (header.source.valid() || header.destination.valid())) std::abort();
      // The header alone is the same header: nothing after it was looked at.
      const ProxyParse alone = plby::inspect::ParseProxyHeader(bytes.substr(0, header.length));
      if (alone.state != ProxyParseState::kComplete || !SameHeader(alone.header, header)) {
        std::abort();
      }
      if (!header.local && header.source.valid() &&
          header.source.family() == header.destination.family()) {
        CheckRebuilt(header);
      }
      break;
    }
  }
  return 0;
}
