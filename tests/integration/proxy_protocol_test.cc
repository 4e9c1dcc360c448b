// The PROXY protocol both ways, with peers nobody here wrote: HAProxy (send-proxy-v2) in front
// of plby, whose accept_proxy listener takes the client address from it; nginx
// (listen ... proxy_protocol) behind plby, echoing the address plby's v1 or v2 header gave it.
// Headers from untrusted sources, broken, slow or missing ones are refused and counted.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Addresses of this file's tests (ctest runs tests at the same time; each has its own).
constexpr char kHaproxy[] = "127.0.14.1";  // HAProxy listens here and connects from here
constexpr char kNginx[] = "127.0.14.2";    // nginx: 18080 reads v1 or v2, and answers with it
constexpr char kClient[] = "127.0.14.9";   // the client, as HAProxy sees it

// Sends `bytes` to ip:port from `from`, half-closes, and returns the whole answer.
std::string Ask(const std::string& ip, uint16_t port, const std::string& bytes,
                const std::string& from = "", bool half_close = true) {
  return SendAndReadAll(ip, port, bytes, from, half_close);
}

std::string Get(const std::string& ip, uint16_t port, const std::string& from = "",
                const std::string& prefix = "") {
  return Ask(ip, port, prefix + "GET / HTTP/1.0\r\n\r\n", from);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ProxyProtocolTest : public ::testing::Test {
 protected:
  // nginx answers with the client address and port its PROXY header named.
  void StartNginx() {
    const std::string config = dir_.Write(
        "nginx.conf",
        absl::StrCat("worker_processes 1;\ndaemon off;\nmaster_process off;\nuser root;\n", "pid ",
                     dir_.path(), "/nginx.pid;\nerror_log ", dir_.path(),
                     "/nginx-error.log info;\nevents { worker_connections 1024; }\n",
                     "http {\n  access_log off;\n  server {\n    listen ", kNginx,
                     ":18080 proxy_protocol;\n",
                     "    location / { return 200 \"client $proxy_protocol_addr "
                     "$proxy_protocol_port\\n\"; }\n  }\n}\n"));
    PLBY_ASSERT_OK_AND_ASSIGN(
        nginx_, StartPeer("/usr/sbin/nginx", {"-p", dir_.path(), "-c", config}, kNginx, 18080));
  }

  void StartHaproxy(uint16_t plby_port) {
    const std::string config = dir_.Write(
        "haproxy.cfg",
        absl::StrCat("defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n",
                     "  timeout server 30s\n", "listen in\n  bind ", kHaproxy, ":18000\n",
                     "  server plby 127.0.0.1:", plby_port, " send-proxy-v2 source ", kHaproxy,
                     "\n"));
    PLBY_ASSERT_OK_AND_ASSIGN(
        haproxy_, StartPeer("/usr/sbin/haproxy", {"-db", "-f", config}, kHaproxy, 18000));
  }

  TempDir dir_;
  std::unique_ptr<Process> nginx_;
  std::unique_ptr<Process> haproxy_;
};

TEST_F(ProxyProtocolTest, TheClientAddressCrossesHaproxyPlbyAndNginx) {
  ASSERT_NO_FATAL_FAILURE(StartNginx());
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n",
      "[[server]]\nname = \"v1\"\nlisten = \"127.0.0.1:0\"\naccept_proxy = true\n", "trusted = [\"",
      kHaproxy, "/32\", \"127.0.14.10\"]\n", "[[server.forward]]\nsend_proxy = \"v1\"\n",
      "backends = [ { address = \"", kNginx, ":18080\" } ]\n",
      "[[server]]\nname = \"v2\"\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\npool = \"v2\"\n",
      "[[pool]]\nname = \"v2\"\nsend_proxy = \"v2\"\nbackends = [ { address = \"", kNginx,
      ":18080\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  ASSERT_NO_FATAL_FAILURE(StartHaproxy(node.ports["v1"]));

  // client -> HAProxy (v2) -> plby (v1) -> nginx: nginx names the client, not HAProxy or plby.
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(Get(kHaproxy, 18000, kClient), HasSubstr(absl::StrCat("client ", kClient, " ")));
  }
  // A client of plby itself, with no proxy in front (not a trusted source): its own address.
  EXPECT_THAT(Get("127.0.0.1", node.ports["v1"], "127.0.0.7"), HasSubstr("client 127.0.0.7 "));
  // The v2 header plby sends: the same, for a client straight to it.
  EXPECT_THAT(Get("127.0.0.1", node.ports["v2"], "127.0.0.8"), HasSubstr("client 127.0.0.8 "));
  // A trusted source's own v1 header: plby's header to nginx carries its client and port.
  EXPECT_THAT(Get("127.0.0.1", node.ports["v1"], "127.0.14.10",
                  "PROXY TCP4 192.0.2.1 198.51.100.1 40000 443\r\n"),
              HasSubstr("client 192.0.2.1 40000"));

  // The checks of a pool that sends PROXY headers send LOCAL ones: nginx logs no broken header.
  ASSERT_TRUE(
      node.process->WaitForLine(std::regex("backend 127.0.14.2:18080 of pool v2 is "
                                           "healthy")));
  EXPECT_THAT(ReadFile(dir_.path() + "/nginx-error.log"), Not(HasSubstr("broken header")));
}

