// Fault injection with real processes: dead and silent backends, health checks, drains and
// deadlines, the state file across SIGKILL, descriptor exhaustion, graceful shutdown.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "grpc_probe.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr int kExitUsage = 2;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time (user + system) a process has used, in seconds, from /proc.
double CpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may contain spaces.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stoll(field);
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class ResilienceTest : public ::testing::Test {
 protected:
  // Starts `count` hi backends.
  void StartBackends(int count) {
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<Backend> backend = StartBackend("hi");
      ASSERT_TRUE(backend.ok()) << backend.status();
      backends_.push_back(*std::move(backend));
    }
  }
  std::vector<BackendEntry> Entries() const {
    std::vector<BackendEntry> entries;
    for (const Backend& backend : backends_) entries.push_back({backend.address()});
    return entries;
  }
  // Waits for the node to log that `backend` became `health` ("healthy" or "unhealthy"), in
  // a line from `from` on.
  bool WaitForHealth(const Node& node, const Backend& backend, const std::string& health,
                     size_t from = 0) {
    return node.process
        ->WaitForLine(
            std::regex("backend " + backend.address() + " of pool web is " + health + " "),
            kWaitTimeout, from)
        .has_value();
  }

  TempDir dir_;
  std::vector<Backend> backends_;
};

TEST_F(ResilienceTest, KillingABackendUnderLoadFailsNoNewConnection) {
  StartBackends(3);
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig(Entries())));
  std::atomic<bool> running{true};
  std::atomic<int> done{0};
  std::mutex mutex;
  Clock::time_point killed_at = Clock::time_point::max();  // guarded by mutex
  std::vector<std::string> failures;                       // guarded by mutex
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (running) {
        const Clock::time_point started = Clock::now();
        absl::StatusOr<std::string> answer = Exchange(node.port(), "hello");
        ++done;
        if (answer.ok() && absl::StartsWith(*answer, "Hi from server ")) continue;
        std::lock_guard<std::mutex> lock(mutex);
        // Only connections opened after the backend was dead count: one in flight at the kill
        // may lose its answer with it.
        if (started > killed_at) {
          failures.push_back(answer.ok() ? "empty answer" : answer.status().ToString());
        }
      }
    });
  }
  auto wait_for_exchanges = [&](int count) {
    const int target = done + count;
    const Clock::time_point limit = Clock::now() + kWaitTimeout;
    while (done < target && Clock::now() < limit) std::this_thread::yield();
  };
  wait_for_exchanges(200);
  backends_[1].process->Signal(SIGKILL);
  ASSERT_TRUE(backends_[1].process->WaitForExit());
  {
    std::lock_guard<std::mutex> lock(mutex);
    killed_at = Clock::now();
  }
  EXPECT_TRUE(WaitForHealth(node, backends_[1], "unhealthy")) << node.process->Output();
  wait_for_exchanges(500);
  running = false;
  for (std::thread& client : clients) client.join();
  EXPECT_THAT(failures, ::testing::IsEmpty()) << absl::StrJoin(failures, "\n");
}

