// The image, built from deploy/Dockerfile with podman and run as Kubernetes would run it: as uid
// 10001, a read-only root with a volume for the state, the probes answering, plbyctl working
// inside, `podman stop` draining; then a small fleet of containers and the reconciler in a
// container, with a container started late converging without any command.
//
// The image stage of tests/test.sh builds the image and sets PLBY_IMAGE; without it these
// tests skip (the other stages run them, skipped, with the rest).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "grpc_probe.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kServing = 1;

// Containers share the host's network, each on its own 127.0.20.N with the image's port set.
std::string Ip(int n) { return absl::StrCat("127.0.20.", n); }

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* image = std::getenv("PLBY_IMAGE");
    if (image == nullptr || *image == '\0') {
      GTEST_SKIP() << "PLBY_IMAGE is not set: the image stage of tests/test.sh builds "
                      "deploy/Dockerfile with podman and sets it";
    }
    image_ = image;
    PLBY_ASSERT_OK_AND_ASSIGN(backend_, StartBackend("hi"));
  }

  void TearDown() override {
    for (const std::string& name : containers_) (void)Podman({"rm", "-f", "-v", name});
  }

  // podman as these machines need it (runc, cgroupfs: no systemd here).
  static absl::StatusOr<RunResult> Podman(std::vector<std::string> args) {
    args.insert(args.begin(), {"--runtime", "runc", "--cgroup-manager", "cgroupfs"});
    return RunToExit("/usr/bin/podman", args);
  }

  // A node's config, as a ConfigMap would carry it: every listener on 127.0.20.N.
  std::string NodeConfig(int n, bool ready_after_sync) const {
    return absl::StrCat("[control]\nlisten = \"", Ip(n), ":9100\"\nhealth_listen = \"", Ip(n),
                        ":9101\"\nstate_file = \"/var/lib/plby/state.toml\"\n",
                        ready_after_sync ? "ready_after_sync = true\n" : "",
                        "[node]\ndrain_timeout = \"5s\"\n[metrics]\nlisten = \"", Ip(n),
                        ":9102\"\n[[server]]\nname = \"web\"\nlisten = \"", Ip(n),
                        ":8200\"\n[[server.forward]]\nbackends = []\n");
  }

  // Runs the image as the pod spec does: uid 10001, read-only root, the config mounted
  // read-only, the state directory a volume (the Dockerfile declares it), explicit limits.
  absl::Status Run(const std::string& name, const std::string& config_dir, const std::string& mount,
                   std::vector<std::string> args, const std::vector<std::string>& options = {}) {
    std::vector<std::string> run = {"run",
                                    "-d",
                                    "--name",
                                    name,
                                    "--network",
                                    "host",
                                    "--user",
                                    "10001:10001",
                                    "--read-only",
                                    "--ulimit",
                                    "nofile=20000:20000",
                                    "--ulimit",
                                    "nproc=1024:1024",
                                    "-v",
                                    config_dir + ":" + mount + ":ro"};
    run.insert(run.end(), options.begin(), options.end());
    run.push_back(image_);
    run.insert(run.end(), args.begin(), args.end());
    absl::StatusOr<RunResult> started = Podman(run);
    if (!started.ok()) return started.status();
    containers_.push_back(name);
    if (started->exit_code != 0) {
      return absl::InternalError(absl::StrCat("podman run ", name, ": ", started->output));
    }
    return absl::OkStatus();
  }

  absl::Status RunNode(int n, bool ready_after_sync = false) {
    dirs_.push_back(std::make_unique<TempDir>());
    dirs_.back()->Write("config.toml", NodeConfig(n, ready_after_sync));
    // The mounted directory is read by uid 10001.
    std::filesystem::permissions(dirs_.back()->path(), std::filesystem::perms::all);
    return Run(absl::StrCat("plby-test-node-", n), dirs_.back()->path(), "/etc/plby",
               {"--config", "/etc/plby/config.toml", "--workers", "1"});
  }

  // Waits until node N's health service says `status` for `service`.
  bool WaitForHealth(int n, const std::string& service, int status) {
    const std::shared_ptr<grpc::Channel> channel =
        grpc::CreateChannel(Ip(n) + ":9101", grpc::InsecureChannelCredentials());
    return WaitUntil(
        [&] {
          absl::StatusOr<int> now = CheckHealth(channel, service);
          return now.ok() && *now == status;
        },
        std::chrono::seconds(60), milliseconds(100));
  }

  std::string Logs(const std::string& name) {
    absl::StatusOr<RunResult> logs = Podman({"logs", name});
    return logs.ok() ? logs->output : logs.status().ToString();
  }

  // One request through node N's traffic port, with plby-testpeer.
  std::string RequestThrough(int n) {
    absl::StatusOr<RunResult> request =
        RunToExit(TestPeerBinary(), {"request", "--connect", Ip(n) + ":8200", "--count", "1"});
    return request.ok() ? request->output : request.status().ToString();
  }

  std::string image_;
  Backend backend_;
  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::vector<std::string> containers_;
};

