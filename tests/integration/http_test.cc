// mode = "http" with real clients (curl, Python's http.client, wrk, raw sockets) in front of
// real servers (Python's http.server, tests/tools/http_backend.py): routes by host, path,
// method and header; balancing per request; backend connections reused, as the backend sees;
// bodies streamed both ways; pipelining; WebSocket upgrades; the headers a proxy adds and
// removes; and every refusal, smuggling attempts included, with its status.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kCurl[] = "/usr/bin/curl";
constexpr char kPython[] = "/usr/bin/python3";

// Each test's backends listen on addresses of its own, 127.0.19.N ports 18081-18083: ctest runs
// tests at the same time.
const std::map<std::string, int>& BackendOctets() {
  static const auto* octets = new std::map<std::string, int>{
      {"RoutesByHostPathMethodAndHeader", 1},
      {"BalancesEachRequestAndReusesBackendConnections", 2},
      {"ForwardsHeadersTheWayAProxyShould", 3},
      {"StreamsBodiesBothWays", 4},
      {"SmugglingAttemptsAreRefusedBeforeABackendSeesThem", 5},
      {"RefusalsAnswerWithTheirStatus", 6},
      {"PipelinedRequestsAreAnsweredInOrder", 7},
      {"WebSocketUpgradeBecomesARelay", 8},
      {"ALoadGeneratorSeesOnlySuccess", 9},
      {"HttpChecksJudgeBackendsByTheirStatus", 10},
      {"DrainClosesIdleKeepAliveClientsAtOnce", 11},
      {"IdempotentRequestsAreRetriedElsewhereAndPostsAreNot", 12},
      {"MaglevAndP2cKeyOnAHeaderOrCookie", 13},
      {"TerminatesTlsAndAnswers421ForAHostTheCertificateDoesNotName", 14},
      {"NginxSeesItsConnectionsReused", 15},
      {"AmbiguousFramingAndHeadersAreRefusedOrDropped", 16},
      {"BadAnswersAndSlowBodiesEndInTheirStatus", 17},
      {"IdleClientsMakeRoomForNewOnes", 18},
  };
  return *octets;
}

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const auto octet = BackendOctets().find(test);
    ASSERT_NE(octet, BackendOctets().end())
        << "give " << test << " its own addresses in BackendOctets";
    ip_ = absl::StrCat("127.0.19.", octet->second);
  }

  // Starts backend `name` (A, B or C) on this test's address; its /health answers
  // `health_status`.
  void StartBackends(const std::vector<std::string>& names, int health_status = 200) {
    for (const std::string& name : names) {
      const uint16_t port = Port(name);
      PLBY_ASSERT_OK_AND_ASSIGN(
          std::unique_ptr<Process> backend,
          StartPeer(kPython,
                    {PLBY_SOURCE_DIR "/tests/tools/http_backend.py", ip_, std::to_string(port),
                     name, std::to_string(health_status)},
                    ip_, port));
      backends_.push_back(std::move(backend));
    }
  }

  uint16_t Port(const std::string& name) const {
    return static_cast<uint16_t>(18081 + (name[0] - 'A'));
  }
  std::string Address(const std::string& name) const { return absl::StrCat(ip_, ":", Port(name)); }

  // [[pool]] tables, one per backend name: pool "a" has backend A, and so on; `extra` goes into
  // each.
  std::string Pools(const std::vector<std::string>& names, const std::string& extra = "") const {
    std::string pools;
    for (const std::string& name : names) {
      std::string lower = name;
      lower[0] = static_cast<char>(lower[0] - 'A' + 'a');
      absl::StrAppend(&pools, "[[pool]]\nname = \"", lower, "\"\n", extra,
                      "backends = [ { address = \"", Address(name), "\" } ]\n");
    }
    return pools;
  }

  static std::string Header() {
    return "[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n";
  }

  // curl's output (the body, or what -w asks for); stderr too.
  static std::string Curl(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"-s", "-S", "--max-time", "20"};
    all.insert(all.end(), args.begin(), args.end());
    absl::StatusOr<RunResult> run = RunToExit(kCurl, all);
    return run.ok() ? run->output : run.status().ToString();
  }

  static std::string Url(const Node& node, const std::string& path) {
    return absl::StrCat("http://127.0.0.1:", node.ports.at("web"), path);
  }

  // What a raw client gets for `bytes` (it half-closes after sending, and reads to the end).
  static std::string Raw(const Node& node, const std::string& bytes) {
    return SendAndReadAll("127.0.0.1", node.ports.at("web"), bytes);
  }

  // Runs a Python script with the node's port as its argument; its output.
  std::string Python(const std::string& script, uint16_t port) {
    const std::string file = dir_.Write("client.py", script);
    absl::StatusOr<RunResult> run = RunToExit(kPython, {file, std::to_string(port)});
    return run.ok() ? absl::StrCat(run->output, run->exit_code == 0 ? "" : "(python failed)")
                    : run.status().ToString();
  }

  TempDir dir_;
  std::string ip_;
  std::vector<std::unique_ptr<Process>> backends_;
};

