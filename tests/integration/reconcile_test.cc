// plbyctl reconcile against real nodes: a fleet found through a name (PLBY_HOSTS_FILE), with a
// node that is down at first, a node started late, drift by hand, and edits of the file as a
// Kubernetes ConfigMap makes them (a symlink swapped in the file's directory).
#include <signal.h>

#include <filesystem>
#include <fstream>
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

using ::testing::HasSubstr;

// The fleet's nodes listen on 127.0.12.N (12: this issue's addresses, used by no other test),
// all on one control port, as pods behind a headless Service do: a fixed one below the
// ephemeral range, so that no socket bound to port 0 elsewhere can take it meanwhile.
constexpr uint16_t kControlPort = 19100;
std::string NodeIp(int n) { return absl::StrCat("127.0.12.", n); }

class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (Backend& backend : backends_) {
      PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
    }
    hosts_ = files_.Write("hosts", "");
    // The ConfigMap layout: pools.toml -> ..data/pools.toml, ..data -> a versioned directory.
    Publish(Desired(2));
    std::filesystem::create_symlink("..data/pools.toml", files_.path() + "/pools.toml");
  }

  std::string Control(int n) const { return absl::StrCat(NodeIp(n), ":", kControlPort); }

  // Starts node N, seeded with backend 0 only (drifted from the file, which has 0 and 1).
  void StartFleetNode(int n, const std::string& control_extra = "") {
    dirs_.push_back(std::make_unique<TempDir>());
    const std::string config = absl::StrCat(
        "[control]\nlisten = \"", Control(n), "\"\n", control_extra, "[[server]]\nname = \"web\"\n",
        "listen = \"", NodeIp(n), ":0\"\n[[server.forward]]\nbackends = [ { address = \"",
        backends_[0].address(), "\" } ]\n");
    absl::StatusOr<Node> node = StartNode(*dirs_.back(), config, {"--workers", "1"});
    ASSERT_TRUE(node.ok()) << node.status();
    nodes_[n] = *std::move(node);
  }

  // The fleet's name stands for these nodes.
  void NameNodes(const std::vector<int>& ns) {
    std::vector<std::string> ips;
    for (int n : ns) ips.push_back(NodeIp(n));
    WriteHostsFile(hosts_, "plby-fleet", ips);
  }

  std::string Desired(int weight) const {
    return absl::StrCat("[[pool]]\nname = \"web\"\nbackends = [\n  { address = \"",
                        backends_[0].address(), "\", weight = ", weight, " },\n  { address = \"",
                        backends_[1].address(), "\" },\n]\n");
  }

  // Writes a new version of the file the way the kubelet does: a new directory, then the
  // `..data` symlink swapped by a rename.
  void Publish(const std::string& text) {
    const std::string version = absl::StrCat("..v", ++versions_);
    std::filesystem::create_directory(files_.path() + "/" + version);
    std::ofstream(files_.path() + "/" + version + "/pools.toml") << text;
    std::filesystem::create_symlink(version, files_.path() + "/..data.new");
    std::filesystem::rename(files_.path() + "/..data.new", files_.path() + "/..data");
  }

  absl::StatusOr<std::unique_ptr<Process>> StartReconciler(const std::string& every) {
    return Process::Start("/usr/bin/env", {"PLBY_HOSTS_FILE=" + hosts_, CtlBinary(), "reconcile",
                                           "-f", files_.path() + "/pools.toml", "--fleet",
                                           absl::StrCat("plby-fleet:", kControlPort), "--every",
                                           every, "--listen", "127.0.0.1:0", "--timeout", "1s"});
  }

  // Waits for the reconciler to log that node N is synced to a file (from line `from` on).
  bool WaitSynced(Process& reconciler, int n, size_t from = 0) {
    return reconciler
        .WaitForLine(
            std::regex("synced node=" + std::regex_replace(Control(n), std::regex("\\."), "\\.")),
            kWaitTimeout, from)
        .has_value();
  }

  // GET `path` from the reconciler's HTTP listener.
  std::string Get(Process& reconciler, const std::string& path) {
    std::optional<std::vector<std::string>> serving = reconciler.WaitForLine(
        std::regex("serving /metrics and /healthz address=127\\.0\\.0\\.1:(\\d+)"));
    if (!serving) return "no listener";
    absl::StatusOr<std::string> answer =
        Exchange(static_cast<uint16_t>(std::stoi((*serving)[1])),
                 absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n"));
    return answer.ok() ? *answer : answer.status().ToString();
  }

  TempDir files_;
  std::string hosts_;
  int versions_ = 0;
  std::vector<Backend> backends_ = std::vector<Backend>(2);
  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::map<int, Node> nodes_;
};

