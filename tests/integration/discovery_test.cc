// DNS discovery against a real node: a pool whose backends are what a name resolves to, the
// name's records changed between rounds through PLBY_HOSTS_FILE (as plbyctl's tests do).
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The backends listen on 127.0.13.N (13: used by no other test), all on one port, as the pods
// of a headless Service do: a fixed one below the ephemeral range, so that no socket bound to
// port 0 elsewhere can take it.
constexpr uint16_t kBackendPort = 18080;
std::string BackendIp(int n) { return absl::StrCat("127.0.13.", n); }

class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = kBackendPort;
    for (int n = 1; n <= 3; ++n) {
      const std::string address = absl::StrCat(BackendIp(n), ":", port_);
      PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> backend,
                                Process::Start(TestPeerBinary(), {"hi", "--listen", address}));
      ASSERT_TRUE(backend->WaitForLine(std::regex("^listening "))) << backend->Output();
      backends_.push_back(std::move(backend));
    }
    hosts_ = files_.Write("hosts", "");
  }

  std::string Address(int n) const { return absl::StrCat(BackendIp(n), ":", port_); }

  // The name web.test stands for these backends ("" for none: the name has no records).
  void Name(const std::vector<int>& ns) {
    std::vector<std::string> ips;
    for (int n : ns) ips.push_back(BackendIp(n));
    WriteHostsFile(hosts_, "web.test", ips);
  }

  void StartDiscoveringNode() {
    const std::string config = absl::StrCat(
        "[control]\nlisten = \"127.0.0.1:0\"\n[[pool]]\nname = \"web\"\n",
        "discover = { dns = \"web.test:", port_, "\", every = \"1s\", hold_nx = \"2s\" }\n",
        "[[server]]\nname = \"front\"\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\npool = "
        "\"web\"\n");
    absl::StatusOr<Node> node =
        StartNode(node_dir_, config, {"--workers", "1"}, {"PLBY_HOSTS_FILE=" + hosts_});
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  absl::StatusOr<RunResult> Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", node_.control_address()});
    return RunToExit(CtlBinary(), args);
  }

  // Waits until the pool's backends are exactly `ns`, in any order (the discovery round is 1 s).
  bool WaitForBackends(const std::vector<int>& ns) {
    return WaitUntil([&] {
      absl::StatusOr<RunResult> list = Ctl({"backends", "list", "-o", "json"});
      if (!list.ok()) return false;
      last_list_ = list->output;
      bool all = CountOf(last_list_, "\"address\":") == static_cast<int>(ns.size());
      for (int n : ns) {
        all = all && absl::StrContains(last_list_, absl::StrCat("\"", Address(n), "\""));
      }
      return all;
    });
  }

  TempDir files_;
  TempDir node_dir_;
  std::string hosts_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<Process>> backends_;
  Node node_;
  std::string last_list_;
};

