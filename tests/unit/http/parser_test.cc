#include "http/parser.h"

#include <array>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::http {
namespace {

using ::testing::HasSubstr;

bool Printable(const std::string& text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Views in the results point into the bytes parsed and into storage_: both outlive each check.
class ParserTest : public ::testing::Test {
 protected:
  RequestParse Request(absl::string_view bytes, const HeadLimits& limits = {}) {
    return ParseRequestHead(bytes, limits, storage_);
  }
  ResponseParse Response(absl::string_view bytes, Method method = Method::kGet,
                         const HeadLimits& limits = {}) {
    return ParseResponseHead(bytes, method, limits, storage_);
  }

  std::array<Header, 128> storage_;
};

// ---- Requests ----

TEST_F(ParserTest, Get) {
  const absl::string_view bytes =
      "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\n"
      "Accept: */*\r\n\r\n";
  const RequestParse parse = Request(bytes);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  const RequestHead& head = parse.head;
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.method_kind, Method::kGet);
  EXPECT_EQ(head.target, "/index.html?q=1");
  EXPECT_EQ(head.minor_version, 1);
  ASSERT_EQ(head.headers.size(), 3u);
  EXPECT_EQ(head.headers[0].name, "Host");
  EXPECT_EQ(head.headers[0].value, "example.com");
  EXPECT_EQ(head.headers[2].name, "Accept");
  EXPECT_EQ(head.headers[2].value, "*/*");
  EXPECT_EQ(head.host, "example.com");
  EXPECT_EQ(head.framing, Framing::kNone);
  EXPECT_EQ(head.content_length, 0u);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_FALSE(head.expect_continue);
  EXPECT_FALSE(head.upgrade);
  EXPECT_EQ(head.head_length, bytes.size());
  EXPECT_EQ(parse.status, 0);
  EXPECT_EQ(parse.error, "");
}

TEST_F(ParserTest, TargetForms) {
  for (const absl::string_view target :
       {"/", "*", "http://example.com:8080/a?b#c", "example.com:443", "/%7Euser/a;b=c"}) {
    const std::string bytes = absl::StrCat("OPTIONS ", target, " HTTP/1.1\r\nHost: h\r\n\r\n");
    const RequestParse parse = Request(bytes);
    ASSERT_EQ(parse.state, ParseState::kComplete) << target << ": " << parse.error;
    EXPECT_EQ(parse.head.target, target);
  }
}

TEST_F(ParserTest, HostsThatAreValidAuthorities) {
  for (const absl::string_view host :
       {"a", "example.com", "example.com:8080", "EXAMPLE.com.", "127.0.0.1:80", "[::1]",
        "[::1]:443", "[2001:db8::7]", "xn--bcher-kva.example", "a_b.example", "%41.example",
        "h:"}) {
    const RequestParse parse = Request(absl::StrCat("GET / HTTP/1.1\r\nHost: ", host, "\r\n\r\n"));
    EXPECT_EQ(parse.state, ParseState::kComplete) << host << ": " << parse.error;
    EXPECT_TRUE(IsHostAndPort(host)) << host;
  }
  EXPECT_THAT(Request("GET / HTTP/1.1\r\nHost: a b\r\n\r\n").error,
              HasSubstr("Host \"a b\" is not a valid host[:port]"));
  EXPECT_THAT(Request("GET http://user@evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n").error,
              HasSubstr("\"user@evil.example\" has userinfo"));
}

TEST_F(ParserTest, PostWithContentLength) {
  const std::string head = "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
  const std::string bytes = head + "hello world";
  const RequestParse parse = Request(bytes);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.method_kind, Method::kPost);
  EXPECT_EQ(parse.head.framing, Framing::kContentLength);
  EXPECT_EQ(parse.head.content_length, 11u);
  EXPECT_EQ(parse.head.head_length, head.size());
}

TEST_F(ParserTest, ContentLengthZeroIsNoBody) {
  const RequestParse parse = Request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.framing, Framing::kNone);
  EXPECT_EQ(parse.head.content_length, 0u);
}

TEST_F(ParserTest, EqualContentLengthsAreOne) {
  for (const absl::string_view fields :
       {"Content-Length: 5, 5\r\n", "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5 ,5,\t5\r\n", "Content-Length: 5\r\ncontent-length: 005\r\n",
        "Content-Length: 9999999999999999999\r\n"}) {
    const std::string bytes = absl::StrCat("PUT /x HTTP/1.1\r\nHost: a\r\n", fields, "\r\n");
    const RequestParse parse = Request(bytes);
    ASSERT_EQ(parse.state, ParseState::kComplete) << fields << ": " << parse.error;
    EXPECT_EQ(parse.head.framing, Framing::kContentLength);
    if (fields.find("999") == absl::string_view::npos) {
      EXPECT_EQ(parse.head.content_length, 5u) << fields;
    } else {
      EXPECT_EQ(parse.head.content_length, 9999999999999999999u);
    }
  }
}

TEST_F(ParserTest, Chunked) {
  for (const absl::string_view fields :
       {"Transfer-Encoding: chunked\r\n", "Transfer-Encoding: Chunked\r\n",
        "transfer-encoding: CHUNKED\r\n", "Transfer-Encoding: , chunked ,\r\n"}) {
    const std::string bytes = absl::StrCat("POST / HTTP/1.1\r\nHost: a\r\n", fields, "\r\n");
    const RequestParse parse = Request(bytes);
    ASSERT_EQ(parse.state, ParseState::kComplete) << fields << ": " << parse.error;
    EXPECT_EQ(parse.head.framing, Framing::kChunked) << fields;
    EXPECT_EQ(parse.head.content_length, 0u);
  }
}

