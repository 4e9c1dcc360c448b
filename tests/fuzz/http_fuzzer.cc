// libFuzzer target: the HTTP/1.1 head parser and chunked decoder (http/parser), which read every
// byte clients and backends send through plby. An accepted head must be what it says it took,
// parse alone the same way, and have only valid beginnings as prefixes; a refusal must hold
// whatever follows it, with a short printable reason; the chunked decoder must give the same
// answer however its input is cut into reads.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/forward.h"
#include "http/parser.h"

namespace {

using plby::http::ChunkedDecoder;
using plby::http::Framing;
using plby::http::Header;
using plby::http::HeadLimits;
using plby::http::Method;
using plby::http::ParseState;
using plby::http::RequestHead;
using plby::http::RequestParse;
using plby::http::ResponseHead;
using plby::http::ResponseParse;

// Small enough that the fuzzer reaches every limit; each is also checked with the defaults.
constexpr HeadLimits kSmallLimits{.max_head_bytes = 160, .max_headers = 6, .max_uri_bytes = 24};
constexpr size_t kSmallStorage = 4;  // below max_headers: the storage bounds the count then
constexpr size_t kStorage = 128;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool IsReason(const std::string& error) {
  if (error.empty() || error.size() >= 200) return false;
  return std::all_of(error.begin(), error.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

bool IsTokenChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool Within(absl::string_view part, absl::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// What every accepted head's fields satisfy: tokens for names, trimmed values without line
// breaks, all of it inside the head and in the caller's storage.
void CheckFields(std::span<const Header> headers, std::span<const Header> storage,
                 absl::string_view head, size_t max_headers) {
  Check(headers.size() <= std::min(storage.size(), max_headers));
  Check(headers.empty() || headers.data() == storage.data());
  for (const Header& header : headers) {
    Check(!header.name.empty() && Within(header.name, head) && Within(header.value, head));
    Check(std::all_of(header.name.begin(), header.name.end(), IsTokenChar));
    for (const char c : header.value) Check(c != '\r' && c != '\n' && c != '\0');
    if (!header.value.empty()) {
      Check(header.value.front() != ' ' && header.value.front() != '\t');
      Check(header.value.back() != ' ' && header.value.back() != '\t');
    }
  }
}

size_t CountFields(std::span<const Header> headers, absl::string_view name) {
  return std::count_if(headers.begin(), headers.end(), [&](const Header& header) {
    return plby::http::EqualsIgnoreCase(header.name, name);
  });
}

bool ConnectionHas(std::span<const Header> headers, absl::string_view token) {
  for (const Header& header : headers) {
    if (plby::http::EqualsIgnoreCase(header.name, "connection") &&
        plby::http::ListHasToken(header.value, token)) {
      return true;
    }
  }
  return false;
}

bool SameRequest(const RequestParse& a, const RequestParse& b) {
  const RequestHead& x = a.head;
  const RequestHead& y = b.head;
  return a.state == b.state && a.status == b.status && a.error == b.error && x.method == y.method &&
         x.method_kind == y.method_kind && x.target == y.target &&
         x.minor_version == y.minor_version && x.headers.size() == y.headers.size() &&
         x.host == y.host && x.framing == y.framing && x.content_length == y.content_length &&
         x.keep_alive == y.keep_alive && x.expect_continue == y.expect_continue &&
         x.upgrade == y.upgrade && x.head_length == y.head_length;
}

bool SameResponse(const ResponseParse& a, const ResponseParse& b) {
  const ResponseHead& x = a.head;
  const ResponseHead& y = b.head;
  return a.state == b.state && a.error == b.error && x.status == y.status && x.reason == y.reason &&
         x.minor_version == y.minor_version && x.headers.size() == y.headers.size() &&
         x.framing == y.framing && x.content_length == y.content_length &&
         x.keep_alive == y.keep_alive && x.head_length == y.head_length;
}

// What plby forwards of an accepted request parses again, as the same request, without the
// fields it never passes on.
void CheckForwarded(const RequestHead& head, size_t storage_size) {
  std::string out(96 * 1024, '\0');
  plby::http::SpanWriter writer(out);
  std::string scratch;
  plby::http::RequestRewrite rewrite;
  rewrite.target = plby::http::RewriteTarget(head.target, "", scratch);
  rewrite.client_ip = "192.0.2.1";
  rewrite.proto = "http";
  rewrite.host = plby::http::AbsoluteFormAuthority(head.target);
  if (!plby::http::WriteForwardedRequest(head, rewrite, writer)) return;  // too large: a 431
  out.resize(writer.size());
  std::array<Header, kStorage + 8> fields;
  const RequestParse again =
      plby::http::ParseRequestHead(out,
                                   HeadLimits{.max_head_bytes = out.size(),
                                              .max_headers = storage_size + 8,
                                              .max_uri_bytes = 64 * 1024},
                                   fields);
  Check(again.state == ParseState::kComplete && again.head.head_length == out.size());
  Check(again.head.method == head.method && again.head.framing == head.framing &&
        again.head.content_length == head.content_length);
  for (const Header& header : again.head.headers) {
    Check(header.name.find('_') == absl::string_view::npos);
    Check(!plby::http::EqualsIgnoreCase(header.name, "forwarded") &&
          !plby::http::EqualsIgnoreCase(header.name, "x-real-ip"));
  }
}

RequestParse CheckRequest(absl::string_view bytes, const HeadLimits& limits,
                          std::span<Header> storage) {
  const RequestParse parse = plby::http::ParseRequestHead(bytes, limits, storage);
  std::array<Header, kStorage> other;
  const auto again = [&](absl::string_view more) {
    return plby::http::ParseRequestHead(more, limits, std::span(other).first(storage.size()));
  };
  switch (parse.state) {
    case ParseState::kNeedMore:
      Check(bytes.size() < limits.max_head_bytes && parse.error.empty() && parse.status == 0);
      break;
    case ParseState::kError: {
      const int status = parse.status;
      Check(status == 400 || status == 414 || status == 431 || status == 501 || status == 505);
      Check(IsReason(parse.error));
      // Refused at the first bad byte: what follows changes nothing.
      Check(SameRequest(again(std::string(bytes) + "\r\n\r\n"), parse));
      break;
    }
    case ParseState::kComplete: {
      const RequestHead& head = parse.head;
      Check(parse.status == 0 && parse.error.empty());
      Check(head.head_length > 0 && head.head_length <= bytes.size() &&
            head.head_length <= limits.max_head_bytes);
      const absl::string_view taken = bytes.substr(0, head.head_length);
      Check(taken.substr(taken.size() - 4) == "\r\n\r\n");
      CheckFields(head.headers, storage, taken, limits.max_headers);
      Check(!head.method.empty() && !head.target.empty() &&
            head.target.size() <= limits.max_uri_bytes);
      Check(head.minor_version == 0 || head.minor_version == 1);
      Check(head.framing == Framing::kNone || head.framing == Framing::kContentLength ||
            head.framing == Framing::kChunked);
      Check((head.framing == Framing::kContentLength) == (head.content_length > 0));
      Check(head.framing != Framing::kChunked || head.minor_version == 1);
      const size_t hosts = CountFields(head.headers, "host");
      Check(hosts <= 1 && (head.minor_version == 0 || hosts == 1));
      Check(hosts == 1 ? head.host == plby::http::FindHeader(head.headers, "host")->value
                       : head.host.empty());
      Check(CountFields(head.headers, "content-length") == 0 ||
            CountFields(head.headers, "transfer-encoding") == 0);
      // A request's only coding is chunked: nothing a backend could read another way.
      for (const Header& header : head.headers) {
        if (!plby::http::EqualsIgnoreCase(header.name, "transfer-encoding")) continue;
        size_t start = 0;
        const absl::string_view value = header.value;
        while (start <= value.size()) {
          const size_t comma = std::min(value.find(',', start), value.size());
          absl::string_view coding = value.substr(start, comma - start);
          while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
            coding.remove_prefix(1);
          }
          while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
            coding.remove_suffix(1);
          }
          Check(coding.empty() || plby::http::EqualsIgnoreCase(coding, "chunked"));
          start = comma + 1;
        }
      }
      // Whatever routes it is an authority without userinfo.
      Check(head.host.empty() || plby::http::IsHostAndPort(head.host));
      const absl::string_view authority = plby::http::AbsoluteFormAuthority(head.target);
      Check(authority.data() == nullptr || (plby::http::IsHostAndPort(authority) &&
                                            authority.find('@') == absl::string_view::npos));
      CheckForwarded(head, storage.size());
      const bool close = ConnectionHas(head.headers, "close");
      Check(head.keep_alive ==
            (!close && (head.minor_version == 1 || ConnectionHas(head.headers, "keep-alive"))));
      Check(!head.upgrade || (head.minor_version == 1 && ConnectionHas(head.headers, "upgrade") &&
                              CountFields(head.headers, "upgrade") > 0));
      Check(!head.expect_continue || head.minor_version == 1);
      for (const absl::string_view name : {"session", "a", ""}) {
        const plby::http::CookieLookup cookie = plby::http::FindCookie(head.headers, name);
        Check(!cookie.found || Within(cookie.value, taken));
        Check(cookie.found || cookie.value.empty());
      }
      // The head alone is the same head, and every proper prefix of it only a beginning.
      Check(SameRequest(again(taken), parse));
      Check(again(taken.substr(0, taken.size() - 1)).state == ParseState::kNeedMore);
      Check(again(taken.substr(0, taken.size() / 2)).state == ParseState::kNeedMore);
      break;
    }
  }
  return parse;
}

ResponseParse CheckResponse(absl::string_view bytes, Method method, const HeadLimits& limits,
                            std::span<Header> storage) {
  const ResponseParse parse = plby::http::ParseResponseHead(bytes, method, limits, storage);
  std::array<Header, kStorage> other;
  const auto again = [&](absl::string_view more) {
    return plby::http::ParseResponseHead(more, method, limits,
                                         std::span(other).first(storage.size()));
  };
  switch (parse.state) {
    case ParseState::kNeedMore:
      Check(bytes.size() < limits.max_head_bytes && parse.error.empty());
      break;
    case ParseState::kError:
      Check(IsReason(parse.error));
      Check(SameResponse(again(std::string(bytes) + "\r\n\r\n"), parse));
      break;
    case ParseState::kComplete: {
      const ResponseHead& head = parse.head;
      Check(parse.error.empty());
      Check(head.head_length > 0 && head.head_length <= bytes.size() &&
            head.head_length <= limits.max_head_bytes);
      const absl::string_view taken = bytes.substr(0, head.head_length);
      Check(taken.substr(taken.size() - 4) == "\r\n\r\n");
      CheckFields(head.headers, storage, taken, limits.max_headers);
      Check(head.status >= 100 && head.status <= 999);
      Check(head.minor_version >= 0 && head.minor_version <= 9);
      Check(Within(head.reason, taken));
      Check((head.framing == Framing::kContentLength) == (head.content_length > 0) ||
            head.framing == Framing::kNone);
      const bool no_body = method == Method::kHead || head.status < 200 || head.status == 204 ||
                           head.status == 304 || (method == Method::kConnect && head.status < 300);
      Check(!no_body || head.framing == Framing::kNone);
      Check(head.framing != Framing::kUntilClose || !head.keep_alive);
      Check(CountFields(head.headers, "content-length") == 0 ||
            CountFields(head.headers, "transfer-encoding") == 0);
      Check(SameResponse(again(taken), parse));
      Check(again(taken.substr(0, taken.size() - 1)).state == ParseState::kNeedMore);
      break;
    }
  }
  return parse;
}

struct Decoded {
  size_t consumed = 0;
  bool done = false;
  bool error = false;
  absl::string_view error_text;
  uint64_t data_bytes = 0;

  bool operator==(const Decoded&) const = default;
};

// Feeds `body` in pieces whose sizes `next_piece` gives, checking each Feed's promises.
template <typename NextPiece>
Decoded Decode(absl::string_view body, NextPiece next_piece) {
  ChunkedDecoder decoder;
  Decoded decoded;
  for (size_t at = 0; at < body.size();) {
    const absl::string_view piece = body.substr(at, next_piece());
    at += piece.size();
    const bool ended = decoder.done() || decoded.error;
    const ChunkedDecoder::Result result = decoder.Feed(piece);
    Check(result.consumed <= piece.size());
    Check(!ended || result.consumed == 0);  // nothing is taken after the end or an error
    Check(result.done || result.error || result.consumed == piece.size());
    Check(!(result.done && result.error) && result.done == decoder.done());
    Check(result.error == !result.error_text.empty());
    decoded.consumed += result.consumed;
    decoded.done = result.done;
    decoded.error = result.error;
    decoded.error_text = result.error_text;
  }
  decoded.data_bytes = decoder.data_bytes();
  Check(decoded.consumed <= body.size());
  Check(decoded.data_bytes <= decoded.consumed);
  return decoded;
}

void CheckChunked(absl::string_view body, absl::string_view bytes) {
  const Decoded whole = Decode(body, [&] { return body.size(); });
  Check(Decode(body, [] { return size_t{1}; }) == whole);
  // Read sizes from the input's own bytes, so the fuzzer steers where reads end.
  size_t index = 0;
  const Decoded pieces = Decode(body, [&] {
    const auto byte = static_cast<unsigned char>(bytes[index++ % bytes.size()]);
    return size_t{1} + byte % 23;
  });
  Check(pieces == whole);
  if (whole.done) {
    Check(whole.consumed >= 5);  // at least "0\r\n\r\n"
    Check(body.substr(whole.consumed - 2, 2) == "\r\n");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::array<Header, kStorage> storage;
  const std::span<Header> small_storage = std::span(storage).first(kSmallStorage);

  const RequestParse small = CheckRequest(bytes, kSmallLimits, small_storage);
  const RequestParse request = CheckRequest(bytes, HeadLimits{}, storage);
  // Within tighter limits, the same head; larger ones refuse nothing the smaller accepted.
  if (small.state == ParseState::kComplete) Check(SameRequest(request, small));

  // The request method changes a response's framing only, never where its head ends.
  const ResponseParse get = CheckResponse(bytes, Method::kGet, HeadLimits{}, storage);
  for (const Method method : {Method::kHead, Method::kConnect, Method::kPost}) {
    const ResponseParse other = CheckResponse(bytes, method, HeadLimits{}, storage);
    Check(other.state == get.state && other.error == get.error &&
          other.head.head_length == get.head.head_length);
  }
  CheckResponse(bytes, Method::kGet, kSmallLimits, small_storage);

  // The body after a request head, or the whole input as one.
  if (size > 0) {
    CheckChunked(
        request.state == ParseState::kComplete ? bytes.substr(request.head.head_length) : bytes,
        bytes);
  }
  return 0;
}