TEST_F(HttpTest, RoutesByHostPathMethodAndHeader) {
  StartBackends({"A", "B", "C"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A", "B", "C"}),
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n", "[[server.forward]]\npool = \"b\"\n",
                                   "host = [\"api.example.com\", \"*.api.example.com\"]\n",
                                   "[[server.forward]]\npool = \"c\"\npath_prefix = \"/static/\"\n",
                                   "strip_prefix = true\n",
                                   "[[server.forward]]\npool = \"c\"\nmethods = [\"GET\"]\n",
                                   "headers = { \"x-canary\" = \"1\" }\n",
                                   "[[server.forward]]\npool = \"a\"\n",
                                   // A listener with no default route: what matches nothing
                                   // is a 404.
                                   "[[server]]\nname = \"strict\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[[server.forward]]\npool = \"b\"\n",
                                   "path = \"/only\"\n")));
  EXPECT_EQ(Curl({"-H", "Host: api.example.com", Url(node, "/x")}), "B /x");
  // Host is matched without case, port or trailing dot; a wildcard takes one label.
  EXPECT_EQ(Curl({"-H", "Host: API.Example.com.:8080", Url(node, "/x")}), "B /x");
  EXPECT_EQ(Curl({"-H", "Host: v1.api.example.com", Url(node, "/x")}), "B /x");
  EXPECT_EQ(Curl({"-H", "Host: a.v1.api.example.com", Url(node, "/x")}), "A /x");
  // The prefix is taken off the path forwarded; the query stays.
  EXPECT_EQ(Curl({Url(node, "/static/logo.png?v=2")}), "C /logo.png?v=2");
  EXPECT_EQ(Curl({Url(node, "/static/")}), "C /");
  // Method and header must both hold.
  EXPECT_EQ(Curl({"-H", "x-canary: 1", Url(node, "/c")}), "C /c");
  EXPECT_EQ(Curl({"-H", "x-canary: 1", "-X", "POST", Url(node, "/c")}), "A /c");
  EXPECT_EQ(Curl({"-H", "x-canary: 2", Url(node, "/c")}), "A /c");
  EXPECT_EQ(Curl({Url(node, "/other")}), "A /other");

  const uint16_t strict = node.ports.at("strict");
  const std::string base = absl::StrCat("http://127.0.0.1:", strict);
  EXPECT_EQ(Curl({absl::StrCat(base, "/only")}), "B /only");
  EXPECT_EQ(Curl({"-w", " %{http_code}", absl::StrCat(base, "/not-here")}),
            "404 Not Found: no route matches this request\n 404");

  // The status page lists each HTTP listener's routes and their answers by status class.
  const std::string status =
      Curl({absl::StrCat("http://127.0.0.1:", node.metrics_port, "/status.json")});
  EXPECT_THAT(status, HasSubstr(R"("name":"web","mode":"http")")) << status;
  EXPECT_THAT(
      status,
      HasSubstr(R"({"route":0,"match":"host=api.example.com,*.api.example.com","pool":"b",)"))
      << status;
  EXPECT_THAT(status, HasSubstr(R"("match":"path_prefix=/static/","pool":"c","connections":0,)"
                                R"("responses":[0,2,0,0,0]})"))
      << status;
}

TEST_F(HttpTest, BalancesEachRequestAndReusesBackendConnections) {
  StartBackends({"A", "B"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, absl::StrCat(Header(), "[[server]]\nname = \"web\"\n",
                                              "listen = \"127.0.0.1:0\"\nmode = \"http\"\n",
                                              "[[server.forward]]\nalgorithm = \"RR\"\n",
                                              "backends = [ { address = \"", Address("A"),
                                              "\" }, { address = \"", Address("B"), "\" } ]\n")));
  // One client connection, four requests: they alternate between the backends.
  const std::string answers = Curl({"-w", "connects=%{num_connects}\n", Url(node, "/1"),
                                    Url(node, "/2"), Url(node, "/3"), Url(node, "/4")});
  EXPECT_EQ(CountOf(answers, "connects=1"), 1) << answers;  // one connection, reused 3 times
  EXPECT_EQ(CountOf(answers, "A /"), 2) << answers;
  EXPECT_EQ(CountOf(answers, "B /"), 2) << answers;
  EXPECT_THAT(answers, HasSubstr("/1\n")) << answers;

  // Twelve clients, one after the other: each backend sees one connection of plby's (the
  // same X-Connection every time), reused from the worker's pool of idle connections. A node
  // with 2 workers may open one per worker.
  std::map<std::string, std::set<std::string>> connections;
  for (int i = 0; i < 12; ++i) {
    const std::string seen =
        Curl({"-o", "/dev/null", "-w", "%header{x-backend} %header{x-connection}", Url(node, "/")});
    const std::vector<std::string> parts = absl::StrSplit(seen, ' ');
    ASSERT_EQ(parts.size(), 2u) << seen;
    connections[parts[0]].insert(parts[1]);
  }
  ASSERT_EQ(connections.size(), 2u);
  for (const auto& [backend, ids] : connections) {
    EXPECT_LE(ids.size(), 2u) << backend << " saw " << ids.size() << " connections";
  }
  // The same, as the node counts it: 16 answers, most on reused backend connections.
  EXPECT_EQ(WaitForMetric(node,
                          "plby_http_responses_total{listener=\"web\",route=\"0\",match=\"\","
                          "pool=\"web\",class=\"2xx\"}",
                          16),
            16u);
  EXPECT_GE(WaitForMetric(node,
                          "plby_http_upstream_connections_total{listener=\"web\","
                          "outcome=\"reused\"}",
                          12)
                .value_or(0),
            12u);
  EXPECT_EQ(WaitForMetric(node, "plby_http_request_duration_seconds_count{pool=\"web\"}", 16), 16u);
}

