// HTTP/1.1 message heads and chunked bodies (RFC 9112, RFC 9110), parsed strictly: whatever two
// implementations could read differently (request smuggling, response splitting) is refused,
// not guessed at. Pure functions over bytes, no socket and no allocation on success: header
// views point into the caller's bytes and land in storage the caller provides. Fuzzed.
//
// Why our own parser: nodejs' http-parser (Debian's libhttp-parser-dev 2.9.4) has been
// unmaintained since 2020 and is lenient where a proxy must not be (it accepts obs-fold and
// lets the caller sort out Content-Length against Transfer-Encoding); llhttp, its successor,
// is not packaged for Debian 12. A proxy needs only heads and chunk framing, and the strict
// rules fit in a few hundred lines that are tested and fuzzed here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/strings/string_view.h"

namespace plby::http {

struct Header {
  absl::string_view name;   // a token, as sent (compare case-insensitively)
  absl::string_view value;  // leading and trailing spaces and tabs removed
};

enum class Method { kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch, kTrace, kConnect, kOther };

// GET, HEAD, OPTIONS, PUT, DELETE, TRACE: what may be sent again after a failure (RFC 9110 9.2.2).
bool IsIdempotent(Method method);

// How a message's body is delimited.
enum class Framing {
  kNone,           // no body
  kContentLength,  // `content_length` bytes
  kChunked,        // chunked transfer coding (ChunkedDecoder), possibly with trailers
  kUntilClose,     // responses only: the body ends when the server closes
};

struct HeadLimits {
  size_t max_head_bytes = 64 * 1024;  // start line, fields and the empty line
  size_t max_headers = 100;           // field lines
  size_t max_uri_bytes = 8 * 1024;    // the request-target
};

enum class ParseState {
  kNeedMore,  // a valid beginning: read more (the limits still hold when more arrives)
  kComplete,  // the head is whole and valid; its bytes are [0, head_length)
  kError,     // refused: `status` and `error` say why
};

struct RequestHead {
  absl::string_view method;
  Method method_kind = Method::kOther;
  absl::string_view target;  // the request-target as sent (origin-, absolute-, authority- or *)
  int minor_version = 1;     // HTTP/1.<minor>: 0 or 1
  std::span<const Header> headers;   // in the caller's storage, in order
  absl::string_view host;            // the Host field's value (may be empty: "Host:" with no value)
  Framing framing = Framing::kNone;  // kNone, kContentLength or kChunked
  uint64_t content_length = 0;       // for kContentLength
  // After this exchange the connection may carry another: HTTP/1.1 unless "Connection: close",
  // HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive = true;
  bool expect_continue = false;  // "Expect: 100-continue"
  bool upgrade = false;          // "Connection: upgrade" and an Upgrade field
  size_t head_length = 0;        // bytes of the input the head took, its empty line included
};

struct RequestParse {
  ParseState state = ParseState::kNeedMore;
  RequestHead head;
  // For kError: the status to answer with (400, 414 URI too long, 431 head or fields too large
  // or too many, 501 codings before chunked, 505 an HTTP version other than
  // 1.0 or 1.1) and a short printable reason that names the bad part ("two Content-Length
  // values that differ: \"5\" and \"6\""); never the peer's bytes raw.
  int status = 0;
  std::string error;
};

// Parses the request head at the start of `bytes`. `storage` receives the headers; more of them
// than min(storage.size(), limits.max_headers) is a 431. Refused with 400 (and close):
// - a method that is not a token, a request-target with a byte that is not visible ASCII, a
//   version that is not "HTTP/" DIGIT "." DIGIT, a start line with other than single spaces;
// - a field name that is not a token (a space before the colon among them), obs-fold (a line
//   starting with a space or tab), a bare CR or a bare LF anywhere (only CRLF ends a line), a
//   NUL or other control byte but tab in a value;
// - both Content-Length and Transfer-Encoding; Content-Length values that differ (several equal
//   ones, in one field or several, are one value) or are not 1-19 digits; Transfer-Encoding in
//   an HTTP/1.0 request; a Transfer-Encoding whose last coding is not "chunked", that names
//   chunked twice or a coding with parameters; and 501 for "chunked" after other codings
//   ("gzip, chunked"): a request's only accepted Transfer-Encoding is exactly chunked;
// - HTTP/1.1 without exactly one Host field, several Host fields in any version, a Host that
//   is not a valid host[:port] (IsHostAndPort), an absolute-form target whose authority is not
//   one or carries userinfo ("http://user@evil.example/").
// Leading empty lines before the request line are skipped (RFC 9112 2.2) and counted in
// head_length.
RequestParse ParseRequestHead(absl::string_view bytes, const HeadLimits& limits,
                              std::span<Header> storage);

struct ResponseHead {
  int status = 0;  // 100-999
  absl::string_view reason;
  int minor_version = 1;
  std::span<const Header> headers;
  // kNone for 1xx, 204, 304 and answers to HEAD; for a 2xx to CONNECT the caller tunnels.
  Framing framing = Framing::kUntilClose;
  uint64_t content_length = 0;
  bool keep_alive = true;  // the server will take another request on this connection
  size_t head_length = 0;
};

struct ResponseParse {
  ParseState state = ParseState::kNeedMore;
  ResponseHead head;
  std::string error;  // for kError: a short printable reason (the proxy answers 502)
};

// Parses a response head to a request made with `request_method`. The same field rules as
// requests; also refused: a status line that is not "HTTP/1.x" SP 3DIGIT SP reason (the
// reason may be empty, the space may not be missing), both Content-Length and
// Transfer-Encoding, differing Content-Length values, a Transfer-Encoding that names chunked
// twice or comes in an HTTP/1.0 response. A Transfer-Encoding whose last coding is not chunked
// is not refused: such a response is delimited by close (RFC 9112 6.3, kUntilClose). The
// limits are the caller's (a backend's head is bounded too).
ResponseParse ParseResponseHead(absl::string_view bytes, Method request_method,
                                const HeadLimits& limits, std::span<Header> storage);

// The chunked transfer coding (RFC 9112 7.1), fed incrementally. It validates the framing and
// reports how many bytes belong to the body, so the caller forwards them unchanged and knows
// where the message ends. Strict: chunk sizes are 1-16 hex digits (no sign, no space, no
// overflow of 2^63), extensions are `;` token [= token / quoted-string] with optional spaces
// around `;` and `=` only (BWS), each line ends in CRLF, chunk data is followed by CRLF, and the
// trailer section has the same field rules as a head. The size line with its extensions is
// bounded (kMaxChunkLine) and so is the trailer section (kMaxTrailerBytes).
class ChunkedDecoder {
 public:
  static constexpr size_t kMaxChunkLine = 4096;
  static constexpr size_t kMaxTrailerBytes = 16 * 1024;

