// plby-node as an operator runs it: flags, --check-config, refused configs, signals.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

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

constexpr int kExitUsage = 2;

const char kValidConfig[] = R"([control]
listen = "127.0.0.1:0"

[[server]]
name = "web"
listen = "127.0.0.1:0"

[[server.forward]]
algorithm = "WRR"
backends = [ { address = "127.0.0.1:9", weight = 2 } ]
)";

TEST(NodeCliTest, CheckConfigAcceptsTheRepositoryConfig) {
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult result,
      RunToExit(NodeBinary(), {"--check-config", PLBY_SOURCE_DIR "/config.toml"}));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("configuration is valid: 1 server(s), 3 backend(s)"));
}

TEST(NodeCliTest, CheckConfigRefusesAnInvalidFileWithItsLine) {
  TempDir dir;
  const std::string path = dir.Write(
      "bad.toml", std::string(kValidConfig) + "[[server]]\nlisten = \"127.0.0.1:70000\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult result, RunToExit(NodeBinary(), {"--check-config", path}));
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_THAT(result.output,
              HasSubstr("bad.toml:12:10: server[1].listen: invalid address \"127.0.0.1:70000\": "
                        "port 70000 is out of range (valid: 0-65535)"));
}

struct BadConfig {
  std::string name;
  std::string text;
  std::string expected;  // must appear in the output, with file:line:column
};

void PrintTo(const BadConfig& config, std::ostream* out) { *out << config.name; }

class RefusedConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(RefusedConfigTest, ExitsWithCode2BeforeListening) {
  TempDir dir;
  const std::string path = dir.Write("node.toml", GetParam().text);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult result, RunToExit(NodeBinary(), {"--config", path}));
  EXPECT_EQ(result.exit_code, kExitUsage) << result.output;
  EXPECT_THAT(result.output, HasSubstr("node.toml:" + GetParam().expected));
  EXPECT_THAT(result.output, HasSubstr("configuration refused, nothing was started"));
  EXPECT_THAT(result.output, Not(HasSubstr("listening")));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, RefusedConfigTest,
    ::testing::Values(
        BadConfig{"Syntax", "[[server]\nlisten = \"127.0.0.1:0\"\n", "1:10: TOML syntax error"},
        BadConfig{"UnknownKey",
                  "[[server]]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n[[server.forward]]\n"
                  "backends = []\n",
                  "3:1: unknown key \"lisen\""},
        BadConfig{"WrongType", "[[server]]\nlisten = 8200\n[[server.forward]]\nbackends = []\n",
                  "2:10: server[0].listen: expected a string like \"127.0.0.1:8080\", got a "
                  "integer"},
        BadConfig{"PortOutOfRange",
                  "[[server]]\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\n"
                  "backends = [ { address = \"127.0.0.1:65536\" } ]\n",
                  "4:26: server[0].forward[0].backends[0].address: invalid address "
                  "\"127.0.0.1:65536\": port 65536 is out of range (valid: 1-65535)"},
        BadConfig{"NotHostPort",
                  "[[server]]\nlisten = \"localhost\"\n[[server.forward]]\nbackends = []\n",
                  "2:10: server[0].listen: invalid address \"localhost\": missing \":PORT\""},
        BadConfig{"UnknownAlgorithm",
                  "[[server]]\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\n"
                  "algorithm = \"LEASTCONN\"\nbackends = []\n",
                  "4:13: server[0].forward[0].algorithm: unknown algorithm \"LEASTCONN\" "
                  "(valid: RR (round_robin), WRR (weighted_round_robin), least_connections (LC), "
                  "p2c (power_of_two), random, maglev)"},
        BadConfig{"WeightOutOfRange",
                  "[[server]]\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\n"
                  "backends = [ { address = \"127.0.0.1:80\", weight = 0 } ]\n",
                  "4:51: server[0].forward[0].backends[0].weight: weight 0 is out of range "
                  "(valid: 1-256)"},
        BadConfig{"DuplicateListener",
                  "[[server]]\nlisten = \"127.0.0.1:8200\"\n[[server.forward]]\nbackends = []\n"
                  "[[server]]\nname = \"b\"\nlisten = \"127.0.0.1:8200\"\n[[server.forward]]\n"
                  "backends = []\n",
                  "5:1: server \"b\": listen \"127.0.0.1:8200\" is already used by server "
                  "\"127.0.0.1:8200\" at line 1"},
        BadConfig{"DuplicateName",
                  "[[server]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\n"
                  "backends = []\n[[server]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\n"
                  "[[server.forward]]\nbackends = []\n",
                  "6:1: duplicate server name \"a\" (first used at line 1)"},
        BadConfig{"MissingBackends",
                  "[[server]]\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\nalgorithm = \"RR\"\n",
                  "3:1: server[0].forward[0]: missing required key \"backends\""},
        BadConfig{"NoServer", "[control]\nlisten = \"127.0.0.1:9100\"\n",
                  "1:1: no [[server]] is defined"},
        // The node's own control and metrics ports are not backends (they would be exposed on
        // the traffic port).
        BadConfig{"ControlPortAsBackend",
                  "[control]\nlisten = \"127.0.7.2:21301\"\n[[server]]\nlisten = "
                  "\"127.0.7.2:21300\"\n[[server.forward]]\n"
                  "backends = [ { address = \"127.0.7.2:21301\" } ]\n",
                  "6:14: pool \"127.0.7.2:21300\": backend \"127.0.7.2:21301\": 127.0.7.2:21301 is "
                  "one of this node's own listeners, the control service"},
        BadConfig{
            "MetricsPortAsBackend",
            "[metrics]\nlisten = \"0.0.0.0:21303\"\n[[server]]\nlisten = "
            "\"127.0.7.2:21300\"\n[[server.forward]]\n"
            "backends = [ { address = \"127.0.7.3:21303\" } ]\n",
            "6:14: pool \"127.0.7.2:21300\": backend \"127.0.7.3:21303\": 127.0.7.3:21303 is one "
            "of this node's own listeners, the metrics listener (0.0.0.0:21303)"},
        BadConfig{"LegacyIPv4",
                  "[[server]]\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\n"
                  "backends = [ { address = \"0x7f.1:85\" } ]\n",
                  "4:26: server[0].forward[0].backends[0].address: invalid address "
                  "\"0x7f.1:85\": \"0x7f.1\" is not an IPv4 address"},
        BadConfig{"LeadingZeroPort",
                  "[[server]]\nlisten = \"127.0.0.1:080\"\n[[server.forward]]\nbackends = []\n",
                  "2:10: server[0].listen: invalid address \"127.0.0.1:080\": port \"080\" has a "
                  "leading zero"}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return info.param.name; });