TEST_F(ProxyProtocolTest, RefusesHeadersItShouldNotTrustOrCannotRead) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("echo"));
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
      "[[server]]\nname = \"in\"\nlisten = \"127.0.0.1:0\"\naccept_proxy = true\n",
      "trusted = [\"127.0.16.1\"]\n", "[[server.forward]]\nbackends = [ { address = \"",
      backend.address(), "\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  const uint16_t port = node.port();
  const std::string trusted = "127.0.16.1";
  const std::string v1 = "PROXY TCP4 192.0.2.1 198.51.100.1 40000 443\r\n";

  // A trusted source's header is taken off; what follows reaches the backend.
  EXPECT_EQ(Ask("127.0.0.1", port, v1 + "hello", trusted), "hello");
  // A v2 header too (LOCAL: the proxy speaks for itself; the connection's own address stands).
  const std::string v2_local("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
  EXPECT_EQ(Ask("127.0.0.1", port, v2_local + "hi", trusted), "hi");
  // An untrusted source may not send one: it could pose as any client.
  EXPECT_EQ(Ask("127.0.0.1", port, v1 + "hello", "127.0.16.2"), "");
  // ... but without one it is served as is.
  EXPECT_EQ(Ask("127.0.0.1", port, "plain", "127.0.16.2"), "plain");
  // A trusted source without a header, with a broken one, with one that never ends.
  EXPECT_EQ(Ask("127.0.0.1", port, "hello", trusted), "");
  EXPECT_EQ(Ask("127.0.0.1", port, "PROXY TCP4 192.0.2.1 198.51.100.1 99999 443\r\nx", trusted),
            "");
  EXPECT_EQ(Ask("127.0.0.1", port, "PROXY UNKNOWN " + std::string(200, 'x'), trusted), "");
  EXPECT_EQ(Ask("127.0.0.1", port, "PROXY TCP4 192.0.2.1", trusted), "");  // then it closes
  // Half a header, and then silence: closed after 3 s.
  EXPECT_EQ(Ask("127.0.0.1", port, "PROXY TCP4 192.0.2.1", trusted, /*half_close=*/false), "");

  for (const auto& [result, expected] :
       std::vector<std::pair<std::string, uint64_t>>{{"accepted", 2},
                                                     {"untrusted", 1},
                                                     {"missing", 1},
                                                     {"malformed", 1},
                                                     {"too_long", 1},
                                                     {"truncated", 1},
                                                     {"timeout", 1}}) {
    EXPECT_EQ(
        WaitForMetric(
            node, absl::StrCat("plby_proxy_headers_total{listener=\"in\",result=\"", result, "\"}"),
            expected),
        expected)
        << result;
  }
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("closing client=127.0.16.2:\\d+ listener=in: PROXY header untrusted")));
}