TEST_F(HttpTest, ForwardsHeadersTheWayAProxyShould) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A"}),
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[server.http]\naccess_log = \"json\"\n",
                                   "[[server.forward]]\npool = \"a\"\n",
                                   "add_request_headers = { \"X-Added\" = \"yes\" }\n",
                                   "remove_request_headers = [\"x-debug\"]\n")));
  const std::string echo = Curl({"-H",
                                 "Host: site.test",
                                 "-H",
                                 "Connection: keep-alive, X-Secret",
                                 "-H",
                                 "X-Secret: hidden",
                                 "-H",
                                 "Keep-Alive: timeout=5",
                                 "-H",
                                 "Proxy-Authorization: x",
                                 "-H",
                                 "TE: trailers",
                                 "-H",
                                 "X-Forwarded-For: 6.6.6.6",
                                 "-H",
                                 "X-Forwarded-Proto: https",
                                 "-H",
                                 "X-Debug: 1",
                                 "-H",
                                 "X-Kept: kept",
                                 Url(node, "/echo")});
  // Who the client is, as plby saw it; what it claimed is not trusted (no trusted networks).
  EXPECT_THAT(echo, HasSubstr(R"(["x-forwarded-for", "127.0.0.1"])")) << echo;
  EXPECT_THAT(echo, HasSubstr(R"(["x-forwarded-proto", "http"])")) << echo;
  EXPECT_THAT(echo, HasSubstr(R"(["x-forwarded-host", "site.test"])")) << echo;
  EXPECT_THAT(echo, Not(HasSubstr("6.6.6.6"))) << echo;
  // Hop-by-hop fields, and what Connection names, go; the route's rewrites apply.
  for (const char* gone : {"x-secret", "keep-alive", "proxy-authorization", "\"te\"", "x-debug"}) {
    EXPECT_THAT(echo, Not(HasSubstr(gone))) << echo;
  }
  EXPECT_THAT(echo, HasSubstr(R"(["x-added", "yes"])")) << echo;
  EXPECT_THAT(echo, HasSubstr(R"(["x-kept", "kept"])")) << echo;
  EXPECT_THAT(echo, HasSubstr(R"(["host", "site.test"])")) << echo;

  // The access log: one JSON object per request.
  EXPECT_TRUE(
      node.process
          ->WaitForLine(std::regex(
              R"re(\{"time":"[0-9T:.-]+Z","listener":"web","client":"127\.0\.0\.1:[0-9]+",)re"
              R"re("method":"GET","host":"site\.test","path":"/echo","status":200,"bytes":[0-9]+,)re"
              R"re("duration_ms":[0-9]+,"route":0,"backend":"127\.0\.19\.3:18081","retries":0\})re"))
          .has_value())
      << node.process->Output();

  // An HTTP/1.0 client is answered in 1.0, and its keep-alive is honoured.
  const std::string old = Curl({"-0", "-i", "-H", "Connection: keep-alive", Url(node, "/x")});
  EXPECT_THAT(old, StartsWith("HTTP/1.0 200")) << old;
  EXPECT_THAT(old, HasSubstr("Connection: keep-alive")) << old;
}

TEST_F(HttpTest, StreamsBodiesBothWays) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A"}),
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[[server.forward]]\npool = \"a\"\n")));
  std::string upload(3'000'000, '\0');
  for (size_t i = 0; i < upload.size(); ++i) upload[i] = static_cast<char>((i * 7919) % 251);
  const std::string file = dir_.Write("upload.bin", upload);
  // Chunked up (curl sends chunks as it reads), chunked down, and the bytes are the same.
  EXPECT_EQ(Curl({"-H", "Transfer-Encoding: chunked", "--data-binary", absl::StrCat("@", file),
                  "-o", absl::StrCat(dir_.path(), "/down.bin"), "-w", "%{http_code}",
                  Url(node, "/echo-chunked")}),
            "200");
  EXPECT_EQ(std::filesystem::file_size(absl::StrCat(dir_.path(), "/down.bin")), upload.size());
  EXPECT_EQ(
      Curl({"--data-binary", absl::StrCat("@", file), "-H",
            "Content-Type: application/octet-stream", "-o", absl::StrCat(dir_.path(), "/down2.bin"),
            "-w", "%{http_code}", Url(node, "/echo-chunked")}),
      "200");
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult same, RunToExit("/usr/bin/cmp", {file, absl::StrCat(dir_.path(), "/down2.bin")}));
  EXPECT_EQ(same.exit_code, 0) << same.output;
  // Expect: 100-continue: the backend's interim answer reaches the client, then the final one.
  const std::string continued = Curl({"-v", "-H", "Expect: 100-continue", "--data-binary",
                                      absl::StrCat("@", file), Url(node, "/echo")});
  EXPECT_THAT(continued, HasSubstr("HTTP/1.1 100 Continue")) << continued;
  EXPECT_THAT(continued, HasSubstr("\"body_length\": 3000000")) << continued;
  // A body that ends with the connection.
  EXPECT_EQ(Curl({"-o", "/dev/null", "-w", "%{size_download}", Url(node, "/until-close")}),
            "12000");

  // A backend that answers before it read the body: the answer reaches the client, and the
  // backend connection, whose stream still holds the rest of the body (20 MB: more than the
  // socket buffers take before the answer comes), is not used again.
  const std::string early_upload = dir_.Write("early.bin", std::string(20 << 20, 'e'));
  const std::string early = Curl({"-o", "/dev/null", "-w", "%{http_code}", "--data-binary",
                                  absl::StrCat("@", early_upload), Url(node, "/early")});
  EXPECT_EQ(early, "413");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Curl({Url(node, "/after-early")}), "A /after-early");
  // Python's http.client on one connection: a chunked upload, a download, a HEAD.
  const std::string python = Python(R"(
import hashlib, http.client, sys
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
chunks = [bytes([i % 251]) * 50000 for i in range(40)]
connection.request("POST", "/echo", body=iter(chunks), encode_chunked=True)
answer = connection.getresponse()
print(answer.status, answer.read().decode().count("2000000"))
connection.request("GET", "/chunked?size=5000000")
answer = connection.getresponse()
print(answer.status, len(answer.read()))
connection.request("HEAD", "/echo")
answer = connection.getresponse()
print(answer.status, answer.getheader("Content-Length") is not None, len(answer.read()))
)",
                                    node.ports.at("web"));
  EXPECT_EQ(python, "200 1\n200 5000000\n200 True 0");
}

