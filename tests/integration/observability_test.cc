// What operators see: Prometheus metrics and the status page on the metrics listener (the page
// loaded in headless Chromium), JSON logs, the plaintext health listener for Kubernetes probes,
// and plbyctl reaching a fleet through one name.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc_probe.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kChromium[] = "/usr/bin/chromium";

// One HTTP request on its own connection; the whole answer, head and body.
std::string HttpRequest(uint16_t port, const std::string& method, const std::string& path) {
  absl::StatusOr<std::string> answer =
      Exchange(port, absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: test\r\n\r\n"));
  return answer.ok() ? *answer : absl::StrCat("(failed: ", answer.status().ToString(), ")");
}

// Polls `path` until `ready` holds for its answer (counters are summed when scraped, so a
// connection just closed may take a moment to show); returns the last answer.
std::string WaitForAnswer(uint16_t port, const std::string& path,
                          const std::function<bool(const std::string&)>& ready) {
  std::string answer;
  WaitUntil([&] {
    answer = HttpRequest(port, "GET", path);
    return ready(answer);
  });
  return answer;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

uint16_t PortFromLine(Process& process, const std::string& what) {
  const auto line = process.WaitForLine(std::regex(" " + what + " listening address=\\S+:(\\d+)"));
  return line ? static_cast<uint16_t>(std::stoi((*line)[1])) : 0;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PLBY_ASSERT_OK_AND_ASSIGN(first_, StartBackend("hi"));
    PLBY_ASSERT_OK_AND_ASSIGN(second_, StartBackend("hi"));
    PLBY_ASSERT_OK_AND_ASSIGN(
        node_, StartNode(dir_,
                         OnePoolConfig({{first_.address(), 1}, {second_.address(), 1}}) +
                             "[metrics]\nlisten = \"127.0.0.1:0\"\n",
                         {"--workers", "1"}));  // one worker: an exact round robin
    metrics_port_ = PortFromLine(*node_.process, "metrics");
    ASSERT_NE(metrics_port_, 0) << node_.process->Output();
  }

  // The sample line of `family` for `backend` in pool "web".
  static std::string BackendSample(const std::string& family, const Backend& backend,
                                   const std::string& value) {
    return absl::StrCat(family, "{pool=\"web\",backend=\"", backend.address(), "\"} ", value, "\n");
  }

  TempDir dir_;
  Backend first_, second_;
  Node node_;
  uint16_t metrics_port_ = 0;
};

TEST_F(MetricsTest, CountConnectionsAndBytesPerBackend) {
  const std::string request = "hello";  // 5 bytes to the backend per connection
  for (int i = 0; i < 4; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node_.port(), request));
    ASSERT_FALSE(answer.empty());
  }
  const std::string from_first = std::to_string(2 * Hi(first_).size());
  const std::string from_second = std::to_string(2 * Hi(second_).size());
  const std::string metrics = WaitForAnswer(metrics_port_, "/metrics", [&](const std::string& m) {
    return Contains(m, BackendSample("plby_backend_received_bytes_total", first_, from_first)) &&
           Contains(m, BackendSample("plby_backend_received_bytes_total", second_, from_second)) &&
           Contains(m, "plby_connections_active 0\n");
  });
  EXPECT_THAT(metrics, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(metrics, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  for (const Backend* backend : {&first_, &second_}) {
    EXPECT_THAT(metrics, HasSubstr(BackendSample("plby_backend_connections_total", *backend, "2")));
    EXPECT_THAT(metrics,
                HasSubstr(BackendSample("plby_backend_connections_active", *backend, "0")));
    EXPECT_THAT(metrics, HasSubstr(BackendSample("plby_backend_sent_bytes_total", *backend, "10")));
    EXPECT_THAT(metrics,
                HasSubstr(BackendSample("plby_backend_connect_failures_total", *backend, "0")));
  }
  EXPECT_THAT(metrics,
              HasSubstr(BackendSample("plby_backend_received_bytes_total", first_, from_first)));
  EXPECT_THAT(metrics, HasSubstr("plby_connections_accepted_total 4\n"));
  EXPECT_THAT(metrics, HasSubstr("plby_workers 1\n"));
  EXPECT_THAT(metrics, HasSubstr("plby_pool_version{pool=\"web\"} 1\n"));
}

TEST_F(MetricsTest, ShowHealth) {
  // The second backend dies: the health checks mark it.
  second_.process.reset();
  const std::string unhealthy = absl::StrCat("plby_backend_health{pool=\"web\",backend=\"",
                                             second_.address(), "\",state=\"unhealthy\"} 1\n");
  const std::string healthy = absl::StrCat("plby_backend_health{pool=\"web\",backend=\"",
                                           first_.address(), "\",state=\"healthy\"} 1\n");
  const std::string metrics = WaitForAnswer(metrics_port_, "/metrics", [&](const std::string& m) {
    return Contains(m, unhealthy) && Contains(m, healthy);
  });
  EXPECT_THAT(metrics, HasSubstr(unhealthy));
  EXPECT_THAT(metrics, HasSubstr(healthy));
}

TEST_F(MetricsTest, AnswerOnlyWhatTheyServe) {
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/nothing"), HasSubstr("HTTP/1.1 404 Not Found"));
  const std::string post = HttpRequest(metrics_port_, "POST", "/metrics");
  EXPECT_THAT(post, HasSubstr("HTTP/1.1 405 Method Not Allowed"));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD"));
  const std::string head = HttpRequest(metrics_port_, "HEAD", "/metrics");
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_TRUE(absl::EndsWith(head, "\r\n\r\n")) << head;  // no body
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/status.json?x=1"),
              HasSubstr("\"pools\":[{\"name\":\"web\""));
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/"), HasSubstr("<title>plby node</title>"));

  // A request head that never ends is cut off, and the listener goes on serving.
  absl::StatusOr<int> fd = Connect(metrics_port_);
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(SendAll(*fd, "GET /" + std::string(9000, 'a')).ok());
  PLBY_ASSERT_OK_AND_ASSIGN(std::string cut, ReadToEnd(*fd));
  close(*fd);
  EXPECT_THAT(cut, HasSubstr("431"));
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/metrics"), HasSubstr("200 OK"));
}

