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
      {.target = "/a?b",
       .client_ip = "192.0.2.1",
       .proto = "https",
       .trust_forwarded = false,
       .upgrade = false,
       .host = "",
       .add = add,
       .remove = remove});
  EXPECT_EQ(out,
            "POST /a?b HTTP/1.1\r\nHost: site.test\r\nAccept: */*\r\nX-Added: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: site.test\r\nContent-Length: 5\r\n\r\n");
}

TEST(ForwardTest, TrustedSendersKeepTheirForwardedFields) {
  const std::string out = Forwarded(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\n"
      "X-Forwarded-Host: public.example\r\n\r\n",
      {.target = "/",
       .client_ip = "10.0.0.1",
       .proto = "http",
       .trust_forwarded = true,
       .upgrade = false,
       .host = "",
       .add = {},
       .remove = {}});
  EXPECT_THAT(out, HasSubstr("X-Forwarded-For: 198.51.100.7, 10.0.0.1\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Proto: https\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Host: public.example\r\n"));
}

TEST(ForwardTest, ChunkedStaysChunkedAndUpgradesKeepTheirFields) {
  const std::string chunked = Forwarded(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", {.target = "/",
                                                                           .client_ip = "::1",
                                                                           .proto = "http",
                                                                           .trust_forwarded = false,
                                                                           .upgrade = false,
                                                                           .host = "",
                                                                           .add = {},
                                                                           .remove = {}});
  EXPECT_THAT(chunked, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(chunked, Not(HasSubstr("Content-Length")));
  const std::string upgrade =
      Forwarded("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                {.target = "/ws",
                 .client_ip = "::1",
                 .proto = "http",
                 .trust_forwarded = false,
                 .upgrade = true,
                 .host = "",
                 .add = {},
                 .remove = {}});
  EXPECT_THAT(upgrade, HasSubstr("Upgrade: websocket\r\nConnection: upgrade\r\n"));
  // An HTTP/1.0 client's request asks the backend to keep the connection.
  const std::string old = Forwarded("GET / HTTP/1.0\r\n\r\n", {.target = "/",
                                                               .client_ip = "::1",
                                                               .proto = "http",
                                                               .trust_forwarded = false,
                                                               .upgrade = false,
                                                               .host = "",
                                                               .add = {},
                                                               .remove = {}});
  EXPECT_THAT(old, HasSubstr("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"));
}

TEST(ForwardTest, AbsoluteFormSetsTheHostAndCodingsAndEmptyBodiesStayNamed) {
  const std::string absolute =
      Forwarded("GET http://public.example/x HTTP/1.1\r\nHost: admin.internal\r\n\r\n",
                {.target = "/x",
                 .client_ip = "::1",
                 .proto = "http",
                 .trust_forwarded = false,
                 .upgrade = false,
                 .host = "public.example",
                 .add = {},
                 .remove = {}});
  EXPECT_THAT(absolute, HasSubstr("GET /x HTTP/1.1\r\nHost: public.example\r\n"));
  EXPECT_THAT(absolute, HasSubstr("X-Forwarded-Host: public.example\r\n"));
  EXPECT_THAT(absolute, Not(HasSubstr("admin.internal")));
  const std::string gzip =
      Forwarded("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                {.target = "/",
                 .client_ip = "::1",
                 .proto = "http",
                 .trust_forwarded = false,
                 .upgrade = false,
                 .host = "",
                 .add = {},
                 .remove = {}});
  EXPECT_THAT(gzip, HasSubstr("Transfer-Encoding: gzip, chunked\r\n"));
  const std::string empty = Forwarded("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                                      {.target = "/",
                                       .client_ip = "::1",
                                       .proto = "http",
                                       .trust_forwarded = false,
                                       .upgrade = false,
                                       .host = "",
                                       .add = {},
                                       .remove = {}});
  EXPECT_THAT(empty, HasSubstr("Content-Length: 0\r\n\r\n"));
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
  EXPECT_EQ(AuthorityOf("HTTP://a.example:80/x"), "a.example:80");
  EXPECT_EQ(AuthorityOf("/x"), "");
  EXPECT_EQ(PathOf("/a/b?c#d"), "/a/b");
}

}  // namespace
}  // namespace plby::http