TEST_F(ImageTest, RunsAsKubernetesWould) {
  ASSERT_TRUE(RunNode(1).ok());
  const std::string name = "plby-test-node-1";
  ASSERT_TRUE(WaitForHealth(1, "", kServing)) << Logs(name);

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult uid, Podman({"exec", name, "id", "-u"}));
  EXPECT_EQ(absl::StripAsciiWhitespace(uid.output), "10001");
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult write, Podman({"exec", name, "touch", "/usr/local/x"}));
  EXPECT_NE(write.exit_code, 0) << "the root file system is writable";
  // plbyctl inside the container, against the node.
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult add, Podman({"exec", name, "plbyctl", "--node", Ip(1) + ":9100", "backends", "add",
                             backend_.address()}));
  ASSERT_EQ(add.exit_code, 0) << add.output;
  EXPECT_THAT(add.output, HasSubstr("added " + backend_.address()));
  EXPECT_TRUE(WaitForHealth(1, "plby.traffic", kServing)) << Logs(name);
  EXPECT_THAT(RequestThrough(1), HasSubstr(Hi(backend_)));
  // The state file is written to the volume.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult state,
                            Podman({"exec", name, "cat", "/var/lib/plby/state.toml"}));
  EXPECT_THAT(state.output, HasSubstr(backend_.address()));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult metrics, RunToExit("/usr/bin/curl", {"-s", "http://" + Ip(1) + ":9102/metrics"}));
  EXPECT_THAT(metrics.output, HasSubstr("plby_build_info"));

  // podman stop: SIGTERM, a drain, exit 0.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult stop, Podman({"stop", "-t", "30", name}));
  EXPECT_EQ(stop.exit_code, 0) << stop.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult code,
                            Podman({"inspect", "--format", "{{.State.ExitCode}}", name}));
  EXPECT_EQ(absl::StripAsciiWhitespace(code.output), "0") << Logs(name);
  EXPECT_THAT(Logs(name), HasSubstr("received SIGTERM, stopping"));
}

TEST_F(ImageTest, AFleetOfContainersAndTheReconcilerConvergeALateOne) {
  TempDir pools;
  std::filesystem::permissions(pools.path(), std::filesystem::perms::all);
  pools.Write("pools.toml", absl::StrCat("[[pool]]\nname = \"web\"\nbackends = [ { address = \"",
                                         backend_.address(), "\", weight = 2 } ]\n"));
  const auto name_nodes = [&](const std::vector<int>& ns) {
    std::vector<std::string> ips;
    for (int n : ns) ips.push_back(Ip(n));
    WriteHostsFile(pools.path() + "/hosts", "plby-fleet", ips);
  };
  name_nodes({2, 3});
  for (int n : {2, 3}) ASSERT_TRUE(RunNode(n, /*ready_after_sync=*/true).ok());
  for (int n : {2, 3}) ASSERT_TRUE(WaitForHealth(n, "", kServing)) << n;
  ASSERT_TRUE(
      Run("plby-test-reconciler", pools.path(), "/etc/plby-pools",
          {"reconcile", "-f", "/etc/plby-pools/pools.toml", "--fleet", "plby-fleet:9100", "--every",
           "1s", "--listen", Ip(10) + ":9180", "--log-format", "json"},
          {"--entrypoint", "/usr/local/bin/plbyctl", "-e", "PLBY_HOSTS_FILE=/etc/plby-pools/hosts"})
          .ok());
  for (int n : {2, 3}) {
    EXPECT_TRUE(WaitForHealth(n, "plby.traffic", kServing)) << n << "\n"
                                                            << Logs("plby-test-reconciler");
  }

  // A container started late: not ready until the reconciler finds and syncs it, which it
  // does with no command, once the name has it.
  ASSERT_TRUE(RunNode(4, /*ready_after_sync=*/true).ok());
  ASSERT_TRUE(WaitForHealth(4, "", kServing));
  name_nodes({2, 3, 4});
  EXPECT_TRUE(WaitForHealth(4, "plby.traffic", kServing)) << Logs("plby-test-reconciler");
  EXPECT_THAT(RequestThrough(4), HasSubstr(Hi(backend_)));
  EXPECT_THAT(Logs("plby-test-reconciler"), HasSubstr("synced node=" + Ip(4) + ":9100"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult metrics, RunToExit("/usr/bin/curl", {"-s", "http://" + Ip(10) + ":9180/metrics"}));
  EXPECT_THAT(metrics.output, HasSubstr("plbyctl_reconcile_rounds_total"));

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult stop, Podman({"stop", "-t", "15", "plby-test-reconciler"}));
  EXPECT_EQ(stop.exit_code, 0) << stop.output;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult code, Podman({"inspect", "--format", "{{.State.ExitCode}}",
                                                    "plby-test-reconciler"}));
  EXPECT_EQ(absl::StripAsciiWhitespace(code.output), "0") << Logs("plby-test-reconciler");
}

}  // namespace
}  // namespace plby::testing