// The pool follows the name: records added and removed publish new versions (a watch sees
// them), a drain set by hand survives re-resolution, a lookup that gets no answer keeps the
// set, and a name without records empties the pool once hold_nx has passed. Backends are not
// added or removed by hand.
TEST_F(DiscoveryTest, ThePoolFollowsTheNamesRecords) {
  Name({1, 2});
  StartDiscoveringNode();
  // The first lookup happens before the node says it is ready.
  ASSERT_TRUE(WaitForBackends({1, 2})) << last_list_;
  absl::StatusOr<std::string> answer = Exchange(node_.port(), "hello");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(*answer, absl::StrCat("Hi from server ", port_));

  // A watch sees the new version (health changes come as updates too: it waits for the one
  // with the new address).
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> watch,
                            Process::Start(CtlBinary(), {"--node", node_.control_address(),
                                                         "backends", "watch", "-o", "json"}));
  ASSERT_TRUE(watch->WaitForLine(std::regex("\"version\":")));
  Name({1, 2, 3});
  ASSERT_TRUE(WaitForBackends({1, 2, 3})) << last_list_;
  EXPECT_TRUE(watch->WaitForLine(std::regex("127\\.0\\.13\\.3:"))) << watch->Output();
  watch->Signal(SIGINT);
  EXPECT_EQ(watch->WaitForExit(), 0) << watch->Output();

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult add, Ctl({"backends", "add", "127.0.0.1:9"}));
  EXPECT_EQ(add.exit_code, 1) << add.output;
  EXPECT_THAT(add.output, HasSubstr("FAILED_PRECONDITION: pool \"web\" takes its backends from DNS "
                                    "(discover dns = \"web.test:"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult remove, Ctl({"backends", "remove", Address(2)}));
  EXPECT_EQ(remove.exit_code, 1) << remove.output;
  EXPECT_THAT(remove.output, HasSubstr("they are not removed through the control service"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult drain, Ctl({"backends", "drain", Address(1)}));
  ASSERT_EQ(drain.exit_code, 0) << drain.output;

  Name({1, 3});
  ASSERT_TRUE(WaitForBackends({1, 3})) << last_list_;
  // (Its health is whatever the checks found by now.)
  EXPECT_THAT(last_list_, ::testing::ContainsRegex(absl::StrCat(
                              "\"address\":\"127\\.0\\.13\\.1:", port_,
                              "\",\"weight\":1,\"health\":\"[a-z]+\",\"state\":\"draining\"")))
      << last_list_;

  // No answer (the hosts file cannot be read: as a resolver timing out): the set stays.
  const size_t from = node_.process->LineCount();
  std::filesystem::remove(hosts_);
  ASSERT_TRUE(node_.process->WaitForLine(
      std::regex("discovery pool=\"web\" dns=web\\.test:\\d+: no answer, keeping the last set of "
                 "2 backends"),
      kWaitTimeout, from))
      << node_.process->Output();
  // A second failed lookup too (the set must outlive more than one), then the set.
  const auto failures = [&] {
    absl::StatusOr<RunResult> pools = Ctl({"pools", "list", "-o", "json"});
    std::smatch match;
    const std::string text = pools.ok() ? pools->output : "";
    return std::regex_search(text, match, std::regex("\"failures\":(\\d+)")) ? std::stoi(match[1])
                                                                             : 0;
  };
  ASSERT_TRUE(WaitUntil([&] { return failures() >= 2; }, kWaitTimeout, milliseconds(100)));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult pools, Ctl({"pools", "list"}));
  EXPECT_THAT(pools.output, HasSubstr("(failing: hosts file"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult kept, Ctl({"backends", "list"}));
  EXPECT_THAT(kept.output, HasSubstr(Address(1)));
  EXPECT_THAT(kept.output, HasSubstr(Address(3)));

  // The name has no records now (NXDOMAIN): the last good set is kept for hold_nx (2 s) after
  // the last answer with records, and said so; then the pool is emptied (and the node is not
  // ready).
  Name({1, 3});
  const auto answering = [&] {
    absl::StatusOr<RunResult> pools = Ctl({"pools", "list"});
    return pools.ok() && !absl::StrContains(pools->output, "(failing:");
  };
  ASSERT_TRUE(WaitUntil(answering, kWaitTimeout, milliseconds(100)));
  const size_t before_nx = node_.process->LineCount();
  Name({});
  ASSERT_TRUE(node_.process->WaitForLine(
      std::regex("discovery pool=\"web\" dns=web\\.test:\\d+: the name has no records \\(.*\\); "
                 "keeping the last set of 2 backends until \\d\\d:\\d\\d:\\d\\d UTC "
                 "\\(hold_nx=2s\\)"),
      kWaitTimeout, before_nx))
      << node_.process->Output();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult held, Ctl({"backends", "list"}));
  EXPECT_THAT(held.output, HasSubstr(Address(1)));
  EXPECT_THAT(held.output, HasSubstr(Address(3)));
  ASSERT_TRUE(WaitForBackends({})) << last_list_;
  EXPECT_TRUE(node_.process->WaitForLine(
      std::regex("the name still has no records, hold_nx=2s after its last answer: emptying the "
                 "pool"),
      kWaitTimeout, before_nx));
  EXPECT_THAT(node_.process->Output(), HasSubstr("the name has no records now"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult json, Ctl({"pools", "list", "-o", "json"}));
  EXPECT_THAT(json.output, HasSubstr("\"discover\":{\"dns\":\"web.test:"));
  EXPECT_THAT(json.output, Not(HasSubstr("\"failures\":0")));
}

}  // namespace
}  // namespace plby::testing
