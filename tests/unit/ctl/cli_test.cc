#include "cli.h"

#include "balance/algorithm.h"
#include "control/algorithm_wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<ParsedCommandLine> Parse(std::vector<std::string> args,
                                        std::map<std::string, std::string> environment = {}) {
  return ParseCommandLine(args, environment);
}

std::string ErrorOf(std::vector<std::string> args) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse(args);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(CliTest, ReadsACommandWithFlagsAnywhere) {
  absl::StatusOr<ParsedCommandLine> parsed =
      Parse({"--node", "10.0.0.1:9100,10.0.0.2:9100", "backends", "add", "127.0.0.1:8083",
             "--weight=5", "--pool", "web", "--expected-version", "4", "-o", "json", "--node",
             "[::1]:9100", "--timeout", "750ms"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->invocation);
  const Invocation& invocation = *parsed->invocation;
  EXPECT_EQ(invocation.command, Command::kBackendsAdd);
  EXPECT_EQ(invocation.command_name, "backends add");
  EXPECT_THAT(invocation.nodes, ElementsAre("10.0.0.1:9100", "10.0.0.2:9100", "[::1]:9100"));
  EXPECT_EQ(invocation.address, "127.0.0.1:8083");
  EXPECT_EQ(invocation.weight, 5);
  EXPECT_EQ(invocation.pool, "web");
  EXPECT_EQ(invocation.expected_version, 4u);
  EXPECT_EQ(invocation.output, OutputFormat::kJson);
  EXPECT_EQ(invocation.timeout, absl::Milliseconds(750));
  EXPECT_FALSE(invocation.if_absent);
  EXPECT_TRUE(Parse({"backends", "add", "127.0.0.1:1", "--if-absent"})->invocation->if_absent);
}

TEST(CliTest, DiffAndApplyTakeAFileAndAConcurrency) {
  absl::StatusOr<ParsedCommandLine> parsed = Parse(
      {"apply", "-f", "pools.toml", "--concurrency", "64", "--drain-timeout", "30s", "-o", "json"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Invocation& apply = *parsed->invocation;
  EXPECT_EQ(apply.command, Command::kApply);
  EXPECT_EQ(apply.file, "pools.toml");
  EXPECT_EQ(apply.concurrency, 64);
  EXPECT_EQ(apply.drain_timeout, absl::Seconds(30));
  const Invocation diff = *Parse({"diff", "--file=pools.toml"})->invocation;
  EXPECT_EQ(diff.command, Command::kDiff);
  EXPECT_EQ(diff.concurrency, kDefaultConcurrency);
  EXPECT_EQ(Parse({"backends", "list", "--concurrency", "1"})->invocation->concurrency, 1);

  EXPECT_THAT(ErrorOf({"apply"}), HasSubstr("apply needs -f FILE (a file of [[pool]] tables)"));
  EXPECT_THAT(ErrorOf({"diff", "-f"}), HasSubstr("--file needs a value"));
  EXPECT_THAT(ErrorOf({"apply", "-f", "p.toml", "--concurrency", "0"}),
              HasSubstr("--concurrency \"0\" is not valid (valid: a whole number from 1 to 1024)"));
  EXPECT_THAT(ErrorOf({"apply", "-f", "p.toml", "--pool", "web"}),
              HasSubstr("--pool does not apply to apply"));
  EXPECT_THAT(ErrorOf({"diff", "-f", "p.toml", "--drain-timeout", "1s"}),
              HasSubstr("--drain-timeout does not apply to diff"));
  EXPECT_THAT(ErrorOf({"status", "-f", "p.toml"}), HasSubstr("--file does not apply to status"));
  EXPECT_THAT(ErrorOf({"backends", "watch", "--concurrency", "4"}),
              HasSubstr("--concurrency does not apply to backends watch"));
  EXPECT_THAT(Parse({"apply", "--help"})->help, HasSubstr("a backend\n    without the key keeps"));
}

TEST(CliTest, ReconcileTakesItsPeriodListenerAndLogFormat) {
  absl::StatusOr<ParsedCommandLine> parsed =
      Parse({"reconcile", "-f", "/etc/plby-pools/pools.toml", "--fleet", "plby-control:9100",
             "--every", "30s", "--listen", "0.0.0.0:9180", "--log-format", "json"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Invocation& reconcile = *parsed->invocation;
  EXPECT_EQ(reconcile.command, Command::kReconcile);
  EXPECT_EQ(reconcile.every, absl::Seconds(30));
  EXPECT_EQ(reconcile.listen, "0.0.0.0:9180");
  EXPECT_EQ(reconcile.log_format, "json");
  EXPECT_EQ(Parse({"reconcile", "-f", "p.toml"})->invocation->every, absl::Seconds(10));
  EXPECT_THAT(ErrorOf({"reconcile", "-f", "p.toml", "--every", "500ms"}),
              HasSubstr("--every \"500ms\" is not valid (valid: a duration from 1s to 24h"));
  EXPECT_THAT(ErrorOf({"reconcile", "-f", "p.toml", "--log-format", "xml"}),
              HasSubstr("--log-format \"xml\" is not valid (valid: text, json)"));
  EXPECT_THAT(ErrorOf({"reconcile", "-f", "p.toml", "-o", "json"}),
              HasSubstr("--output does not apply to reconcile"));
  EXPECT_THAT(ErrorOf({"apply", "-f", "p.toml", "--every", "1s"}),
              HasSubstr("--every does not apply to apply"));
  EXPECT_THAT(ErrorOf({"reconcile", "--listen", "1.2.3.4:1"}), HasSubstr("reconcile needs -f"));
}

TEST(CliTest, PoolsSetTakesTheBalanceSettings) {
  absl::StatusOr<ParsedCommandLine> parsed =
      Parse({"pools", "set", "--pool", "api", "--algorithm", "LC", "--slow-start", "30s",
             "--expected-version", "3"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Invocation& invocation = *parsed->invocation;
  EXPECT_EQ(invocation.command, Command::kPoolsSet);
  EXPECT_EQ(invocation.algorithm, balance::Algorithm::kLeastConnections);
  EXPECT_EQ(invocation.slow_start, absl::Seconds(30));
  EXPECT_EQ(invocation.expected_version, 3u);
  const Invocation maglev = *Parse({"pools", "set", "--algorithm=maglev", "--hash",
                                    "source_ip_port", "--maglev-table-size", "251"})
                                 ->invocation;
  EXPECT_EQ(maglev.hash,
            (balance::HashKey{.source = balance::HashKey::Source::kSourceIpPort, .name = ""}));
  EXPECT_EQ(maglev.maglev_table_size, 251u);

  EXPECT_THAT(ErrorOf({"pools", "set"}),
              HasSubstr("pools set needs at least one of --algorithm, --slow-start, --hash and "
                        "--maglev-table-size"));
  EXPECT_THAT(ErrorOf({"pools", "set", "--algorithm", "fastest"}),
              HasSubstr("--algorithm: unknown algorithm \"fastest\" (valid: RR (round_robin), "
                        "WRR (weighted_round_robin), least_connections (LC), p2c (power_of_two), "
                        "random, maglev)"));
  EXPECT_THAT(ErrorOf({"pools", "set", "--hash", "header"}),
              HasSubstr("--hash: unknown hash \"header\" (valid: source_ip, source_ip_port, "
                        "header:NAME, cookie:NAME)"));
  EXPECT_THAT(ErrorOf({"pools", "set", "--maglev-table-size", "100"}),
              HasSubstr("--maglev-table-size: maglev_table_size 100 is not a prime (the nearest "
                        "primes are 97 and 101)"));
  EXPECT_THAT(ErrorOf({"pools", "set", "--slow-start", "2h"}),
              HasSubstr("--slow-start \"2h\" is not valid (valid: a duration from 0s"));
  EXPECT_THAT(ErrorOf({"backends", "list", "--algorithm", "RR"}),
              HasSubstr("--algorithm does not apply to backends list"));
}

TEST(CliTest, NodesComeFromFlagsThenEnvironmentThenTheDefault) {
  EXPECT_THAT(Parse({"status"})->invocation->nodes, ElementsAre("127.0.0.1:9100"));
  EXPECT_THAT(Parse({"status"}, {{"PLBY_NODES", "a.example:1, b.example:2"}})->invocation->nodes,
              ElementsAre("a.example:1", "b.example:2"));
  EXPECT_THAT(Parse({"status", "--node", "c.example:3"}, {{"PLBY_NODES", "a.example:1"}})
                  ->invocation->nodes,
              ElementsAre("c.example:3"));
  // The same node twice is asked once.
  EXPECT_THAT(Parse({"status", "--node", "127.0.0.1:1,127.0.0.1:1"})->invocation->nodes,
              ElementsAre("127.0.0.1:1"));
}

TEST(CliTest, TlsFilesComeFromFlagsOrEnvironment) {
  const Invocation invocation =
      *Parse({"status", "--ca", "ca.pem"}, {{"PLBY_CERT", "c.pem"}, {"PLBY_KEY", "c.key"}})
           ->invocation;
  EXPECT_EQ(invocation.tls.ca, "ca.pem");
  EXPECT_EQ(invocation.tls.cert, "c.pem");
  EXPECT_TRUE(invocation.tls.enabled());
  EXPECT_THAT(ErrorOf({"status", "--cert", "c.pem"}), HasSubstr("--cert and --key go together"));
}

TEST(CliTest, HelpForTheToolAndForEachCommand) {
  EXPECT_THAT(Parse({"--help"})->help, HasSubstr("Usage: plbyctl [flags] COMMAND"));
  EXPECT_THAT(Parse({"backends", "add", "--help"})->help,
              HasSubstr("Usage: plbyctl backends add ADDRESS"));
  EXPECT_THAT(Parse({"-h", "backends", "watch"})->help, HasSubstr("--count N"));
  EXPECT_FALSE(Parse({"--help"})->invocation);
}

// The algorithm table is the one list: the help that names algorithms, and the wire mapping,
// must cover every entry (a new algorithm fails here until they do).
TEST(CliTest, HelpAndTheWireNameEveryAlgorithm) {
  const std::string tool = Parse({"--help"})->help;
  const std::string pools_set = Parse({"pools", "set", "--help"})->help;
  for (const balance::AlgorithmInfo& info : balance::Algorithms()) {
    EXPECT_THAT(tool, HasSubstr(std::string(info.name)));
    EXPECT_THAT(pools_set, HasSubstr(std::string(info.name)));
    for (absl::string_view alias : info.aliases) {
      EXPECT_THAT(tool, HasSubstr(std::string(alias)));
      EXPECT_THAT(pools_set, HasSubstr(std::string(alias)));
    }
    const v1::Algorithm wire = control::ToWire(info.algorithm);
    EXPECT_NE(wire, v1::ALGORITHM_UNSPECIFIED) << info.name;
    EXPECT_EQ(control::FromWire(wire), info.algorithm) << info.name;
  }
}

TEST(CliTest, BadArgumentsSayWhatIsValid) {
  EXPECT_THAT(ErrorOf({}), HasSubstr("no command given (valid: status, pools list"));
  EXPECT_THAT(ErrorOf({"backend", "list"}), HasSubstr("unknown command \"backend list\""));
  EXPECT_THAT(ErrorOf({"backends", "add"}),
              HasSubstr("backends add needs the backend's ADDRESS (HOST:PORT)"));
  EXPECT_THAT(ErrorOf({"backends", "add", "127.0.0.1:1", "127.0.0.1:2"}),
              HasSubstr("unexpected argument \"127.0.0.1:2\" for backends add"));
  EXPECT_THAT(ErrorOf({"backends", "add", "localhost"}),
              HasSubstr("invalid address \"localhost\": missing \":PORT\""));
  EXPECT_THAT(ErrorOf({"backends", "add", "127.0.0.1:1", "--weight", "300"}),
              HasSubstr("--weight \"300\" is not valid (valid: a whole number from 1 to 256)"));
  EXPECT_THAT(ErrorOf({"backends", "set", "127.0.0.1:1"}),
              HasSubstr("backends set needs --weight N (1-256)"));
  EXPECT_THAT(ErrorOf({"backends", "list", "--expected-version", "3"}),
              HasSubstr("--expected-version does not apply to backends list"));
  EXPECT_THAT(ErrorOf({"status", "--count", "3"}), HasSubstr("--count does not apply to status"));
  EXPECT_THAT(ErrorOf({"status", "--timeout", "soon"}),
              HasSubstr("--timeout \"soon\" is not valid (valid: a positive duration"));
  EXPECT_THAT(ErrorOf({"status", "--node", "nohost"}),
              HasSubstr("--node: invalid address \"nohost\""));
  EXPECT_THAT(ErrorOf({"status", "--verbose"}), HasSubstr("unknown flag \"--verbose\""));
  EXPECT_THAT(ErrorOf({"status", "--pool"}), HasSubstr("--pool needs a value"));
  EXPECT_THAT(ErrorOf({"-v", "status"}), HasSubstr("unknown flag \"-v\""));
  EXPECT_THAT(ErrorOf({"backends", "add", "127.0.0.1:1", "--pool", "--weight", "5"}),
              HasSubstr("--pool needs a value"));
  EXPECT_THAT(ErrorOf({"status", "-o", "yaml"}),
              HasSubstr("-o \"yaml\" is not valid (valid: table, json)"));
  EXPECT_THAT(ErrorOf({"status", "--timeout", "3000000h"}),
              HasSubstr("--timeout \"3000000h\" is too long (valid: up to 24h)"));
  EXPECT_THAT(ErrorOf({"status", "--tls-server-name", "node.example"}),
              HasSubstr("--tls-server-name applies to TLS only"));
  EXPECT_THAT(ErrorOf({"backends", "add", "127.0.0.1:1", "--if-absent=yes"}),
              HasSubstr("--if-absent takes no value, got \"yes\""));
  EXPECT_THAT(ErrorOf({"backends", "remove", "127.0.0.1:1", "--if-absent"}),
              HasSubstr("--if-absent does not apply to backends remove"));
  // A flag given twice would silently be the last one: refused. --node and --fleet add up.
  EXPECT_THAT(ErrorOf({"backends", "add", "127.0.0.1:1", "--weight", "2", "--weight", "3"}),
              HasSubstr("--weight is given twice (give it once; only --node and --fleet may "
                        "repeat)"));
  EXPECT_THAT(ErrorOf({"status", "-o", "json", "--output=table"}),
              HasSubstr("--output is given twice"));
  EXPECT_TRUE(
      ParseCommandLine({"status", "--node", "127.0.0.1:1", "--node", "127.0.0.1:2"}, {}).ok());
  // A huge value is quoted in part.
  EXPECT_THAT(ErrorOf({"status", "--timeout", std::string(100'000, '9')}),
              HasSubstr("(100000 characters, the first 100 shown)"));
}

}  // namespace
}  // namespace plby::ctl