  struct Result {
    size_t consumed = 0;           // bytes of the input that belong to the body (forward these)
    bool done = false;             // the body ended at `consumed`; what follows is the next message
    bool error = false;            // the framing is broken: `error_text` says how
    absl::string_view error_text;  // static text
  };

  // Feeds the next bytes of the body. Consumes as much as it can; a partial size line or
  // trailer line is consumed too (the decoder keeps what it needs to know of it), so the caller
  // never holds bytes back. After `done` or `error`, Feed consumes nothing.
  Result Feed(absl::string_view bytes);
  // Chunk data bytes seen so far (the body's decoded size, for limits).
  uint64_t data_bytes() const { return data_bytes_; }
  bool done() const { return state_ == State::kDone; }
  void Reset() { *this = ChunkedDecoder(); }

 private:
  enum class State {
    kSize,             // hex digits of a chunk size
    kSizeBws,          // spaces or tabs after the size or inside an extension (BWS)
    kExtension,        // in chunk extensions, up to the CR
    kExtensionQuoted,  // in a quoted-string of an extension
    kExtensionEscape,  // after a backslash in a quoted-string
    kSizeLf,           // the LF after the size line's CR
    kData,             // chunk data
    kDataCr,           // the CR after chunk data
    kDataLf,           // the LF after chunk data
    kTrailerStart,     // at the start of a trailer line (or the final empty line)
    kTrailerLine,      // in a trailer field line
    kTrailerLf,        // the LF after a trailer line's CR
    kFinalLf,          // the LF of the final empty line
    kDone,
    kError,
  };

  State state_ = State::kSize;
  uint64_t chunk_size_ = 0;
  int size_digits_ = 0;
  uint64_t chunk_left_ = 0;
  uint64_t data_bytes_ = 0;
  size_t line_bytes_ = 0;     // of the current size or trailer line
  size_t trailer_bytes_ = 0;  // of the trailer section so far
  // Extension grammar state; the helper implementing Feed may add fields as it needs.
  int extension_part_ = 0;
  bool trailer_name_ = false;     // still in a trailer line's field name
  bool trailer_colon_ = false;    // the colon was seen
  absl::string_view error_text_;  // static text, for every Feed after the error
};

// Case-insensitive ASCII comparison (field names, tokens).
bool EqualsIgnoreCase(absl::string_view a, absl::string_view b);

// Whether `text` is a token (RFC 9110 5.6.2): one or more tchars, what methods, field names,
// codings and cookie names are made of. The one copy of that rule.
bool IsToken(absl::string_view text);

// Whether `text` is uri-host [":" port] (RFC 3986 3.2.2-3.2.3): a reg-name or IPv4 address of
// unreserved, percent-encoded and sub-delim bytes, or an IPv6 literal in brackets, then an
// optional port of up to 5 digits. What a Host field, or an absolute-form target's authority,
// may carry; no userinfo ("user@"), no spaces.
bool IsHostAndPort(absl::string_view text);

// The authority of an absolute-form request-target ("http://a.example:80/x" ->
// "a.example:80", as sent, userinfo included), or a null view for other forms.
absl::string_view AbsoluteFormAuthority(absl::string_view target);

// Whether the comma-separated list `value` (a Connection field, say) holds `token`, compared
// case-insensitively, with optional whitespace around elements and empty elements ignored.
bool ListHasToken(absl::string_view value, absl::string_view token);

// The value of cookie `name` in the Cookie fields of `headers` ("a=1; b=2", RFC 6265 5.4), or
// nullopt-like empty view with `found` false.
struct CookieLookup {
  bool found = false;
  absl::string_view value;
};
CookieLookup FindCookie(std::span<const Header> headers, absl::string_view name);

// The first field named `name` (case-insensitive), or null.
const Header* FindHeader(std::span<const Header> headers, absl::string_view name);

}  // namespace plby::http