// What --check-config says valid, the start accepts; what the start refuses, --check-config
// refuses, naming the file: here TLS files that gRPC would only reject at start ("Handshaker
// factory creation failed", exit 1, no file named).
TEST(NodeCliTest, CheckConfigAndTheStartNameABadTlsFileAlike) {
  TempDir dir;
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult certs,
      RunToExit("/bin/bash", {PLBY_SOURCE_DIR "/tests/tools/make-test-certs.sh", dir.path()}));
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  const std::string path =
      dir.Write("tls.toml",
                "[control]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"node.key\"\n"
                "tls_key = \"node.key\"\ntls_client_ca = \"ca.pem\"\n[[server]]\n"
                "listen = \"127.0.0.1:0\"\n[[server.forward]]\nbackends = []\n");
  for (const char* flag : {"--check-config", "--config"}) {
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult result, RunToExit(NodeBinary(), {flag, path}));
    EXPECT_EQ(result.exit_code, kExitUsage) << flag << "\n" << result.output;
    EXPECT_THAT(result.output, HasSubstr("tls.toml:3:12: control.tls_cert \"node.key\": no "
                                         "certificate in it (it holds a private key)"));
    EXPECT_THAT(result.output, Not(HasSubstr("Handshaker")));
    EXPECT_THAT(result.output, Not(HasSubstr("listening")));
  }
}

