#include "http/forward.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace plby::http {

void SpanWriter::Append(absl::string_view text) {
  if (!ok_) return;
  if (text.size() > out_.size() - size_) {
    ok_ = false;
    return;
  }
  std::memcpy(out_.data() + size_, text.data(), text.size());
  size_ += text.size();
}

void SpanWriter::AppendNumber(uint64_t value) {
  char digits[20];
  size_t length = 0;
  do {
    digits[sizeof(digits) - 1 - length++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  Append(absl::string_view(digits + sizeof(digits) - length, length));
}

namespace {

bool HasPrefixIgnoringCase(absl::string_view text, absl::string_view prefix) {
  return text.size() >= prefix.size() &&
         http::EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// Named by a Connection field of `headers` (RFC 9110 7.6.1: the sender's hop-by-hop fields).
bool NamedByConnection(std::span<const Header> headers, absl::string_view name) {
  for (const Header& header : headers) {
    if (http::EqualsIgnoreCase(header.name, "connection") && ListHasToken(header.value, name)) {
      return true;
    }
  }
  return false;
}

bool IsForwardedField(absl::string_view name) {
  return http::EqualsIgnoreCase(name, "x-forwarded-for") ||
         http::EqualsIgnoreCase(name, "x-forwarded-proto") ||
         http::EqualsIgnoreCase(name, "x-forwarded-host");
}

// Other fields that say who the client is (RFC 7239's Forwarded, nginx's X-Real-IP): kept as
// sent from a trusted sender, never from anyone else.
bool IsOtherClientField(absl::string_view name) {
  return http::EqualsIgnoreCase(name, "forwarded") || http::EqualsIgnoreCase(name, "x-real-ip");
}

// Whether a Connection field may take `name` off the forwarded request: not the fields plby
// routes on (Host, the route's header conditions), which the backend must see as plby did.
bool DroppableByConnection(absl::string_view name,
                           std::span<const std::pair<std::string, std::string>> routed_fields) {
  if (http::EqualsIgnoreCase(name, "host")) return false;
  for (const auto& [routed, unused] : routed_fields) {
    if (http::EqualsIgnoreCase(name, routed)) return false;
  }
  return true;
}

void AppendField(SpanWriter& out, absl::string_view name, absl::string_view value) {
  out.Append(name);
  out.Append(": ");
  out.Append(value);
  out.Append("\r\n");
}

// The body's framing as forwarded: one Content-Length, or the Transfer-Encoding fields as
// received (a response's codings before chunked, gzip say, are the body's and stay named; a
// request has no coding but chunked, which the parser made sure of, and is written anew).
void AppendFraming(SpanWriter& out, std::span<const Header> headers, Framing framing,
                   uint64_t content_length) {
  if (framing == Framing::kContentLength) {
    out.Append("Content-Length: ");
    out.AppendNumber(content_length);
    out.Append("\r\n");
    return;
  }
  if (framing == Framing::kChunked || framing == Framing::kUntilClose) {
    for (const Header& header : headers) {
      if (http::EqualsIgnoreCase(header.name, "transfer-encoding")) {
        AppendField(out, "Transfer-Encoding", header.value);
      }
    }
  }
}

}  // namespace

bool IsHopByHop(absl::string_view name) {
  for (absl::string_view hop : {"connection", "keep-alive", "te", "trailer", "upgrade",
                                "transfer-encoding", "content-length"}) {
    if (http::EqualsIgnoreCase(name, hop)) return true;
  }
  return HasPrefixIgnoringCase(name, "proxy-");
}

absl::string_view PathOf(absl::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

absl::string_view RewriteTarget(absl::string_view target, absl::string_view prefix,
                                std::string& scratch) {
  if (const absl::string_view authority = AbsoluteFormAuthority(target); !authority.empty()) {
    const size_t scheme = target.find("//") + 2;
    target = target.substr(scheme + authority.size());
    if (target.empty() || target.front() != '/') {
      scratch = absl::StrCat("/", target);
      target = scratch;
    }
  }
  if (prefix.empty() || !absl::StartsWith(target, prefix)) return target;
  const absl::string_view rest = target.substr(prefix.size());
  if (!rest.empty() && rest.front() == '/') return rest;
  // "/api" taken off "/api" or "/api?x" or "/apix": what is left gets its leading '/'.
  scratch = absl::StrCat("/", rest);
  return scratch;
}

bool WriteForwardedRequest(const RequestHead& head, const RequestRewrite& rewrite,
                           SpanWriter& out) {
  out.Append(head.method);
  out.Append(" ");
  out.Append(rewrite.target);
  out.Append(head.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  if (!rewrite.host.empty()) AppendField(out, "Host", rewrite.host);
  absl::string_view forwarded_for;
  absl::string_view forwarded_proto;
  absl::string_view forwarded_host;
  for (const Header& header : head.headers) {
    // nginx's underscores_in_headers off: CGI and WSGI map "X_Forwarded_For" and
    // "X-Forwarded-For" onto one variable, so a name with '_' could pose as a field plby
    // writes.
    if (!rewrite.keep_underscores && header.name.find('_') != absl::string_view::npos) continue;
    if (IsOtherClientField(header.name)) {
      if (rewrite.trust_forwarded) AppendField(out, header.name, header.value);
      continue;
    }
    if (IsForwardedField(header.name)) {
      if (!rewrite.trust_forwarded) continue;
      // Several fields of one name are one comma-separated list (RFC 9110 5.3): the first is
      // kept and extended, as nginx's $proxy_add_x_forwarded_for does with the whole list.
      absl::string_view& kept =
          http::EqualsIgnoreCase(header.name, "x-forwarded-for")     ? forwarded_for
          : http::EqualsIgnoreCase(header.name, "x-forwarded-proto") ? forwarded_proto
                                                                     : forwarded_host;
      if (kept.empty()) kept = header.value;
      continue;
    }
    if (IsHopByHop(header.name)) {
      if (rewrite.upgrade && (http::EqualsIgnoreCase(header.name, "upgrade"))) {
        AppendField(out, header.name, header.value);
      }
      continue;
    }
    if (!rewrite.host.empty() && http::EqualsIgnoreCase(header.name, "host")) continue;
    if (NamedByConnection(head.headers, header.name) &&
        DroppableByConnection(header.name, rewrite.routed_fields)) {
      continue;
    }
    bool removed = false;
    for (const std::string& name : rewrite.remove)
      removed |= http::EqualsIgnoreCase(header.name, name);
    if (removed) continue;
    AppendField(out, header.name, header.value);
  }
  for (const auto& [name, value] : rewrite.add) AppendField(out, name, value);
  if (rewrite.upgrade) {
    out.Append("Connection: upgrade\r\n");
  } else if (head.minor_version == 0) {
    out.Append("Connection: keep-alive\r\n");
  }
  out.Append("X-Forwarded-For: ");
  if (!forwarded_for.empty()) {
    out.Append(forwarded_for);
    out.Append(", ");
  }
  out.Append(rewrite.client_ip);
  out.Append("\r\n");
  AppendField(out, "X-Forwarded-Proto", forwarded_proto.empty() ? rewrite.proto : forwarded_proto);
  if (!forwarded_host.empty()) {
    AppendField(out, "X-Forwarded-Host", forwarded_host);
  } else if (!rewrite.host.empty()) {
    AppendField(out, "X-Forwarded-Host", rewrite.host);
  } else if (!head.host.empty()) {
    AppendField(out, "X-Forwarded-Host", head.host);
  }
  if (head.framing == Framing::kChunked) {
    out.Append("Transfer-Encoding: chunked\r\n");
  } else {
    AppendFraming(out, head.headers, head.framing, head.content_length);
  }
  // "Content-Length: 0" says "no body" too, and some servers want it on a POST (411 without).
  if (head.framing == Framing::kNone && FindHeader(head.headers, "content-length") != nullptr) {
    out.Append("Content-Length: 0\r\n");
  }
  out.Append("\r\n");
  return out.ok();
}

bool WriteForwardedResponse(const ResponseHead& head, int client_minor_version, bool keep_alive,
                            bool upgrade, SpanWriter& out) {
  out.Append(client_minor_version == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  out.AppendNumber(static_cast<uint64_t>(head.status));
  out.Append(" ");
  out.Append(head.reason);
  out.Append("\r\n");
  for (const Header& header : head.headers) {
    if (IsHopByHop(header.name)) {
      if (upgrade && http::EqualsIgnoreCase(header.name, "upgrade")) {
        AppendField(out, header.name, header.value);
      }
      continue;
    }
    if (NamedByConnection(head.headers, header.name)) continue;
    AppendField(out, header.name, header.value);
  }
  if (upgrade) {
    out.Append("Connection: upgrade\r\n");
  } else if (!keep_alive) {
    out.Append("Connection: close\r\n");
  } else if (client_minor_version == 0) {
    out.Append("Connection: keep-alive\r\n");
  }
  // A 1xx, 204 or 304 has no body and takes no framing field; a HEAD answer keeps the length
  // the backend announced (RFC 9110 8.6), which says what a GET would have received.
  if (head.framing != Framing::kNone) {
    AppendFraming(out, head.headers, head.framing, head.content_length);
  } else if (head.status >= 200 && head.status != 204 && head.status != 304) {
    for (const Header& header : head.headers) {
      if (http::EqualsIgnoreCase(header.name, "content-length")) {
        AppendField(out, "Content-Length", header.value);
        break;
      }
    }
  }
  out.Append("\r\n");
  return out.ok();
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 421:
      return "Misdirected Request";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      break;
  }
  return "Error";
}

bool WriteErrorResponse(int status, absl::string_view detail, bool close, bool head_request,
                        SpanWriter& out) {
  const absl::string_view reason = ReasonPhrase(status);
  out.Append("HTTP/1.1 ");
  out.AppendNumber(static_cast<uint64_t>(status));
  out.Append(" ");
  out.Append(reason);
  out.Append("\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n");
  if (close) out.Append("Connection: close\r\n");
  // "404 Not Found: no route matches this request\n"
  const size_t body = 3 + 1 + reason.size() + (detail.empty() ? 0 : 2 + detail.size()) + 1;
  out.Append("Content-Length: ");
  out.AppendNumber(body);
  out.Append("\r\n\r\n");
  if (!head_request) {
    out.AppendNumber(static_cast<uint64_t>(status));
    out.Append(" ");
    out.Append(reason);
    if (!detail.empty()) {
      out.Append(": ");
      out.Append(detail);
    }
    out.Append("\n");
  }
  return out.ok();
}

}  // namespace plby::http