// A header split over reads must not slip past the screen of untrusted sources: an attacker
// that sends "PROX" (or 5 bytes of the v2 signature), pauses, then sends the rest would have
// its whole header reach the backend, which may reassemble it and believe it. Every split
// point of both signatures is tried; bytes that stop matching go through at once, and a piece
// of a signature that stalls is refused after handshake_timeout.
TEST_F(ProxyProtocolTest, AnUntrustedHeaderSplitAtAnyPointIsRefused) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("echo"));
  const std::string listener = "accept_proxy = true\ntrusted = [\"127.0.17.1\"]\n";
  const std::string forward =
      absl::StrCat("[[server.forward]]\npool = \"echo\"\n[[pool]]\nname = \"echo\"\n",
                   "backends = [ { address = \"", backend.address(), "\" } ]\n");
  const std::string config =
      absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
                   "[[server]]\nname = \"in\"\nlisten = \"127.0.0.1:0\"\n", listener,
                   "[[server.forward]]\npool = \"echo\"\n[[server]]\nname = \"short\"\n",
                   "listen = \"127.0.0.1:0\"\nhandshake_timeout = \"1s\"\n", listener, forward);
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  const uint16_t port = node.ports["in"];
  const std::string untrusted = "127.0.17.2";
  const std::string v1 = "PROXY TCP4 192.0.2.1 198.51.100.1 40000 443\r\nhello";
  const std::string v2 = std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 16) +
                         std::string("\xc0\x00\x02\x01\xc6\x33\x64\x01\x9c\x40\x01\xbb", 12) +
                         "hello";
  struct Split {
    int fd;
    std::string rest;
  };
  std::vector<Split> splits;
  size_t held = 0;  // first pieces shorter than their signature: the rest decides
  for (const std::string& header : {v1, v2}) {
    for (size_t at = 1; at <= 11; ++at) {
      PLBY_ASSERT_OK_AND_ASSIGN(int fd, ConnectTo("127.0.0.1", port, untrusted));
      const int one = 1;
      ASSERT_EQ(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
      ASSERT_TRUE(SendAll(fd, header.substr(0, at)).ok());
      splits.push_back({fd, header.substr(at)});
      if (header == v2 || at < 6) ++held;
    }
  }
  // Every held connection reached the backend (the screen does not wait for the client before
  // connecting: servers that speak first must not stall), so plby has looked at each first
  // piece on its own; the others were refused at their first piece.
  const std::string active = absl::StrCat(
      "plby_backend_connections_active{pool=\"echo\",backend=\"", backend.address(), "\"}");
  const std::string refused = "plby_proxy_headers_total{listener=\"in\",result=\"untrusted\"}";
  ASSERT_EQ(WaitForMetric(node, active, held), held);
  ASSERT_EQ(WaitForMetric(node, refused, splits.size() - held), splits.size() - held);
  for (const Split& split : splits) {
    // (A refused connection may take these bytes or reset: either way none reach the backend.)
    (void)SendAll(split.fd, split.rest);
    shutdown(split.fd, SHUT_WR);
  }
  for (size_t i = 0; i < splits.size(); ++i) {
    const std::string echoed = ReadToEnd(splits[i].fd).value_or("");
    close(splits[i].fd);
    // Nothing reached the echo backend: the connection was refused before a byte went on.
    EXPECT_EQ(echoed, "") << "split at " << i % 11 + 1 << " of v" << i / 11 + 1;
  }
  EXPECT_EQ(WaitForMetric(node, refused, splits.size()), splits.size());

  // Bytes that stop matching are the client's own, and go on whole: a piece held, then more
  // that turns it into something else; a piece and then the client's end.
  {
    PLBY_ASSERT_OK_AND_ASSIGN(int fd, ConnectTo("127.0.0.1", port, untrusted));
    ASSERT_TRUE(SendAll(fd, "PRO").ok());
    ASSERT_TRUE(WaitForMetric(node, active, 1).has_value());
    ASSERT_TRUE(SendAll(fd, "MPT ready\n").ok());
    shutdown(fd, SHUT_WR);
    EXPECT_EQ(ReadToEnd(fd).value_or("(read failed)"), "PROMPT ready\n");
    close(fd);
  }
  EXPECT_EQ(Ask("127.0.0.1", port, "PROX", untrusted), "PROX");
  EXPECT_EQ(Ask("127.0.0.1", port, std::string("\r\n\r\n\0", 5), untrusted),
            std::string("\r\n\r\n\0", 5));
  // A piece of a signature that goes no further is refused after handshake_timeout (1 s).
  EXPECT_EQ(Ask("127.0.0.1", node.ports["short"], "PROXY", untrusted, /*half_close=*/false), "");
  EXPECT_EQ(
      WaitForMetric(node, "plby_proxy_headers_total{listener=\"short\",result=\"untrusted\"}"), 1u);
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("listener=short: PROXY header untrusted: its first bytes began a PROXY header "
                 "and went no further within 1000 ms")));
}

TEST_F(ProxyProtocolTest, MaglevHashesTheAddressTheHeaderCarries) {
  std::vector<Backend> backends;
  std::string list;
  for (int i = 0; i < 4; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
    absl::StrAppend(&list, i == 0 ? "" : ", ", "{ address = \"", backend.address(), "\" }");
    backends.push_back(std::move(backend));
  }
  const std::string config =
      absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n",
                   "[[server]]\nname = \"in\"\nlisten = \"127.0.0.1:0\"\naccept_proxy = true\n",
                   "trusted = [\"127.0.0.1\"]\n",
                   "[[server.forward]]\nalgorithm = \"maglev\"\nbackends = [ ", list, " ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  // Every connection comes from 127.0.0.1; the headers name 16 different clients. Each client
  // keeps its backend, and the clients spread over the backends.
  std::set<std::string> seen;
  for (int client = 1; client <= 16; ++client) {
    const std::string header = absl::StrCat("PROXY TCP4 10.1.0.", client, " 10.2.0.1 5000 80\r\n");
    const std::string first = Ask("127.0.0.1", node.port(), header);
    ASSERT_THAT(first, HasSubstr("Hi from server")) << client;
    EXPECT_EQ(Ask("127.0.0.1", node.port(), header), first) << client;
    seen.insert(first);
  }
  EXPECT_GE(seen.size(), 3u);
}

}  // namespace
}  // namespace plby::testing
