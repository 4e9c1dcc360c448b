// The control plane as operators use it: plbyctl against real plby-node processes.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
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
#include "plby/v1/control.grpc.pb.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kExitSomeNodeFailed = 1;
constexpr int kExitUsage = 2;

// The answers of `connections` new connections through `port`.
std::map<std::string, int> Answers(uint16_t port, int connections) {
  std::map<std::string, int> answers;
  for (int i = 0; i < connections; ++i) {
    absl::StatusOr<std::string> answer = Exchange(port, "hello");
    ++answers[answer.ok() ? *answer : answer.status().ToString()];
  }
  return answers;
}

class ControlTest : public ::testing::Test {
 protected:
  // Starts `count` nodes, node i seeded from its own config with backends[0..(i % 2) + 1).
  void StartFleet(int count, const std::vector<Backend>& backends) {
    for (int i = 0; i < count; ++i) {
      std::vector<BackendEntry> seed;
      for (int b = 0; b <= i % 2 && b < static_cast<int>(backends.size()); ++b) {
        seed.push_back({backends[b].address()});
      }
      dirs_.push_back(std::make_unique<TempDir>());
      absl::StatusOr<Node> node = StartNode(*dirs_.back(), OnePoolConfig(seed), {"--workers", "1"});
      ASSERT_TRUE(node.ok()) << node.status();
      nodes_.push_back(*std::move(node));
    }
  }

  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::vector<Node> nodes_;
};

// A fleet-wide add re-run after some nodes already have the backend (new pods after a rollout,
// say): with --if-absent those report it as already there, the others get it, and it exits 0;
// without, the nodes that have it fail. One whose copy differs (another weight) still fails.
TEST_F(ControlTest, AddIfAbsentCompletesAFleetWhereSomeNodesHaveTheBackend) {
  std::vector<Backend> seed(1);
  PLBY_ASSERT_OK_AND_ASSIGN(seed[0], StartBackend("hi"));
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  StartFleet(3, seed);
  ASSERT_EQ(nodes_.size(), 3u);
  const std::string added = backend.address();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult first,
                            Ctl({"--node", nodes_[0].control_address(), "backends", "add", added}));
  ASSERT_EQ(first.exit_code, 0) << first.output;

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult again, Ctl({"--node", ControlAddresses(nodes_), "backends",
                                                  "add", added, "--if-absent"}));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(CountOf(again.output, "already there: " + added), 1) << again.output;
  EXPECT_EQ(CountOf(again.output, "added " + added), 2) << again.output;

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult plain,
                            Ctl({"--node", ControlAddresses(nodes_), "backends", "add", added}));
  EXPECT_EQ(plain.exit_code, 1) << plain.output;
  EXPECT_EQ(CountOf(plain.output, "ALREADY_EXISTS"), 3) << plain.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult weighted,
                            Ctl({"--node", ControlAddresses(nodes_), "backends", "add", added,
                                 "--if-absent", "--weight", "3"}));
  EXPECT_EQ(weighted.exit_code, 1) << weighted.output;
  EXPECT_EQ(CountOf(weighted.output, "not as asked (weight 3, not draining)"), 3)
      << weighted.output;
}

TEST_F(ControlTest, OneCallChangesTheWholeFleetAndTrafficFollows) {
  std::vector<Backend> backends(3);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  const Backend& added = backends[2];
  StartFleet(10, backends);
  ASSERT_EQ(nodes_.size(), 10u);

  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult add, Ctl({"--node", ControlAddresses(nodes_), "backends", "add", added.address()}));
  EXPECT_EQ(add.exit_code, 0) << add.output;
  EXPECT_EQ(CountOf(add.output, "added " + added.address()), 10) << add.output;

  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult list, Ctl({"--node", ControlAddresses(nodes_), "backends", "list", "-o", "json"}));
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("{\"command\":\"backends list\",\"ok\":true,"));
  EXPECT_EQ(CountOf(list.output, "\"address\":\"" + added.address() + "\""), 10) << list.output;
  EXPECT_EQ(CountOf(list.output, "\"version\":2"), 10) << list.output;

  // Round robin over at most 3 backends: within 3 connections every node reaches the new one.
  for (const Node& node : nodes_) {
    EXPECT_GE(Answers(node.port(), 3)[Hi(added)], 1) << "node " << node.control_address();
  }

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult remove, Ctl({"--node", ControlAddresses(nodes_), "backends",
                                                   "remove", added.address()}));
  EXPECT_EQ(remove.exit_code, 0) << remove.output;
  EXPECT_EQ(CountOf(remove.output, "removed " + added.address()), 10) << remove.output;
  for (const Node& node : nodes_) {
    EXPECT_EQ(Answers(node.port(), 4).count(Hi(added)), 0u) << "node " << node.control_address();
  }
}

