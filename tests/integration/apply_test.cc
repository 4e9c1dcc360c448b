// plbyctl diff and apply against real nodes: a fleet brought to a file of desired pools.
#include <regex>
#include <string>
#include <vector>

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

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kExitDiffers = 1;
constexpr int kExitSomeNodeFailed = 1;
constexpr int kExitUsage = 2;

// A file of desired pools: pool "web" with these backend entries ("{ address = ... }" inside).
std::string WebPool(const std::vector<std::string>& entries, const std::string& extra = "") {
  return absl::StrCat("[[pool]]\nname = \"web\"\n", extra, "backends = [\n  ",
                      absl::StrJoin(entries, ",\n  "), "\n]\n");
}

// The "version" of every node in a `backends list -o json`, in order.
std::vector<std::string> Versions(const std::string& json) {
  std::vector<std::string> versions;
  const std::regex version("\"version\":(\\d+)");
  for (std::sregex_iterator it(json.begin(), json.end(), version), end; it != end; ++it) {
    versions.push_back((*it)[1]);
  }
  return versions;
}

std::string Entry(const Backend& backend, const std::string& rest = "") {
  return absl::StrCat("{ address = \"", backend.address(), "\"", rest.empty() ? "" : ", ", rest,
                      " }");
}

class ApplyTest : public ::testing::Test {
 protected:
  void StartNodes(const std::vector<std::vector<BackendEntry>>& seeds,
                  const std::string& control_extra = "", const std::string& server_extra = "") {
    for (const std::vector<BackendEntry>& seed : seeds) {
      dirs_.push_back(std::make_unique<TempDir>());
      absl::StatusOr<Node> node =
          StartNode(*dirs_.back(), OnePoolConfig(seed, "WRR", server_extra, control_extra),
                    {"--workers", "1"});
      ASSERT_TRUE(node.ok()) << node.status();
      nodes_.push_back(*std::move(node));
    }
  }

  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::vector<Node> nodes_;
  TempDir files_;
};