// The status page, rendered by a real browser: the backends, their health and weights appear.
// Clients that send half a request line and hold on cannot lock the metrics port: at the cap
// the oldest of them is dropped for a newcomer, and a scrape by a real client (curl) gets
// through while 400 of them are held, re-opened as they are dropped.
TEST_F(MetricsTest, SlowClientsCannotLockOutAScrape) {
  RaiseDescriptorLimit();
  std::vector<int> slow;
  const auto open_slow = [&] {
    absl::StatusOr<int> fd = Connect(metrics_port_);
    if (!fd.ok()) return;
    if (SendAll(*fd, "GET /metr").ok()) slow.push_back(*fd);
  };
  for (int i = 0; i < 400; ++i) open_slow();
  ASSERT_EQ(slow.size(), 400u);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) open_slow();  // the attacker keeps re-opening
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult scrape,
        RunToExit("/usr/bin/curl", {"--silent", "--show-error", "--fail", "--max-time", "5",
                                    absl::StrCat("http://127.0.0.1:", metrics_port_, "/metrics")}));
    EXPECT_EQ(scrape.exit_code, 0) << "round " << round << ": " << scrape.output;
    EXPECT_THAT(scrape.output, HasSubstr("plby_connections_accepted_total"));
  }
  for (int fd : slow) close(fd);
}