// Removing or draining a backend stops new connections to it; the open ones go on.
TEST_F(ControlTest, OpenConnectionsOutliveRemoveAndDrain) {
  std::vector<Backend> backends(1);
  PLBY_ASSERT_OK_AND_ASSIGN(backends[0], StartBackend("echo"));
  StartFleet(1, backends);
  const Node& node = nodes_[0];
  for (const std::string command : {"drain", "remove"}) {
    PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
    ASSERT_TRUE(SendAll(fd, "before;").ok());
    std::string echoed(7, '\0');
    ASSERT_EQ(recv(fd, echoed.data(), echoed.size(), MSG_WAITALL), 7);
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult change, Ctl({"--node", node.control_address(), "backends",
                                                     command, backends[0].address()}));
    ASSERT_EQ(change.exit_code, 0) << change.output;
    // New connections find no backend taking them ...
    absl::StatusOr<std::string> refused = Exchange(node.port(), "new");
    EXPECT_TRUE(!refused.ok() || refused->empty()) << command;
    // ... while the one already open keeps flowing both ways, and ends normally.
    ASSERT_TRUE(SendAll(fd, "after").ok()) << command;
    shutdown(fd, SHUT_WR);
    PLBY_ASSERT_OK_AND_ASSIGN(std::string rest, ReadToEnd(fd));
    EXPECT_EQ(rest, "after") << command;
    close(fd);
    if (std::string(command) == "drain") {
      PLBY_ASSERT_OK_AND_ASSIGN(
          RunResult undrain,
          Ctl({"--node", node.control_address(), "backends", "undrain", backends[0].address()}));
      ASSERT_EQ(undrain.exit_code, 0) << undrain.output;
    }
  }
}

TEST_F(ControlTest, ADownNodeIsNamedWhileTheOthersApply) {
  std::vector<Backend> backends(3);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  StartFleet(3, backends);
  const std::string down = nodes_[1].control_address();
  nodes_[1].process->Signal(SIGKILL);
  ASSERT_TRUE(nodes_[1].process->WaitForExit());

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult add, Ctl({"--node", ControlAddresses(nodes_), "backends",
                                                "add", backends[2].address()}));
  EXPECT_EQ(add.exit_code, kExitSomeNodeFailed) << add.output;
  EXPECT_THAT(add.output, HasSubstr("plbyctl: " + down + ": UNAVAILABLE: "));
  EXPECT_THAT(add.output, HasSubstr("plbyctl: 1 of 3 nodes failed"));
  for (int i : {0, 2}) {
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult list,
                              Ctl({"--node", nodes_[i].control_address(), "backends", "list"}));
    EXPECT_THAT(list.output, HasSubstr(backends[2].address())) << "node " << i;
  }
}

TEST_F(ControlTest, OfTwoWritersExpectingTheSameVersionExactlyOneWins) {
  std::vector<Backend> backends(3);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  StartFleet(1, backends);
  for (int round = 0; round < 3; ++round) {
    const std::string version = std::to_string(round + 1);
    PLBY_ASSERT_OK_AND_ASSIGN(
        auto first, Process::Start(CtlBinary(), {"--node", nodes_[0].control_address(), "backends",
                                                 "add", absl::StrCat("127.0.0.1:", 20000 + round),
                                                 "--expected-version", version}));
    PLBY_ASSERT_OK_AND_ASSIGN(
        auto second, Process::Start(CtlBinary(), {"--node", nodes_[0].control_address(), "backends",
                                                  "add", absl::StrCat("127.0.0.1:", 21000 + round),
                                                  "--expected-version", version}));
    const std::optional<int> a = first->WaitForExit();
    const std::optional<int> b = second->WaitForExit();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(std::min(*a, *b), 0) << "round " << round;
    EXPECT_EQ(std::max(*a, *b), kExitSomeNodeFailed) << "round " << round;
    Process& loser = *a == 0 ? *second : *first;
    loser.WaitForOutputEnd();
    EXPECT_THAT(loser.Output(),
                HasSubstr("ABORTED: pool \"web\" is at version " + std::to_string(round + 2) +
                          ", not the expected "
                          "version " +
                          version));
  }
}