// Ten nodes, each drifted its own way from the file (a backend missing, one too many, another
// weight, drained where the file says not, another algorithm): diff names every difference
// and exits 1, apply fixes them all, and from then on diff exits 0 and a second apply finds
// every node in sync and changes nothing (no version moves).
TEST_F(ApplyTest, TenDriftedNodesConvergeAndASecondApplyChangesNothing) {
  std::vector<Backend> backends(4);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  const std::string a = backends[0].address(), b = backends[1].address(), c = backends[2].address(),
                    d = backends[3].address();
  std::vector<std::vector<BackendEntry>> seeds;
  for (int i = 0; i < 10; ++i) {
    switch (i % 4) {
      case 0:
        seeds.push_back({{a, 2}, {b, 0}});  // already as the file has it
        break;
      case 1:
        seeds.push_back({{a, 2}});  // b missing
        break;
      case 2:
        seeds.push_back({{a, 2}, {b, 0}, {d, 0}});  // d too many
        break;
      default:
        seeds.push_back({{a, 5}, {b, 0}, {c, 0}});  // another weight, c too many
        break;
    }
  }
  StartNodes(seeds);
  ASSERT_EQ(nodes_.size(), 10u);
  // Two drifts made by hand: a drain the file undoes, and another algorithm.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult drained,
                            Ctl({"--node", nodes_[4].control_address(), "backends", "drain", b}));
  ASSERT_EQ(drained.exit_code, 0) << drained.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult algorithm, Ctl({"--node", nodes_[8].control_address(),
                                                      "pools", "set", "--algorithm", "p2c"}));
  ASSERT_EQ(algorithm.exit_code, 0) << algorithm.output;

  const std::string file = files_.Write(
      "pools.toml",
      WebPool({Entry(backends[0], "weight = 2"), Entry(backends[1], "draining = false")}));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult table,
                            Ctl({"--node", ControlAddresses(nodes_), "diff", "-f", file}));
  EXPECT_EQ(table.exit_code, kExitDiffers) << table.output;
  EXPECT_THAT(table.output, HasSubstr("diff: 10 nodes, 10 differ, 0 in sync, 0 failed"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult diff, Ctl({"--node", ControlAddresses(nodes_), "diff", "-f", file, "-o", "json"}));
  EXPECT_EQ(diff.exit_code, kExitDiffers) << diff.output;
  // Nodes 1, 5, 9 lack b; 2, 6 have d; 3, 7 have weight 5 and c; 4 drained b; 8 runs p2c.
  const auto changes = [&](const std::string& change, const std::string& backend) {
    return CountOf(diff.output,
                   absl::StrCat("\"change\":\"", change, "\",\"backend\":\"", backend, "\""));
  };
  EXPECT_EQ(changes("add", b), 3) << diff.output;
  EXPECT_EQ(changes("remove", d), 2) << diff.output;
  EXPECT_EQ(changes("remove", c), 2) << diff.output;
  EXPECT_EQ(CountOf(diff.output, "\"from\":\"weight 5\",\"to\":\"weight 2\""), 2) << diff.output;
  EXPECT_EQ(changes("undrain", b), 1) << diff.output;
  EXPECT_EQ(CountOf(diff.output, "\"change\":\"set balance\",\"backend\":\"\",\"from\":\"p2c"), 1)
      << diff.output;
  EXPECT_EQ(CountOf(diff.output, "\"in_sync\":false"), 10) << diff.output;  // the mark, at least
  EXPECT_EQ(CountOf(diff.output, "\"mark_before\":\"\""), 10) << diff.output;

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult apply,
                            Ctl({"--node", ControlAddresses(nodes_), "apply", "-f", file}));
  EXPECT_EQ(apply.exit_code, 0) << apply.output;
  EXPECT_THAT(apply.output, HasSubstr("apply: 10 nodes, 10 changed, 0 in sync, 0 failed"));
  EXPECT_THAT(apply.output, Not(HasSubstr("not applied")));

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult before, Ctl({"--node", ControlAddresses(nodes_), "backends",
                                                   "list", "-o", "json"}));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult again,
                            Ctl({"--node", ControlAddresses(nodes_), "diff", "-f", file}));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult second, Ctl({"--node", ControlAddresses(nodes_), "apply",
                                                   "-f", file, "-o", "json"}));
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("\"summary\":{\"nodes\":10,\"changed\":0,\"in_sync\":10"));
  EXPECT_THAT(second.output, Not(HasSubstr("\"marked\":true")));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult after, Ctl({"--node", ControlAddresses(nodes_), "backends", "list", "-o", "json"}));
  EXPECT_EQ(Versions(after.output), Versions(before.output));  // not a version moved
  EXPECT_EQ(Versions(after.output).size(), 10u);
  EXPECT_EQ(CountOf(after.output, "\"address\":\"" + a + "\",\"weight\":2,"), 10) << after.output;
  EXPECT_EQ(CountOf(after.output, "\"address\":\"" + b + "\",\"weight\":1,"), 10) << after.output;
  EXPECT_EQ(CountOf(after.output, "draining"), 0) << after.output;
  EXPECT_EQ(CountOf(after.output, c), 0);
  EXPECT_EQ(CountOf(after.output, d), 0);

  // Every node reports the file's hash, and traffic follows the file.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult status,
                            Ctl({"--node", ControlAddresses(nodes_), "status", "-o", "json"}));
  const std::smatch hash = [&] {
    std::smatch match;
    std::regex_search(second.output, match,
                      std::regex("\"content_hash\":\"(sha256:[0-9a-f]{64})\""));
    return match;
  }();
  ASSERT_FALSE(hash.empty()) << second.output;
  EXPECT_EQ(CountOf(status.output, "\"content_hash\":\"" + hash[1].str() + "\""), 10)
      << status.output;
  for (const Node& node : nodes_) {
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<std::string> answer = Exchange(node.port(), "hello");
      ASSERT_TRUE(answer.ok()) << answer.status();
      EXPECT_TRUE(*answer == Hi(backends[0]) || *answer == Hi(backends[1])) << *answer;
    }
  }
}