TEST_F(HttpTest, SmugglingAttemptsAreRefusedBeforeABackendSeesThem) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A"}),
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[[server.forward]]\npool = \"a\"\n")));
  const std::string before =
      Curl({"-o", "/dev/null", "-w", "%header{x-connection}", Url(node, "/")});
  const std::vector<std::string> attempts = {
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
      "GET / HTTP/1.1\nHost: a\n\n",
      "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
      std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 34),
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
      "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n",
  };
  for (const std::string& attempt : attempts) {
    const std::string answer = Raw(node, attempt);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 Bad Request")) << attempt;
    EXPECT_THAT(answer, HasSubstr("Connection: close")) << attempt;
  }
  // A bad chunk size reached the backend (its head was fine); the rest never did: a request
  // after them finds the backend on its second connection at most.
  const std::string after =
      Curl({"-o", "/dev/null", "-w", "%header{x-connection}", Url(node, "/")});
  EXPECT_LE(std::stoi(after), std::stoi(before) + 2) << before << " then " << after;
}

// What a second outside test found: codings before chunked reached the backend as sent,
// Connection could remove Host, a Host with a space or userinfo was routed, and fields that
// look like X-Forwarded-For to a CGI backend came from anyone.
TEST_F(HttpTest, AmbiguousFramingAndHeadersAreRefusedOrDropped) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_,
                absl::StrCat(Header(), Pools({"A"}),
                             "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                             "mode = \"http\"\n[[server.forward]]\npool = \"a\"\n",
                             "headers = { \"x-tenant\" = \"t1\" }\n",
                             "[[server.forward]]\npool = \"a\"\n",
                             "[[server]]\nname = \"keep\"\nlisten = \"127.0.0.1:0\"\n",
                             "mode = \"http\"\n[server.http]\nunderscores_in_headers = true\n",
                             "[[server.forward]]\npool = \"a\"\n")));
  // Exactly one coding, chunked: others before it are 501, one that is not last 400, and plby
  // answers them itself (its own text), before any byte reaches a backend.
  for (const std::string coding : {"identity, chunked", "gzip, chunked", "gzip,chunked"}) {
    const std::string answer =
        Raw(node, absl::StrCat("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ", coding,
                               "\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n"
                               "Host: a\r\n\r\n"));
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 501 Not Implemented")) << coding;
    EXPECT_THAT(answer, HasSubstr("501 Not Implemented: a Transfer-Encoding with codings before "
                                  "chunked is not supported"))
        << coding;
    EXPECT_THAT(answer, Not(HasSubstr("smuggled"))) << coding;
  }
  EXPECT_THAT(Raw(node, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nhello"),
              StartsWith("HTTP/1.1 400 Bad Request"));
  // curl's chunked upload goes on as it did.
  EXPECT_THAT(
      Curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "hello", Url(node, "/echo")}),
      HasSubstr("\"body_length\": 5"));

  // Connection cannot take Host, or a field the route matched on, off the request.
  const std::string connection = Curl({"-H", "Host: site.test", "-H", "X-Tenant: t1", "-H",
                                       "Connection: close, Host, X-Tenant", Url(node, "/echo")});
  EXPECT_THAT(connection, HasSubstr(R"(["host", "site.test"])")) << connection;
  EXPECT_THAT(connection, HasSubstr(R"(["x-tenant", "t1"])")) << connection;

  // Hosts that are no authority.
  EXPECT_THAT(Raw(node, "GET http://user@evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(Raw(node, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request"));

  // Lookalikes of X-Forwarded-*, from a client no trusted network names: none reaches the
  // backend; a listener with underscores_in_headers keeps names with '_' (still not the others).
  const std::vector<std::string> lookalikes = {"-H", "X_Forwarded_For: 6.6.6.6",
                                               "-H", "X-Forwarded_Host: evil.example",
                                               "-H", "Forwarded: for=6.6.6.6",
                                               "-H", "X-Real-IP: 6.6.6.6",
                                               "-H", "Good_Field: 1"};
  std::vector<std::string> args = lookalikes;
  args.push_back(Url(node, "/echo"));
  const std::string dropped = Curl(args);
  EXPECT_THAT(dropped, HasSubstr(R"(["x-forwarded-for", "127.0.0.1"])")) << dropped;
  EXPECT_THAT(dropped, Not(HasSubstr("6.6.6.6"))) << dropped;
  EXPECT_THAT(dropped, Not(HasSubstr("evil.example"))) << dropped;
  EXPECT_THAT(dropped, Not(HasSubstr("good_field"))) << dropped;
  args.back() = absl::StrCat("http://127.0.0.1:", node.ports.at("keep"), "/echo");
  const std::string kept = Curl(args);
  EXPECT_THAT(kept, HasSubstr(R"(["good_field", "1"])")) << kept;
  EXPECT_THAT(kept, Not(HasSubstr("for=6.6.6.6"))) << kept;
  EXPECT_THAT(kept, Not(HasSubstr("x-real-ip"))) << kept;
}