TEST_F(ControlTest, BadInputIsRefusedAndThePoolStaysAsItWas) {
  std::vector<Backend> backends(2);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  StartFleet(1, backends);
  const std::string node = nodes_[0].control_address();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult before,
                            Ctl({"--node", node, "backends", "list", "-o", "json"}));

  struct Refusal {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  const std::string pool_port = std::to_string(nodes_[0].port());
  const Refusal refusals[] = {
      {{"backends", "add", "127.0.0.1"},
       kExitUsage,
       "invalid address \"127.0.0.1\": missing \":PORT\""},
      {{"backends", "add", "127.0.0.1:70000"},
       kExitUsage,
       "port 70000 is out of range (valid: 1-65535)"},
      {{"backends", "add", "127.0.0.1:9", "--weight", "0"},
       kExitUsage,
       "--weight \"0\" is not valid (valid: a whole number from 1 to 256)"},
      {{"backends", "set", "127.0.0.1:9"}, kExitUsage, "backends set needs --weight N"},
      {{"backends", "list", "--weight", "2"},
       kExitUsage,
       "--weight does not apply to backends list"},
      {{"backends", "frobnicate"}, kExitUsage, "unknown command \"backends frobnicate\""},
      {{"backends", "add", "127.0.0.1:9", "-o", "yaml"},
       kExitUsage,
       "-o \"yaml\" is not valid (valid: table, json)"},
      {{"backends", "add", "127.0.0.1:9", "--pool", "nope"},
       kExitSomeNodeFailed,
       "NOT_FOUND: no pool \"nope\" on this node (pools: web)"},
      {{"backends", "add", backends[0].address()},
       kExitSomeNodeFailed,
       "ALREADY_EXISTS: backend \"" + backends[0].address() + "\" is already in pool \"web\""},
      {{"backends", "remove", "127.0.0.1:9"},
       kExitSomeNodeFailed,
       "NOT_FOUND: no backend \"127.0.0.1:9\" in pool \"web\""},
      {{"backends", "add", "127.0.0.1:" + pool_port},
       kExitSomeNodeFailed,
       "INVALID_ARGUMENT: backend \"127.0.0.1:" + pool_port + "\": 127.0.0.1:" + pool_port +
           " is one of this node's own listeners, server \"web\""},
      // The control port as a backend would serve the control service on the traffic port.
      {{"backends", "add", "localhost:" + std::to_string(nodes_[0].control_port)},
       kExitSomeNodeFailed,
       "is one of this node's own listeners, the control service: it would expose the control "
       "service on a traffic port"},
      {{"backends", "drain", backends[0].address(), "--expected-version", "9"},
       kExitSomeNodeFailed,
       "ABORTED: pool \"web\" is at version 1, not the expected version 9"},
  };
  for (const Refusal& refusal : refusals) {
    std::vector<std::string> args{"--node", node};
    args.insert(args.end(), refusal.args.begin(), refusal.args.end());
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult result, Ctl(args));
    EXPECT_EQ(result.exit_code, refusal.exit_code) << absl::StrJoin(args, " ") << "\n"
                                                   << result.output;
    EXPECT_THAT(result.output, HasSubstr(refusal.message)) << absl::StrJoin(args, " ");
  }
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult after,
                            Ctl({"--node", node, "backends", "list", "-o", "json"}));
  // Health checks may have moved a backend from unknown to healthy meanwhile: that is not a
  // change of the pool.
  static const std::regex kHealth(R"("health":"[a-z]+")");
  EXPECT_EQ(std::regex_replace(after.output, kHealth, ""),
            std::regex_replace(before.output, kHealth, ""));
  EXPECT_THAT(after.output, HasSubstr("\"version\":1,"));
}