// The state file is checked as the start would use it: a saved name that does not resolve now
// does not stop the start, so it is a warning here too, not a refusal.
TEST(NodeCliTest, CheckConfigSaysWhatTheStartWouldDoWithTheStateFile) {
  TempDir dir;
  dir.Write("state.toml",
            "format = 1\n[[pool]]\nname = \"web\"\nversion = 2\nbackends = [\n"
            "  { address = \"gone.invalid:80\", weight = 1, draining = false },\n]\n");
  const std::string config = dir.Write(
      "state.conf.toml",
      "[control]\nlisten = \"127.0.0.1:0\"\nstate_file = \"state.toml\"\n[[server]]\nname = "
      "\"web\"\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\nbackends = []\n");
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult check, RunToExit(NodeBinary(), {"--check-config", config}));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("pool \"web\" (from the state file): backend "
                                      "\"gone.invalid:80\" starts unresolved (cannot resolve "
                                      "\"gone.invalid\""));
  EXPECT_THAT(check.output, HasSubstr("backends 1 (from the state file)"));
}

TEST(NodeCliTest, MissingConfigFileIsNamed) {
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult result,
                            RunToExit(NodeBinary(), {"--config", "/nonexistent/plby.toml"}));
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_THAT(result.output, HasSubstr("/nonexistent/plby.toml: cannot read the configuration "
                                       "file: No such file or directory"));
}

// Files are read whole only when they are regular and at most 64 MiB (1 MiB for certificates
// and keys): /dev/zero grew a node to 3.8 GB before; now it is refused by name, at once.
TEST(NodeCliTest, FilesThatAreNoFilesOrTooLargeAreRefused) {
  for (const char* flag : {"--check-config", "--config"}) {
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult zero, RunToExit(NodeBinary(), {flag, "/dev/zero"}));
    EXPECT_EQ(zero.exit_code, kExitUsage) << flag;
    EXPECT_THAT(zero.output, HasSubstr("/dev/zero: cannot read the configuration file: not a "
                                       "regular file (a character device)"))
        << flag;
  }
  TempDir dir;
  const std::string big = dir.Write("big.toml", "");
  ASSERT_EQ(truncate(big.c_str(), 65 << 20), 0);  // sparse: nothing is written or read
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult large, RunToExit(NodeBinary(), {"--check-config", big}));
  EXPECT_EQ(large.exit_code, kExitUsage);
  EXPECT_THAT(large.output,
              HasSubstr("big.toml: cannot read the configuration file: larger than 64 MiB"));
  // A state file that is a pipe, a certificate that is a device: named with their key.
  const std::string fifo = dir.path() + "/state.toml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult state,
      RunToExit(
          NodeBinary(),
          {"--check-config",
           dir.Write("state.conf", OnePoolConfig({{"127.0.0.1:1"}}, "WRR", "",
                                                 absl::StrCat("state_file = \"", fifo, "\"\n")))}));
  EXPECT_EQ(state.exit_code, kExitUsage) << state.output;
  EXPECT_THAT(state.output, HasSubstr("state.toml: cannot read the state file: not a regular "
                                      "file (a pipe)"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult cert,
      RunToExit(NodeBinary(),
                {"--check-config",
                 dir.Write("tls.conf",
                           "[[server]]\nlisten = \"127.0.0.1:0\"\n[server.tls]\n"
                           "certificates = [ { cert = \"/dev/zero\", key = \"/dev/zero\" "
                           "} ]\n[[server.forward]]\nbackends = [ { address = "
                           "\"127.0.0.1:1\" } ]\n")}));
  EXPECT_EQ(cert.exit_code, kExitUsage) << cert.output;
  EXPECT_THAT(cert.output, HasSubstr("cert \"/dev/zero\": not a regular file (a character "
                                     "device): not a certificate, key or CA file"));
}