// The fleet converges by itself: nodes found through the name are synced, a node that is down
// is named and synced once it is up, a node started late (and not ready until synced, with
// ready_after_sync) is found by the next round, and a weight changed by hand reverts.
TEST_F(ReconcileTest, ADownNodeAndALateNodeConvergeWithoutACommand) {
  StartFleetNode(1);
  StartFleetNode(2);
  NameNodes({1, 2, 3});  // 3 is named but down
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> reconciler, StartReconciler("1s"));
  ASSERT_TRUE(WaitSynced(*reconciler, 1)) << reconciler->Output();
  ASSERT_TRUE(WaitSynced(*reconciler, 2)) << reconciler->Output();
  ASSERT_TRUE(reconciler->WaitForLine(std::regex("unreachable node=127\\.0\\.12\\.3:")))
      << reconciler->Output();

  StartFleetNode(3);  // the down node comes up
  ASSERT_TRUE(WaitSynced(*reconciler, 3)) << reconciler->Output();

  // A new pod: ready only once synced, found through the name at the next round.
  StartFleetNode(4, "ready_after_sync = true\n");
  const std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(Control(4), grpc::InsecureChannelCredentials());
  EXPECT_EQ(CheckHealth(channel, "plby.traffic").value_or(-1), 2);  // NOT_SERVING
  const size_t before_late = reconciler->LineCount();
  NameNodes({1, 2, 3, 4});
  ASSERT_TRUE(WaitSynced(*reconciler, 4, before_late)) << reconciler->Output();
  EXPECT_EQ(CheckHealth(channel, "plby.traffic").value_or(-1), 1);  // SERVING

  // Drift by hand is reverted at the next round, and the log says so.
  const size_t before_drift = reconciler->LineCount();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult set,
                            RunToExit(CtlBinary(), {"--node", Control(2), "backends", "set",
                                                    backends_[0].address(), "--weight", "9"}));
  ASSERT_EQ(set.exit_code, 0) << set.output;
  ASSERT_TRUE(reconciler->WaitForLine(
      std::regex("reverted node=127\\.0\\.12\\.2:\\d+ pool=\"web\" change=\"set weight\".*"
                 "from=\"weight 9\" to=\"weight 2\""),
      kWaitTimeout, before_drift))
      << reconciler->Output();

  // Every node matches the file now; the metrics say what the rounds saw.
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult diff,
      RunToExit(CtlBinary(),
                {"--node", absl::StrJoin({Control(1), Control(2), Control(3), Control(4)}, ","),
                 "diff", "-f", files_.path() + "/pools.toml"}));
  EXPECT_EQ(diff.exit_code, 0) << diff.output;
  const std::string metrics = Get(*reconciler, "/metrics");
  EXPECT_THAT(metrics, HasSubstr("plbyctl_reconcile_rounds_total "));
  EXPECT_THAT(metrics, HasSubstr("plbyctl_reconcile_file_info{content_hash=\"sha256:"));
  EXPECT_THAT(metrics, ::testing::ContainsRegex("plbyctl_reconcile_changes_total [1-9]"));
  EXPECT_THAT(Get(*reconciler, "/healthz"), HasSubstr("200 OK"));

  reconciler->Signal(SIGTERM);
  EXPECT_EQ(reconciler->WaitForExit(), 0) << reconciler->Output();
  EXPECT_THAT(reconciler->Output(), HasSubstr("reconcile stopped"));
}

// With rounds an hour apart, an edit of the file (a ConfigMap update) is still picked up within
// moments, through the watch on its directory; a bad edit is refused loudly and the last good
// file stays enforced, until a good one comes.
TEST_F(ReconcileTest, FileEditsArePickedUpAndABadOneKeepsTheLastGood) {
  // Its own address: ctest runs the tests of this file at the same time, on one port.
  constexpr int kNode = 11;
  StartFleetNode(kNode);
  NameNodes({kNode});
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> reconciler, StartReconciler("1h"));
  ASSERT_TRUE(WaitSynced(*reconciler, kNode)) << reconciler->Output();

  size_t from = reconciler->LineCount();
  Publish(Desired(5));
  ASSERT_TRUE(reconciler->WaitForLine(std::regex("file .* changed \\(noticed: its directory "
                                                 "changed\\)"),
                                      kWaitTimeout, from))
      << reconciler->Output();
  ASSERT_TRUE(WaitSynced(*reconciler, kNode, from)) << reconciler->Output();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult list,
                            RunToExit(CtlBinary(), {"--node", Control(kNode), "backends", "list"}));
  EXPECT_THAT(list.output, ::testing::ContainsRegex(backends_[0].address() + " +5 "));

  from = reconciler->LineCount();
  Publish("[[pool]]\nname = \"web\"\nbackends = [ { address = \"127.0.0.1:99999\" } ]\n");
  ASSERT_TRUE(reconciler->WaitForLine(
      std::regex("error file .* refused; still enforcing the last good one, sha256:.*port 99999 "
                 "is out of range"),
      kWaitTimeout, from))
      << reconciler->Output();
  EXPECT_THAT(Get(*reconciler, "/metrics"), HasSubstr("plbyctl_reconcile_file_errors_total 1"));
  // The node was left as the last good file made it.
  std::ofstream(files_.path() + "/good.toml") << Desired(5);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult diff,
                            RunToExit(CtlBinary(), {"--node", Control(kNode), "diff", "-f",
                                                    files_.path() + "/good.toml", "-o", "json"}));
  EXPECT_THAT(diff.output, HasSubstr("\"changes\":[]")) << diff.output;

  reconciler->Signal(SIGTERM);
  EXPECT_EQ(reconciler->WaitForExit(), 0) << reconciler->Output();
}

}  // namespace
}  // namespace plby::testing