// Who changed what: every mutation is an info line naming the caller, the pool, the backend,
// what was asked, the outcome and the versions; a change that could not be saved is an error
// line too, not only an error for the client.
TEST_F(ControlTest, EveryMutationAndEveryFailedSaveIsInTheNodesLog) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  TempDir dir;
  const std::string state_dir = dir.path() + "/state";
  ASSERT_EQ(mkdir(state_dir.c_str(), 0755), 0);
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir, OnePoolConfig({}, "WRR", "", "state_file = \"state/state.toml\"\n")));
  const std::string control = node.control_address();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult add,
                            Ctl({"--node", control, "backends", "add", backend.address()}));
  ASSERT_EQ(add.exit_code, 0) << add.output;
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      R"(info  control change call=AddBackend peer=ipv4:127\.0\.0\.1:\d+ pool="web" backend=")" +
      backend.address() + R"(" asked="add, weight 1" result=applied version=1->2$)")))
      << node.process->Output();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult again,
                            Ctl({"--node", control, "backends", "add", backend.address()}));
  EXPECT_EQ(again.exit_code, kExitSomeNodeFailed);
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      R"(call=AddBackend .* result=refused version=2 code=ALREADY_EXISTS error="backend )")))
      << node.process->Output();

  // The state file's directory vanishes: the change is refused, and the node says so.
  std::filesystem::remove_all(state_dir);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult drain,
                            Ctl({"--node", control, "backends", "drain", backend.address()}));
  EXPECT_EQ(drain.exit_code, kExitSomeNodeFailed);
  EXPECT_THAT(drain.output, HasSubstr("UNAVAILABLE: could not save the change to the state file"));
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      R"(error state file: a change of pool "web" could not be saved, so it was refused: )")))
      << node.process->Output();
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      R"(call=UpdateBackend .* asked="drain" result=refused version=2 code=UNAVAILABLE)")))
      << node.process->Output();
}

TEST_F(ControlTest, SeveralPoolsNeedAPoolNamed) {
  TempDir dir;
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir, OnePoolConfig({}) + "[[server]]\nname = \"api\"\nlisten = "
                                                    "\"127.0.0.1:0\"\n[[server.forward]]\n"
                                                    "backends = []\n"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult list,
                            Ctl({"--node", node.control_address(), "backends", "list"}));
  EXPECT_EQ(list.exit_code, kExitSomeNodeFailed);
  EXPECT_THAT(list.output, HasSubstr("FAILED_PRECONDITION: the node has 2 pools (web, api): "
                                     "choose one with --pool"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult named, Ctl({"--node", node.control_address(), "backends",
                                                  "list", "--pool", "api"}));
  EXPECT_EQ(named.exit_code, 0) << named.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult status, Ctl({"--node", node.control_address(), "status"}));
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_THAT(status.output, HasSubstr("web (v1, 0 backends), api (v1, 0 backends)"));
}

// The threads of the node, from /proc.
int ThreadsOf(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "Threads:")) return std::stoi(line.substr(8));
  }
  return -1;
}

// Each watch stream holds a thread of the control service while it lasts: 300 of them must
// not make 300 threads. Past the cap a newcomer gets RESOURCE_EXHAUSTED, saying why.
TEST_F(ControlTest, WatchStreamsAreCappedAndDoNotMakeAThreadEach) {
  StartFleet(1, {});
  ASSERT_EQ(nodes_.size(), 1u);
  const int threads_before = ThreadsOf(nodes_[0].process->pid());
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(nodes_[0].control_address(), grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Control::Stub> stub = v1::Control::NewStub(channel);
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::WatchBackendsResponse>> reader;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  int served = 0;
  int refused = 0;
  std::string refusal;
  for (int i = 0; i < 300; ++i) {
    auto stream = std::make_unique<Stream>();
    stream->reader = stub->WatchBackends(&stream->context, v1::WatchBackendsRequest());
    v1::WatchBackendsResponse first;
    if (stream->reader->Read(&first)) {
      ++served;  // open, holding its thread; kept open
    } else {
      const grpc::Status status = stream->reader->Finish();
      ++refused;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      refusal = status.error_message();
    }
    streams.push_back(std::move(stream));
  }
  EXPECT_EQ(served, 64);
  EXPECT_EQ(refused, 236);
  EXPECT_THAT(refusal, HasSubstr("this node serves 64 watch streams already, the most it takes "
                                 "at once"));
  const int threads_during = ThreadsOf(nodes_[0].process->pid());
  EXPECT_LT(threads_during - threads_before, 100) << threads_before << " -> " << threads_during;
  // Unary calls still get through meanwhile.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult list,
                            Ctl({"--node", nodes_[0].control_address(), "backends", "list"}));
  EXPECT_EQ(list.exit_code, 0) << list.output;
  for (auto& stream : streams) stream->context.TryCancel();
}