TEST(NodeCliTest, BadFlagsSayWhatIsValid) {
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult workers, RunToExit(NodeBinary(), {"--workers", "0"}));
  EXPECT_EQ(workers.exit_code, kExitUsage);
  EXPECT_THAT(workers.output,
              HasSubstr("--workers \"0\" is not valid (valid: a whole number from 1 to 256)"));

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult level, RunToExit(NodeBinary(), {"--log-level", "loud"}));
  EXPECT_EQ(level.exit_code, kExitUsage);
  EXPECT_THAT(level.output, HasSubstr("valid: debug, info, warn, error"));

  PLBY_ASSERT_OK_AND_ASSIGN(RunResult unknown, RunToExit(NodeBinary(), {"--frobnicate"}));
  EXPECT_EQ(unknown.exit_code, kExitUsage);
  EXPECT_THAT(unknown.output, HasSubstr("unknown argument \"--frobnicate\""));

  // A flag given twice would silently be the last: refused.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult twice,
                            RunToExit(NodeBinary(), {"--workers", "2", "--workers=3"}));
  EXPECT_EQ(twice.exit_code, kExitUsage);
  EXPECT_THAT(twice.output, HasSubstr("--workers is given twice (give each flag once)"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult both,
                            RunToExit(NodeBinary(), {"--config", "a.toml", "--check-config", "b"}));
  EXPECT_EQ(both.exit_code, kExitUsage);
  EXPECT_THAT(both.output, HasSubstr("--config and --check-config name the one file to read"));
}

TEST(NodeCliTest, HelpAndVersion) {
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult help, RunToExit(NodeBinary(), {"--help"}));
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--check-config FILE"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult version, RunToExit(NodeBinary(), {"--version"}));
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.output, HasSubstr("plby-node " PLBY_VERSION));
}

// Every tool answers --help with its usage and exit code 0, also after a mode or command.
TEST(NodeCliTest, EveryToolHasARealHelp) {
  const std::vector<std::vector<std::string>> invocations = {
      {NodeBinary(), "--help"},
      {CtlBinary(), "--help"},
      {CtlBinary(), "backends", "watch", "--help"},
      {TestPeerBinary(), "--help"},
      {TestPeerBinary(), "hi", "--help"},
      {PLBY_BENCH_BINARY, "--help"},
      {PLBY_CONTROL_LATENCY_BINARY, "--help"},
  };
  for (const std::vector<std::string>& invocation : invocations) {
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult help, RunToExit(invocation[0], std::vector<std::string>(invocation.begin() + 1,
                                                                          invocation.end())));
    EXPECT_EQ(help.exit_code, 0) << invocation[0] << "\n" << help.output;
    EXPECT_THAT(help.output, HasSubstr("Usage: ")) << invocation[0];
  }
}

TEST(NodeCliTest, StopsCleanlyOnSigtermAndSigint) {
  for (int signo : {SIGTERM, SIGINT}) {
    TempDir dir;
    PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir, kValidConfig));
    node.process->Signal(signo);
    EXPECT_EQ(node.process->WaitForExit(), 0) << node.process->Output();
    EXPECT_TRUE(node.process->WaitForLine(std::regex(" stopped accepted=")));
  }
}

TEST(NodeCliTest, AddressInUseFailsWithExitCode1) {
  TempDir dir;
  PLBY_ASSERT_OK_AND_ASSIGN(Node first, StartNode(dir, kValidConfig));
  std::string taken = kValidConfig;
  taken.replace(taken.find("listen = \"127.0.0.1:0\"\n\n[[server.forward]]"), 22,
                absl::StrCat("listen = \"127.0.0.1:", first.port(), "\""));
  const std::string path = dir.Write("second.toml", taken);
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult second, RunToExit(NodeBinary(), {"--config", path}));
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_THAT(second.output, HasSubstr(absl::StrCat("cannot listen on 127.0.0.1:", first.port())));
  EXPECT_THAT(second.output, HasSubstr("in use"));
}

}  // namespace
}  // namespace plby::testing