// Exit codes, each checked: a bad file is 2 before any node is contacted (with its line); a
// pool the file names that a node lacks fails that node (apply 1, diff 2); a down node is 2
// for diff and 1 for apply, and the others still converge.
TEST_F(ApplyTest, ExitCodesNameTheFileTheNodeAndThePool) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  StartNodes({{{backend.address(), 0}}, {{backend.address(), 0}}});
  RefusedPort nobody;

  const std::string bad = files_.Write(
      "bad.toml", "[[pool]]\nname = \"web\"\nbackends = [ { address = \"127.0.0.1:99999\" } ]\n");
  for (const char* command : {"diff", "apply"}) {
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult run, Ctl({"--node", nobody.address(), command, "-f", bad}));
    EXPECT_EQ(run.exit_code, kExitUsage) << run.output;
    EXPECT_THAT(run.output, HasSubstr("bad.toml:3:26: pool[0].backends[0].address: invalid "
                                      "address \"127.0.0.1:99999\": port 99999 is out of range"));
    EXPECT_THAT(run.output, Not(HasSubstr(nobody.address())));  // never contacted
  }
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult missing_file,
                            Ctl({"--node", nobody.address(), "apply", "-f", "/nonexistent.toml"}));
  EXPECT_EQ(missing_file.exit_code, kExitUsage) << missing_file.output;
  EXPECT_THAT(missing_file.output, HasSubstr("/nonexistent.toml: cannot read"));
  // Endless or huge input is refused by name, before any node is contacted (it grew plbyctl to
  // 3.9 GB before).
  for (const char* command : {"diff", "apply"}) {
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult zero,
                              Ctl({"--node", nobody.address(), command, "-f", "/dev/zero"}));
    EXPECT_EQ(zero.exit_code, kExitUsage) << zero.output;
    EXPECT_THAT(zero.output, HasSubstr("/dev/zero: cannot read the configuration file: not a "
                                       "regular file (a character device)"));
  }
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult no_file, Ctl({"--node", nobody.address(), "apply"}));
  EXPECT_EQ(no_file.exit_code, kExitUsage) << no_file.output;
  EXPECT_THAT(no_file.output, HasSubstr("apply needs -f FILE"));

  const std::string other = files_.Write(
      "other.toml",
      absl::StrCat(WebPool({Entry(backend)}), "[[pool]]\nname = \"api\"\n", "backends = []\n"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult lacks,
                            Ctl({"--node", ControlAddresses(nodes_), "apply", "-f", other}));
  EXPECT_EQ(lacks.exit_code, kExitSomeNodeFailed) << lacks.output;
  EXPECT_EQ(CountOf(lacks.output, "other.toml:6: pool \"api\" is not on this node (it has: web)"),
            2)
      << lacks.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult lacks_diff,
                            Ctl({"--node", ControlAddresses(nodes_), "diff", "-f", other}));
  EXPECT_EQ(lacks_diff.exit_code, kExitUsage) << lacks_diff.output;

  const std::string good = files_.Write("good.toml", WebPool({Entry(backend, "weight = 3")}));
  const std::string with_down = absl::StrCat(ControlAddresses(nodes_), ",", nobody.address());
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult down_diff,
                            Ctl({"--node", with_down, "diff", "-f", good, "--timeout", "1s"}));
  EXPECT_EQ(down_diff.exit_code, kExitUsage) << down_diff.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult down_apply,
                            Ctl({"--node", with_down, "apply", "-f", good, "--timeout", "1s"}));
  EXPECT_EQ(down_apply.exit_code, kExitSomeNodeFailed) << down_apply.output;
  EXPECT_THAT(down_apply.output, HasSubstr("plbyctl: " + nobody.address() + ": UNAVAILABLE: "));
  EXPECT_THAT(down_apply.output, HasSubstr("apply: 3 nodes, 2 changed, 0 in sync, 1 failed"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult now,
                            Ctl({"--node", ControlAddresses(nodes_), "diff", "-f", good}));
  EXPECT_EQ(now.exit_code, 0) << now.output;
}

// On a terminal, a fleet-wide command that takes more than a moment (here: a down node, given
// 2 s) shows its progress on stderr, redrawn in place; never without a terminal or with -o json.
TEST_F(ApplyTest, ProgressShowsOnATerminalOnly) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  StartNodes({{}, {}});
  RefusedPort nobody;
  const std::string file = files_.Write("pools.toml", WebPool({Entry(backend)}));
  const std::string command = absl::StrCat(CtlBinary(), " --node ", ControlAddresses(nodes_), ",",
                                           nobody.address(), " apply -f ", file, " --timeout 2s");
  // script(1) runs the command on a pseudo-terminal.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult on_terminal,
                            RunToExit("/usr/bin/script", {"-qec", command, "/dev/null"}));
  EXPECT_EQ(on_terminal.exit_code, kExitSomeNodeFailed) << on_terminal.output;
  EXPECT_THAT(on_terminal.output, HasSubstr("\r\033[Kapplied 2/3 nodes"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult json, RunToExit("/usr/bin/script", {"-qec", command + " -o json", "/dev/null"}));
  EXPECT_THAT(json.output, Not(HasSubstr("nodes, ")));
  EXPECT_THAT(json.output, HasSubstr("\"command\":\"apply\""));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult piped, Ctl({"--node", ControlAddresses(nodes_) + "," + nobody.address(), "apply",
                            "-f", file, "--timeout", "2s"}));
  EXPECT_EQ(piped.exit_code, kExitSomeNodeFailed) << piped.output;
  EXPECT_THAT(piped.output, Not(HasSubstr("\r")));
  EXPECT_THAT(piped.output, HasSubstr("apply: 3 nodes, 0 changed, 2 in sync, 1 failed"));
}