TEST_F(ControlTest, WatchSeesAChangeMadeByAnotherClient) {
  std::vector<Backend> backends(1);
  PLBY_ASSERT_OK_AND_ASSIGN(backends[0], StartBackend("hi"));
  StartFleet(1, backends);
  PLBY_ASSERT_OK_AND_ASSIGN(
      auto watch, Process::Start(CtlBinary(), {"--node", nodes_[0].control_address(), "backends",
                                               "watch", "--count", "2", "-o", "json"}));
  ASSERT_TRUE(watch->WaitForLine(std::regex(R"("pool":"web","version":1,)"))) << watch->Output();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult add, Ctl({"--node", nodes_[0].control_address(), "backends",
                                                "add", "127.0.0.1:9", "--weight", "7"}));
  ASSERT_EQ(add.exit_code, 0) << add.output;
  EXPECT_EQ(watch->WaitForExit(), 0) << watch->Output();
  EXPECT_TRUE(watch->WaitForLine(std::regex(
      R"("version":2,"backends":\[.*\{"address":"127\.0\.0\.1:9","weight":7,"health":"unknown")")))
      << watch->Output();
}

TEST_F(ControlTest, AWatchOfANodeThatIsDownFailsAndNamesIt) {
  std::vector<Backend> backends(1);
  PLBY_ASSERT_OK_AND_ASSIGN(backends[0], StartBackend("hi"));
  StartFleet(2, backends);
  const std::string down = nodes_[1].control_address();
  nodes_[1].process->Signal(SIGKILL);
  ASSERT_TRUE(nodes_[1].process->WaitForExit());
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult watch, Ctl({"--node", ControlAddresses(nodes_), "backends", "watch", "--duration",
                            "1s", "--timeout", "500ms"}));
  EXPECT_EQ(watch.exit_code, kExitSomeNodeFailed) << watch.output;
  EXPECT_THAT(watch.output, HasSubstr("plbyctl: " + down + ": "));
  EXPECT_THAT(watch.output, HasSubstr(nodes_[0].control_address() + "  pool web  version 1"));
}

// A watch outlives a restart of the node it watches: it says so on stderr, reconnects with
// backoff, and goes on printing.
TEST_F(ControlTest, AWatchReconnectsWhenTheNodeRestarts) {
  TempDir dir;
  // A fixed control address of its own (127.0.8.1 is used by no other test), so that the
  // restarted node listens where the watch reconnects.
  const std::string control = "127.0.8.1:21400";
  std::string fixed = OnePoolConfig({});
  fixed.replace(fixed.find("listen = \"127.0.0.1:0\""), 22, "listen = \"" + control + "\"");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir, fixed, {"--workers", "1"}));
  PLBY_ASSERT_OK_AND_ASSIGN(auto watch,
                            Process::Start(CtlBinary(), {"--node", control, "backends", "watch"}));
  ASSERT_TRUE(watch->WaitForLine(std::regex("pool web  version 1"))) << watch->Output();
  node.process->Signal(SIGKILL);
  ASSERT_TRUE(node.process->WaitForExit());
  EXPECT_TRUE(watch->WaitForLine(std::regex("plbyctl: " + control +
                                            ": watch interrupted \\(UNAVAILABLE: .*\\); "
                                            "reconnecting in 500ms")))
      << watch->Output();
  PLBY_ASSERT_OK_AND_ASSIGN(Node restarted, StartNode(dir, fixed, {"--workers", "1"}));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult add,
                            Ctl({"--node", control, "backends", "add", "127.0.0.1:9"}));
  ASSERT_EQ(add.exit_code, 0) << add.output;
  EXPECT_TRUE(watch->WaitForLine(std::regex("plbyctl: " + control + ": watch resumed")))
      << watch->Output();
  EXPECT_TRUE(watch->WaitForLine(std::regex("pool web  version 2"))) << watch->Output();
  watch->Signal(SIGINT);
  EXPECT_EQ(watch->WaitForExit(), 0) << watch->Output();
}

