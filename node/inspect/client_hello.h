// The TLS ClientHello, read without decrypting anything (nginx's ssl_preread, HAProxy's
// req.ssl_sni): what a passthrough route matches on. A pure function over the first bytes a
// client sent; fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace plby::inspect {

// A ClientHello larger than this is refused: real ones are under 2 KiB (a post-quantum key
// share brings them to ~1.8 KiB), and the bytes are held until a backend is chosen.
inline constexpr size_t kMaxClientHello = 16 * 1024;

enum class ClientHelloState {
  kComplete,  // the whole ClientHello was read: `hello` is set
  kNeedMore,  // a valid beginning: read more
  kNotTls,    // the first bytes are not a TLS handshake record (plaintext to a TLS port)
  kInvalid,   // a TLS record, but the ClientHello in it is broken or too long: see `error`
};

struct ClientHello {
  std::string server_name;        // SNI host_name, lower-cased; empty when not sent
  std::vector<std::string> alpn;  // the protocols offered, in the client's order
  uint16_t legacy_version = 0;    // ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3)
  bool offers_tls13 = false;      // supported_versions lists 0x0304
};

struct ClientHelloParse {
  ClientHelloState state = ClientHelloState::kNeedMore;
  ClientHello hello;
  std::string error;  // for kNotTls/kInvalid: short and bounded ("record length 70000 over ...")
  bool too_long = false;  // for kInvalid: the ClientHello is (or announces itself) over the limit
  // For kComplete: how many bytes of the input the records holding the ClientHello took. The
  // caller replays all the bytes it read anyway; this is for tests and metrics.
  size_t length = 0;
};

// Parses the first TLS records of a connection (content type 22, record version 0x0301-0x0303,
// record length 1..16384, RFC 8446 5.1) and, in them, the ClientHello handshake message (type 1),
// which may span several records (each record's fragment is concatenated; the handshake message's
// 24-bit length says where it ends). The whole message is bounded by kMaxClientHello.
// Extensions: server_name (type 0; the host_name entry, which must be a valid DNS name: letters,
// digits, '-', '.', labels of 1-63 and at most 255 bytes, no trailing dot kept), ALPN (type 16),
// supported_versions (type 43). Every length field is checked against what contains it; a duplicate
// extension is kInvalid (RFC 8446 4.2). A first record of another type or version (an SSLv2-style
// hello, plaintext HTTP) is kNotTls; a record of another type before the hello ends is kInvalid.
ClientHelloParse ParseClientHello(absl::string_view bytes);

// TLS alert records sent in clear before any handshake completes (RFC 8446 6): a fatal alert
// of `description`, e.g. 112 unrecognized_name, 80 internal_error, 40 handshake_failure,
// 50 decode_error, 70 protocol_version. Seven bytes.
std::string PlaintextAlert(uint8_t description);

}  // namespace plby::inspect
