// The PROXY protocol (HAProxy's spec, versions 1 and 2): the header a proxy in front of plby
// sends first to say who the client really is, and the header plby sends to its own backends.
// Pure functions over bytes: no socket, no allocation beyond the result. Fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "net/socket_address.h"

namespace plby::inspect {

// The longest header accepted. Version 1 is at most 107 bytes by the spec; version 2 may
// announce up to 65535 bytes of addresses and TLVs, but what real senders put there (ALPN,
// authority, an AWS or Azure endpoint id, SSL facts) fits in far less, and a peer that claims
// more is refused rather than buffered for.
inline constexpr size_t kMaxProxyHeader = 4096;
inline constexpr size_t kProxyV1MaxLength = 107;

// The 12 bytes every version 2 header starts with.
inline constexpr absl::string_view kProxyV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // LOCAL (v2) or UNKNOWN (v1): the sender speaks for itself (a health check); the connection's
  // own addresses stand. False: `source` and `destination` are the client's.
  bool local = false;
  net::SocketAddress source;       // set (valid()) unless local or an unsupported family
  net::SocketAddress destination;  // likewise
  std::string alpn;                // v2 TLV PP2_TYPE_ALPN, if sent
  std::string authority;           // v2 TLV PP2_TYPE_AUTHORITY (the SNI or Host), if sent
  size_t length = 0;               // bytes of the input the header took
};

enum class ProxyParseState {
  kComplete,  // `header` is set; the bytes after header.length are the client's own
  kNeedMore,  // a valid beginning: read more (up to kMaxProxyHeader in all)
  kInvalid,   // not a PROXY header, or a broken one: `error` says what is wrong
};

struct ProxyParse {
  ProxyParseState state = ProxyParseState::kNeedMore;
  ProxyHeader header;
  std::string error;  // for kInvalid: short, names the bad part ("v1: bad source port \"99999\"")
  bool too_long = false;  // for kInvalid: the header is (or announces itself) over the limit
};

// Parses the start of a connection's bytes as a PROXY header of either version. Strict:
// v1 must be "PROXY TCP4|TCP6|UNKNOWN ..." ending in CRLF within 107 bytes, with addresses
// of the family named and ports 0-65535 without leading zeros (as the spec requires); v2 must
// have version 2, command LOCAL or PROXY, a family/protocol the spec defines, and (PROXY) an
// address block as long as its family needs. TLVs are walked and must fit exactly in the
// announced length. A v2 header over kMaxProxyHeader is kInvalid ("too long"). v1 UNKNOWN and
// v2 LOCAL parse as `local = true` (a LOCAL header's block is discarded unread, as the spec
// says); a v2 PROXY with the UNSPEC or UNIX family has `local` false and addresses unset (the
// receiver then keeps the socket's own addresses).
ProxyParse ParseProxyHeader(absl::string_view bytes);

// How the first bytes of a connection compare with the two signatures, "PROXY " (v1) and
// kProxyV2Signature (v2).
enum class SignatureMatch {
  kNone,     // they are neither: not a PROXY header, whatever follows
  kPartial,  // shorter than a signature, and a prefix of one (empty bytes too): more decides
  kWhole,    // they begin with one of the two signatures in full
};
// For listeners that refuse headers from untrusted sources (which hold a client's bytes while
// they are kPartial), and to tell a broken header from a missing one.
SignatureMatch MatchProxySignature(absl::string_view bytes);

// What a PROXY header plby sends carries.
struct ProxyHeaderFields {
  net::SocketAddress source;       // the client
  net::SocketAddress destination;  // the address the client connected to
  absl::string_view alpn;          // v2 only, sent as a TLV when not empty
  absl::string_view authority;     // v2 only, sent as a TLV when not empty
};

// A whole header, to be written in one write(2) before any other byte. When source and
// destination are not of one family (or not set), v1 says "PROXY UNKNOWN\r\n" and v2 sends a
// PROXY command with AF_UNSPEC, as the spec says a sender should.
std::string BuildProxyV1(const ProxyHeaderFields& fields);
std::string BuildProxyV2(const ProxyHeaderFields& fields);
// The header of a connection that speaks for itself (health checks): v1 "PROXY UNKNOWN\r\n",
// v2 the LOCAL command with no address.
std::string BuildProxyLocal(int version);

}  // namespace plby::inspect