TEST_F(ResilienceTest, HealthTakesADeadBackendOutAndBringsItBackWithin3Seconds) {
  StartBackends(2);
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig(Entries())));
  ASSERT_TRUE(WaitForHealth(node, backends_[0], "healthy"));
  const std::string address = backends_[0].address();
  const uint16_t port = backends_[0].port;

  backends_[0].process->Signal(SIGKILL);
  ASSERT_TRUE(backends_[0].process->WaitForExit());
  const Clock::time_point died = Clock::now();
  ASSERT_TRUE(WaitForHealth(node, backends_[0], "unhealthy")) << node.process->Output();
  const double down_seconds = SecondsSince(died);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult list,
                            Ctl({"--node", node.control_address(), "backends", "list"}));
  EXPECT_THAT(list.output, ::testing::ContainsRegex(address + " +1 +unhealthy +active"));

  // Back on the same port.
  const size_t from = node.process->LineCount();
  PLBY_ASSERT_OK_AND_ASSIGN(auto revived,
                            Process::Start(TestPeerBinary(), {"hi", "--listen", address}));
  ASSERT_TRUE(revived->WaitForLine(std::regex("^listening ")));
  const Clock::time_point back = Clock::now();
  ASSERT_TRUE(node.process->WaitForLine(
      std::regex("backend " + address + " of pool web is healthy \\(2 good checks"), kWaitTimeout,
      from))
      << node.process->Output();
  const double up_seconds = SecondsSince(back);
  std::printf("[ measured ] dead backend out after %.2f s, revived one back after %.2f s\n",
              down_seconds, up_seconds);
  // The defaults promise 3 s both ways; the margin absorbs a loaded machine's scheduling.
  EXPECT_LT(down_seconds, 3.5);
  EXPECT_LT(up_seconds, 3.5);
  PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "x"));
  EXPECT_THAT(answer, HasSubstr("Hi from server"));
  (void)port;
}

TEST_F(ResilienceTest, WatchStreamsHealthChanges) {
  StartBackends(1);
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig(Entries())));
  PLBY_ASSERT_OK_AND_ASSIGN(
      auto watch, Process::Start(CtlBinary(), {"--node", node.control_address(), "backends",
                                               "watch", "-o", "json"}));
  ASSERT_TRUE(watch->WaitForLine(std::regex(R"("health":"healthy")"))) << watch->Output();
  backends_[0].process->Signal(SIGKILL);
  // Same version (the pool did not change), new health.
  EXPECT_TRUE(watch->WaitForLine(std::regex(
      R"("version":1,"backends":\[\{"address":"[^"]+","weight":1,"health":"unhealthy")")))
      << watch->Output();
  watch->Signal(SIGINT);
  EXPECT_EQ(watch->WaitForExit(), 0);
}

TEST_F(ResilienceTest, ABackendThatAnswersNothingIsMarkedDownByChecks) {
  PLBY_ASSERT_OK_AND_ASSIGN(SilentBackend blackhole, StartSilentBackend());
  StartBackends(1);
  std::vector<BackendEntry> entries{{blackhole.address()}, {backends_[0].address()}};
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig(entries, "RR",
                                                                     "connect_timeout = "
                                                                     "\"2s\"\n")));
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      "backend " + blackhole.address() +
      " of pool web is unhealthy \\(2 failed checks in a row, last: Connection timed out\\)")))
      << node.process->Output();
  // Out of the schedule: every client goes straight to the live backend.
  for (int i = 0; i < 4; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "x"));
    EXPECT_EQ(answer, Hi(backends_[0]));
  }
}

TEST_F(ResilienceTest, TheForwarderMarksAFailingBackendBeforeTheNextCheck) {
  StartBackends(2);
  // Checks a minute apart: only the forwarder's own failures can notice the death in time.
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, OnePoolConfig(Entries(), "RR",
                                               "[server.health]\ninterval = \"60s\"\ntimeout = "
                                               "\"1s\"\nrise = 1\npassive_failures = 3\n")));
  backends_[0].process->Signal(SIGKILL);
  ASSERT_TRUE(backends_[0].process->WaitForExit());
  for (int i = 0; i < 8; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "x"));
    EXPECT_EQ(answer, Hi(backends_[1])) << "no client may see the dead backend";
  }
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("backend " + backends_[0].address() +
                 " of pool web is unhealthy \\(passive: 3 connect failures or resets")))
      << node.process->Output();
}

