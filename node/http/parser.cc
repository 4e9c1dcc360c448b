// The strict HTTP/1.1 head parser and chunked decoder (parser.h says what is refused and why).
// One pass over the bytes with a byte-class table; a refusal stops at the first bad byte and
// shows nothing past it, so a prefix that is refused stays refused, with the same reason,
// whatever follows it.
#include "http/parser.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace plby::http {
namespace {

// ---- Bytes ----

// Byte classes (RFC 9110 5.5, 5.6.2, 5.6.4), looked up once per byte.
constexpr uint8_t kTchar = 1 << 0;    // a token's byte: "!#$%&'*+-.^_`|~", DIGIT, ALPHA
constexpr uint8_t kVisible = 1 << 1;  // VCHAR (0x21-0x7e): the request-target
constexpr uint8_t kValue = 1 << 2;    // a field value or reason: VCHAR, obs-text, SP, HTAB
constexpr uint8_t kQdtext = 1 << 3;   // inside a quoted-string, but for '"' and '\'

constexpr std::array<uint8_t, 256> MakeByteClasses() {
  std::array<uint8_t, 256> classes{};
  constexpr char kTokenPunctuation[] = "!#$%&'*+-.^_`|~";
  for (int c = 0; c < 256; ++c) {
    bool token = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    for (const char p : kTokenPunctuation) token = token || (p != '\0' && p == c);
    const bool visible = c >= 0x21 && c <= 0x7e;
    const bool value = visible || c >= 0x80 || c == ' ' || c == '\t';
    uint8_t bits = 0;
    if (token) bits |= kTchar;
    if (visible) bits |= kVisible;
    if (value) bits |= kValue;
    if (value && c != '"' && c != '\\') bits |= kQdtext;
    classes[c] = bits;
  }
  return classes;
}

constexpr std::array<uint8_t, 256> kByteClasses = MakeByteClasses();

bool Is(char c, uint8_t byte_class) {
  return (kByteClasses[static_cast<unsigned char>(c)] & byte_class) != 0;
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// Not spelled EqualsIgnoreCase: absl has one too, and an unqualified call with absl::string_view
// arguments would find both.
bool SameIgnoringCase(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

absl::string_view TrimOws(absl::string_view text) {
  while (!text.empty() && IsOws(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsOws(text.back())) text.remove_suffix(1);
  return text;
}

// Calls `element` with each element of a comma-separated list, OWS around it removed, empty
// ones included (the caller decides whether they count); stops when it returns false.
template <typename Visit>
bool ForEachListElement(absl::string_view list, Visit element) {
  while (true) {
    const size_t comma = list.find(',');
    if (!element(TrimOws(list.substr(0, comma)))) return false;
    if (comma == absl::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

// ---- Refusals ----

// How much of a peer's value an error shows: enough to recognise it, little enough that two
// of them (each byte possibly escaped to four characters) keep the message under 200 bytes.
constexpr size_t kShownBytes = 20;

// A peer's bytes as a message may show them: quoted, cut, and every byte outside printable
// ASCII (and '"', '\\') as \xNN, so a message never carries a line break or a raw control
// byte into a log. The same form as text::BytesExcerpt, kept here so that this library links
// nothing but absl.
std::string Shown(absl::string_view bytes) {
  std::string out = "\"";
  for (const char c : bytes.substr(0, kShownBytes)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') {
      absl::StrAppendFormat(&out, "\\x%02x", byte);
    } else {
      out += c;
    }
  }
  out += bytes.size() > kShownBytes ? "\"..." : "\"";
  return out;
}

std::string ByteName(char c) { return absl::StrFormat("0x%02x", static_cast<unsigned char>(c)); }

enum class Step { kDone, kNeedMore, kError };

struct Fault {
  int status = 0;
  std::string error;
};

Step Fail(Fault* fault, int status, std::string error) {
  fault->status = status;
  fault->error = std::move(error);
  return Step::kError;
}

Step Bad(Fault* fault, std::string error) { return Fail(fault, 400, std::move(error)); }

constexpr absl::string_view kBareCr = "a carriage return not followed by a line feed";
constexpr absl::string_view kBareLf = "a line feed without a carriage return (lines end in CRLF)";

// ---- Lines ----

// RFC 9112 2.2 asks a server to skip "at least one" empty line before a request line (some
// clients send a CRLF after a POST body); a few more is tolerance, an endless stream is not.
constexpr int kMaxLeadingEmptyLines = 4;

// The field lines from `*pos` through the empty line that ends the head. Each is stored in
// `storage` (at most `max_fields` of them); `*pos` ends after the empty line.
Step ParseFieldLines(absl::string_view bytes, size_t max_fields, std::span<Header> storage,
                     size_t* pos, size_t* count, Fault* fault) {
  const size_t n = bytes.size();
  size_t p = *pos;
  size_t fields = 0;
  while (true) {
    if (p == n) return Step::kNeedMore;
    const char first = bytes[p];
    if (first == '\r') {
      if (p + 1 == n) return Step::kNeedMore;
      if (bytes[p + 1] != '\n') return Bad(fault, std::string(kBareCr));
      *pos = p + 2;
      *count = fields;
      return Step::kDone;
    }
    if (first == '\n') return Bad(fault, std::string(kBareLf));
    // obs-fold, or whitespace between the start line and the first field: some parsers glue
    // such a line to the one before, others read it as a field of its own (RFC 9112 5.2).
    if (IsOws(first)) return Bad(fault, "a line starting with a space or tab (obs-fold)");
    if (fields == max_fields) {
      return Fail(fault, 431, absl::StrCat("more than ", max_fields, " field lines"));
    }

    const size_t name_start = p;
    while (p < n && Is(bytes[p], kTchar)) ++p;
    if (p == n) return Step::kNeedMore;
    const absl::string_view name = bytes.substr(name_start, p - name_start);
    if (bytes[p] != ':') {
      if (name.empty()) {
        return Bad(fault,
                   absl::StrCat("byte ", ByteName(bytes[p]), " in a field name (valid: a token)"));
      }
      if (IsOws(bytes[p])) {
        return Bad(fault, absl::StrCat("space before the colon after ", Shown(name)));
      }
      if (bytes[p] == '\r' || bytes[p] == '\n') {
        return Bad(fault, absl::StrCat("field line ", Shown(name), " without a colon"));
      }
      return Bad(fault, absl::StrCat("byte ", ByteName(bytes[p]), " in field name ", Shown(name),
                                     " (valid: a token)"));
    }
    if (name.empty()) return Bad(fault, "a field line with an empty name");
    ++p;  // the colon

    const size_t value_start = p;
    while (p < n && Is(bytes[p], kValue)) ++p;
    if (p == n) return Step::kNeedMore;
    if (bytes[p] != '\r') {
      if (bytes[p] == '\n') return Bad(fault, std::string(kBareLf));
      return Bad(fault,
                 absl::StrCat("byte ", ByteName(bytes[p]), " in the value of ", Shown(name)));
    }
    if (p + 1 == n) return Step::kNeedMore;
    if (bytes[p + 1] != '\n') return Bad(fault, std::string(kBareCr));
    storage[fields++] = Header{name, TrimOws(bytes.substr(value_start, p - value_start))};
    p += 2;
  }
}

Method MethodKind(absl::string_view method) {
  switch (method.size()) {
    case 3:
      if (method == "GET") return Method::kGet;
      if (method == "PUT") return Method::kPut;
      break;
    case 4:
      if (method == "HEAD") return Method::kHead;
      if (method == "POST") return Method::kPost;
      break;
    case 5:
      if (method == "PATCH") return Method::kPatch;
      if (method == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (method == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (method == "OPTIONS") return Method::kOptions;
      if (method == "CONNECT") return Method::kConnect;
      break;
  }
  return Method::kOther;
}

// method SP request-target SP HTTP-version CRLF, after at most kMaxLeadingEmptyLines CRLFs.
Step ParseRequestLine(absl::string_view bytes, const HeadLimits& limits, RequestHead* head,
                      size_t* pos, Fault* fault) {
  const size_t n = bytes.size();
  size_t p = 0;
  for (int empty_lines = 0; p < n && (bytes[p] == '\r' || bytes[p] == '\n'); ++empty_lines) {
    if (bytes[p] == '\n') return Bad(fault, std::string(kBareLf));
    if (p + 1 == n) return Step::kNeedMore;
    if (bytes[p + 1] != '\n') return Bad(fault, std::string(kBareCr));
    if (empty_lines == kMaxLeadingEmptyLines) {
      return Bad(fault, absl::StrCat("over ", kMaxLeadingEmptyLines,
                                     " empty lines before the request line"));
    }
    p += 2;
  }

  const size_t method_start = p;
  while (p < n && Is(bytes[p], kTchar)) ++p;
  if (p == n) return Step::kNeedMore;
  const absl::string_view method = bytes.substr(method_start, p - method_start);
  if (method.empty()) {
    return Bad(fault, absl::StrCat("request line: byte ", ByteName(bytes[p]),
                                   " where a method starts (valid: a token)"));
  }
  if (bytes[p] != ' ') {
    return Bad(fault, absl::StrCat("request line: byte ", ByteName(bytes[p]), " after method ",
                                   Shown(method), " (valid: a token, then one space)"));
  }
  ++p;

  const size_t target_start = p;
  while (p < n && Is(bytes[p], kVisible)) {
    if (p - target_start == limits.max_uri_bytes) {
      return Fail(fault, 414,
                  absl::StrCat("the request-target is over ", limits.max_uri_bytes, " bytes"));
    }
    ++p;
  }
  if (p == n) return Step::kNeedMore;
  const absl::string_view target = bytes.substr(target_start, p - target_start);
  if (target.empty()) {
    if (bytes[p] == ' ') return Bad(fault, "request line: two spaces after the method");
    return Bad(fault, absl::StrCat("request line: byte ", ByteName(bytes[p]),
                                   " where the request-target starts"));
  }
  if (bytes[p] != ' ') {
    if (bytes[p] == '\r' || bytes[p] == '\n') {
      return Bad(fault, "request line without an HTTP version (HTTP/0.9 is not served)");
    }
    return Bad(fault, absl::StrCat("request line: byte ", ByteName(bytes[p]),
                                   " in the request-target (valid: visible ASCII)"));
  }
  ++p;

  // "HTTP/" DIGIT "." DIGIT, checked byte by byte so that a wrong one is refused at once.
  constexpr absl::string_view kVersion = "HTTP/1.1";
  for (size_t i = 0; i < kVersion.size(); ++i) {
    if (p + i == n) return Step::kNeedMore;
    const char c = bytes[p + i];
    if (i == 5 || i == 7 ? !IsDigit(c) : c != kVersion[i]) {
      return Bad(fault, absl::StrCat("request line: bad version ", Shown(bytes.substr(p, i + 1)),
                                     " (valid: HTTP/1.1 or HTTP/1.0)"));
    }
  }
  const char major = bytes[p + 5];
  const char minor = bytes[p + 7];
  p += kVersion.size();
  if (p == n) return Step::kNeedMore;
  if (bytes[p] != '\r') {
    if (bytes[p] == '\n') return Bad(fault, std::string(kBareLf));
    return Bad(fault, absl::StrCat("request line: byte ", ByteName(bytes[p]),
                                   " after the version (valid: CRLF)"));
  }
  if (p + 1 == n) return Step::kNeedMore;
  if (bytes[p + 1] != '\n') return Bad(fault, std::string(kBareCr));
  if (major != '1' || minor > '1') {
    return Fail(fault, 505,
                absl::StrCat("HTTP/", absl::string_view(&major, 1), ".",
                             absl::string_view(&minor, 1), " is not supported (valid: 1.0, 1.1)"));
  }
  head->method = method;
  head->method_kind = MethodKind(method);
  head->target = target;
  head->minor_version = minor - '0';
  *pos = p + 2;
  return Step::kDone;
}

// "HTTP/1." DIGIT SP 3DIGIT SP reason-phrase CRLF, the status 100-999.
Step ParseStatusLine(absl::string_view bytes, ResponseHead* head, size_t* pos, Fault* fault) {
  const size_t n = bytes.size();
  constexpr absl::string_view kShape = "HTTP/1.x 200 ";
  for (size_t i = 0; i < kShape.size(); ++i) {
    if (i == n) return Step::kNeedMore;
    const char c = bytes[i];
    if (i < 8) {
      if (i == 7 ? !IsDigit(c) : c != kShape[i]) {
        return Bad(fault, absl::StrCat("status line: bad version ", Shown(bytes.substr(0, i + 1)),
                                       " (valid: HTTP/1.x)"));
      }
    } else if (i == 8 || i == 12) {
      if (c != ' ') {
        return Bad(fault, absl::StrCat("status line: byte ", ByteName(c), " after the ",
                                       i == 8 ? "version" : "status code", " (valid: one space)"));
      }
    } else if (!IsDigit(c)) {
      return Bad(fault, absl::StrCat("status line: status code ", Shown(bytes.substr(9, i - 8)),
                                     " is not 3 digits"));
    } else if (i == 9 && c == '0') {
      return Bad(fault, "status line: a status code under 100");
    }
  }
  size_t p = kShape.size();
  while (p < n && Is(bytes[p], kValue)) ++p;
  if (p == n) return Step::kNeedMore;
  if (bytes[p] != '\r') {
    if (bytes[p] == '\n') return Bad(fault, std::string(kBareLf));
    return Bad(fault,
               absl::StrCat("status line: byte ", ByteName(bytes[p]), " in the reason phrase"));
  }
  if (p + 1 == n) return Step::kNeedMore;
  if (bytes[p + 1] != '\n') return Bad(fault, std::string(kBareCr));
  head->minor_version = bytes[7] - '0';
  head->status = (bytes[9] - '0') * 100 + (bytes[10] - '0') * 10 + (bytes[11] - '0');
  head->reason = bytes.substr(kShape.size(), p - kShape.size());
  *pos = p + 2;
  return Step::kDone;
}

// ---- Fields that frame the message or the connection ----

struct FramingFields {
  bool has_content_length = false;
  uint64_t content_length = 0;
  absl::string_view content_length_text;  // as sent, for messages

  bool has_transfer_encoding = false;
  int codings = 0;
  int chunked_codings = 0;
  absl::string_view last_coding;

  int host_fields = 0;
  absl::string_view host;

  bool close = false;       // Connection: close
  bool keep_alive = false;  // Connection: keep-alive
  bool upgrade_token = false;
  bool upgrade_field = false;
  bool expect_continue = false;
};

// 19 digits always fit in 64 bits; more would need an overflow check that no real body needs.
constexpr size_t kMaxContentLengthDigits = 19;

Step AddContentLength(absl::string_view value, FramingFields* fields, Fault* fault) {
  // RFC 9110 8.6: "5, 5" (or the same value in several fields) is one value; a proxy may take
  // it as such, and any other list is invalid.
  Step step = Step::kDone;
  ForEachListElement(value, [&](absl::string_view element) {
    const bool digits =
        !element.empty() && element.size() <= kMaxContentLengthDigits &&
        std::all_of(element.begin(), element.end(), [](char c) { return IsDigit(c); });
    if (!digits) {
      step = Bad(fault, absl::StrCat("Content-Length ", Shown(element), " is not 1-19 digits"));
      return false;
    }
    uint64_t length = 0;
    for (const char c : element) length = length * 10 + static_cast<uint64_t>(c - '0');
    if (fields->has_content_length && length != fields->content_length) {
      step = Bad(fault, absl::StrCat("two Content-Length values that differ: ",
                                     Shown(fields->content_length_text), " and ", Shown(element)));
      return false;
    }
    fields->has_content_length = true;
    fields->content_length = length;
    fields->content_length_text = element;
    return true;
  });
  return step;
}

Step AddTransferEncoding(absl::string_view value, FramingFields* fields, Fault* fault) {
  fields->has_transfer_encoding = true;
  Step step = Step::kDone;
  ForEachListElement(value, [&](absl::string_view coding) {
    if (coding.empty()) return true;  // RFC 9110 5.6.1: empty elements do not count
    // Parameters are refused with the rest: no coding a proxy forwards needs them, and a
    // quoted parameter with a comma inside is read as two codings by a naive splitter.
    if (!IsToken(coding)) {
      step = Bad(fault, absl::StrCat("Transfer-Encoding coding ", Shown(coding),
                                     " is not a token (parameters are not accepted)"));
      return false;
    }
    ++fields->codings;
    if (SameIgnoringCase(coding, "chunked")) ++fields->chunked_codings;
    fields->last_coding = coding;
    return true;
  });
  return step;
}

Step CollectFramingFields(std::span<const Header> headers, FramingFields* fields, Fault* fault) {
  for (const Header& header : headers) {
    const absl::string_view name = header.name;
    // The length picks the few names that matter before any comparison of bytes.
    switch (name.size()) {
      case 4:
        if (SameIgnoringCase(name, "host")) {
          ++fields->host_fields;
          fields->host = header.value;
        }
        break;
      case 6:
        if (SameIgnoringCase(name, "expect") && SameIgnoringCase(header.value, "100-continue")) {
          fields->expect_continue = true;
        }
        break;
      case 7:
        if (SameIgnoringCase(name, "upgrade")) fields->upgrade_field = true;
        break;
      case 10:
        if (SameIgnoringCase(name, "connection")) {
          fields->close = fields->close || ListHasToken(header.value, "close");
          fields->keep_alive = fields->keep_alive || ListHasToken(header.value, "keep-alive");
          fields->upgrade_token = fields->upgrade_token || ListHasToken(header.value, "upgrade");
        }
        break;
      case 14:
        if (SameIgnoringCase(name, "content-length")) {
          if (AddContentLength(header.value, fields, fault) == Step::kError) return Step::kError;
        }
        break;
      case 17:
        if (SameIgnoringCase(name, "transfer-encoding")) {
          if (AddTransferEncoding(header.value, fields, fault) == Step::kError) {
            return Step::kError;
          }
        }
        break;
      default:
        break;
    }
  }
  return Step::kDone;
}

// The Transfer-Encoding checks requests and responses share: a list with a coding, chunked at
// most once. Both framings at once are refused too (RFC 9112 6.1 lets a server that sees them
// either refuse or drop Content-Length; refusing is the only choice no backend reads
// differently).
Step CheckTransferEncoding(const FramingFields& fields, int minor_version, Fault* fault) {
  if (!fields.has_transfer_encoding) return Step::kDone;
  if (fields.has_content_length) return Bad(fault, "both Content-Length and Transfer-Encoding");
  if (fields.codings == 0) return Bad(fault, "a Transfer-Encoding without a coding");
  // RFC 9112 6.1: HTTP/1.0 has no Transfer-Encoding, so the framing of such a message is faulty.
  if (minor_version == 0) return Bad(fault, "Transfer-Encoding in an HTTP/1.0 message");
  if (fields.chunked_codings > 1) return Bad(fault, "Transfer-Encoding names chunked twice");
  return Step::kDone;
}

bool LastCodingIsChunked(const FramingFields& fields) {
  return fields.codings > 0 && SameIgnoringCase(fields.last_coding, "chunked");
}

// ---- Results ----

RequestParse RefuseRequest(Fault fault) {
  RequestParse parse;
  parse.state = ParseState::kError;
  parse.status = fault.status;
  parse.error = std::move(fault.error);
  return parse;
}

ResponseParse RefuseResponse(Fault fault) {
  ResponseParse parse;
  parse.state = ParseState::kError;
  parse.error = std::move(fault.error);
  return parse;
}

}  // namespace

bool IsIdempotent(Method method) {
  switch (method) {
    case Method::kGet:
    case Method::kHead:
    case Method::kOptions:
    case Method::kPut:
    case Method::kDelete:
    case Method::kTrace:
      return true;
    case Method::kPost:
    case Method::kPatch:
    case Method::kConnect:
    case Method::kOther:
      return false;
  }
  return false;
}

RequestParse ParseRequestHead(absl::string_view bytes, const HeadLimits& limits,
                              std::span<Header> storage) {
  // Nothing past the head limit is looked at: a head that has not ended within it is too
  // large whatever comes next.
  const absl::string_view window = bytes.substr(0, limits.max_head_bytes);
  RequestParse parse;
  RequestHead& head = parse.head;
  Fault fault;
  size_t pos = 0;
  size_t count = 0;
  Step step = ParseRequestLine(window, limits, &head, &pos, &fault);
  if (step == Step::kDone) {
    step = ParseFieldLines(window, std::min(storage.size(), limits.max_headers), storage, &pos,
                           &count, &fault);
  }
  if (step == Step::kNeedMore) {
    if (window.size() < limits.max_head_bytes) return RequestParse{};
    return RefuseRequest(
        Fault{431, absl::StrCat("the request head is over ", limits.max_head_bytes, " bytes")});
  }
  if (step == Step::kError) return RefuseRequest(std::move(fault));

  head.headers = storage.first(count);
  head.head_length = pos;
  FramingFields fields;
  if (CollectFramingFields(head.headers, &fields, &fault) == Step::kError ||
      CheckTransferEncoding(fields, head.minor_version, &fault) == Step::kError) {
    return RefuseRequest(std::move(fault));
  }
  if (fields.has_transfer_encoding) {
    // RFC 9112 6.3: a request whose last coding is not chunked has no length a server can find:
    // 400. One that ends in chunked after other codings ("gzip, chunked") is delimited, but a
    // backend that knows only an exact "chunked" would read its body as the next request:
    // exactly one coding, chunked, is accepted (nginx answers such requests 501 too).
    if (!LastCodingIsChunked(fields)) {
      return RefuseRequest(Fault{
          400, absl::StrCat("a Transfer-Encoding whose last coding is ", Shown(fields.last_coding),
                            ", not chunked: the body's length cannot be known")});
    }
    if (fields.codings > 1) {
      return RefuseRequest(
          Fault{501,
                "a Transfer-Encoding with codings before chunked is not supported (valid: "
                "exactly \"chunked\")"});
    }
  }
  // RFC 9112 3.2: exactly one Host in HTTP/1.1; more than one in any version would let two
  // hops route one request to different places.
  if (fields.host_fields > 1) return RefuseRequest(Fault{400, "more than one Host field"});
  if (head.minor_version == 1 && fields.host_fields == 0) {
    return RefuseRequest(Fault{400, "an HTTP/1.1 request without a Host field"});
  }

  // RFC 9110 7.2 and 4.2.4: a Host (or an absolute-form target's authority) is uri-host
  // [":" port], without userinfo. Anything else would be routed by one reading and served by
  // another ("a b", "user@evil.example").
  if (!fields.host.empty() && !IsHostAndPort(fields.host)) {
    return RefuseRequest(
        Fault{400, absl::StrCat("Host ", Shown(fields.host), " is not a valid host[:port]")});
  }
  if (const absl::string_view authority = AbsoluteFormAuthority(head.target);
      authority.data() != nullptr) {
    if (authority.find('@') != absl::string_view::npos) {
      return RefuseRequest(
          Fault{400, absl::StrCat("the request-target's authority ", Shown(authority),
                                  " has userinfo (user@), which HTTP forbids")});
    }
    if (!IsHostAndPort(authority)) {
      return RefuseRequest(
          Fault{400, absl::StrCat("the request-target's authority ", Shown(authority),
                                  " is not a valid host[:port]")});
    }
  }

  head.host = fields.host;
  if (fields.has_transfer_encoding) {
    head.framing = Framing::kChunked;
  } else if (fields.has_content_length && fields.content_length > 0) {
    head.framing = Framing::kContentLength;
    head.content_length = fields.content_length;
  } else {
    // "Content-Length: 0" is no body, as is no framing field at all: one case for callers.
    head.framing = Framing::kNone;
  }
  const bool http11 = head.minor_version == 1;
  head.keep_alive = !fields.close && (http11 || fields.keep_alive);
  // RFC 9110 7.8: a server ignores Upgrade in an HTTP/1.0 request; Expect is HTTP/1.1 too.
  head.upgrade = http11 && fields.upgrade_token && fields.upgrade_field;
  head.expect_continue = http11 && fields.expect_continue;
  parse.state = ParseState::kComplete;
  return parse;
}

ResponseParse ParseResponseHead(absl::string_view bytes, Method request_method,
                                const HeadLimits& limits, std::span<Header> storage) {
  const absl::string_view window = bytes.substr(0, limits.max_head_bytes);
  ResponseParse parse;
  ResponseHead& head = parse.head;
  Fault fault;
  size_t pos = 0;
  size_t count = 0;
  Step step = ParseStatusLine(window, &head, &pos, &fault);
  if (step == Step::kDone) {
    step = ParseFieldLines(window, std::min(storage.size(), limits.max_headers), storage, &pos,
                           &count, &fault);
  }
  if (step == Step::kNeedMore) {
    if (window.size() < limits.max_head_bytes) return ResponseParse{};
    return RefuseResponse(
        Fault{431, absl::StrCat("the response head is over ", limits.max_head_bytes, " bytes")});
  }
  if (step == Step::kError) return RefuseResponse(std::move(fault));

  head.headers = storage.first(count);
  head.head_length = pos;
  FramingFields fields;
  // The framing fields are checked even where they do not frame (HEAD, 1xx, 204, 304): a
  // broken one says the backend is not one to trust with the connection.
  if (CollectFramingFields(head.headers, &fields, &fault) == Step::kError ||
      CheckTransferEncoding(fields, head.minor_version, &fault) == Step::kError) {
    return RefuseResponse(std::move(fault));
  }

  // RFC 9112 6.3, in its order.
  const int status = head.status;
  if (request_method == Method::kHead || status < 200 || status == 204 || status == 304) {
    head.framing = Framing::kNone;
  } else if (request_method == Method::kConnect && status < 300) {
    head.framing = Framing::kNone;  // the connection is a tunnel from here on
  } else if (fields.has_transfer_encoding) {
    head.framing = LastCodingIsChunked(fields) ? Framing::kChunked : Framing::kUntilClose;
  } else if (fields.has_content_length) {
    head.framing = fields.content_length > 0 ? Framing::kContentLength : Framing::kNone;
    head.content_length = fields.content_length;
  } else {
    head.framing = Framing::kUntilClose;
  }
  // A minor version past 1 is read as 1.1 (RFC 9110 2.5).
  head.keep_alive = !fields.close && (head.minor_version >= 1 || fields.keep_alive) &&
                    head.framing != Framing::kUntilClose;
  parse.state = ParseState::kComplete;
  return parse;
}

namespace {

// Where the size line's grammar is, for ChunkedDecoder::extension_part_ (RFC 9112 7.1.1:
// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )). In kSizeBws it
// says what may follow the whitespace; in kExtension, which token is being read.
enum ExtensionPart : int {
  kBeforeSemicolon,  // BWS after the size or a value: only ';' may follow
  kBeforeName,       // after ';': a name
  kAfterName,        // BWS after a name: ';' or '='
  kBeforeValue,      // after '=': a token or a quoted-string
  kName,             // in a name
  kTokenValue,       // in a token value
  kAfterQuoted,      // right after a quoted-string's closing quote
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Sizes fit in an int64 (off_t), so the caller may do signed arithmetic on them.
constexpr uint64_t kMaxChunkSize = (uint64_t{1} << 63) - 1;
constexpr int kMaxChunkSizeDigits = 16;

}  // namespace

ChunkedDecoder::Result ChunkedDecoder::Feed(absl::string_view bytes) {
  const size_t n = bytes.size();
  size_t p = 0;
  // Each case consumes the byte at `p` or fails on it (and leaves it unconsumed).
  const auto fail = [&](absl::string_view text) {
    state_ = State::kError;
    error_text_ = text;
  };
  // Called with each byte of a size line or the trailer section: both are bounded.
  const auto size_line_byte = [&] {
    if (++line_bytes_ <= kMaxChunkLine) return true;
    fail("a chunk size line over 4096 bytes");
    return false;
  };
  const auto trailer_byte = [&] {
    if (++trailer_bytes_ <= kMaxTrailerBytes) return true;
    fail("a trailer section over 16384 bytes");
    return false;
  };
  // The end of a size line: what follows is data, or the trailer section after the last chunk.
  const auto end_size_line = [&] {
    chunk_left_ = chunk_size_;
    state_ = chunk_size_ == 0 ? State::kTrailerStart : State::kData;
  };

  while (p < n && state_ != State::kDone && state_ != State::kError) {
    const char c = bytes[p];
    switch (state_) {
      case State::kData: {
        const uint64_t take = std::min<uint64_t>(chunk_left_, n - p);
        p += take;
        chunk_left_ -= take;
        data_bytes_ += take;
        if (chunk_left_ == 0) state_ = State::kDataCr;
        continue;
      }
      case State::kDataCr:
        if (c != '\r') {
          fail("chunk data not followed by CRLF");
          continue;
        }
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          fail("chunk data not followed by CRLF");
          continue;
        }
        state_ = State::kSize;
        chunk_size_ = 0;
        size_digits_ = 0;
        line_bytes_ = 0;
        break;

      case State::kSize: {
        if (!size_line_byte()) continue;
        const int digit = HexValue(c);
        if (digit >= 0) {
          if (size_digits_ == kMaxChunkSizeDigits) {
            fail("a chunk size of over 16 hex digits");
            continue;
          }
          if (chunk_size_ > (kMaxChunkSize - static_cast<uint64_t>(digit)) / 16) {
            fail("a chunk size over 2^63 - 1");
            continue;
          }
          chunk_size_ = chunk_size_ * 16 + static_cast<uint64_t>(digit);
          ++size_digits_;
        } else if (size_digits_ == 0) {
          fail("a chunk size line that does not start with a hex digit");
          continue;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kSizeBws;
          extension_part_ = kBeforeName;
        } else if (IsOws(c)) {
          state_ = State::kSizeBws;
          extension_part_ = kBeforeSemicolon;
        } else {
          fail(c == '\n' ? "a bare LF in a chunk size line"
                         : "a chunk size followed by other than ';' or CRLF");
          continue;
        }
        break;
      }
      case State::kSizeBws:
        if (!size_line_byte()) continue;
        if (IsOws(c)) break;
        if (c == ';' && extension_part_ != kBeforeName && extension_part_ != kBeforeValue) {
          extension_part_ = kBeforeName;
        } else if (c == '=' && extension_part_ == kAfterName) {
          extension_part_ = kBeforeValue;
        } else if (Is(c, kTchar) &&
                   (extension_part_ == kBeforeName || extension_part_ == kBeforeValue)) {
          state_ = State::kExtension;
          extension_part_ = extension_part_ == kBeforeName ? kName : kTokenValue;
        } else if (c == '"' && extension_part_ == kBeforeValue) {
          state_ = State::kExtensionQuoted;
        } else {
          // Whitespace before the CRLF among them: BWS is only ever followed by more grammar.
          fail("a malformed chunk extension");
          continue;
        }
        break;
      case State::kExtension:
        if (!size_line_byte()) continue;
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kSizeBws;
          extension_part_ = kBeforeName;
        } else if (IsOws(c)) {
          state_ = State::kSizeBws;
          extension_part_ = extension_part_ == kName ? kAfterName : kBeforeSemicolon;
        } else if (extension_part_ == kName && c == '=') {
          state_ = State::kSizeBws;
          extension_part_ = kBeforeValue;
        } else if (extension_part_ == kAfterQuoted || !Is(c, kTchar)) {
          fail(c == '\n' ? "a bare LF in a chunk size line" : "a malformed chunk extension");
          continue;
        }
        break;
      case State::kExtensionQuoted:
        if (!size_line_byte()) continue;
        if (c == '"') {
          state_ = State::kExtension;
          extension_part_ = kAfterQuoted;
        } else if (c == '\\') {
          state_ = State::kExtensionEscape;
        } else if (!Is(c, kQdtext)) {
          fail("a chunk extension's quoted-string with a control byte or no end");
          continue;
        }
        break;
      case State::kExtensionEscape:
        if (!size_line_byte()) continue;
        if (!Is(c, kValue)) {
          fail("a chunk extension's quoted-string with a control byte or no end");
          continue;
        }
        state_ = State::kExtensionQuoted;
        break;
      case State::kSizeLf:
        if (!size_line_byte()) continue;
        if (c != '\n') {
          fail("a CR not followed by LF in a chunk size line");
          continue;
        }
        end_size_line();
        break;

      case State::kTrailerStart:
        if (!trailer_byte()) continue;
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (Is(c, kTchar)) {
          state_ = State::kTrailerLine;
          trailer_name_ = true;
          trailer_colon_ = false;
        } else {
          fail(c == '\n'  ? "a bare LF in the trailer section"
               : IsOws(c) ? "a trailer line starting with a space or tab (obs-fold)"
                          : "a trailer field name that is not a token");
          continue;
        }
        break;
      case State::kTrailerLine:
        if (!trailer_byte()) continue;
        if (trailer_name_) {
          if (c == ':') {
            trailer_name_ = false;
            trailer_colon_ = true;
          } else if (!Is(c, kTchar)) {
            fail(IsOws(c)                 ? "a space before the colon in a trailer field"
                 : c == '\r' || c == '\n' ? "a trailer field without a colon"
                                          : "a trailer field name that is not a token");
            continue;
          }
        } else if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!Is(c, kValue)) {
          fail(c == '\n' ? "a bare LF in the trailer section"
                         : "a control byte in a trailer field value");
          continue;
        }
        break;
      case State::kTrailerLf:
        if (!trailer_byte()) continue;
        if (c != '\n') {
          fail("a CR not followed by LF in the trailer section");
          continue;
        }
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (!trailer_byte()) continue;
        if (c != '\n') {
          fail("a CR not followed by LF in the trailer section");
          continue;
        }
        state_ = State::kDone;
        break;

      case State::kDone:
      case State::kError:
        break;
    }
    ++p;
  }

  Result result;
  result.consumed = p;
  result.done = state_ == State::kDone;
  result.error = state_ == State::kError;
  result.error_text = error_text_;
  return result;
}

bool EqualsIgnoreCase(absl::string_view a, absl::string_view b) { return SameIgnoringCase(a, b); }

absl::string_view AbsoluteFormAuthority(absl::string_view target) {
  for (const absl::string_view scheme :
       {absl::string_view("http://"), absl::string_view("https://")}) {
    if (target.size() >= scheme.size() &&
        SameIgnoringCase(target.substr(0, scheme.size()), scheme)) {
      const absl::string_view rest = target.substr(scheme.size());
      return rest.substr(0, rest.find_first_of("/?#"));
    }
  }
  return {};
}

bool IsHostAndPort(absl::string_view text) {
  const auto is_hex = [](char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  absl::string_view port;
  if (!text.empty() && text.front() == '[') {
    // IP-literal: an IPv6 address in brackets (its syntax checked only as far as its bytes go:
    // no host is looked up here, and the route match compares it as text).
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || close == 1) return false;
    for (const char c : text.substr(1, close - 1)) {
      if (!is_hex(c) && c != ':' && c != '.') return false;
    }
    port = text.substr(close + 1);
  } else {
    const size_t colon = text.find(':');
    const absl::string_view host = text.substr(0, colon);
    if (host.empty()) return false;
    // reg-name and IPv4address: unreserved, pct-encoded and sub-delims (RFC 3986 3.2.2).
    for (size_t i = 0; i < host.size(); ++i) {
      const char c = host[i];
      if (c == '%') {
        if (i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) return false;
        i += 2;
        continue;
      }
      const bool alnum = IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!alnum && absl::string_view("-._~!$&'()*+,;=").find(c) == absl::string_view::npos) {
        return false;
      }
    }
    port = colon == absl::string_view::npos ? absl::string_view() : text.substr(colon);
  }
  if (port.empty()) return true;
  // ":" port, port = *DIGIT (RFC 3986 3.2.3; an empty one is allowed), at most 5 of them.
  if (port.front() != ':' || port.size() > 6) return false;
  return std::all_of(port.begin() + 1, port.end(), [](char c) { return IsDigit(c); });
}

bool IsToken(absl::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!Is(c, kTchar)) return false;
  }
  return true;
}

bool ListHasToken(absl::string_view value, absl::string_view token) {
  return !ForEachListElement(
      value, [&](absl::string_view element) { return !SameIgnoringCase(element, token); });
}

CookieLookup FindCookie(std::span<const Header> headers, absl::string_view name) {
  for (const Header& header : headers) {
    if (!SameIgnoringCase(header.name, "cookie")) continue;
    absl::string_view rest = header.value;
    while (!rest.empty()) {
      const size_t semicolon = rest.find(';');
      const absl::string_view pair = TrimOws(rest.substr(0, semicolon));
      rest =
          semicolon == absl::string_view::npos ? absl::string_view() : rest.substr(semicolon + 1);
      // RFC 6265 5.4: cookie-pair = cookie-name "=" cookie-value; a pair without '=' names
      // no cookie.
      const size_t equals = pair.find('=');
      if (equals == absl::string_view::npos) continue;
      if (TrimOws(pair.substr(0, equals)) != name) continue;
      return CookieLookup{true, TrimOws(pair.substr(equals + 1))};
    }
  }
  return CookieLookup{};
}

const Header* FindHeader(std::span<const Header> headers, absl::string_view name) {
  for (const Header& header : headers) {
    if (SameIgnoringCase(header.name, name)) return &header;
  }
  return nullptr;
}

}  // namespace plby::http