// A backend whose first read holds a head and a broken chunk: nothing reached the client yet,
// so it gets a 502 (and the node says why). A client that stops sending its body is answered
// 408 after body_timeout, not held for the pool's idle timeout (an hour).
TEST_F(HttpTest, BadAnswersAndSlowBodiesEndInTheirStatus) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A"}),
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[server.http]\nbody_timeout = \"1s\"\n",
                                   "[[server.forward]]\npool = \"a\"\n")));
  EXPECT_EQ(Curl({"-o", "/dev/null", "-w", "%{http_code}", Url(node, "/bad-chunk")}), "502");
  EXPECT_TRUE(
      node.process->WaitForLine(std::regex("bad response pool=a backend=127\\.0\\.19\\.17:"
                                           "18081: bad chunked body")));

  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.ports.at("web")));
  ASSERT_TRUE(SendAll(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc").ok());
  PLBY_ASSERT_OK_AND_ASSIGN(std::string slow, ReadToEnd(fd));
  close(fd);
  EXPECT_THAT(slow, StartsWith("HTTP/1.1 408 Request Timeout")) << slow;
  EXPECT_THAT(slow, HasSubstr("the request body stopped arriving (nothing for 1000 ms)")) << slow;
  // The backend answered before the body was whole, and the client stalled: the answer goes
  // out, and the connection ends with it (what is left of the body would be in the way).
  PLBY_ASSERT_OK_AND_ASSIGN(fd, Connect(node.ports.at("web")));
  ASSERT_TRUE(
      SendAll(fd, "POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc").ok());
  PLBY_ASSERT_OK_AND_ASSIGN(std::string early, ReadToEnd(fd));
  close(fd);
  EXPECT_THAT(early, StartsWith("HTTP/1.1 413")) << early;
  EXPECT_THAT(early, HasSubstr("too large, said early\n")) << early;
  // A body that keeps coming, slower than a read per body_timeout but never stopping, is served.
  const std::string trickle = Python(R"(
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
for byte in b"abcd":
    time.sleep(0.4)
    s.sendall(bytes([byte]))
answer = b""
while chunk := s.recv(65536):
    answer += chunk
print(answer.split(b"\r\n")[0].decode())
)",
                                     node.ports.at("web"));
  EXPECT_EQ(trickle, "HTTP/1.1 200 OK");
}

// Under descriptor pressure (a node with 256 descriptors), idle keep-alive clients used to lock
// new ones out until their keep-alive timeout: 96 idle clients took a node's every place, and an
// attacker could keep it so. Now the longest idle makes room, as nginx does: each new client
// is served within a second, whether the limit is the node's share of max_connections (derived
// from the descriptors) or the descriptors themselves (max_connections set past them).
TEST_F(HttpTest, IdleClientsMakeRoomForNewOnes) {
  StartBackends({"A"});
  const std::string client = R"(
import socket, sys, time
port, count = int(sys.argv[1]), 300
held, slowest, served = [], 0.0, 0
for i in range(count):
    started = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET /n HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"A /n\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        if answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"A /n\n"):
            served += 1
    except OSError:
        pass
    slowest = max(slowest, time.monotonic() - started)
    held.append(s)  # idle, kept open: a keep-alive client between requests
# The clients made room for the ones after them: the first are closed now.
closed = 0
for s in held[:10]:
    s.settimeout(2)
    try:
        closed += s.recv(1) == b""
    except OSError:
        closed += 1
print("served", served, "of", count, "slowest under 1s", slowest < 1.0, "first closed", closed)
)";
  for (const std::string& limits :
       {std::string(""), std::string("[node]\nmax_connections = 5000\n")}) {
    TempDir dir;
    PLBY_ASSERT_OK_AND_ASSIGN(
        Node node,
        StartNode(dir,
                  absl::StrCat(Header(), limits, Pools({"A"}),
                               "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                               "mode = \"http\"\n[server.http]\nkeepalive_timeout = \"1h\"\n",
                               "[[server.forward]]\npool = \"a\"\n"),
                  {"--workers", "2"}, {}, {"/usr/bin/prlimit", "--nofile=256:256", "--"}));
    EXPECT_EQ(Python(client, node.ports.at("web")),
              "served 300 of 300 slowest under 1s True first closed 10")
        << limits << node.process->Output();
    EXPECT_GE(WaitForMetric(node, "plby_connections_closed_total{reason=\"idle_for_new_client\"}")
                  .value_or(0),
              10u)
        << limits;
  }
}