// Without active checks, passive marks still work: a backend that hangs or refuses no longer
// costs every connection its connect timeout. With nothing to check it, a cooldown brings it
// back; if it still fails, the forwarder marks it again.
TEST_F(ResilienceTest, PassiveMarksWorkWithoutActiveChecksAndACooldownUndoesThem) {
  StartBackends(1);
  RefusedPort dead;
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_,
                           OnePoolConfig({{dead.address()}, {backends_[0].address()}}, "RR",
                                         "[server.health]\ncheck = \"none\"\npassive_failures = 2\n"
                                         "passive_cooldown = \"2s\"\n") +
                               "[metrics]\nlisten = \"127.0.0.1:0\"\n",
                           {"--workers", "1"}));
  const auto metrics_line =
      node.process->WaitForLine(std::regex(" metrics listening address=\\S+:(\\d+)"));
  ASSERT_TRUE(metrics_line);
  const uint16_t metrics_port = static_cast<uint16_t>(std::stoi((*metrics_line)[1]));
  // Connects to the dead backend so far, as the metrics count them.
  const auto failures = [&] {
    absl::StatusOr<std::string> scrape = Exchange(metrics_port, "GET /metrics HTTP/1.1\r\n\r\n");
    std::smatch match;
    const std::regex sample("plby_backend_connect_failures_total\\{pool=\"web\",backend=\"" +
                            dead.address() + "\"\\} (\\d+)");
    if (!scrape.ok() || !std::regex_search(*scrape, match, sample)) return -1;
    return std::stoi(match[1]);
  };
  for (int i = 0; i < 6; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "x"));
    EXPECT_EQ(answer, Hi(backends_[0]));
  }
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      "backend " + dead.address() +
      " of pool web is unhealthy \\(passive: 2 connect failures or resets in a row seen by the "
      "forwarder; tried again in 2s, as there are no active checks\\)")))
      << node.process->Output();
  const size_t marked = node.process->LineCount();
  // While it is out, no connect goes to it.
  const int failures_when_marked = failures();
  EXPECT_GE(failures_when_marked, 2);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Exchange(node.port(), "x").ok());
  EXPECT_EQ(failures(), failures_when_marked);
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("backend " + dead.address() +
                 " of pool web takes traffic again: its passive cooldown of 2s is over"),
      kWaitTimeout, marked))
      << node.process->Output();
  // Still dead: the forwarder's failures mark it again.
  const size_t back = node.process->LineCount();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(Exchange(node.port(), "x").ok());
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("backend " + dead.address() + " of pool web is unhealthy \\(passive"),
      kWaitTimeout, back))
      << node.process->Output();
}

TEST_F(ResilienceTest, EveryBackendUnhealthyFollowsThePolicy) {
  for (const std::string policy : {"fail_open", "refuse"}) {
    TempDir dir;
    RefusedPort dead;
    PLBY_ASSERT_OK_AND_ASSIGN(
        Node node, StartNode(dir, OnePoolConfig({{dead.address()}}, "RR",
                                                "[server.health]\nwhen_all_unhealthy = \"" +
                                                    policy + "\"\n")));
    ASSERT_TRUE(node.process->WaitForLine(std::regex("pool web: every backend is unhealthy")))
        << node.process->Output();
    const size_t from = node.process->LineCount();
    absl::StatusOr<std::string> answer = Exchange(node.port(), "x");
    EXPECT_TRUE(!answer.ok() || answer->empty());
    if (policy == "fail_open") {
      // Tried anyway: the health check might be wrong (here it is not, so the client is closed).
      EXPECT_TRUE(node.process->WaitForLine(
          std::regex("backend connect failed pool=web backend=" + dead.address()), kWaitTimeout,
          from))
          << node.process->Output();
    } else {
      EXPECT_TRUE(node.process->WaitForLine(
          std::regex("closing client: pool web has no backend taking connections"), kWaitTimeout,
          from))
          << node.process->Output();
    }
  }
}