// Another writer changes the pool while apply works through a long plan: apply's next change
// meets ABORTED, and the node is read again and re-planned (the stranger's backend goes too).
TEST_F(ApplyTest, AChangeInTheMiddleIsReadAgainAndReplanned) {
  // No health checks: the 2000 backends of the file are addresses nobody listens on.
  StartNodes({{}}, "", "[server.health]\ncheck = \"none\"\n");
  const std::string stranger = "127.0.0.2:9";
  std::vector<std::string> entries;
  for (int i = 0; i < 2000; ++i) {
    entries.push_back(
        absl::StrCat("{ address = \"127.0.1.", 1 + i / 250, ":", 10000 + i % 250, "\" }"));
  }
  const std::string file = files_.Write("many.toml", WebPool(entries));
  const size_t from = nodes_[0].process->LineCount();
  PLBY_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Process> apply,
      Process::Start(CtlBinary(), {"--node", nodes_[0].control_address(), "apply", "-f", file,
                                   "--timeout", "120s"}));
  // As soon as apply's first change is in the node's log, another writer adds a backend.
  ASSERT_TRUE(nodes_[0].process->WaitForLine(std::regex("call=AddBackend .*result=applied"),
                                             kWaitTimeout, from))
      << nodes_[0].process->Output();
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult add, Ctl({"--node", nodes_[0].control_address(), "backends", "add", stranger}));
  ASSERT_EQ(add.exit_code, 0) << add.output;
  ASSERT_EQ(apply->WaitForExit(std::chrono::seconds(120)), 0) << apply->Output();
  ASSERT_TRUE(apply->WaitForOutputEnd());  // the exit can come before the last lines are read
  EXPECT_THAT(apply->Output(), HasSubstr("attempt 1 met another writer"));
  EXPECT_THAT(apply->Output(), ContainsRegex("remove +127\\.0\\.0\\.2:9 "));
  EXPECT_THAT(apply->Output(), HasSubstr("apply: 1 node, 1 changed, 0 in sync, 0 failed"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult diff,
                            Ctl({"--node", nodes_[0].control_address(), "diff", "-f", file}));
  EXPECT_EQ(diff.exit_code, 0) << diff.output;
}

// [control] ready_after_sync: a new node is alive but not ready for traffic until an apply has
// recorded its sync, even when its pools already have backends.
TEST_F(ApplyTest, ReadyAfterSyncHoldsTrafficUntilTheFirstApply) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend backend, StartBackend("hi"));
  StartNodes({{{backend.address(), 0}}}, "ready_after_sync = true\n");
  const std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(nodes_[0].control_address(), grpc::InsecureChannelCredentials());
  auto status_of = [&](const std::string& service) {
    absl::StatusOr<int> status = CheckHealth(channel, service);
    EXPECT_TRUE(status.ok()) << status.status();
    return status.value_or(-1);
  };
  constexpr int kServing = 1, kNotServing = 2;
  EXPECT_EQ(status_of(""), kServing);
  EXPECT_EQ(status_of("plby.traffic"), kNotServing);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult status,
                            Ctl({"--node", nodes_[0].control_address(), "status"}));
  EXPECT_THAT(status.output, HasSubstr("never (no traffic until then: ready_after_sync)"));

  const std::string file = files_.Write("pools.toml", WebPool({Entry(backend)}));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult apply,
                            Ctl({"--node", nodes_[0].control_address(), "apply", "-f", file}));
  ASSERT_EQ(apply.exit_code, 0) << apply.output;
  // Nothing in the pools changed: only the mark was recorded, and that makes it ready.
  EXPECT_THAT(apply.output, HasSubstr("mark synced"));
  EXPECT_THAT(apply.output, Not(HasSubstr("add ")));
  EXPECT_EQ(status_of("plby.traffic"), kServing);
}

}  // namespace
}  // namespace plby::testing