TEST_F(HttpTest, RefusalsAnswerWithTheirStatus) {
  StartBackends({"A"});
  RefusedPort refused;
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A"}),
                                   "[[pool]]\nname = \"gone\"\nbackends = [ { address = \"",
                                   refused.address(), "\" } ]\n[pool.health]\ncheck = \"none\"\n",
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[server.http]\nhead_timeout = \"300ms\"\n",
                                   "response_timeout = \"500ms\"\nmax_body_bytes = 1000\n",
                                   "[[server.forward]]\npool = \"gone\"\npath = \"/gone\"\n",
                                   "[[server.forward]]\npool = \"a\"\n")));
  const auto status = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all = {"-o", "/dev/null", "-w", "%{http_code}"};
    all.insert(all.end(), args.begin(), args.end());
    return Curl(all);
  };
  EXPECT_EQ(status({Url(node, absl::StrCat("/", std::string(9000, 'a')))}), "414");
  std::vector<std::string> many;
  for (int i = 0; i < 101; ++i) {
    many.push_back("-H");
    many.push_back(absl::StrCat("X-Field-", i, ": ", i));
  }
  many.push_back(Url(node, "/"));
  EXPECT_EQ(status(many), "431");
  EXPECT_EQ(status({"-H", absl::StrCat("X-Big: ", std::string(70'000, 'b')), Url(node, "/")}),
            "431");
  EXPECT_EQ(status({"--data-binary", std::string(5000, 'x'), Url(node, "/echo")}), "413");
  EXPECT_EQ(status({"-H", "Transfer-Encoding: chunked", "--data-binary", std::string(5000, 'x'),
                    Url(node, "/echo")}),
            "413");
  EXPECT_EQ(status({"--data-binary", std::string(500, 'x'), Url(node, "/echo")}), "200");
  EXPECT_THAT(Raw(node, "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n"),
              StartsWith("HTTP/1.1 501"));
  EXPECT_THAT(Raw(node, "GET / HTTP/2.0\r\nHost: a\r\n\r\n"), StartsWith("HTTP/1.1 505"));
  EXPECT_EQ(status({Url(node, "/garbage")}), "502");
  // A reset before any answer: a GET is sent again once (the connection might have been an
  // idle one the backend closed), a POST never; both end in a 502 here.
  EXPECT_EQ(status({Url(node, "/reset")}), "502");
  EXPECT_EQ(status({"-X", "POST", "--data-binary", "x", Url(node, "/reset")}), "502");
  EXPECT_EQ(status({Url(node, "/gone")}), "503");
  EXPECT_EQ(status({Url(node, "/slow?ms=3000")}), "504");
  // Half a head, then nothing: 408 once head_timeout has passed.
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.ports.at("web")));
  ASSERT_TRUE(SendAll(fd, "GET / HTTP/1.1\r\nHost: a\r\n").ok());
  PLBY_ASSERT_OK_AND_ASSIGN(std::string timed_out, ReadToEnd(fd));
  close(fd);
  EXPECT_THAT(timed_out, StartsWith("HTTP/1.1 408 Request Timeout"));
  // The backend's own statuses pass through untouched, keep-alive included.
  EXPECT_EQ(Curl({"-w", " %{http_code}", Url(node, "/status/503")}), "status 503 from A\n 503");
}

TEST_F(HttpTest, PipelinedRequestsAreAnsweredInOrder) {
  StartBackends({"A", "B"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, absl::StrCat(Header(), "[[server]]\nname = \"web\"\n",
                                              "listen = \"127.0.0.1:0\"\nmode = \"http\"\n",
                                              "[[server.forward]]\nalgorithm = \"RR\"\n",
                                              "backends = [ { address = \"", Address("A"),
                                              "\" }, { address = \"", Address("B"), "\" } ]\n")));
  std::string requests;
  for (int i = 1; i <= 6; ++i) {
    absl::StrAppend(&requests, "GET /p", i, " HTTP/1.1\r\nHost: a\r\n",
                    i == 3 ? "Content-Length: 4\r\n\r\nbody" : "\r\n");
  }
  const std::string answers = Raw(node, requests);
  size_t at = 0;
  for (int i = 1; i <= 6; ++i) {
    const size_t found = answers.find(absl::StrCat(" /p", i, "\n"), at);
    ASSERT_NE(found, std::string::npos) << "answer " << i << " missing or out of order:\n"
                                        << answers;
    at = found;
  }
  EXPECT_EQ(CountOf(answers, "HTTP/1.1 200 OK"), 6);
}

TEST_F(HttpTest, WebSocketUpgradeBecomesARelay) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A"}),
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[[server.forward]]\npool = \"a\"\n")));
  const std::string python = Python(R"(
import base64, hashlib, os, socket, sys
client = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
client.sendall(("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += client.recv(4096)
head, rest = head.split(b"\r\n\r\n", 1)
expected = base64.b64encode(hashlib.sha1(
    (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
print(head.split(b"\r\n")[0].decode())
print(("Sec-WebSocket-Accept: " + expected).encode() in head)
payload = os.urandom(200000)
client.sendall(payload)
echoed = rest
while len(echoed) < len(payload):
    echoed += client.recv(65536)
print(echoed == payload)
)",
                                    node.ports.at("web"));
  EXPECT_EQ(python, "HTTP/1.1 101 Switching Protocols\nTrue\nTrue");
}

TEST_F(HttpTest, ALoadGeneratorSeesOnlySuccess) {
  StartBackends({"A", "B"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, absl::StrCat(Header(), "[[server]]\nname = \"web\"\n",
                                              "listen = \"127.0.0.1:0\"\nmode = \"http\"\n",
                                              "[[server.forward]]\nalgorithm = \"p2c\"\n",
                                              "backends = [ { address = \"", Address("A"),
                                              "\" }, { address = \"", Address("B"), "\" } ]\n")));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult wrk,
                            RunToExit("/usr/bin/wrk", {"-t1", "-c8", "-d1s", Url(node, "/load")}));
  EXPECT_EQ(wrk.exit_code, 0) << wrk.output;
  EXPECT_THAT(wrk.output, HasSubstr("requests in")) << wrk.output;
  EXPECT_THAT(wrk.output, Not(HasSubstr("Non-2xx"))) << wrk.output;
  EXPECT_THAT(wrk.output, Not(HasSubstr("Socket errors"))) << wrk.output;
}

TEST_F(HttpTest, HttpChecksJudgeBackendsByTheirStatus) {
  StartBackends({"A"});
  StartBackends({"B"}, 503);
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), "[[server]]\nname = \"web\"\n",
                                   "listen = \"127.0.0.1:0\"\nmode = \"http\"\n",
                                   "[server.health]\ncheck = \"http\"\npath = \"/health\"\n",
                                   "host = \"health.test\"\nexpect = \"200-299\"\n",
                                   "interval = \"200ms\"\ntimeout = \"150ms\"\n",
                                   "[[server.forward]]\nalgorithm = \"RR\"\n",
                                   "backends = [ { address = \"", Address("A"),
                                   "\" }, { address = \"", Address("B"), "\" } ]\n")));
  // B answers its checks with a 503: it is taken out, A serves everything.
  const std::string unhealthy = absl::StrCat("plby_backend_health{pool=\"web\",backend=\"",
                                             Address("B"), "\",state=\"unhealthy\"}");
  EXPECT_EQ(WaitForMetric(node, unhealthy, 1), 1u);
  EXPECT_EQ(WaitForMetric(node,
                          absl::StrCat("plby_backend_health{pool=\"web\",backend=\"", Address("A"),
                                       "\",state=\"healthy\"}"),
                          1),
            1u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Curl({Url(node, "/x")}), "A /x");
  EXPECT_TRUE(node.process->WaitForLine(std::regex("HTTP check: status 503 \\(expected 200-299\\)"))
                  .has_value())
      << node.process->Output();
}

