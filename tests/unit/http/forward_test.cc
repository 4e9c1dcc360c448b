#include "http/forward.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Parses `head` (a request) into `headers`' storage.
RequestHead Request(const std::string& text, std::vector<Header>& storage) {
  storage.resize(100);
  const RequestParse parsed = ParseRequestHead(text, HeadLimits{}, storage);
  EXPECT_EQ(parsed.state, ParseState::kComplete) << parsed.error;
  return parsed.head;
}

// A rewrite to `target` for client `client_ip` over `proto`, with what `change` sets on top of
// the defaults (nothing trusted, no upgrade, no fields added or removed).
template <typename Change>
RequestRewrite With(absl::string_view target, absl::string_view client_ip, absl::string_view proto,
                    Change change) {
  RequestRewrite rewrite;
  rewrite.target = target;
  rewrite.client_ip = client_ip;
  rewrite.proto = proto;
  change(rewrite);
  return rewrite;
}

std::string Forwarded(const std::string& text, const RequestRewrite& rewrite) {
  std::vector<Header> storage;
  const RequestHead head = Request(text, storage);
  std::string out(8192, '\0');
  SpanWriter writer(out);
  EXPECT_TRUE(WriteForwardedRequest(head, rewrite, writer));
  out.resize(writer.size());
  return out;
}

TEST(ForwardTest, RequestsLoseHopByHopFieldsAndSayWhoTheClientIs) {
  const std::vector<std::pair<std::string, std::string>> add = {{"X-Added", "1"}};
  const std::vector<std::string> remove = {"x-debug"};
  const std::string out = Forwarded(
      "POST /a?b HTTP/1.1\r\nHost: site.test\r\nConnection: keep-alive, X-Secret\r\n"
      "X-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Authorization: p\r\n"
      "Upgrade: h2c\r\nX-Forwarded-For: 6.6.6.6\r\nX-Debug: 1\r\nContent-Length: 5\r\n"
      "Accept: */*\r\n\r\n",
      With("/a?b", "192.0.2.1", "https", [&](RequestRewrite& r) {
        r.add = add;
        r.remove = remove;
      }));
  EXPECT_EQ(out,
            "POST /a?b HTTP/1.1\r\nHost: site.test\r\nAccept: */*\r\nX-Added: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: site.test\r\nContent-Length: 5\r\n\r\n");
}

TEST(ForwardTest, TrustedSendersKeepTheirForwardedFields) {
  const std::string out = Forwarded(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\n"
      "X-Forwarded-Host: public.example\r\n\r\n",
      With("/", "10.0.0.1", "http", [](RequestRewrite& r) { r.trust_forwarded = true; }));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-For: 198.51.100.7, 10.0.0.1\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Proto: https\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Host: public.example\r\n"));
}