TEST_F(ResilienceTest, DrainKeepsOpenConnectionsUntilItsTimeout) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{echo.address()}})));
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
  ASSERT_TRUE(SendAll(fd, "ping;").ok());
  std::string echoed(5, '\0');
  ASSERT_EQ(recv(fd, echoed.data(), 5, MSG_WAITALL), 5);
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult drain, Ctl({"--node", node.control_address(), "backends", "drain", echo.address(),
                            "--drain-timeout", "1s"}));
  ASSERT_EQ(drain.exit_code, 0) << drain.output;
  // Still flowing right after the drain ...
  ASSERT_TRUE(SendAll(fd, "pong;").ok());
  ASSERT_EQ(recv(fd, echoed.data(), 5, MSG_WAITALL), 5);
  EXPECT_EQ(echoed, "pong;");
  // ... and closed by the node once the drain timeout has passed.
  const Clock::time_point drained = Clock::now();
  absl::StatusOr<std::string> rest = ReadToEnd(fd);
  EXPECT_TRUE(!rest.ok() || rest->empty());
  EXPECT_GE(SecondsSince(drained), 0.5);
  close(fd);
}

TEST_F(ResilienceTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{echo.address()}}, "WRR",
                                                                     "idle_timeout = \"1s\"\n")));
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
  ASSERT_TRUE(SendAll(fd, "x").ok());
  char byte;
  ASSERT_EQ(recv(fd, &byte, 1, MSG_WAITALL), 1);
  const Clock::time_point quiet = Clock::now();
  absl::StatusOr<std::string> rest = ReadToEnd(fd);
  EXPECT_TRUE(!rest.ok() || rest->empty());
  EXPECT_GE(SecondsSince(quiet), 0.9);
  close(fd);
}

TEST_F(ResilienceTest, AcknowledgedChangesSurviveSigkill) {
  StartBackends(3);
  const std::string config = OnePoolConfig({{backends_[0].address()}, {backends_[1].address()}},
                                           "WRR", "", "state_file = \"state.toml\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  const std::vector<std::vector<std::string>> changes = {
      {"backends", "add", backends_[2].address(), "--weight", "7"},
      {"backends", "remove", backends_[0].address()},
      {"backends", "set", backends_[1].address(), "--weight", "3"},
      {"backends", "drain", backends_[2].address()},
  };
  for (const auto& change : changes) {
    std::vector<std::string> args{"--node", node.control_address()};
    args.insert(args.end(), change.begin(), change.end());
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult result, Ctl(args));
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult before,
                            Ctl({"--node", node.control_address(), "backends", "list"}));
  node.process->Signal(SIGKILL);
  ASSERT_TRUE(node.process->WaitForExit());

  PLBY_ASSERT_OK_AND_ASSIGN(Node restarted, StartNode(dir_, config));
  EXPECT_TRUE(
      restarted.process->WaitForLine(std::regex("state file .*: pools it lists start "
                                                "from it")));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult after, Ctl({"--node", restarted.control_address(), "backends",
                                                  "list", "-o", "json"}));
  EXPECT_THAT(after.output, HasSubstr("\"version\":5,"));
  EXPECT_THAT(after.output,
              HasSubstr("{\"address\":\"" + backends_[1].address() + "\",\"weight\":3,"));
  EXPECT_THAT(after.output, ::testing::ContainsRegex("\\{\"address\":\"" + backends_[2].address() +
                                                     "\",\"weight\":7,\"health\":\"[a-z]+\","
                                                     "\"state\":\"draining\""));
  EXPECT_THAT(after.output, ::testing::Not(HasSubstr(backends_[0].address())));
}