TEST_F(HttpTest, IdempotentRequestsAreRetriedElsewhereAndPostsAreNot) {
  StartBackends({"A", "B"});
  const std::string backends = absl::StrCat("backends = [ { address = \"", Address("A"),
                                            "\" }, { address = \"", Address("B"), "\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), "[[server]]\nname = \"web\"\n",
                                   "listen = \"127.0.0.1:0\"\nmode = \"http\"\n",
                                   "[server.health]\ncheck = \"none\"\npassive_failures = 0\n",
                                   "[[server.forward]]\nalgorithm = \"RR\"\n", backends,
                                   "[[server.forward]]\npool = \"web\"\npath_prefix = \"/once/\"\n",
                                   "strip_prefix = true\nretries = 0\n")));
  // A answers /only-on/B with a 503: a GET that goes there first is sent on to B.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Curl({"-w", " %{http_code}", Url(node, "/only-on/B")}), "200 from B\n 200");
  }
  EXPECT_GE(WaitForMetric(node, "plby_http_retries_total{listener=\"web\",result=\"made\"}", 2)
                .value_or(0),
            2u);
  // A POST is never sent twice: half of them meet A's 503.
  int unavailable = 0;
  for (int i = 0; i < 4; ++i) {
    const std::string code =
        Curl({"-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", Url(node, "/only-on/B")});
    unavailable += code == "503" ? 1 : 0;
  }
  EXPECT_EQ(unavailable, 2);
  // Nor is a request of a route with retries = 0.
  int passed_through = 0;
  for (int i = 0; i < 4; ++i) {
    passed_through +=
        Curl({"-o", "/dev/null", "-w", "%{http_code}", Url(node, "/once/only-on/B")}) == "503";
  }
  EXPECT_EQ(passed_through, 2);
}

TEST_F(HttpTest, MaglevAndP2cKeyOnAHeaderOrCookie) {
  StartBackends({"A", "B", "C"});
  const std::string backends =
      absl::StrCat("backends = [ { address = \"", Address("A"), "\" }, { address = \"",
                   Address("B"), "\" }, { address = \"", Address("C"), "\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(
                          Header(), "[[pool]]\nname = \"sticky\"\nalgorithm = \"maglev\"\n",
                          "hash = \"header:X-User\"\n", backends,
                          "[[pool]]\nname = \"pairs\"\nalgorithm = \"p2c\"\n",
                          "hash = \"cookie:session\"\n", backends,
                          "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                          "mode = \"http\"\n[[server.forward]]\npool = \"pairs\"\n",
                          "path_prefix = \"/p2c/\"\n", "[[server.forward]]\npool = \"sticky\"\n")));
  // Each user's requests, on new connections each time, reach one backend; users spread.
  std::set<std::string> seen;
  for (int user = 0; user < 12; ++user) {
    const std::string header = absl::StrCat("X-User: user-", user);
    const std::string first =
        Curl({"-H", header, "-o", "/dev/null", "-w", "%header{x-backend}", Url(node, "/sticky")});
    for (int again = 0; again < 3; ++again) {
      EXPECT_EQ(
          Curl({"-H", header, "-o", "/dev/null", "-w", "%header{x-backend}", Url(node, "/sticky")}),
          first)
          << header;
    }
    seen.insert(first);
  }
  EXPECT_GE(seen.size(), 2u);
  // p2c keyed on a cookie: one session's requests choose between the same two backends.
  std::set<std::string> pair;
  for (int i = 0; i < 12; ++i) {
    pair.insert(Curl({"-H", "Cookie: theme=dark; session=abc123", "-o", "/dev/null", "-w",
                      "%header{x-backend}", Url(node, "/p2c/x")}));
  }
  EXPECT_LE(pair.size(), 2u);
}