// --duration bounds a watch whatever happens, a node that never answers included: it ends at
// the duration, not at the (longer) --timeout.
TEST_F(ControlTest, AWatchOfADownNodeEndsAtItsDuration) {
  RefusedPort nobody;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult watch, Ctl({"--node", nobody.address(), "backends", "watch",
                                                  "--duration", "1s", "--timeout", "1h"}));
  EXPECT_EQ(watch.exit_code, kExitSomeNodeFailed) << watch.output;
  EXPECT_THAT(watch.output, HasSubstr("plbyctl: " + nobody.address() +
                                      ": DEADLINE_EXCEEDED: could not connect within 1s "
                                      "(--duration)"));
}

TEST_F(ControlTest, CtrlCEndsAWatchNormally) {
  StartFleet(1, {});
  PLBY_ASSERT_OK_AND_ASSIGN(
      auto watch,
      Process::Start(CtlBinary(), {"--node", nodes_[0].control_address(), "backends", "watch"}));
  ASSERT_TRUE(watch->WaitForLine(std::regex("pool web  version 1"))) << watch->Output();
  watch->Signal(SIGINT);
  EXPECT_EQ(watch->WaitForExit(), 0) << watch->Output();
}

TEST_F(ControlTest, NodeServesHealthAndReflectionOnItsControlPort) {
  StartFleet(1, {});
  auto channel =
      grpc::CreateChannel(nodes_[0].control_address(), grpc::InsecureChannelCredentials());
  absl::StatusOr<int> health = CheckHealth(channel);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);
  absl::StatusOr<std::string> services = ListServicesByReflection(channel);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, HasSubstr("plby.v1.Control"));
}

class MutualTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult certs,
        RunToExit("/bin/bash", {PLBY_SOURCE_DIR "/tests/tools/make-test-certs.sh", dir_.path()}));
    ASSERT_EQ(certs.exit_code, 0) << certs.output;
    PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
    backend_ = std::move(backend);
    PLBY_ASSERT_OK_AND_ASSIGN(
        node_, StartNode(dir_, OnePoolConfig({{backend_.address()}}, "WRR", "",
                                             "tls_cert = \"node.pem\"\ntls_key = \"node.key\"\n"
                                             "tls_client_ca = \"ca.pem\"\n")));
  }

  absl::StatusOr<RunResult> CtlWith(std::vector<std::string> tls, std::vector<std::string> args) {
    std::vector<std::string> all{"--node", node_.control_address()};
    for (const std::string& arg : tls) all.push_back(arg);
    all.insert(all.end(), args.begin(), args.end());
    return Ctl(all);
  }
  std::string File(const std::string& name) { return dir_.path() + "/" + name; }

  TempDir dir_;
  Backend backend_;
  Node node_;
};