// What the control API accepted must never stop a restart. A backend added by name is saved by
// name; if the name does not resolve at the next start, the node starts anyway with the backend
// unresolved (no traffic, shown as such, retried) and gives it its address once the name
// resolves again. The names come from a hosts file (PLBY_HOSTS_FILE) that the test edits.
TEST_F(ResilienceTest, ANameThatNoLongerResolvesDoesNotStopARestart) {
  StartBackends(1);
  const std::string hosts = dir_.Write("hosts", "127.0.0.1 api.test\n");
  const std::vector<std::string> environment{"PLBY_HOSTS_FILE=" + hosts};
  const std::string config =
      OnePoolConfig({}, "WRR", "[server.health]\ncheck = \"none\"\n",
                    "state_file = \"state.toml\"\nhealth_listen = \"127.0.0.1:0\"\n");
  const std::string named = "api.test:" + std::to_string(backends_[0].port);
  {
    PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config, {"--workers", "1"}, environment));
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult add,
                              Ctl({"--node", node.control_address(), "backends", "add", named}));
    ASSERT_EQ(add.exit_code, 0) << add.output;
    EXPECT_EQ(Exchange(node.port(), "hello").value_or("(no answer)"), Hi(backends_[0]));
    node.process->Signal(SIGTERM);
    ASSERT_TRUE(node.process->WaitForExit());
  }
  dir_.Write("hosts", "# api.test is gone\n");

  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config, {"--workers", "1"}, environment));
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      "warn  pool \"web\" \\(from the state file\\): backend \"" + named +
      "\" starts unresolved \\(cannot resolve \"api.test\": no line of the hosts file .*\\): it "
      "takes no traffic until its name resolves, which is retried")))
      << node.process->Output();
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult list, Ctl({"--node", node.control_address(), "backends", "list", "-o", "json"}));
  EXPECT_THAT(list.output,
              HasSubstr("{\"address\":\"" + named + "\",\"weight\":1,\"health\":\"unresolved\","));
  EXPECT_THAT(list.output, HasSubstr("\"unresolved\":\"cannot resolve \\\"api.test\\\""));
  // No traffic meanwhile: the pool has nothing to send to, and the node says it is not ready.
  absl::StatusOr<std::string> refused = Exchange(node.port(), "hello");
  EXPECT_TRUE(!refused.ok() || refused->empty()) << *refused;
  const auto health_line =
      node.process->WaitForLine(std::regex(" health service listening address=\\S+:(\\d+)"));
  ASSERT_TRUE(health_line);
  const std::shared_ptr<grpc::Channel> health =
      grpc::CreateChannel("127.0.0.1:" + (*health_line)[1], grpc::InsecureChannelCredentials());
  constexpr int kServing = 1;
  constexpr int kNotServing = 2;
  EXPECT_EQ(*CheckHealth(health, "plby.traffic"), kNotServing);

  dir_.Write("hosts", "127.0.0.1 api.test\n");
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("info  backend " + named + " of pool web resolved to 127\\.0\\.0\\.1:" +
                 std::to_string(backends_[0].port) + ": it takes traffic now")))
      << node.process->Output();
  EXPECT_EQ(Exchange(node.port(), "hello").value_or("(no answer)"), Hi(backends_[0]));
  EXPECT_EQ(*CheckHealth(health, "plby.traffic"), kServing);
}