TEST_F(HttpTest, TerminatesTlsAndAnswers421ForAHostTheCertificateDoesNotName) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult certs,
      RunToExit("/bin/bash", {PLBY_SOURCE_DIR "/tests/tools/make-test-certs.sh", dir_.path()}));
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_,
                absl::StrCat(Header(), Pools({"A"}),
                             "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                             "mode = \"http\"\n[server.tls]\n",
                             "certificates = [ { cert = \"api.pem\", key = \"api.key\" } ]\n",
                             "[[server.forward]]\npool = \"a\"\nhost = [\"api.example.com\"]\n",
                             "path_prefix = \"/\"\n")));
  const uint16_t port = node.ports.at("web");
  const std::string base = absl::StrCat("https://api.example.com:", port);
  const std::vector<std::string> tls = {"--cacert", absl::StrCat(dir_.path(), "/ca.pem"),
                                        "--resolve",
                                        absl::StrCat("api.example.com:", port, ":127.0.0.1")};
  const auto curl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), tls.begin(), tls.end());
    return Curl(args);
  };
  EXPECT_EQ(curl({absl::StrCat(base, "/x")}), "A /x");
  // Over TLS, the backend hears so.
  EXPECT_THAT(curl({absl::StrCat(base, "/echo")}), HasSubstr(R"(["x-forwarded-proto", "https"])"));
  // A Host that is not the certificate's: the client must connect again (421); one that is,
  // with no route for it: 404.
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: other.test",
                  absl::StrCat(base, "/x")}),
            "421");
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", "-X", "OPTIONS", "--request-target", "*",
                  base}),
            "404");
}

TEST_F(HttpTest, NginxSeesItsConnectionsReused) {
  // nginx says which of its connections served a request ($connection) and how many requests
  // that connection has carried ($connection_requests).
  const std::string nginx_ip = ip_;
  const std::string config = dir_.Write(
      "nginx.conf",
      absl::StrCat("worker_processes 1;\ndaemon off;\nmaster_process off;\nuser root;\n", "pid ",
                   dir_.path(), "/nginx.pid;\nerror_log stderr warn;\n",
                   "events { worker_connections 1024; }\n", "http {\n  access_log off;\n",
                   "  server {\n    listen ", nginx_ip, ":18090;\n",
                   "    location / { return 200 \"$connection $connection_requests\\n\"; }\n",
                   "  }\n}\n"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Process> nginx,
      StartPeer("/usr/sbin/nginx", {"-p", dir_.path(), "-c", config}, nginx_ip, 18090));
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, absl::StrCat(Header(), "[[server]]\nname = \"web\"\n",
                                              "listen = \"127.0.0.1:0\"\nmode = \"http\"\n",
                                              "[[server.forward]]\nbackends = [ { address = \"",
                                              nginx_ip, ":18090\" } ]\n")));
  // Ten clients one after the other: nginx sees at most one connection per plby worker (2),
  // each carrying requests one after another.
  std::set<std::string> connections;
  int most_requests = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string answer = Curl({Url(node, "/")});
    const std::vector<std::string> parts = absl::StrSplit(answer, ' ');
    ASSERT_EQ(parts.size(), 2u) << answer;
    connections.insert(parts[0]);
    most_requests = std::max(most_requests, std::stoi(parts[1]));
  }
  EXPECT_LE(connections.size(), 2u);
  EXPECT_GE(most_requests, 5);
}

TEST_F(HttpTest, DrainClosesIdleKeepAliveClientsAtOnce) {
  StartBackends({"A"});
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, absl::StrCat(Header(), Pools({"A"}),
                                   "[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n",
                                   "mode = \"http\"\n[[server.forward]]\npool = \"a\"\n")));
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.ports.at("web")));
  ASSERT_TRUE(SendAll(fd, "GET /d HTTP/1.1\r\nHost: a\r\n\r\n").ok());
  std::string answer;
  char buffer[4096];
  while (answer.find("A /d\n") == std::string::npos) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    ASSERT_GT(n, 0) << answer;
    answer.append(buffer, static_cast<size_t>(n));
  }
  // The client keeps its connection, idle. On SIGTERM the node closes it rather than wait out
  // the 30 s drain timeout (or the 60 s keep-alive timeout).
  const auto started = std::chrono::steady_clock::now();
  node.process->Signal(SIGTERM);
  PLBY_ASSERT_OK_AND_ASSIGN(std::string rest, ReadToEnd(fd));
  close(fd);
  EXPECT_EQ(rest, "");
  EXPECT_EQ(node.process->WaitForExit(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

}  // namespace
}  // namespace plby::testing