TEST_F(MetricsTest, StatusPageShowsTheBackendsInABrowser) {
  ASSERT_TRUE(std::filesystem::exists(kChromium))
      << kChromium << " is missing: tests/deps.sh installs the chromium package";
  // Wait until both backends are checked healthy, so the page has something definite to show.
  WaitForAnswer(metrics_port_, "/status.json", [](const std::string& json) {
    return json.find("\"unknown\"") == std::string::npos;
  });
  TempDir profile;
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult page,
      RunToExit(kChromium, {"--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=" + profile.path(), "--virtual-time-budget=5000",
                            "--dump-dom", absl::StrCat("http://127.0.0.1:", metrics_port_, "/")}));
  EXPECT_EQ(page.exit_code, 0) << page.output;
  for (const Backend* backend : {&first_, &second_}) {
    EXPECT_THAT(page.output, HasSubstr(absl::StrCat("<tr data-backend=\"", backend->address(),
                                                    "\"><td>", backend->address(),
                                                    "</td><td>1</td><td class=\"healthy\">"
                                                    "healthy</td><td>serving</td>")));
  }
  EXPECT_THAT(page.output, HasSubstr("pool web"));
  EXPECT_THAT(page.output, HasSubstr("1 worker ·"));
  // Each pool's chart of its last five minutes, drawn by the page (a canvas and its legend).
  EXPECT_THAT(page.output, HasSubstr("<canvas"));
  EXPECT_THAT(page.output, HasSubstr("new connections/s: "));
  EXPECT_THAT(page.output, HasSubstr(absl::StrCat("</i>", first_.address(), "</span>")));
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/history.json"),
              HasSubstr("{\"interval_seconds\":5,\"charted_backends\":16,\"pools\":[{\"name\":"
                        "\"web\",\"samples\":["));
  // The page rendered under a policy that allows only itself: Chromium enforces it, so an
  // inline script or style would have left the table empty.
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/"),
              HasSubstr("\r\nContent-Security-Policy: default-src 'none'; script-src 'self'; "
                        "style-src 'self'; connect-src 'self'; base-uri 'none'; form-action "
                        "'none'; frame-ancestors 'none'\r\n"));
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/status.js"),
              HasSubstr("Content-Type: text/javascript"));
  EXPECT_THAT(HttpRequest(metrics_port_, "GET", "/status.css"),
              HasSubstr("Content-Type: text/css"));
}

TEST(LogFormatTest, JsonIsOneObjectPerLine) {
  TempDir dir;
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  const std::string config = dir.Write("config.toml", OnePoolConfig({{backend.address()}}));
  PLBY_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Process> node,
      Process::Start(NodeBinary(), {"--config", config, "--log-format", "json"}));
  ASSERT_TRUE(node->WaitForLine(std::regex(R"("msg":"ready workers=\d+")"))) << node->Output();
  node->Signal(SIGTERM);
  ASSERT_EQ(node->WaitForExit(), 0);
  const std::regex object(
      R"re(\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"(debug|info|warn|error)","msg":"([^"\\]|\\.)*"\})re");
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(node->Output(), '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(std::regex_match(std::string(line), object)) << line;
    ++lines;
  }
  EXPECT_GE(lines, 5);

  // A refused configuration is one object too, its several lines escaped in "msg".
  const std::string refused = dir.Write("refused.toml", "[[server]]\nlisten = \"nowhere\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult refusal,
                            RunToExit(NodeBinary(), {"--config", refused, "--log-format", "json"}));
  EXPECT_EQ(refusal.exit_code, 2);
  const std::vector<std::string> refusal_lines =
      absl::StrSplit(refusal.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(refusal_lines.size(), 1u) << refusal.output;
  EXPECT_TRUE(std::regex_match(refusal_lines[0], object)) << refusal.output;
  EXPECT_THAT(refusal_lines[0], HasSubstr("configuration refused, nothing was started: "));
  EXPECT_THAT(refusal_lines[0], HasSubstr("nowhere"));

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult bad,
                            RunToExit(NodeBinary(), {"--config", config, "--log-format", "xml"}));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("unknown log format \"xml\" (valid: text, json)"));
}

// A node with an empty pool and a plaintext health listener, and a channel to that listener.
class HealthListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PLBY_ASSERT_OK_AND_ASSIGN(
        node_, StartNode(dir_, OnePoolConfig({}, "WRR", "", "health_listen = \"127.0.0.1:0\"\n")));
    health_port_ = PortFromLine(*node_.process, "health service");
    ASSERT_NE(health_port_, 0) << node_.process->Output();
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", health_port_),
                                   grpc::InsecureChannelCredentials());
  }

  TempDir dir_;
  Node node_;
  uint16_t health_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