TEST_F(ParserTest, Pipelined) {
  const std::string first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string third = "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  const std::string bytes = first + "abc" + second + third;

  const RequestParse one = Request(bytes);
  ASSERT_EQ(one.state, ParseState::kComplete) << one.error;
  EXPECT_EQ(one.head.target, "/a");
  ASSERT_EQ(one.head.head_length, first.size());
  const absl::string_view rest = absl::string_view(bytes).substr(first.size() + 3);

  const RequestParse two = Request(rest);
  ASSERT_EQ(two.state, ParseState::kComplete) << two.error;
  EXPECT_EQ(two.head.target, "/b");
  EXPECT_TRUE(two.head.keep_alive);
  ASSERT_EQ(two.head.head_length, second.size());

  const RequestParse three = Request(rest.substr(two.head.head_length));
  ASSERT_EQ(three.state, ParseState::kComplete) << three.error;
  EXPECT_EQ(three.head.target, "/c");
  EXPECT_FALSE(three.head.keep_alive);
  EXPECT_EQ(three.head.head_length, third.size());
}

TEST_F(ParserTest, KeepAlive) {
  struct Case {
    absl::string_view bytes;
    bool keep_alive;
  };
  for (const Case& c : std::vector<Case>{
           {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
           {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
           {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
           {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n", false},
           {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
           {"GET / HTTP/1.0\r\n\r\n", false},
           {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
           {"GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n", true},
           {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
           {"GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n", false},
       }) {
    const RequestParse parse = Request(c.bytes);
    ASSERT_EQ(parse.state, ParseState::kComplete) << c.bytes << ": " << parse.error;
    EXPECT_EQ(parse.head.keep_alive, c.keep_alive) << c.bytes;
  }
  const RequestParse http10 = Request("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(http10.head.minor_version, 0);
  EXPECT_EQ(http10.head.host, "");  // HTTP/1.0 needs no Host
}

TEST_F(ParserTest, ExpectAndUpgrade) {
  RequestParse parse =
      Request("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n");
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_TRUE(parse.head.expect_continue);
  parse = Request("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-x\r\n\r\n");
  EXPECT_FALSE(parse.head.expect_continue);
  parse = Request("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_FALSE(parse.head.expect_continue);  // HTTP/1.0 has no 100 Continue

  parse = Request(
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "
      "websocket\r\n\r\n");
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_TRUE(parse.head.upgrade);
  parse = Request("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_FALSE(parse.head.upgrade);
  parse = Request("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n");
  EXPECT_FALSE(parse.head.upgrade);
  parse = Request("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_FALSE(parse.head.upgrade);  // RFC 9110 7.8: ignored in HTTP/1.0
}

TEST_F(ParserTest, Methods) {
  struct Case {
    absl::string_view method;
    Method kind;
    bool idempotent;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", Method::kGet, true},
           {"HEAD", Method::kHead, true},
           {"POST", Method::kPost, false},
           {"PUT", Method::kPut, true},
           {"DELETE", Method::kDelete, true},
           {"OPTIONS", Method::kOptions, true},
           {"PATCH", Method::kPatch, false},
           {"TRACE", Method::kTrace, true},
           {"CONNECT", Method::kConnect, false},
           {"get", Method::kOther, false},  // methods are case-sensitive
           {"PROPFIND", Method::kOther, false},
           {"M-SEARCH", Method::kOther, false},
           {"!#$%&'*+-.^_`|~09azAZ", Method::kOther, false},
       }) {
    const std::string bytes = absl::StrCat(c.method, " / HTTP/1.1\r\nHost: a\r\n\r\n");
    const RequestParse parse = Request(bytes);
    ASSERT_EQ(parse.state, ParseState::kComplete) << c.method << ": " << parse.error;
    EXPECT_EQ(parse.head.method, c.method);
    EXPECT_EQ(parse.head.method_kind, c.kind) << c.method;
    EXPECT_EQ(IsIdempotent(c.kind), c.idempotent) << c.method;
  }
}

TEST_F(ParserTest, FieldValues) {
  const std::string bytes =
      "GET / HTTP/1.1\r\nHost:a\r\nX-Empty:\r\nX-Spaces: \t \r\nX-Trim:  \t a b\t c \t \r\n"
      "X-Obs-Text: caf\xc3\xa9\r\nX-Quote: \"a, b\" ; q=1\r\n\r\n";
  const RequestParse parse = Request(bytes);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  ASSERT_EQ(parse.head.headers.size(), 6u);
  EXPECT_EQ(parse.head.headers[0].value, "a");
  EXPECT_EQ(parse.head.headers[1].value, "");
  EXPECT_EQ(parse.head.headers[2].value, "");
  EXPECT_EQ(parse.head.headers[3].value, "a b\t c");
  EXPECT_EQ(parse.head.headers[4].value, "caf\xc3\xa9");
  EXPECT_EQ(parse.head.headers[5].value, "\"a, b\" ; q=1");
  EXPECT_EQ(parse.head.host, "a");

  const RequestParse empty_host = Request("GET / HTTP/1.1\r\nHost:\r\n\r\n");
  ASSERT_EQ(empty_host.state, ParseState::kComplete) << empty_host.error;
  EXPECT_EQ(empty_host.head.host, "");
}

TEST_F(ParserTest, LeadingEmptyLines) {
  const std::string bytes = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const RequestParse parse = Request(bytes);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.head_length, bytes.size());
  EXPECT_EQ(parse.head.method, "GET");

  EXPECT_EQ(Request("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").state,
            ParseState::kComplete);
  const RequestParse five = Request("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(five.state, ParseState::kError);
  EXPECT_EQ(five.status, 400);
  EXPECT_THAT(five.error, HasSubstr("empty lines"));
  EXPECT_EQ(Request("\n").status, 400);
  EXPECT_EQ(Request("\r\r").status, 400);
}

// Every proper prefix of a valid head is a valid beginning, and nothing is filled in for it.
TEST_F(ParserTest, NeedMoreAtEveryPrefix) {
  for (const absl::string_view bytes : {
           "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
           "\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 5\r\n"
           "X-Empty:\r\nX-Obs: \xff\xfe\r\n\r\n",
           "GET / HTTP/1.0\r\n\r\n",
           "PATCH * HTTP/1.1\r\nhost:h\r\ntransfer-encoding: ,chunked\r\n\r\n",
       }) {
    const RequestParse whole = Request(bytes);
    ASSERT_EQ(whole.state, ParseState::kComplete) << whole.error;
    ASSERT_EQ(whole.head.head_length, bytes.size());
    for (size_t length = 0; length < bytes.size(); ++length) {
      const RequestParse prefix = Request(bytes.substr(0, length));
      ASSERT_EQ(prefix.state, ParseState::kNeedMore)
          << length << " bytes of " << bytes << ": " << prefix.error;
      EXPECT_EQ(prefix.error, "");
      EXPECT_EQ(prefix.head.head_length, 0u);
      EXPECT_TRUE(prefix.head.headers.empty());
    }
  }
  for (const absl::string_view bytes : {
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
           "HTTP/1.0 404 \r\nServer: x\r\n\r\n",
           "HTTP/1.1 204 \xe2\x9c\x93\r\n\r\n",
       }) {
    const ResponseParse whole = Response(bytes);
    ASSERT_EQ(whole.state, ParseState::kComplete) << whole.error;
    ASSERT_EQ(whole.head.head_length, bytes.size());
    for (size_t length = 0; length < bytes.size(); ++length) {
      const ResponseParse prefix = Response(bytes.substr(0, length));
      ASSERT_EQ(prefix.state, ParseState::kNeedMore)
          << length << " bytes of " << bytes << ": " << prefix.error;
      EXPECT_EQ(prefix.error, "");
    }
  }
}

// A prefix that is refused is refused at once, not after more bytes arrive.
TEST_F(ParserTest, RefusedAsSoonAsWrong) {
  EXPECT_EQ(Request("GE\x01").status, 400);
  EXPECT_EQ(Request("GET /\x7f").status, 400);
  EXPECT_EQ(Request("GET / HTTP/1.1\r\nHo st").status, 400);
  EXPECT_EQ(Request("GET / HTTP/1.1\r\nHost: a\x01").status, 400);
  EXPECT_EQ(Request("GET / HTTQ").status, 400);
  EXPECT_EQ(Request("GET / HTTP/1.1\r\n\t").status, 400);
  EXPECT_EQ(Response("HTTP/1.1 2x").state, ParseState::kError);
  EXPECT_EQ(Response("HTTX").state, ParseState::kError);
}

TEST_F(ParserTest, UriLimit) {
  HeadLimits limits;
  limits.max_uri_bytes = 16;
  const std::string at_limit = "/" + std::string(15, 'a');
  std::string bytes = "GET " + at_limit + " HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestParse parse = Request(bytes, limits);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.target, at_limit);

  bytes = "GET " + at_limit + "b HTTP/1.1\r\nHost: a\r\n\r\n";
  parse = Request(bytes, limits);
  EXPECT_EQ(parse.state, ParseState::kError);
  EXPECT_EQ(parse.status, 414);
  EXPECT_THAT(parse.error, HasSubstr("over 16 bytes"));

  // Incomplete: refused as soon as the target is over, not when the line ends.
  EXPECT_EQ(Request("GET " + at_limit, limits).state, ParseState::kNeedMore);
  EXPECT_EQ(Request("GET " + at_limit + "b", limits).status, 414);
  EXPECT_EQ(Request("GET /" + std::string(9000, 'x')).status, 414);  // the default 8 KiB
}

TEST_F(ParserTest, HeadLimit) {
  const std::string bytes =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(100, 'p') + "\r\n\r\n";
  HeadLimits limits;
  limits.max_head_bytes = bytes.size();
  RequestParse parse = Request(bytes, limits);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.head_length, bytes.size());

  limits.max_head_bytes = bytes.size() - 1;
  parse = Request(bytes, limits);
  EXPECT_EQ(parse.state, ParseState::kError);
  EXPECT_EQ(parse.status, 431);
  EXPECT_THAT(parse.error, HasSubstr("head is over"));
  // Incomplete but over the limit already; under it, read more.
  EXPECT_EQ(Request(bytes.substr(0, bytes.size() - 1), limits).status, 431);
  EXPECT_EQ(Request(bytes.substr(0, bytes.size() - 2), limits).state, ParseState::kNeedMore);
  // A long target under max_uri_bytes still counts against the head.
  limits.max_head_bytes = 64;
  EXPECT_EQ(Request("GET /" + std::string(100, 'x'), limits).status, 431);
  // The default: 64 KiB.
  const std::string huge = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(70000, 'x');
  EXPECT_EQ(Request(huge).status, 431);
}

TEST_F(ParserTest, FieldCountLimit) {
  HeadLimits limits;
  limits.max_headers = 3;
  const std::string three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
  RequestParse parse = Request(three, limits);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.headers.size(), 3u);

  const std::string four = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  parse = Request(four, limits);
  EXPECT_EQ(parse.state, ParseState::kError);
  EXPECT_EQ(parse.status, 431);
  EXPECT_THAT(parse.error, HasSubstr("more than 3"));
  // As soon as the fourth field starts.
  EXPECT_EQ(Request("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC", limits).status, 431);

  // The caller's storage bounds it too.
  std::array<Header, 2> small;
  const RequestParse bounded = ParseRequestHead(three, HeadLimits{}, small);
  EXPECT_EQ(bounded.status, 431);
  EXPECT_THAT(bounded.error, HasSubstr("more than 2"));
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.0\r\n\r\n", HeadLimits{}, {}).state,
            ParseState::kComplete);
}

TEST_F(ParserTest, Versions) {
  for (const absl::string_view version :
       {"HTTP/2.0", "HTTP/1.2", "HTTP/1.9", "HTTP/0.9", "HTTP/3.1"}) {
    const std::string bytes = absl::StrCat("GET / ", version, "\r\nHost: a\r\n\r\n");
    const RequestParse parse = Request(bytes);
    EXPECT_EQ(parse.state, ParseState::kError) << version;
    EXPECT_EQ(parse.status, 505) << version;
    EXPECT_THAT(parse.error, HasSubstr(version.substr(5))) << version;
  }
  for (const absl::string_view version :
       {"HTTP/1.10", "HTTP/11", "HTTP/1", "HTTP/1.x", "HTTPS/1.1", "HTTP/1.1 ", "HTTP/2"}) {
    const std::string bytes = absl::StrCat("GET / ", version, "\r\nHost: a\r\n\r\n");
    EXPECT_EQ(Request(bytes).status, 400) << version;
  }
}

// ---- Request smuggling ----

// Requests that two HTTP implementations could frame or route differently, and so must be
// refused whole. Most come from the published request smuggling research (Watchfire 2005,
// PortSwigger's "HTTP Desync Attacks" 2019, the llhttp and Netty advisories since).
TEST_F(ParserTest, SmugglingCorpus) {
  struct Case {
    absl::string_view name;
    std::string bytes;
    int status;
  };
  const std::string kPost = "POST / HTTP/1.1\r\nHost: a\r\n";
  const std::vector<Case> cases = {
      {"CL and TE", kPost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"TE then CL 0", kPost + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400},
      {"CL and TE, HTTP/1.0",
       "POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"two CLs that differ", kPost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"a CL list that differs", kPost + "Content-Length: 5, 6\r\n\r\n", 400},
      {"CL +5", kPost + "Content-Length: +5\r\n\r\n", 400},
      {"CL -1", kPost + "Content-Length: -1\r\n\r\n", 400},
      {"CL 5x", kPost + "Content-Length:  5x\r\n\r\n", 400},
      {"CL 0x5", kPost + "Content-Length: 0x5\r\n\r\n", 400},
      {"CL 5 5", kPost + "Content-Length: 5 5\r\n\r\n", 400},
      {"CL 1_000", kPost + "Content-Length: 1_000\r\n\r\n", 400},
      {"CL empty", kPost + "Content-Length:\r\n\r\n", 400},
      {"CL empty element", kPost + "Content-Length: 5,,5\r\n\r\n", 400},
      {"CL 20 digits", kPost + "Content-Length: 18446744073709551616\r\n\r\n", 400},
      {"CL 20 zeros", kPost + "Content-Length: 00000000000000000005\r\n\r\n", 400},
      {"space before colon", kPost + "Transfer-Encoding : chunked\r\n\r\n", 400},
      {"tab before colon", kPost + "Transfer-Encoding\t: chunked\r\n\r\n", 400},
      {"TE xchunked", kPost + "Transfer-Encoding: xchunked\r\n\r\n", 400},
      {"TE gzip", kPost + "Transfer-Encoding: gzip\r\n\r\n", 400},
      {"TE identity", kPost + "Transfer-Encoding: identity\r\n\r\n", 400},
      {"TE gzip, chunked", kPost + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"TE identity, chunked", kPost + "Transfer-Encoding: identity, chunked\r\n\r\n", 501},
      {"TE gzip then chunked",
       kPost + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"TE x, chunked", kPost + "Transfer-Encoding: x, chunked\r\n\r\n", 501},
      {"TE chunked, identity", kPost + "Transfer-Encoding: chunked, identity\r\n\r\n", 400},
      {"TE chunked then gzip",
       kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"TE chunked twice", kPost + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"TE chunked in two fields",
       kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"TE empty", kPost + "Transfer-Encoding:\r\n\r\n", 400},
      {"TE only commas", kPost + "Transfer-Encoding: , ,\r\n\r\n", 400},
      {"TE quoted", kPost + "Transfer-Encoding: \"chunked\"\r\n\r\n", 400},
      {"TE with a parameter", kPost + "Transfer-Encoding: chunked;q=1\r\n\r\n", 400},
      {"TE with a quoted comma", kPost + "Transfer-Encoding: gzip;p=\", chunked\r\n\r\n", 400},
      {"TE chun ked", kPost + "Transfer-Encoding: chun ked\r\n\r\n", 400},
      {"TE nbsp", kPost + "Transfer-Encoding: \240chunked\r\n\r\n", 400},
      {"TE obs-fold", kPost + "Transfer-Encoding:\r\n chunked\r\n\r\n", 400},
      {"TE obs-fold tab", kPost + "Transfer-Encoding: gzip\r\n\t, chunked\r\n\r\n", 400},
      {"TE vertical tab before", kPost + "Transfer-Encoding:\vchunked\r\n\r\n", 400},
      {"TE vertical tab after", kPost + "Transfer-Encoding: chunked\x0b\r\n\r\n", 400},
      {"TE form feed", kPost + "Transfer-Encoding:\fchunked\r\n\r\n", 400},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"leading tab line", kPost + "\tTransfer-Encoding: chunked\r\n\r\n", 400},
      {"leading space line", "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n",
       400},
      {"bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", 400},
      {"bare LF ends the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
      {"bare LF in a field", kPost + "X: a\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
      {"bare CR ends a line", "GET / HTTP/1.1\r\nHost: a\r\rX: b\r\n\r\n", 400},
      {"bare CR ends the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
      {"NUL in a value", std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30), 400},
      {"NUL in a name", std::string("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", 29), 400},
      {"DEL in a value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400},
      {"ESC in a value", "GET / HTTP/1.1\r\nHost: a\x1b[0m\r\n\r\n", 400},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"two equal Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400},
      {"two Hosts, HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"no Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400},
      {"Host with space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"Host with userinfo", "GET / HTTP/1.1\r\nHost: user@evil.example\r\n\r\n", 400},
      {"Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"Host with a bad port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400},
      {"Host with a long port", "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400},
      {"Host only a port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400},
      {"Host with a bad escape", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400},
      {"Host IPv6 unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
      {"Host IPv6 with a name", "GET / HTTP/1.1\r\nHost: [evil]\r\n\r\n", 400},
      {"absolute-form with userinfo", "GET http://user@evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
       400},
      {"absolute-form with userinfo and password",
       "GET http://u:p@evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"absolute-form without a host", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"double space after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"double space before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
      {"space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
      {"HTTP/0.9 request", "GET /\r\n\r\n", 400},
      {"no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"obs-text in target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"slash in a name", "GET / HTTP/1.1\r\nHost: a\r\nX/Y: 1\r\n\r\n", 400},
      {"parenthesis in a name", "GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400},
      {"pseudo-header", "GET / HTTP/1.1\r\n:authority: a\r\nHost: a\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-No-Colon\r\n\r\n", 400},
      {"control byte in method", "GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"quote in method", "G\"ET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"five empty lines first", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
  };
  ASSERT_GE(cases.size(), 30u);
  for (const Case& c : cases) {
    const RequestParse parse = Request(c.bytes);
    EXPECT_EQ(parse.state, ParseState::kError) << c.name;
    EXPECT_EQ(parse.status, c.status) << c.name << ": " << parse.error;
    EXPECT_FALSE(parse.error.empty()) << c.name;
    EXPECT_LT(parse.error.size(), 200u) << c.name;
    EXPECT_TRUE(Printable(parse.error)) << c.name << ": " << parse.error;
  }
}

TEST_F(ParserTest, ErrorsNameTheBadPart) {
  EXPECT_THAT(
      Request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").error,
      HasSubstr("two Content-Length values that differ: \"5\" and \"6\""));
  EXPECT_THAT(Request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n").error,
              HasSubstr("\"0x5\""));
  EXPECT_THAT(Request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n").error,
              HasSubstr("space before the colon"));
  EXPECT_THAT(Request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br\r\n\r\n").error,
              HasSubstr("\"br\""));
  EXPECT_THAT(Request("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n").error,
              HasSubstr("0x01 in the value of \"Host\""));
  // Peer bytes in a message are escaped and cut.
  const std::string binary = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \x80\xff" +
                             std::string(500, '\xfe') + "\r\n\r\n";
  const RequestParse parse = Request(binary);
  EXPECT_EQ(parse.status, 400);
  EXPECT_LT(parse.error.size(), 200u);
  EXPECT_TRUE(Printable(parse.error)) << parse.error;
  EXPECT_THAT(parse.error, HasSubstr("\\x80\\xff"));
  const std::string long_name = "GET / HTTP/1.1\r\n" + std::string(1000, 'n') + " : x\r\n\r\n";
  EXPECT_LT(Request(long_name).error.size(), 200u);
}

// ---- Responses ----

TEST_F(ParserTest, ResponseWithContentLength) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n";
  const std::string bytes = head + "hello";
  const ResponseParse parse = Response(bytes);
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.status, 200);
  EXPECT_EQ(parse.head.reason, "OK");
  EXPECT_EQ(parse.head.minor_version, 1);
  ASSERT_EQ(parse.head.headers.size(), 2u);
  EXPECT_EQ(parse.head.headers[1].value, "5");
  EXPECT_EQ(parse.head.framing, Framing::kContentLength);
  EXPECT_EQ(parse.head.content_length, 5u);
  EXPECT_TRUE(parse.head.keep_alive);
  EXPECT_EQ(parse.head.head_length, head.size());
  EXPECT_EQ(parse.error, "");
}

TEST_F(ParserTest, ResponseFraming) {
  struct Case {
    absl::string_view bytes;
    Method method;
    Framing framing;
    bool keep_alive;
  };
  for (const Case& c : std::vector<Case>{
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kGet,
            Framing::kChunked, true},
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Method::kGet,
            Framing::kChunked, true},
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Method::kGet,
            Framing::kUntilClose, false},
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Method::kGet,
            Framing::kUntilClose, false},
           {"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", Method::kGet, Framing::kUntilClose, false},
           {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::kGet, Framing::kNone, true},
           {"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n", Method::kPost,
            Framing::kContentLength, false},
           {"HTTP/1.1 204 No Content\r\n\r\n", Method::kDelete, Framing::kNone, true},
           {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", Method::kGet, Framing::kNone,
            true},
           {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", Method::kGet, Framing::kNone,
            true},
           {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kGet,
            Framing::kNone, true},
           {"HTTP/1.1 100 Continue\r\n\r\n", Method::kPut, Framing::kNone, true},
           {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            Method::kGet, Framing::kNone, true},
           {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", Method::kGet, Framing::kNone,
            true},
           {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", Method::kHead, Framing::kNone, true},
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kHead, Framing::kNone,
            true},
           {"HTTP/1.1 200 OK\r\n\r\n", Method::kHead, Framing::kNone, true},
           {"HTTP/1.1 200 Connection established\r\n\r\n", Method::kConnect, Framing::kNone, true},
           {"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n", Method::kConnect,
            Framing::kContentLength, true},
           {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", Method::kGet, Framing::kContentLength,
            false},
           {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", Method::kGet,
            Framing::kContentLength, true},
           {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", Method::kGet, Framing::kUntilClose,
            false},
           {"HTTP/1.2 200 OK\r\nContent-Length: 3\r\n\r\n", Method::kGet, Framing::kContentLength,
            true},
       }) {
    const ResponseParse parse = Response(c.bytes, c.method);
    ASSERT_EQ(parse.state, ParseState::kComplete) << c.bytes << ": " << parse.error;
    EXPECT_EQ(parse.head.framing, c.framing) << c.bytes;
    EXPECT_EQ(parse.head.keep_alive, c.keep_alive) << c.bytes;
    EXPECT_EQ(parse.head.head_length, c.bytes.size());
  }
}

TEST_F(ParserTest, StatusLine) {
  ResponseParse parse = Response("HTTP/1.1 404 \r\n\r\n");  // an empty reason
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.status, 404);
  EXPECT_EQ(parse.head.reason, "");
  parse = Response("HTTP/1.0 999 Odd \t but fine \xe2\x9c\x93\r\n\r\n");
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.status, 999);
  EXPECT_EQ(parse.head.minor_version, 0);
  EXPECT_EQ(parse.head.reason, "Odd \t but fine \xe2\x9c\x93");
  parse = Response("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(parse.state, ParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.head.status, 100);
  EXPECT_EQ(parse.head.head_length, 25u);
}

TEST_F(ParserTest, ResponseSplittingAndSmuggling) {
  struct Case {
    absl::string_view name;
    std::string bytes;
    Method method = Method::kGet;
  };
  const std::vector<Case> cases = {
      {"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"CL and TE in a 204",
       "HTTP/1.1 204 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"CL and TE to HEAD",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kHead},
      {"CLs that differ", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n"},
      {"CL -1", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
      {"bad CL in a 304", "HTTP/1.1 304 OK\r\nContent-Length: x\r\n\r\n"},
      {"TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"},
      {"TE without a coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n"},
      {"TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n"},
      {"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"},
      {"status under 100", "HTTP/1.1 099 Low\r\n\r\n"},
      {"no space after status", "HTTP/1.1 200OK\r\n\r\n"},
      {"no reason nor space", "HTTP/1.1 200\r\n\r\n"},
      {"two spaces after version", "HTTP/1.1  200 OK\r\n\r\n"},
      {"HTTP/2", "HTTP/2 200 OK\r\n\r\n"},
      {"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n"},
      {"lowercase", "http/1.1 200 OK\r\n\r\n"},
      {"leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n"},
      {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"},
      {"bare CR in a value", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\rContent-Length: 0\r\n\r\n"},
      {"NUL in the reason", std::string("HTTP/1.1 200 O\0K\r\n\r\n", 20)},
      {"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"},
      {"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"},
  };
  for (const Case& c : cases) {
    const ResponseParse parse = Response(c.bytes, c.method);
    EXPECT_EQ(parse.state, ParseState::kError) << c.name;
    EXPECT_FALSE(parse.error.empty()) << c.name;
    EXPECT_LT(parse.error.size(), 200u) << c.name;
    EXPECT_TRUE(Printable(parse.error)) << c.name << ": " << parse.error;
  }
  EXPECT_THAT(Response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").error,
              HasSubstr("\"5\" and \"6\""));
}

TEST_F(ParserTest, ResponseLimits) {
  HeadLimits limits;
  limits.max_headers = 1;
  EXPECT_EQ(Response("HTTP/1.1 200 OK\r\nA: 1\r\n\r\n", Method::kGet, limits).state,
            ParseState::kComplete);
  EXPECT_THAT(Response("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", Method::kGet, limits).error,
              HasSubstr("more than 1"));
  limits.max_head_bytes = 20;
  const ResponseParse parse = Response("HTTP/1.1 200 OK\r\nA: 1\r\n\r\n", Method::kGet, limits);
  EXPECT_EQ(parse.state, ParseState::kError);
  EXPECT_THAT(parse.error, HasSubstr("over 20 bytes"));
  EXPECT_EQ(Response("HTTP/1.1 200 OK\r\nA:", Method::kGet, limits).state, ParseState::kNeedMore);
}

// ---- Chunked bodies ----

struct Decoded {
  size_t consumed = 0;
  bool done = false;
  bool error = false;
  std::string error_text;
  uint64_t data_bytes = 0;

  bool operator==(const Decoded&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Decoded& d) {
  return out << "{consumed " << d.consumed << ", done " << d.done << ", error " << d.error << " "
             << d.error_text << ", data " << d.data_bytes << "}";
}

// Feeds `body` in pieces of `piece` bytes (0: in one piece), summing what was consumed.
Decoded Decode(absl::string_view body, size_t piece = 0) {
  ChunkedDecoder decoder;
  Decoded decoded;
  ChunkedDecoder::Result result;
  if (piece == 0) piece = body.size() + 1;
  for (size_t at = 0; at < body.size(); at += piece) {
    const absl::string_view part = body.substr(at, piece);
    result = decoder.Feed(part);
    EXPECT_LE(result.consumed, part.size());
    // Everything is taken until the end or the error.
    if (!result.done && !result.error) {
      EXPECT_EQ(result.consumed, part.size());
    }
    decoded.consumed += result.consumed;
    if (result.done || result.error) break;
  }
  decoded.done = result.done;
  decoded.error = result.error;
  decoded.error_text = std::string(result.error_text);
  decoded.data_bytes = decoder.data_bytes();
  EXPECT_EQ(decoder.done(), decoded.done);
  return decoded;
}

// One piece, byte by byte and a few sizes between: always the same.
Decoded DecodeAllWays(absl::string_view body) {
  const Decoded whole = Decode(body);
  for (const size_t piece : {1, 2, 3, 7, 64}) {
    EXPECT_EQ(Decode(body, piece), whole) << "pieces of " << piece;
  }
  return whole;
}

TEST(ChunkedDecoderTest, Body) {
  const std::string body = "5\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\n";
  const Decoded decoded = DecodeAllWays(body + "GET / HTTP/1.1\r\n");
  EXPECT_TRUE(decoded.done);
  EXPECT_FALSE(decoded.error);
  EXPECT_EQ(decoded.consumed, body.size());  // stops right after the final LF
  EXPECT_EQ(decoded.data_bytes, 21u);
  EXPECT_EQ(decoded.error_text, "");
}

TEST(ChunkedDecoderTest, Incremental) {
  ChunkedDecoder decoder;
  ChunkedDecoder::Result result = decoder.Feed("1");
  EXPECT_EQ(result.consumed, 1u);
  EXPECT_FALSE(result.done || result.error);
  result = decoder.Feed("0\r\n0123456");
  EXPECT_EQ(result.consumed, 10u);
  EXPECT_EQ(decoder.data_bytes(), 7u);
  result = decoder.Feed("789abcdef\r");
  EXPECT_EQ(result.consumed, 10u);
  EXPECT_EQ(decoder.data_bytes(), 16u);
  result = decoder.Feed("\n0\r\n\r\nrest");
  EXPECT_TRUE(result.done);
  EXPECT_EQ(result.consumed, 6u);
  EXPECT_TRUE(decoder.done());
  // Done: nothing more is taken.
  result = decoder.Feed("0\r\n\r\n");
  EXPECT_EQ(result.consumed, 0u);
  EXPECT_TRUE(result.done);
  decoder.Reset();
  EXPECT_FALSE(decoder.done());
  EXPECT_EQ(decoder.data_bytes(), 0u);
  EXPECT_TRUE(decoder.Feed("0\r\n\r\n").done);
}

TEST(ChunkedDecoderTest, SizesAndExtensions) {
  for (const absl::string_view body : {
           "0\r\n\r\n",
           "000\r\n\r\n",
           "00000000000000a\r\n0123456789\r\n0\r\n\r\n",
           "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
           "1;a\r\nx\r\n0\r\n\r\n",
           "1;a=b\r\nx\r\n0;last\r\n\r\n",
           "1 ; a = b ; c\t=\t\"q\\\"uo;ted\" ;d\r\nx\r\n0\r\n\r\n",
           "1;a=\"\"\r\nx\r\n0\r\n\r\n",
           "1;a=\"x\";b=c\r\nx\r\n0\r\n\r\n",
           "1;a=\"\xff\t \\\xfe\"\r\nx\r\n0\r\n\r\n",
           "1;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nx\r\n0\r\n\r\n",
       }) {
    const Decoded decoded = DecodeAllWays(body);
    EXPECT_TRUE(decoded.done) << body << ": " << decoded;
    EXPECT_EQ(decoded.consumed, body.size()) << body;
  }
  // The largest size is taken (its data is not all here), one more is not.
  Decoded decoded = DecodeAllWays("7fffffffffffffff\r\nabc");
  EXPECT_FALSE(decoded.error) << decoded;
  EXPECT_EQ(decoded.data_bytes, 3u);
  EXPECT_TRUE(DecodeAllWays("8000000000000000\r\n").error);
  EXPECT_TRUE(DecodeAllWays("ffffffffffffffff\r\n").error);
  decoded = DecodeAllWays("00000000000000001\r\n");  // 17 digits, however small
  EXPECT_TRUE(decoded.error);
  EXPECT_THAT(decoded.error_text, HasSubstr("16 hex digits"));
  EXPECT_EQ(decoded.consumed, 16u);
}

TEST(ChunkedDecoderTest, Trailers) {
  const std::string body =
      "3\r\nabc\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Checksum:\t1234 \r\n"
      "X-Empty:\r\n\r\n";
  const Decoded decoded = DecodeAllWays(body + "next");
  EXPECT_TRUE(decoded.done) << decoded;
  EXPECT_EQ(decoded.consumed, body.size());
  EXPECT_EQ(decoded.data_bytes, 3u);
}

TEST(ChunkedDecoderTest, Refused) {
  struct Case {
    absl::string_view name;
    std::string body;
    size_t consumed;  // where the error is
  };
  const std::vector<Case> cases = {
      {"empty size line", "\r\n", 0},
      {"0x prefix", "0x10\r\n", 1},
      {"sign", "-1\r\n", 0},
      {"plus", "+1\r\n", 0},
      {"space inside", "1 0\r\nx\r\n", 2},
      {"leading space", " 1\r\nx\r\n", 0},
      {"trailing space", "1 \r\nx\r\n", 2},
      {"17 hex digits", "10000000000000000\r\n", 16},
      {"over 2^63 - 1", "8000000000000000\r\n", 15},
      {"bare LF after size", "5\nhello\r\n0\r\n\r\n", 1},
      {"bare CR after size", "5\rhello\r\n", 2},
      {"not hex", "g\r\n", 0},
      {"underscore", "1_0\r\n", 1},
      {"data without CRLF", "5\r\nhelloX\r\n0\r\n\r\n", 8},
      {"data with LF only", "5\r\nhello\n0\r\n\r\n", 8},
      {"data with CR only", "5\r\nhello\r0\r\n\r\n", 9},
      {"data too long", "3\r\nhello\r\n", 6},
      {"empty extension", "1;\r\nx\r\n", 2},
      {"two semicolons", "1;;a\r\nx\r\n", 2},
      {"extension without a name", "1;=a\r\nx\r\n", 2},
      {"extension without a value", "1;a=\r\nx\r\n", 4},
      {"space after extension name", "1;a \r\nx\r\n", 4},
      {"space after extension value", "1;a=b \r\nx\r\n", 6},
      {"space inside a value", "1;a=b c\r\nx\r\n", 6},
      {"bytes after a quoted value", "1;a=\"b\"c\r\nx\r\n", 7},
      {"unterminated quote", "1;a=\"b\r\nx\r\n", 6},
      {"control byte in a quote", "1;a=\"\x01\"\r\nx\r\n", 5},
      {"escaped CR", "1;a=\"\\\r\"\r\nx\r\n", 6},
      {"bad byte in extension name", "1;a/b\r\nx\r\n", 3},
      {"bare LF in extension", "1;a\nx\r\n", 3},
      {"NUL in size line", std::string("1\0\r\nx\r\n", 7), 1},
      {"trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", 9},
      {"trailer space before colon", "0\r\nA : b\r\n\r\n", 4},
      {"trailer without a colon", "0\r\nAb\r\n\r\n", 5},
      {"trailer with an empty name", "0\r\n: b\r\n\r\n", 3},
      {"trailer name not a token", "0\r\nA(b): c\r\n\r\n", 4},
      {"NUL in a trailer value", std::string("0\r\nA: \0\r\n\r\n", 11), 6},
      {"bare LF in a trailer", "0\r\nA: b\n\r\n", 7},
      {"bare LF at the end", "0\r\n\n", 3},
      {"bare CR at the end", "0\r\n\rX", 4},
      {"bare CR in a trailer", "0\r\nA: b\rc\r\n\r\n", 8},
  };
  for (const Case& c : cases) {
    const Decoded decoded = DecodeAllWays(c.body);
    EXPECT_TRUE(decoded.error) << c.name << ": " << decoded;
    EXPECT_FALSE(decoded.done) << c.name;
    EXPECT_EQ(decoded.consumed, c.consumed) << c.name << ": " << decoded.error_text;
    EXPECT_FALSE(decoded.error_text.empty()) << c.name;
  }
}

TEST(ChunkedDecoderTest, ErrorSticks) {
  ChunkedDecoder decoder;
  const ChunkedDecoder::Result first = decoder.Feed("zz");
  EXPECT_TRUE(first.error);
  EXPECT_EQ(first.consumed, 0u);
  const ChunkedDecoder::Result again = decoder.Feed("0\r\n\r\n");
  EXPECT_TRUE(again.error);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(again.error_text, first.error_text);
  EXPECT_FALSE(decoder.done());
}

TEST(ChunkedDecoderTest, Bounds) {
  // The size line, CRLF included, is at most kMaxChunkLine bytes.
  const std::string padded = "1;a=" + std::string(ChunkedDecoder::kMaxChunkLine - 6, 'v');
  EXPECT_TRUE(DecodeAllWays(padded + "\r\nx\r\n0\r\n\r\n").done);
  Decoded decoded = DecodeAllWays(padded + "v\r\nx\r\n0\r\n\r\n");
  EXPECT_TRUE(decoded.error);
  EXPECT_THAT(decoded.error_text, HasSubstr("4096"));
  EXPECT_EQ(decoded.consumed, ChunkedDecoder::kMaxChunkLine);

  // The trailer section, the final CRLF included, is at most kMaxTrailerBytes.
  const std::string field = "X: " + std::string(ChunkedDecoder::kMaxTrailerBytes - 7, 't');
  EXPECT_TRUE(DecodeAllWays("0\r\n" + field + "\r\n\r\n").done);
  decoded = DecodeAllWays("0\r\n" + field + "t\r\n\r\n");
  EXPECT_TRUE(decoded.error);
  EXPECT_THAT(decoded.error_text, HasSubstr("trailer section"));
  // Many small fields count together.
  std::string many = "0\r\n";
  while (many.size() < 3 + ChunkedDecoder::kMaxTrailerBytes) many += "A: b\r\n";
  EXPECT_TRUE(DecodeAllWays(many + "\r\n").error);
}

// How a caller walks a connection: head, body, next head.
TEST_F(ParserTest, ChunkedRequestThenThePipelinedOne) {
  const std::string bytes =
      "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4;x=y\r\nwiki\r\n0\r\nX-Sum: 1\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  const RequestParse first = Request(bytes);
  ASSERT_EQ(first.state, ParseState::kComplete) << first.error;
  ASSERT_EQ(first.head.framing, Framing::kChunked);
  ChunkedDecoder decoder;
  const absl::string_view body = absl::string_view(bytes).substr(first.head.head_length);
  const ChunkedDecoder::Result result = decoder.Feed(body);
  ASSERT_TRUE(result.done);
  EXPECT_EQ(decoder.data_bytes(), 4u);
  const RequestParse second = Request(body.substr(result.consumed));
  ASSERT_EQ(second.state, ParseState::kComplete) << second.error;
  EXPECT_EQ(second.head.target, "/b");
  EXPECT_EQ(second.head.head_length, body.size() - result.consumed);
}

TEST(ChunkedDecoderTest, LargeChunkPassesThrough) {
  const std::string data(100000, 'd');
  const std::string body = "186a0\r\n" + data + "\r\n0\r\n\r\n";
  ChunkedDecoder decoder;
  const ChunkedDecoder::Result result = decoder.Feed(body);
  EXPECT_TRUE(result.done);
  EXPECT_EQ(result.consumed, body.size());
  EXPECT_EQ(decoder.data_bytes(), 100000u);
}

// ---- Helpers ----

TEST(HelpersTest, EqualsIgnoreCase) {
  EXPECT_TRUE(EqualsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  EXPECT_FALSE(EqualsIgnoreCase("Host", "Hos"));
  EXPECT_FALSE(EqualsIgnoreCase("a", "b"));
  EXPECT_FALSE(EqualsIgnoreCase("\xc0", "\xe0"));  // ASCII only
}

TEST(HelpersTest, ListHasToken) {
  EXPECT_TRUE(ListHasToken("close", "close"));
  EXPECT_TRUE(ListHasToken("keep-alive, Close", "close"));
  EXPECT_TRUE(ListHasToken(" ,\t, upgrade \t,", "Upgrade"));
  EXPECT_FALSE(ListHasToken("closed", "close"));
  EXPECT_FALSE(ListHasToken("close-ish, xclose", "close"));
  EXPECT_FALSE(ListHasToken("", "close"));
  EXPECT_FALSE(ListHasToken("clo se", "close"));
}

TEST(HelpersTest, FindHeader) {
  const std::vector<Header> headers = {{"Host", "a"}, {"X-Id", "1"}, {"x-id", "2"}};
  const Header* found = FindHeader(headers, "X-ID");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->value, "1");
  EXPECT_EQ(FindHeader(headers, "X-I"), nullptr);
  EXPECT_EQ(FindHeader({}, "Host"), nullptr);
}

TEST(HelpersTest, FindCookie) {
  const std::vector<Header> headers = {
      {"Cookie", "a=1; session=abc;  theme = dark ;flag; empty="},
      {"X-Cookie", "session=wrong"},
      {"cookie", "session=second; late=2; q=\"quoted\""},
  };
  CookieLookup lookup = FindCookie(headers, "session");
  EXPECT_TRUE(lookup.found);
  EXPECT_EQ(lookup.value, "abc");
  lookup = FindCookie(headers, "theme");
  EXPECT_TRUE(lookup.found);
  EXPECT_EQ(lookup.value, "dark");
  lookup = FindCookie(headers, "empty");
  EXPECT_TRUE(lookup.found);
  EXPECT_EQ(lookup.value, "");
  lookup = FindCookie(headers, "late");
  EXPECT_TRUE(lookup.found);
  EXPECT_EQ(lookup.value, "2");
  EXPECT_EQ(FindCookie(headers, "q").value, "\"quoted\"");
  EXPECT_FALSE(FindCookie(headers, "Session").found);  // names are case-sensitive
  EXPECT_FALSE(FindCookie(headers, "flag").found);     // no '=': no cookie
  EXPECT_FALSE(FindCookie(headers, "sess").found);
  EXPECT_FALSE(FindCookie({}, "a").found);
}

}  // namespace
}  // namespace plby::http
