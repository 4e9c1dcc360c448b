// The heads plby writes: a request as forwarded to a backend, a response as passed back to the
// client, and plby's own small error answers. Pure: they write into a span the caller owns (a
// relay buffer), never allocate, and say when the span is too small.
//
// What is forwarded is normalized: hop-by-hop fields go (Connection and every field it names
// but Host and the fields the route matched on, Keep-Alive, TE, Trailer, Upgrade unless
// upgrading, Proxy-*), so do field names with '_' (unless kept), the body is framed by one
// Content-Length or by "Transfer-Encoding: chunked", and X-Forwarded-For/-Proto/-Host say who
// the client is (kept from the request, with Forwarded and X-Real-IP, only when its sender is
// trusted).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "http/parser.h"

namespace plby::http {

// Appends to a fixed span; once something did not fit, every later append is dropped and
// ok() is false.
class SpanWriter {
 public:
  explicit SpanWriter(std::span<char> out) : out_(out) {}
  void Append(absl::string_view text);
  void AppendNumber(uint64_t value);
  bool ok() const { return ok_; }
  size_t size() const { return size_; }

 private:
  std::span<char> out_;
  size_t size_ = 0;
  bool ok_ = true;
};

struct RequestRewrite {
  absl::string_view target;       // the request-target to send (origin-form, prefix stripped)
  absl::string_view client_ip;    // appended to X-Forwarded-For
  absl::string_view proto;        // X-Forwarded-Proto: "http" or "https"
  bool trust_forwarded = false;   // keep the request's X-Forwarded-*, Forwarded, X-Real-IP
                                  // (its sender is trusted)
  bool keep_underscores = false;  // forward field names with '_' ([server.http])
  bool upgrade = false;           // keep Connection: upgrade and Upgrade (a WebSocket handshake)
  // Set (an absolute-form target's authority): the Host sent, whatever the request's Host
  // said (RFC 9112 3.2.2).
  absl::string_view host;
  std::span<const std::pair<std::string, std::string>> add;  // fields to add
  std::span<const std::string> remove;                       // lower-cased names to drop
  // The route's header conditions (lower-cased name, value): their fields are forwarded even
  // when Connection names them, as Host is.
  std::span<const std::pair<std::string, std::string>> routed_fields;
};

// The request head as sent to the backend, in the client's HTTP version. False when it does
// not fit in `out`.
bool WriteForwardedRequest(const RequestHead& head, const RequestRewrite& rewrite, SpanWriter& out);

// The response head as sent to the client (whose version is `client_minor_version`), with the
// hop-by-hop fields removed and "Connection: close" (1.1) or "Connection: keep-alive" (1.0) as
// `keep_alive` says. `upgrade`: a 101 whose Connection and Upgrade fields are kept.
bool WriteForwardedResponse(const ResponseHead& head, int client_minor_version, bool keep_alive,
                            bool upgrade, SpanWriter& out);

// plby's own answer: "HTTP/1.1 404 Not Found" with a one-line text/plain body naming the
// reason, and "Connection: close" when `close`. No body for HEAD requests (`head_request`).
bool WriteErrorResponse(int status, absl::string_view detail, bool close, bool head_request,
                        SpanWriter& out);

// "Not Found" for 404, and so on, for the statuses plby answers with.
absl::string_view ReasonPhrase(int status);

// Whether `name` is hop-by-hop by itself (RFC 9110 7.6.1) or otherwise never forwarded as sent:
// the framing fields, which plby writes anew.
bool IsHopByHop(absl::string_view name);

// The target without `prefix` ("/api/users" less "/api" is "/users"; nothing left is "/"), and
// origin-form from absolute-form ("http://a.example/x?y" is "/x?y"). `scratch` holds a
// result that needs a leading '/' added.
absl::string_view RewriteTarget(absl::string_view target, absl::string_view prefix,
                                std::string& scratch);

// The path of a target: up to its '?' (or '#').
absl::string_view PathOf(absl::string_view target);

}  // namespace plby::http