TEST(ForwardTest, ChunkedStaysChunkedAndUpgradesKeepTheirFields) {
  const std::string chunked =
      Forwarded("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                With("/", "::1", "http", [](RequestRewrite&) {}));
  EXPECT_THAT(chunked, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(chunked, Not(HasSubstr("Content-Length")));
  const std::string upgrade =
      Forwarded("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                With("/ws", "::1", "http", [](RequestRewrite& r) { r.upgrade = true; }));
  EXPECT_THAT(upgrade, HasSubstr("Upgrade: websocket\r\nConnection: upgrade\r\n"));
  // An HTTP/1.0 client's request asks the backend to keep the connection.
  const std::string old =
      Forwarded("GET / HTTP/1.0\r\n\r\n", With("/", "::1", "http", [](RequestRewrite&) {}));
  EXPECT_THAT(old, HasSubstr("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"));
}

TEST(ForwardTest, AbsoluteFormSetsTheHostAndCodingsAndEmptyBodiesStayNamed) {
  const std::string absolute =
      Forwarded("GET http://public.example/x HTTP/1.1\r\nHost: admin.internal\r\n\r\n",
                With("/x", "::1", "http", [](RequestRewrite& r) { r.host = "public.example"; }));
  EXPECT_THAT(absolute, HasSubstr("GET /x HTTP/1.1\r\nHost: public.example\r\n"));
  EXPECT_THAT(absolute, HasSubstr("X-Forwarded-Host: public.example\r\n"));
  EXPECT_THAT(absolute, Not(HasSubstr("admin.internal")));
  // A request's only coding is chunked (the parser refuses others): written as plby spells it.
  const std::string chunked =
      Forwarded("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , Chunked\r\n\r\n",
                With("/", "::1", "http", [](RequestRewrite&) {}));
  EXPECT_THAT(chunked, HasSubstr("\r\nTransfer-Encoding: chunked\r\n"));
  EXPECT_THAT(chunked, Not(HasSubstr("Chunked")));
  const std::string empty = Forwarded("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                                      With("/", "::1", "http", [](RequestRewrite&) {}));
  EXPECT_THAT(empty, HasSubstr("Content-Length: 0\r\n\r\n"));
}

// Connection may name hop-by-hop fields, but not the ones plby routed on: the backend must see
// the request plby matched (Host, and the route's header conditions).
TEST(ForwardTest, ConnectionCannotDropWhatTheRouteMatchedOn) {
  const std::vector<std::pair<std::string, std::string>> routed = {{"x-tenant", "a"}};
  const std::string out = Forwarded(
      "GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close, Host, X-Tenant, X-Hop\r\n"
      "X-Tenant: a\r\nX-Hop: 1\r\n\r\n",
      With("/", "192.0.2.1", "http", [&](RequestRewrite& r) { r.routed_fields = routed; }));
  EXPECT_THAT(out, HasSubstr("GET / HTTP/1.1\r\nHost: site.test\r\nX-Tenant: a\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("X-Hop")));
  EXPECT_THAT(out, Not(HasSubstr("Connection")));
}

// Lookalikes of the fields that say who the client is: dropped unless the sender is trusted
// (Forwarded, X-Real-IP), or always unless [server.http] keeps them (names with '_', which
// CGI and WSGI read as their '-' twins).
TEST(ForwardTest, ClientIdentityLookalikesAreDropped) {
  const std::string request =
      "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nX-Forwarded_Host: evil\r\n"
      "Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nMy_Field: 1\r\n\r\n";
  const std::string untrusted =
      Forwarded(request, With("/", "192.0.2.1", "http", [](RequestRewrite&) {}));
  EXPECT_THAT(untrusted, Not(HasSubstr("6.6.6.6")));
  EXPECT_THAT(untrusted, Not(HasSubstr("evil")));
  EXPECT_THAT(untrusted, Not(HasSubstr("My_Field")));
  EXPECT_THAT(untrusted, HasSubstr("X-Forwarded-For: 192.0.2.1\r\n"));
  const std::string trusted = Forwarded(
      request, With("/", "10.0.0.1", "http", [](RequestRewrite& r) { r.trust_forwarded = true; }));
  EXPECT_THAT(trusted, HasSubstr("Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n"));
  EXPECT_THAT(trusted, Not(HasSubstr("X_Forwarded_For")));
  const std::string kept = Forwarded(request, With("/", "192.0.2.1", "http", [](RequestRewrite& r) {
                                       r.keep_underscores = true;
                                     }));
  EXPECT_THAT(kept, HasSubstr("My_Field: 1\r\n"));
  EXPECT_THAT(kept, HasSubstr("X_Forwarded_For: 6.6.6.6\r\n"));
  EXPECT_THAT(kept, Not(HasSubstr("X-Real-IP")));
}

TEST(ForwardTest, ResponsesSayWhetherTheConnectionGoesOn) {
  std::vector<Header> storage(100);
  const ResponseParse parsed = ParseResponseHead(
      "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 3\r\nX-A: b\r\n\r\n",
      Method::kGet, HeadLimits{}, storage);
  ASSERT_EQ(parsed.state, ParseState::kComplete) << parsed.error;
  std::string out(4096, '\0');
  SpanWriter writer(out);
  ASSERT_TRUE(WriteForwardedResponse(parsed.head, 1, false, false, writer));
  out.resize(writer.size());
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-A: b\r\nConnection: close\r\nContent-Length: 3\r\n\r\n");
  std::string old(4096, '\0');
  SpanWriter old_writer(old);
  ASSERT_TRUE(WriteForwardedResponse(parsed.head, 0, true, false, old_writer));
  old.resize(old_writer.size());
  EXPECT_EQ(old,
            "HTTP/1.0 200 OK\r\nX-A: b\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n");
}

TEST(ForwardTest, ErrorAnswersAreSmallAndExact) {
  std::string out(1024, '\0');
  SpanWriter writer(out);
  ASSERT_TRUE(WriteErrorResponse(404, "no route matches this request", false, false, writer));
  out.resize(writer.size());
  const std::string body = "404 Not Found: no route matches this request\n";
  EXPECT_EQ(out,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Cache-Control: no-store\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string tiny(10, '\0');
  SpanWriter small(tiny);
  EXPECT_FALSE(WriteErrorResponse(400, "x", true, false, small));
}

TEST(ForwardTest, TargetsAreRewritten) {
  std::string scratch;
  EXPECT_EQ(RewriteTarget("/api/users?x=1", "/api", scratch), "/users?x=1");
  EXPECT_EQ(RewriteTarget("/api", "/api", scratch), "/");
  EXPECT_EQ(RewriteTarget("/api?x", "/api", scratch), "/?x");
  EXPECT_EQ(RewriteTarget("/apix", "/api", scratch), "/x");
  EXPECT_EQ(RewriteTarget("/other", "/api", scratch), "/other");
  EXPECT_EQ(RewriteTarget("http://a.example:80/x?y", "", scratch), "/x?y");
  EXPECT_EQ(RewriteTarget("http://a.example", "", scratch), "/");
  EXPECT_EQ(AbsoluteFormAuthority("HTTP://a.example:80/x"), "a.example:80");
  EXPECT_EQ(AbsoluteFormAuthority("https://u@a?x"), "u@a");
  EXPECT_EQ(AbsoluteFormAuthority("/x"), "");
  EXPECT_EQ(PathOf("/a/b?c#d"), "/a/b");
}

}  // namespace
}  // namespace plby::http