// A saved backend that the API would refuse now (here: the node's metrics listener, which the
// config moved onto its address after the backend was saved) is left out, with a warning, and
// the node starts; the next change saved writes the file without it.
TEST_F(ResilienceTest, ASavedBackendTheApiWouldRefuseNowIsLeftOut) {
  StartBackends(1);
  const std::string metrics = "127.0.7.1:21303";  // its own 127.0.0.x address: no collision
  dir_.Write("state.toml",
             "format = 1\n[[pool]]\nname = \"web\"\nversion = 4\nbackends = [\n"
             "  { address = \"" +
                 metrics +
                 "\", weight = 1, draining = false },\n"
                 "  { address = \"" +
                 backends_[0].address() + "\", weight = 2, draining = false },\n]\n");
  const std::string config = OnePoolConfig({}, "WRR", "", "state_file = \"state.toml\"\n") +
                             "[metrics]\nlisten = \"" + metrics + "\"\n";
  const std::string path = dir_.Write("config.toml", config);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult check, RunToExit(NodeBinary(), {"--check-config", path}));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("pool \"web\" (from the state file): backend \"" + metrics +
                                      "\" is left out: " + metrics +
                                      " is one of this node's own listeners, the metrics "
                                      "listener"));
  EXPECT_THAT(check.output, HasSubstr("backends 1 (from the state file)"));

  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config, {"--workers", "1"}));
  EXPECT_THAT(node.process->Output(), HasSubstr("is left out: " + metrics));
  EXPECT_EQ(Exchange(node.port(), "hello").value_or("(no answer)"), Hi(backends_[0]));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult set, Ctl({"--node", node.control_address(), "backends", "set",
                                                backends_[0].address(), "--weight", "3"}));
  ASSERT_EQ(set.exit_code, 0) << set.output;
  std::ifstream file(dir_.path() + "/state.toml");
  const std::string saved((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_THAT(saved, Not(HasSubstr(metrics)));
  EXPECT_THAT(saved, HasSubstr("version = 5"));
}

TEST_F(ResilienceTest, ACorruptStateFileStopsTheStart) {
  const std::string config = OnePoolConfig({}, "WRR", "", "state_file = \"state.toml\"\n");
  dir_.Write("state.toml",
             "format = 1\n[[pool]]\nname = \"web\"\nversion = 3\nbackends = [\n"
             "  { address = \"127.0.0.1:9999\", weight = 1, draining = false, colour = 1 },\n]\n");
  const std::string path = dir_.Write("config.toml", config);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult start, RunToExit(NodeBinary(), {"--config", path}));
  EXPECT_EQ(start.exit_code, kExitUsage) << start.output;
  EXPECT_THAT(start.output, HasSubstr("state.toml:6:63: unknown key \"colour\" in a backend"));
  EXPECT_THAT(start.output, HasSubstr("the state file is refused as a whole"));
  EXPECT_THAT(start.output, ::testing::Not(HasSubstr(" ready ")));

  dir_.Write("state.toml", "format = 1\n[[pool]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult garbled, RunToExit(NodeBinary(), {"--config", path}));
  EXPECT_EQ(garbled.exit_code, kExitUsage);
  EXPECT_THAT(garbled.output, HasSubstr("state.toml:2:8: not a valid state file"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult check, RunToExit(NodeBinary(), {"--check-config", path}));
  EXPECT_EQ(check.exit_code, kExitUsage);
}

// 300 clients against a node with 128 descriptors, twice: with the default connection limit
// (derived from the descriptors: clients beyond it wait), and with a limit set too high on
// purpose, so that accept(2) and socket(2) run into EMFILE. Either way the node must not crash
// or spin, and must serve again once the clients have gone.
TEST_F(ResilienceTest, ThreeHundredClientsUnderA128DescriptorLimit) {
  RaiseDescriptorLimit();
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  for (const std::string node_section : {"", "[node]\nmax_connections = 1000\n"}) {
    TempDir dir;
    const std::string config =
        dir.Write("config.toml", OnePoolConfig({{echo.address()}}) + node_section);
    PLBY_ASSERT_OK_AND_ASSIGN(
        auto node, Process::Start("/bin/sh", {"-c", "ulimit -n 128 && exec " + NodeBinary() +
                                                        " --workers 1 --config " + config}));
    ASSERT_TRUE(node->WaitForLine(std::regex(" ready workers=1"))) << node->Output();
    const auto port_line =
        node->WaitForLine(std::regex(" listening server=web pool=web address=\\S+:(\\d+) "));
    ASSERT_TRUE(port_line);
    const uint16_t port = static_cast<uint16_t>(std::stoi((*port_line)[1]));

    std::vector<int> clients;
    for (int i = 0; i < 300; ++i) {
      PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(port));  // completes in the kernel's queue
      fcntl(fd, F_SETFL, O_NONBLOCK);
      send(fd, "x", 1, MSG_NOSIGNAL);
      clients.push_back(fd);
    }
    if (node_section.empty()) {
      EXPECT_TRUE(
          node->WaitForLine(std::regex("file descriptor limit 128, at most 48 "
                                       "connections")));
      EXPECT_TRUE(node->WaitForLine(std::regex("is at its limit of 48 open connections")));
    } else {
      EXPECT_TRUE(node->WaitForLine(std::regex("Too many open files")))
          << "descriptors should run out with the limit set too high\n"
          << node->Output();
    }
    // Saturated, the node waits instead of spinning: little CPU over a second of wall time.
    const double cpu_before = CpuSeconds(node->pid());
    const Clock::time_point wall = Clock::now();
    node->WaitForLine(std::regex("never printed"), std::chrono::milliseconds(1000));
    const double cpu = CpuSeconds(node->pid()) - cpu_before;
    EXPECT_LT(cpu, 0.3 * SecondsSince(wall)) << "the node spins while saturated";
    EXPECT_FALSE(node->WaitForExit(std::chrono::milliseconds(0))) << node->Output();

    for (int fd : clients) close(fd);
    // Once they have gone, it serves again (the queue of closed clients drains first).
    absl::StatusOr<std::string> answer;
    for (int attempt = 0; attempt < 50; ++attempt) {
      answer = Exchange(port, "again");
      if (answer.ok() && *answer == "again") break;
    }
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(*answer, "again") << node->Output();
  }
}

TEST_F(ResilienceTest, SigtermLetsAnOpenConnectionFinishThenExitsZero) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{echo.address()}})));
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
  ASSERT_TRUE(SendAll(fd, "one;").ok());
  std::string echoed(4, '\0');
  ASSERT_EQ(recv(fd, echoed.data(), 4, MSG_WAITALL), 4);

  node.process->Signal(SIGTERM);
  ASSERT_TRUE(node.process->WaitForLine(
      std::regex("listeners closed, no new connections; 1 open ones get up to 30s to finish")));
  // New connections are refused once the listeners are closed ...
  absl::StatusOr<int> late = Connect(node.port());
  EXPECT_FALSE(late.ok());
  if (late.ok()) close(*late);
  // ... while the open one keeps flowing, and the node exits once it ends.
  ASSERT_TRUE(SendAll(fd, "two;").ok());
  ASSERT_EQ(recv(fd, echoed.data(), 4, MSG_WAITALL), 4) << strerror(errno) << "\n"
                                                        << node.process->Output();
  EXPECT_EQ(echoed, "two;");
  EXPECT_FALSE(node.process->WaitForExit(std::chrono::milliseconds(0)));
  shutdown(fd, SHUT_WR);
  PLBY_ASSERT_OK_AND_ASSIGN(std::string rest, ReadToEnd(fd));
  close(fd);
  EXPECT_EQ(node.process->WaitForExit(), 0) << node.process->Output();
  EXPECT_TRUE(
      node.process->WaitForLine(std::regex(" stopped accepted=\\d+ closed_open_connections=0")));
}

TEST_F(ResilienceTest, TheDrainTimeoutEndsAShutdownThatWaitsTooLong) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{echo.address()}}) +
                                                           "[node]\ndrain_timeout = \"1s\"\n"));
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
  ASSERT_TRUE(SendAll(fd, "x").ok());
  char byte;
  ASSERT_EQ(recv(fd, &byte, 1, MSG_WAITALL), 1);
  node.process->Signal(SIGTERM);
  EXPECT_EQ(node.process->WaitForExit(), 0) << node.process->Output();
  EXPECT_TRUE(node.process->WaitForLine(std::regex("drain timeout: closing 1 open connections")));
  absl::StatusOr<std::string> rest = ReadToEnd(fd);
  EXPECT_TRUE(!rest.ok() || rest->empty());
  close(fd);
}

}  // namespace
}  // namespace plby::testing