// Kubernetes' gRPC probes cannot present a client certificate: the health listener is plaintext
// and serves health, never the Control service.
TEST_F(HealthListenerTest, ServesHealthButNoControl) {
  absl::StatusOr<int> health = CheckHealth(channel_);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);  // SERVING

  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult status,
      RunToExit(CtlBinary(), {"--node", absl::StrCat("127.0.0.1:", health_port_), "status"}));
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_THAT(status.output, HasSubstr("UNIMPLEMENTED"));
}

// Kubernetes' readiness probe asks for "plby.traffic": a node whose pool has no backend to
// send to is alive ("" SERVING) but not ready, and becomes ready as soon as it gets one.
TEST_F(HealthListenerTest, ReadyOnlyWithABackendToSendTo) {
  auto status_of = [&](const std::string& service) {
    absl::StatusOr<int> status = CheckHealth(channel_, service);
    EXPECT_TRUE(status.ok()) << status.status();
    return status.value_or(-1);
  };
  constexpr int kServing = 1, kNotServing = 2;
  EXPECT_EQ(status_of(""), kServing);
  EXPECT_EQ(status_of("plby.traffic"), kNotServing);  // an empty pool

  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", node_.control_address(), "backends"});
    absl::StatusOr<RunResult> run = RunToExit(CtlBinary(), args);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 0) << run->output;
  };
  // The status changes with the call, before plbyctl returns: no waiting needed.
  ctl({"add", backend.address()});
  EXPECT_EQ(status_of("plby.traffic"), kServing);
  ctl({"drain", backend.address()});  // nothing left to send new connections to
  EXPECT_EQ(status_of("plby.traffic"), kNotServing);
  EXPECT_EQ(status_of(""), kServing);
  ctl({"undrain", backend.address()});
  EXPECT_EQ(status_of("plby.traffic"), kServing);
}

// One name, several nodes: plbyctl --fleet reaches every address the name has.
TEST(FleetControlTest, OneNameReachesEveryNode) {
  // The same control port on 127.0.0.2 and 127.0.0.3, as pods behind a headless Service have:
  // the kernel picks it for the first node; if some other program holds it on .3, again.
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  TempDir dirs[2];
  Node nodes[2];
  uint16_t port = 0;
  absl::Status second_start;
  for (int attempt = 0; attempt < 5 && port == 0; ++attempt) {
    std::string config = OnePoolConfig({});
    config.replace(config.find("127.0.0.1:0"), 11, "127.0.0.2:0");
    PLBY_ASSERT_OK_AND_ASSIGN(nodes[0], StartNode(dirs[0], config));
    const uint16_t candidate = nodes[0].control_port;
    config.replace(config.find("127.0.0.2:0"), 11, absl::StrCat("127.0.0.3:", candidate));
    absl::StatusOr<Node> second = StartNode(dirs[1], config);
    second_start = second.status();
    if (second.ok()) {
      nodes[1] = *std::move(second);
      port = candidate;
    }
  }
  ASSERT_NE(port, 0) << second_start;
  TempDir dir;
  const std::string hosts = dir.Write(
      "hosts", "127.0.0.2 plby-control.test\n127.0.0.3 plby-control.test\n127.0.0.4 other\n");
  // Through env(1): setenv in this (threaded) process would race with gRPC's threads.
  auto plbyctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {absl::StrCat("PLBY_HOSTS_FILE=", hosts), CtlBinary()});
    return RunToExit("/usr/bin/env", args);
  };
  const std::string fleet = absl::StrCat("plby-control.test:", port);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult add,
                            plbyctl({"--fleet", fleet, "backends", "add", backend.address()}));
  EXPECT_EQ(add.exit_code, 0) << add.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult list, plbyctl({"--fleet", fleet, "backends", "list"}));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult unknown, plbyctl({"--fleet", "nobody.test:9100", "status"}));
  EXPECT_EQ(list.exit_code, 0) << list.output;
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT(list.output, HasSubstr(absl::StrCat("127.0.0.", i + 2, ":", port)));
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(nodes[i].port(), "x"));
    EXPECT_EQ(answer, Hi(backend));
  }
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(
      unknown.output,
      HasSubstr(
          "--fleet nobody.test:9100: cannot resolve \"nobody.test\": no line of the hosts file"));
}

}  // namespace
}  // namespace plby::testing