TEST_F(MutualTlsTest, ClientsWithoutAValidCertificateChangeNothing) {
  EXPECT_TRUE(node_.process->WaitForLine(std::regex("control service listening .* tls=mtls")));
  const std::vector<std::string> add{"backends", "add", "127.0.0.1:9"};
  struct Refused {
    std::vector<std::string> tls;
    int exit_code;
    std::string error;
  };
  const Refused refused_clients[] = {
      // Plaintext: the TLS handshake fails, no call is made; plbyctl says what may be missing.
      {{}, kExitSomeNodeFailed, "give --ca, --cert and --key"},
      // TLS but no client certificate: the call is refused.
      {{"--ca", File("ca.pem")},
       kExitSomeNodeFailed,
       "UNAUTHENTICATED: no client certificate was presented: this node's control service takes "
       "calls only from clients with a certificate signed by its control.tls_client_ca"},
      // A certificate from another CA: refused, and the node says why.
      {{"--ca", File("ca.pem"), "--cert", File("rogue.pem"), "--key", File("rogue.key")},
       kExitSomeNodeFailed,
       "UNAUTHENTICATED: the client certificate CN=intruder is refused: unable to get local "
       "issuer certificate (it is not signed by this node's control.tls_client_ca)"},
      // The node's certificate does not verify against the client's --ca: plbyctl tells why.
      {{"--ca", File("rogue-ca.pem"), "--cert", File("client.pem"), "--key", File("client.key")},
       kExitSomeNodeFailed,
       "UNAVAILABLE: the node's certificate CN=plby node does not verify"},
      // Files that cannot work are refused before any node is dialed.
      {{"--ca", File("ca.pem"), "--cert", File("expired.pem"), "--key", File("expired.key")},
       kExitUsage,
       "--cert \"" + File("expired.pem") + "\": the certificate CN=old plbyctl expired on"},
      {{"--ca", File("ca.pem"), "--cert", File("node.pem"), "--key", File("node.key")},
       kExitUsage,
       "the certificate CN=plby node is not for clients: its extended key usage lacks "
       "clientAuth"},
      {{"--ca", File("ca.pem"), "--cert", File("client.pem"), "--key", File("rogue.key")},
       kExitUsage,
       "--key \"" + File("rogue.key") +
           "\": the private key does not belong to the certificate CN=plbyctl"},
      {{"--ca", File("client.pem"), "--cert", File("client.pem"), "--key", File("client.key")},
       kExitUsage,
       "--ca \"" + File("client.pem") + "\": not a CA"},
  };
  for (const Refused& client : refused_clients) {
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult refused, CtlWith(client.tls, add));
    EXPECT_EQ(refused.exit_code, client.exit_code) << absl::StrJoin(client.tls, " ");
    EXPECT_THAT(refused.output, HasSubstr(client.error)) << absl::StrJoin(client.tls, " ");
    EXPECT_THAT(refused.output, Not(HasSubstr("added")));
    // gRPC's raw log lines ("E1201 ... ssl_transport_security.cc") are not shown.
    EXPECT_THAT(refused.output, Not(HasSubstr(".cc:"))) << refused.output;
  }
  // The node says who was refused and why.
  EXPECT_TRUE(node_.process->WaitForLine(
      std::regex(R"(warn  control call refused peer=ipv4:127\.0\.0\.1:\d+ client="CN=intruder" )"
                 R"(reason="the client certificate CN=intruder is refused: unable to get local )"
                 R"(issuer certificate)")))
      << node_.process->Output();
  const std::vector<std::string> valid{"--ca",  File("ca.pem"),    "--cert", File("client.pem"),
                                       "--key", File("client.key")};
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult list, CtlWith(valid, {"backends", "list", "-o", "json"}));
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("\"version\":1,"));
  EXPECT_THAT(list.output, Not(HasSubstr("127.0.0.1:9\"")));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult added, CtlWith(valid, add));
  EXPECT_EQ(added.exit_code, 0) << added.output;
  EXPECT_THAT(added.output, HasSubstr("added 127.0.0.1:9 (weight 1)"));
  // The change is in the audit trail, with the client certificate's subject.
  EXPECT_TRUE(node_.process->WaitForLine(
      std::regex(R"(info  control change call=AddBackend peer=ipv4:127\.0\.0\.1:\d+ )"
                 R"(client="CN=plbyctl" pool="web" backend="127\.0\.0\.1:9" asked="add, weight 1" )"
                 R"(result=applied version=1->2)")))
      << node_.process->Output();
}

TEST(ControlConfigTest, PlaintextControlOffLoopbackIsRefusedUnlessAllowed) {
  TempDir dir;
  const std::string path = dir.Write("remote.toml",
                                     "[control]\nlisten = \"0.0.0.0:0\"\n[[server]]\nlisten = "
                                     "\"127.0.0.1:0\"\n[[server.forward]]\nbackends = []\n");
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult refused, RunToExit(NodeBinary(), {"--config", path}));
  EXPECT_EQ(refused.exit_code, kExitUsage);
  EXPECT_THAT(refused.output, HasSubstr("remote.toml:2:10: control.listen \"0.0.0.0:0\" is not "
                                        "a loopback address"));
}

}  // namespace
}  // namespace plby::testing
