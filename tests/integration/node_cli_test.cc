// plby-node as an operator runs it: flags, --check-config, refused configs, signals.
#include <signal.h>

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
                  "(valid: RR, WRR)"},
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
                  "6:1: duplicate pool name \"a\" (first used at line 1)"},
        BadConfig{"MissingBackends",
                  "[[server]]\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\nalgorithm = \"RR\"\n",
                  "3:1: server[0].forward[0]: missing required key \"backends\""},
        BadConfig{"NoServer", "[control]\nlisten = \"127.0.0.1:9100\"\n",
                  "1:1: no [[server]] is defined"}),
    [](const ::testing::TestParamInfo<BadConfig>& info) { return info.param.name; });

TEST(NodeCliTest, MissingConfigFileIsNamed) {
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult result,
                            RunToExit(NodeBinary(), {"--config", "/nonexistent/plby.toml"}));
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_THAT(result.output, HasSubstr("/nonexistent/plby.toml: cannot read the configuration "
                                       "file: No such file or directory"));
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
}

TEST(NodeCliTest, HelpAndVersion) {
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult help, RunToExit(NodeBinary(), {"--help"}));
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--check-config FILE"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult version, RunToExit(NodeBinary(), {"--version"}));
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.output, HasSubstr("plby-node " PLBY_VERSION));
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
