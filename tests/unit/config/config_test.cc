#include "config/config.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::config {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

// The PLBY seed's config.toml, byte for byte.
constexpr char kSeedConfig[] = R"([[server]]

listen = "0.0.0.0:8200"

[[server.forward]]

algorithm = "WRR"

backends = [
    { address = "127.0.0.1:8080"},
    { address = "127.0.0.1:8081"},
    { address = "127.0.0.1:8082"},
]
)";

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<Config> config = ParseConfig(text, "test.toml");
  EXPECT_FALSE(config.ok()) << "accepted:\n" << text;
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

// A valid one-server config with `server_lines` added to [[server]] and `backends` as the list.
std::string Server(const std::string& server_lines = "",
                   const std::string& backends = R"([ { address = "127.0.0.1:8080" } ])",
                   const std::string& forward_lines = "") {
  return "[[server]]\nlisten = \"127.0.0.1:8200\"\n" + server_lines +
         "\n[[server.forward]]\nalgorithm = \"WRR\"\n" + forward_lines + "backends = " + backends +
         "\n";
}

TEST(ConfigTest, SeedConfigLoadsUnchanged) {
  absl::StatusOr<Config> config = ParseConfig(kSeedConfig, "config.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->servers, SizeIs(1));
  const ServerConfig& server = config->servers[0];
  ASSERT_THAT(config->pools, SizeIs(1));
  const PoolConfig& pool = config->pools[0];
  EXPECT_EQ(server.pool(), pool.name);
  EXPECT_EQ(server.name, "0.0.0.0:8200");
  EXPECT_EQ(server.listen_address.ToString(), "0.0.0.0:8200");
  EXPECT_EQ(pool.balance.algorithm, balance::Algorithm::kWeightedRoundRobin);
  EXPECT_EQ(pool.connect_timeout, absl::Seconds(3));
  ASSERT_THAT(pool.backends, SizeIs(3));
  EXPECT_EQ(pool.backends[0].address.ToString(), "127.0.0.1:8080");
  EXPECT_EQ(pool.backends[2].resolved.ToString(), "127.0.0.1:8082");
  EXPECT_EQ(pool.backends[1].weight, 1);
  EXPECT_EQ(config->control.listen.ToString(), "127.0.0.1:9100");
  EXPECT_THAT(config->warnings, SizeIs(0));
}

TEST(ConfigTest, AdditionsAreRead) {
  absl::StatusOr<Config> config = ParseConfig(R"(
[control]
listen = "127.0.0.1:9300"

[[server]]
name = "web"
listen = "[::1]:8200"
connect_timeout = "250ms"

[[server.forward]]
algorithm = "wrr"
backends = [ { address = "[::1]:8080", weight = 5 }, { address = "localhost:8081" } ]

[[server]]
listen = "127.0.0.1:8300"
[[server.forward]]
algorithm = "Rr"
backends = []
)",
                                              "c.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->control.listen_address.ToString(), "127.0.0.1:9300");
  ASSERT_THAT(config->servers, SizeIs(2));
  EXPECT_EQ(config->servers[0].name, "web");
  EXPECT_EQ(config->pools[0].connect_timeout, absl::Milliseconds(250));
  EXPECT_EQ(config->pools[0].backends[0].weight, 5);
  EXPECT_EQ(config->pools[0].backends[1].address.ToString(), "localhost:8081");
  EXPECT_EQ(config->servers[1].name, "127.0.0.1:8300");
  EXPECT_EQ(config->pools[1].balance.algorithm, balance::Algorithm::kRoundRobin);
  EXPECT_THAT(config->pools[1].backends, SizeIs(0));
  // An empty pool is allowed (the control service fills it) but said out loud.
  EXPECT_THAT(config->warnings,
              ElementsAre(HasSubstr("c.toml:18:12: pool \"127.0.0.1:8300\" has no backends")));
}

TEST(ConfigTest, WeightsUnderRoundRobinAreAWarning) {
  absl::StatusOr<Config> config = ParseConfig(R"([[server]]
listen = "127.0.0.1:8200"
[[server.forward]]
algorithm = "RR"
backends = [ { address = "127.0.0.1:8080", weight = 3 } ]
)",
                                              "w.toml");
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(config->warnings, ElementsAre(HasSubstr("w.toml:5:12: pool \"127.0.0.1:8200\" uses "
                                                      "algorithm RR, which ignores weights")));
}

TEST(ConfigTest, SyntaxErrorHasLineAndColumn) {
  EXPECT_THAT(ErrorOf("[[server]]\nlisten = \"127.0.0.1:8200\n"), HasSubstr("test.toml:2:"));
  EXPECT_THAT(ErrorOf("[[server]]\nlisten = = 3\n"),
              HasSubstr("test.toml:2:10: TOML syntax error"));
}

constexpr char kPools[] = R"([[pool]]
name = "api"
algorithm = "least_connections"
slow_start = "30s"
connect_timeout = "500ms"
backends = [ { address = "127.0.0.1:8080", weight = 2 }, { address = "127.0.0.1:8081" } ]
[pool.health]
interval = "2s"

[[pool]]
name = "sticky"
algorithm = "Maglev"
hash = "source_ip_port"
maglev_table_size = 251
backends = []

[[server]]
listen = "127.0.0.1:8200"
[[server.forward]]
pool = "api"

[[server]]
name = "alt"
listen = "127.0.0.1:8201"
[[server.forward]]
pool = "api"

[[server]]
listen = "127.0.0.1:8202"
[[server.forward]]
algorithm = "random"
backends = [ { address = "127.0.0.1:9000" } ]
)";

TEST(ConfigTest, PoolsOfTheirOwnAreSharedByServers) {
  absl::StatusOr<Config> config = ParseConfig(kPools, "test.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->pools, SizeIs(3));
  const PoolConfig& api = config->pools[0];
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.balance.algorithm, balance::Algorithm::kLeastConnections);
  EXPECT_EQ(api.balance.slow_start, absl::Seconds(30));
  EXPECT_EQ(api.connect_timeout, absl::Milliseconds(500));
  EXPECT_EQ(api.health.interval, absl::Seconds(2));
  ASSERT_THAT(api.backends, SizeIs(2));
  EXPECT_EQ(api.backends[0].weight, 2);
  const PoolConfig& sticky = config->pools[1];
  EXPECT_EQ(sticky.balance.algorithm, balance::Algorithm::kMaglev);
  EXPECT_EQ(sticky.balance.hash,
            (balance::HashKey{.source = balance::HashKey::Source::kSourceIpPort, .name = ""}));
  EXPECT_EQ(sticky.balance.maglev_table_size, 251u);
  const PoolConfig& inline_pool = config->pools[2];
  EXPECT_EQ(inline_pool.name, "127.0.0.1:8202");
  EXPECT_TRUE(inline_pool.inline_in_server);
  EXPECT_EQ(inline_pool.balance.algorithm, balance::Algorithm::kRandom);
  ASSERT_THAT(config->servers, SizeIs(3));
  EXPECT_EQ(config->servers[0].pool(), "api");
  EXPECT_EQ(config->servers[1].name, "alt");
  EXPECT_EQ(config->servers[1].pool(), "api");
  EXPECT_EQ(config->servers[2].pool(), "127.0.0.1:8202");
  EXPECT_THAT(config->warnings,
              ElementsAre(HasSubstr("test.toml:15:12: pool \"sticky\" has no backends"),
                          HasSubstr("test.toml:10:1: pool \"sticky\" is used by no server")));
}

// A refused table's own error is the one said: what refers to it is not blamed as well (a
// server forwarding to a refused pool is not told that no [[pool]] defines it).
TEST(ConfigTest, ARefusedTableIsNotBlamedTwice) {
  const std::string refused_pool = ErrorOf(
      "[[pool]]\nname = \"api\"\nbackends = [ { address = \"127.0.0.1:99999\" } ]\n"
      "[[server]]\nlisten = \"127.0.0.1:8200\"\n[[server.forward]]\npool = \"api\"\n");
  EXPECT_THAT(refused_pool, HasSubstr("port 99999"));
  EXPECT_THAT(refused_pool, Not(HasSubstr("which no [[pool]] defines")));
  const std::string refused_tls = ErrorOf(
      Server("[server.tls]\ncertificates = [ { cert = \"missing.pem\", key = \"missing.key\" } ]",
             R"([ { address = "127.0.0.1:8080" } ])", "sni = [\"api.example.com\"]\n"));
  EXPECT_THAT(refused_tls, HasSubstr("\"missing.pem\": cannot read it"));
  EXPECT_THAT(refused_tls, Not(HasSubstr("a forward with sni routes by the TLS ClientHello")));
}

TEST(ConfigTest, ARequestHashOnAPoolOnlyTcpServersUseIsWarnedAbout) {
  const std::string pool =
      "[[pool]]\nname = \"api\"\nalgorithm = \"maglev\"\nhash = \"header:x-user\"\n"
      "backends = [ { address = \"127.0.0.1:8080\" } ]\n";
  const auto server = [](const std::string& lines) {
    return absl::StrCat("[[server]]\nlisten = \"127.0.0.1:8200\"\n", lines,
                        "[[server.forward]]\npool = \"api\"\n");
  };
  absl::StatusOr<Config> tcp = ParseConfig(pool + server(""), "test.toml");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_THAT(tcp->warnings,
              ::testing::Contains(HasSubstr(
                  "test.toml:1:1: pool \"api\" hashes header:x-user, which only HTTP listeners "
                  "read, and only TCP servers use it: maglev hashes each client's address "
                  "instead")));
  absl::StatusOr<Config> http = ParseConfig(pool + server("mode = \"http\"\n"), "test.toml");
  ASSERT_TRUE(http.ok()) << http.status();
  EXPECT_THAT(http->warnings, ::testing::Not(::testing::Contains(HasSubstr("hashes"))));
}

TEST(ConfigTest, PoolMistakesAreNamedWithTheirLine) {
  const std::string listener = "[[server]]\nlisten = \"127.0.0.1:8200\"\n[[server.forward]]\n";
  EXPECT_THAT(ErrorOf(listener + "pool = \"nope\"\n"),
              HasSubstr("test.toml:3:1: server \"127.0.0.1:8200\" forwards to pool \"nope\", which "
                        "no [[pool]] defines (there is no [[pool]])"));
  EXPECT_THAT(ErrorOf(listener + "pool = \"api\"\nbackends = []\n[[pool]]\nname = \"api\"\n"
                                 "backends = []\n"),
              HasSubstr("test.toml:5:12: server[0].forward[0].backends: this forward names pool "
                        "\"api\", whose backends is set in its [[pool]] table"));
  EXPECT_THAT(
      ErrorOf("[[server]]\nlisten = \"127.0.0.1:8200\"\nconnect_timeout = \"1s\"\n"
              "[[server.forward]]\npool = \"api\"\n[[pool]]\nname = \"api\"\nbackends = []\n"),
      HasSubstr("test.toml:3:19: server[0].connect_timeout: server \"127.0.0.1:8200\" "
                "forwards to pool \"api\", so connect_timeout belongs in that pool's "
                "[[pool]] table"));
  const std::string pool = listener + "pool = \"api\"\n[[pool]]\nname = \"api\"\nbackends = []\n";
  EXPECT_THAT(ErrorOf(pool + "weight = 3\n"),
              HasSubstr("test.toml:8:1: unknown key \"weight\" in [[pool]] (pool[0]) (valid: name, "
                        "algorithm, backends, discover, slow_start, hash, maglev_table_size, "
                        "connect_timeout, idle_timeout, health, send_proxy, tls, keepalive, "
                        "keepalive_timeout, retry_budget_percent)"));
  EXPECT_THAT(
      ErrorOf(pool + "algorithm = \"maglev\"\nslow_start = \"10s\"\n"),
      HasSubstr("test.toml:9:14: pool[0].slow_start 10s is not valid with algorithm maglev: "
                "ramping a backend's weight up would move keys between backends while it "
                "ramps"));
  EXPECT_THAT(ErrorOf(pool + "algorithm = \"maglev\"\nmaglev_table_size = 65536\n"),
              HasSubstr("test.toml:9:21: pool[0].maglev_table_size 65536 is not a prime (the "
                        "nearest primes are 65521 and 65537)"));
  EXPECT_THAT(ErrorOf(pool + "algorithm = \"maglev\"\nhash = \"cookie\"\n"),
              HasSubstr("test.toml:9:8: pool[0].hash: unknown hash \"cookie\" (valid: source_ip, "
                        "source_ip_port, header:NAME, cookie:NAME)"));
  EXPECT_THAT(ErrorOf(listener + "pool = \"api\"\n[[pool]]\nbackends = []\n"),
              HasSubstr("test.toml:5:1: pool[0]: missing required key \"name\""));
  EXPECT_THAT(ErrorOf(pool + "[[pool]]\nname = \"api\"\nbackends = []\n"),
              HasSubstr("test.toml:8:1: duplicate pool name \"api\" (first defined at line 5)"));
  EXPECT_THAT(
      ErrorOf(listener + "backends = []\n[[pool]]\nname = \"127.0.0.1:8200\"\nbackends = []\n"),
      HasSubstr("duplicate pool name \"127.0.0.1:8200\" (first defined at line 1; a server "
                "whose forward carries backends defines a pool named after the server)"));
  // A weight under an algorithm that ignores weights, a hash under one that needs none: warned.
  absl::StatusOr<Config> warned =
      ParseConfig(pool + "algorithm = \"p2c\"\nhash = \"source_ip\"\n", "test.toml");
  ASSERT_TRUE(warned.ok()) << warned.status();
  EXPECT_THAT(warned->warnings,
              ::testing::Contains(HasSubstr(
                  "test.toml:9:8: pool[0].hash applies to algorithm maglev, and to p2c in HTTP "
                  "mode when it is header:NAME or cookie:NAME; p2c ignores this one")));
  // p2c draws by a request field or cookie: not ignored (only unused here, by TCP servers).
  absl::StatusOr<Config> by_cookie =
      ParseConfig(pool + "algorithm = \"p2c\"\nhash = \"cookie:session\"\n", "test.toml");
  ASSERT_TRUE(by_cookie.ok()) << by_cookie.status();
  EXPECT_THAT(by_cookie->warnings, ::testing::Not(::testing::Contains(HasSubstr("applies to"))));
  absl::StatusOr<Config> sized =
      ParseConfig(pool + "algorithm = \"random\"\nmaglev_table_size = 251\n", "test.toml");
  ASSERT_TRUE(sized.ok()) << sized.status();
  EXPECT_THAT(sized->warnings,
              ::testing::Contains(HasSubstr("pool[0].maglev_table_size applies to algorithm "
                                            "maglev only; random ignores it")));
}

TEST(ConfigTest, UnknownKeysAreRefusedWhereverTheyAre) {
  EXPECT_THAT(ErrorOf("servers = 1\n" + Server()),
              HasSubstr("test.toml:1:1: unknown key \"servers\" in the top level (valid: server, "
                        "pool, control, node, metrics)"));
  EXPECT_THAT(ErrorOf(Server("lisen = \"x\"")),
              HasSubstr("test.toml:3:1: unknown key \"lisen\" in [[server]] (server[0]) (valid: "
                        "name, listen, connect_timeout, idle_timeout, health, forward, "
                        "accept_proxy, trusted, handshake_timeout, tls, mode, http)"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" } ])", "algoritm = \"RR\"\n")),
              HasSubstr("test.toml:6:1: unknown key \"algoritm\" in [[server.forward]]"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080", wieght = 2 } ])")),
              HasSubstr("test.toml:6:44: unknown key \"wieght\" in a backend (valid: address, "
                        "weight, draining)"));
  EXPECT_THAT(ErrorOf("[control]\nlsten = \"127.0.0.1:1\"\n" + Server()),
              HasSubstr("test.toml:2:1: unknown key \"lsten\" in [control] (valid: listen, "
                        "health_listen, tls_cert, tls_key, tls_client_ca, allow_insecure_remote, "
                        "state_file, ready_after_sync)"));
  // The nested tables too, each named with its line.
  const std::string pool = "[[pool]]\nname = \"api\"\nbackends = []\n";
  EXPECT_THAT(ErrorOf(pool + "[pool.health]\nintervl = \"1s\"\n"),
              HasSubstr("test.toml:5:1: unknown key \"intervl\" in [pool.health]"));
  EXPECT_THAT(ErrorOf(pool + "[pool.tls]\nverfy = true\n"),
              HasSubstr("test.toml:5:1: unknown key \"verfy\" in [pool.tls]"));
  EXPECT_THAT(ErrorOf(Server("[server.tls]\ncertificat = \"a.pem\"")),
              HasSubstr("test.toml:4:1: unknown key \"certificat\" in [server.tls]"));
  EXPECT_THAT(ErrorOf(Server("mode = \"http\"\n[server.http]\nmax_head = 1")),
              HasSubstr("test.toml:5:1: unknown key \"max_head\" in [server.http]"));
}

TEST(ConfigTest, WrongTypesNameWhatWasExpected) {
  EXPECT_THAT(ErrorOf("[[server]]\nlisten = 8200\n[[server.forward]]\nbackends = []\n"),
              HasSubstr("test.toml:2:10: server[0].listen: expected a string like "
                        "\"127.0.0.1:8080\", got a integer"));
  EXPECT_THAT(ErrorOf("[server]\nlisten = \"127.0.0.1:1\"\n"),
              HasSubstr("test.toml:1:1: server: expected an array of tables: write [[server]], "
                        "not [server]"));
  EXPECT_THAT(ErrorOf("[[server]]\nlisten = \"127.0.0.1:1\"\n[server.forward]\nbackends = []\n"),
              HasSubstr("test.toml:3:1: server[0].forward: expected an array of tables"));
  EXPECT_THAT(ErrorOf(Server("", "\"127.0.0.1:8080\"")),
              HasSubstr("test.toml:6:12: server[0].forward[0].backends: expected an array of "
                        "tables like [ { address = \"127.0.0.1:8080\" } ], got a string"));
  EXPECT_THAT(ErrorOf(Server("", "[ \"127.0.0.1:8080\" ]")),
              HasSubstr("test.toml:6:14: server[0].forward[0].backends[0]: expected a table like "
                        "{ address = \"127.0.0.1:8080\" }, got a string"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080", weight = 1.5 } ])")),
              HasSubstr("test.toml:6:53: server[0].forward[0].backends[0].weight: expected an "
                        "integer (1-256), got a float"));
  EXPECT_THAT(ErrorOf(Server("name = 7")),
              HasSubstr("test.toml:3:8: server[0].name: expected a string like \"web\", got a "
                        "integer"));
  EXPECT_THAT(ErrorOf(Server("connect_timeout = 3")),
              HasSubstr("test.toml:3:19: server[0].connect_timeout: expected a string like "
                        "\"3s\", got a integer"));
}

TEST(ConfigTest, BadValuesAreNamedWithTheValidRange) {
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:0" } ])")),
              HasSubstr("test.toml:6:26: server[0].forward[0].backends[0].address: invalid "
                        "address \"127.0.0.1:0\": port 0 is out of range (valid: 1-65535)"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "::1:8080" } ])")),
              HasSubstr("IPv6 addresses must be written in brackets"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080", weight = 257 } ])")),
              HasSubstr("test.toml:6:53: server[0].forward[0].backends[0].weight: weight 257 is "
                        "out of range (valid: 1-256)"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" } ])")
                          .replace(Server().find("\"WRR\""), 5, "\"fastest\"")),
              HasSubstr("test.toml:5:13: server[0].forward[0].algorithm: unknown algorithm "
                        "\"fastest\" (valid: RR (round_robin), WRR (weighted_round_robin), "
                        "least_connections (LC), p2c (power_of_two), random, maglev)"));
  EXPECT_THAT(ErrorOf(Server("name = \"my pool\"")),
              HasSubstr("test.toml:3:8: server[0].name: invalid name \"my pool\""));
  EXPECT_THAT(
      ErrorOf(Server("connect_timeout = \"3 seconds\"")),
      HasSubstr("test.toml:3:19: server[0].connect_timeout: invalid duration \"3 seconds\""));
  EXPECT_THAT(ErrorOf(Server("connect_timeout = \"0ms\"")),
              HasSubstr("test.toml:3:19: server[0].connect_timeout \"0ms\" is out of range "
                        "(valid: 1ms to 5m)"));
  EXPECT_THAT(ErrorOf("[control]\nlisten = \"127.0.0.1:99999\"\n" + Server()),
              HasSubstr("test.toml:2:10: control.listen: invalid address \"127.0.0.1:99999\": "
                        "port 99999 is out of range (valid: 0-65535)"));
}

TEST(ConfigTest, MissingPiecesAreNamed) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("test.toml:1:1: no [[server]] is defined"));
  EXPECT_THAT(ErrorOf("[[server]]\n[[server.forward]]\nbackends = []\n"),
              HasSubstr("test.toml:1:1: server[0]: missing required key \"listen\""));
  EXPECT_THAT(ErrorOf("[[server]]\nlisten = \"127.0.0.1:1\"\n"),
              HasSubstr("test.toml:1:1: server[0]: missing [[server.forward]]"));
  EXPECT_THAT(ErrorOf("[[server]]\nlisten = \"127.0.0.1:1\"\n[[server.forward]]\n"),
              HasSubstr("test.toml:3:1: server[0].forward[0]: missing required key \"backends\""));
  EXPECT_THAT(ErrorOf(Server("", "[ { weight = 2 } ]")),
              HasSubstr("test.toml:6:14: server[0].forward[0].backends[0]: missing required key "
                        "\"address\""));
}

// A listener that routes TLS by server name, with inline pools and a named one.
constexpr char kPassthroughConfig[] = R"([[server]]
name = "tls"
listen = "127.0.0.1:8443"
handshake_timeout = "2s"
[[server.forward]]
sni = ["API.example.com.", "*.api.example.com"]
tls = "passthrough"
backends = [ { address = "127.0.0.1:9001" } ]
[[server.forward]]
tls = "passthrough"
pool = "rest"
[[server.forward]]
sni = ["www.example.com"]
tls = "passthrough"
backends = [ { address = "127.0.0.1:9003" } ]

[[pool]]
name = "rest"
send_proxy = "v2"
backends = [ { address = "127.0.0.1:9002" } ]
)";

TEST(ConfigTest, ServersRouteBySniToSeveralPools) {
  absl::StatusOr<Config> config = ParseConfig(kPassthroughConfig, "test.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  const ServerConfig& server = config->servers.at(0);
  ASSERT_THAT(server.routes, SizeIs(3));
  EXPECT_THAT(server.routes[0].sni, ElementsAre("api.example.com", "*.api.example.com"));
  EXPECT_EQ(server.routes[0].pool, "tls");  // the first inline pool is named after the server
  EXPECT_EQ(server.routes[1].pool, "rest");
  EXPECT_EQ(server.routes[2].pool, "tls[2]");
  EXPECT_EQ(server.pool(), "rest");  // the default route's
  EXPECT_TRUE(server.reads_client_hello());
  EXPECT_EQ(server.handshake_timeout, absl::Seconds(2));
  ASSERT_NE(config->FindPool("rest"), nullptr);
  EXPECT_EQ(config->FindPool("rest")->send_proxy, ProxyProtocol::kV2);
  EXPECT_EQ(config->FindPool("tls")->send_proxy, ProxyProtocol::kNone);
}

TEST(ConfigTest, RoutesAreChecked) {
  const auto passthrough = [](const std::string& forwards) {
    return "[[server]]\nlisten = \"127.0.0.1:8443\"\n" + forwards;
  };
  const std::string backends = "backends = [ { address = \"127.0.0.1:9001\" } ]\n";
  EXPECT_THAT(ErrorOf(passthrough("[[server.forward]]\nsni = [\"a.example.com\"]\n" + backends)),
              HasSubstr("a forward with sni routes by the TLS ClientHello: say tls = "
                        "\"passthrough\""));
  EXPECT_THAT(ErrorOf(passthrough("[[server.forward]]\nsni = [\"a.example.com\"]\ntls = "
                                  "\"passthrough\"\n" +
                                  backends + "[[server.forward]]\n" + backends)),
              HasSubstr("test.toml:7:1: server[0]: every forward of a listener that passes TLS "
                        "through reads the ClientHello"));
  EXPECT_THAT(
      ErrorOf(passthrough("[[server.forward]]\n" + backends + "[[server.forward]]\n" + backends)),
      HasSubstr("test.toml:5:1: server[0]: a second forward without sni (the first is at "
                "line 3)"));
  EXPECT_THAT(ErrorOf(passthrough("[[server.forward]]\ntls = \"terminate\"\n" + backends)),
              HasSubstr("server[0]: tls = \"terminate\" needs the listener's certificates: add "
                        "[server.tls]"));
  EXPECT_THAT(ErrorOf(passthrough("[[server.forward]]\ntls = \"tunnel\"\n" + backends)),
              HasSubstr("\"tunnel\" is not valid (valid: passthrough, terminate)"));
  EXPECT_THAT(ErrorOf(passthrough("[[server.forward]]\nsni = [\"a.*.example.com\"]\ntls = "
                                  "\"passthrough\"\n" +
                                  backends)),
              HasSubstr("test.toml:4:8: server[0].forward[0].sni: server name "
                        "\"a.*.example.com\" has a '*' that is not the whole first label"));
  EXPECT_THAT(
      ErrorOf(passthrough("[[server.forward]]\nsni = []\ntls = \"passthrough\"\n" + backends)),
      HasSubstr("sni: expected a non-empty list of server names"));
  EXPECT_THAT(ErrorOf(passthrough("handshake_timeout = \"5s\"\n[[server.forward]]\n" + backends)),
              HasSubstr("handshake_timeout: bounds the wait for a ClientHello"));
  EXPECT_THAT(ErrorOf(passthrough("[[server.forward]]\npool = \"p\"\nsend_proxy = \"v1\"\n") +
                      "[[pool]]\nname = \"p\"\n" + backends),
              HasSubstr("send_proxy: this forward names pool \"p\""));
  EXPECT_THAT(ErrorOf(passthrough("[[server.forward]]\nsend_proxy = \"v3\"\n" + backends)),
              HasSubstr("server[0].forward[0].send_proxy: \"v3\" is not valid (valid: v1, v2)"));
  // A pattern a route before it already takes is legal, but never used.
  absl::StatusOr<Config> shadowed = ParseConfig(
      passthrough(
          "[[server.forward]]\nsni = [\"a.example.com\"]\ntls = \"passthrough\"\n" + backends +
          "[[server.forward]]\nsni = [\"a.example.com\"]\ntls = \"passthrough\"\n" + backends),
      "test.toml");
  ASSERT_TRUE(shadowed.ok()) << shadowed.status();
  EXPECT_THAT(shadowed->warnings,
              Contains(HasSubstr("sni \"a.example.com\" never matches here: the forward at "
                                 "line 3 takes it first")));
}

TEST(ConfigTest, HttpListenersRouteRequests) {
  absl::StatusOr<Config> config = ParseConfig(R"([[pool]]
name = "api"
keepalive = 8
keepalive_timeout = "2s"
retry_budget_percent = 50
backends = [ { address = "127.0.0.1:9001" } ]

[[server]]
listen = "127.0.0.1:8080"
mode = "HTTP"
[server.http]
max_head_bytes = 32768
max_headers = 50
max_uri_bytes = 2048
max_body_bytes = 1000000
head_timeout = "5s"
keepalive_timeout = "30s"
response_timeout = "20s"
body_timeout = "15s"
underscores_in_headers = true

[[server.forward]]
pool = "api"
host = ["API.example.com", "*.example.org"]
path_prefix = "/v1/"
strip_prefix = true
methods = ["GET", "POST"]
headers = { "X-Canary" = "1" }
timeout = "3s"
retries = 3
add_request_headers = { "X-Env" = "prod" }
remove_request_headers = ["X-Debug"]

[[server.forward]]
pool = "api"
path = "/healthz"

[[server.forward]]
backends = [ { address = "127.0.0.1:9002" } ]
)",
                                              "test.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  const ServerConfig& server = config->servers.at(0);
  EXPECT_EQ(server.mode, ListenerMode::kHttp);
  EXPECT_EQ(server.http.limits.max_head_bytes, 32768u);
  EXPECT_EQ(server.http.limits.max_headers, 50u);
  EXPECT_EQ(server.http.limits.max_uri_bytes, 2048u);
  EXPECT_EQ(server.http.max_body_bytes, 1000000u);
  EXPECT_EQ(server.http.head_timeout, absl::Seconds(5));
  EXPECT_EQ(server.http.keepalive_timeout, absl::Seconds(30));
  EXPECT_EQ(server.http.response_timeout, absl::Seconds(20));
  EXPECT_EQ(server.http.body_timeout, absl::Seconds(15));
  EXPECT_TRUE(server.http.underscores_in_headers);
  ASSERT_THAT(server.routes, SizeIs(3));
  const RouteConfig& first = server.routes[0];
  EXPECT_THAT(first.http_match.hosts, ElementsAre("api.example.com", "*.example.org"));
  EXPECT_EQ(first.http_match.path, "/v1/");
  EXPECT_TRUE(first.http_match.path_is_prefix);
  EXPECT_THAT(first.http_match.methods, ElementsAre("GET", "POST"));
  EXPECT_THAT(first.http_match.headers,
              ElementsAre(std::pair<std::string, std::string>("x-canary", "1")));
  EXPECT_EQ(first.http.timeout, absl::Seconds(3));
  EXPECT_EQ(first.http.retries, 3);
  EXPECT_EQ(server.routes[1].http.retries, kDefaultRetries);
  EXPECT_EQ(config->FindPool("api")->retry_budget_percent, 50);
  EXPECT_TRUE(first.http.strip_prefix);
  EXPECT_THAT(first.http.add_request_headers,
              ElementsAre(std::pair<std::string, std::string>("X-Env", "prod")));
  EXPECT_THAT(first.http.remove_request_headers, ElementsAre("x-debug"));
  EXPECT_EQ(server.routes[1].http_match.path, "/healthz");
  EXPECT_FALSE(server.routes[1].http_match.path_is_prefix);
  EXPECT_TRUE(server.routes[2].http_match.empty());
  EXPECT_EQ(config->FindPool("api")->keepalive, 8);
  EXPECT_EQ(config->FindPool("api")->keepalive_timeout, absl::Seconds(2));
  EXPECT_EQ(config->FindPool("127.0.0.1:8080[2]")->keepalive, kDefaultKeepalive);
  // mode = "tcp" stays the default.
  absl::StatusOr<Config> tcp = ParseConfig(kSeedConfig, "test.toml");
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(tcp->servers.at(0).mode, ListenerMode::kTcp);
  // The defaults: nginx's client_body_timeout, and underscores_in_headers off.
  EXPECT_EQ(tcp->servers.at(0).http.body_timeout, absl::Seconds(60));
  EXPECT_FALSE(tcp->servers.at(0).http.underscores_in_headers);
}

TEST(ConfigTest, PoolsHashARequestFieldOrCookie) {
  for (const auto& [text, source, name] :
       {std::tuple{"header:X-User", balance::HashKey::Source::kHeader, "x-user"},
        std::tuple{"Cookie:session_id", balance::HashKey::Source::kCookie, "session_id"}}) {
    absl::StatusOr<Config> config = ParseConfig(Server("", R"([ { address = "127.0.0.1:8080" } ])",
                                                       absl::StrCat("hash = \"", text, "\"\n")),
                                                "test.toml");
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->pools.at(0).balance.hash.source, source);
    EXPECT_EQ(config->pools.at(0).balance.hash.name, name);
    EXPECT_EQ(balance::HashKeyName(config->pools.at(0).balance.hash),
              absl::StrCat(absl::AsciiStrToLower(std::string(text).substr(0, 7)), name));
  }
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" } ])", "hash = \"header:\"\n")),
              HasSubstr("\"\" is not a field or cookie name"));
  EXPECT_THAT(
      ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" } ])", "hash = \"cookie:a b\"\n")),
      HasSubstr("\"a b\" is not a field or cookie name"));
}

TEST(ConfigTest, HttpMistakesAreNamed) {
  const auto http = [](const std::string& server_lines, const std::string& forward_lines) {
    return "[[server]]\nlisten = \"127.0.0.1:8080\"\nmode = \"http\"\n" + server_lines +
           "[[server.forward]]\nbackends = [ { address = \"127.0.0.1:9001\" } ]\n" + forward_lines;
  };
  EXPECT_THAT(ErrorOf(Server("mode = \"udp\"")),
              HasSubstr("\"udp\" is not valid (valid: tcp, http)"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" } ])", "path = \"/a\"\n")),
              HasSubstr("server[0].forward[0].path: matches or rewrites HTTP requests, which needs "
                        "mode = \"http\""));
  EXPECT_THAT(ErrorOf(Server("[server.http]\nhead_timeout = \"1s\"")),
              HasSubstr("[server.http] sets how HTTP requests are read, which needs mode = "
                        "\"http\""));
  EXPECT_THAT(ErrorOf(http("", "path = \"a\"\n")),
              HasSubstr("path: \"a\" is not a path (valid: starts with '/'"));
  EXPECT_THAT(ErrorOf(http("", "path = \"/a\"\npath_prefix = \"/b\"\n")),
              HasSubstr("path and path_prefix exclude each other"));
  EXPECT_THAT(ErrorOf(http("", "strip_prefix = true\npath = \"/a\"\n")),
              HasSubstr("strip_prefix: takes the route's path_prefix off the path forwarded"));
  EXPECT_THAT(ErrorOf(http("", "methods = [\"G T\"]\n")), HasSubstr("\"G T\" is not a method"));
  EXPECT_THAT(ErrorOf(http("", "host = [\"a b\"]\n")), HasSubstr("host: server name \"a b\""));
  EXPECT_THAT(ErrorOf(http("", "headers = { \"a b\" = \"1\" }\n")),
              HasSubstr("\"a b\" is not a field name"));
  EXPECT_THAT(ErrorOf(http("", "add_request_headers = { \"Host\" = \"x\" }\n")),
              HasSubstr("\"Host\" is written by plby itself"));
  EXPECT_THAT(ErrorOf(http("", "remove_request_headers = [\"x-forwarded-for\"]\n")),
              HasSubstr("\"x-forwarded-for\" is written by plby itself"));
  EXPECT_THAT(ErrorOf(http("", "add_request_headers = { \"x\" = \"a\\nb\" }\n")),
              HasSubstr("is not a field value"));
  EXPECT_THAT(ErrorOf(http("[server.http]\nmax_head_bytes = 100000\n", "")),
              HasSubstr("max_head_bytes"));
  EXPECT_THAT(ErrorOf(http("[server.http]\nretries = 2\n", "")), HasSubstr("retries"));
  EXPECT_THAT(ErrorOf(http("", "retries = 11\n")), HasSubstr("retries"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" } ])", "retries = 1\n")),
              HasSubstr("retries: matches or rewrites HTTP requests, which needs mode = \"http\""));
  EXPECT_THAT(ErrorOf(http("", "sni = [\"a.test\"]\n")),
              HasSubstr("routes by the request: match the name with host = [...] instead of sni"));
  EXPECT_THAT(ErrorOf(http("",
                           "[[server.forward]]\nbackends = [ { address = \"127.0.0.1:9002\" "
                           "} ]\n")),
              HasSubstr("a second forward without host, path, methods or headers"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" } ])", "keepalive = -1\n")),
              HasSubstr("keepalive"));
  EXPECT_THAT(ErrorOf(http("[server.http]\nbody_timeout = \"0s\"\n", "")),
              HasSubstr("body_timeout"));
  EXPECT_THAT(ErrorOf(http("[server.http]\nunderscores_in_headers = \"yes\"\n", "")),
              HasSubstr("underscores_in_headers"));
  // A route on a field this listener drops could never see it.
  EXPECT_THAT(ErrorOf(http("", "headers = { \"X_Tenant\" = \"1\" }\n")),
              HasSubstr("headers: \"x_tenant\" has '_', and this server drops such fields from "
                        "requests; set [server.http] underscores_in_headers = true"));
  EXPECT_TRUE(ParseConfig(http("[server.http]\nunderscores_in_headers = true\n",
                               "headers = { \"X_Tenant\" = \"1\" }\n"),
                          "test.toml")
                  .ok());
}

TEST(ConfigTest, AcceptProxyNamesItsTrustedSources) {
  absl::StatusOr<Config> config =
      ParseConfig(Server("accept_proxy = true\ntrusted = [\"10.0.0.0/8\", \"::1\"]"), "test.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->servers[0].accept_proxy.has_value());
  ASSERT_THAT(config->servers[0].accept_proxy->trusted, SizeIs(2));
  EXPECT_EQ(config->servers[0].accept_proxy->trusted[0].ToString(), "10.0.0.0/8");
  EXPECT_EQ(config->servers[0].accept_proxy->trusted[1].ToString(), "::1/128");

  EXPECT_THAT(ErrorOf(Server("accept_proxy = true")),
              HasSubstr("test.toml:3:16: server[0]: accept_proxy = true needs trusted = [...]"));
  EXPECT_THAT(ErrorOf(Server("trusted = [\"10.0.0.0/8\"]")),
              HasSubstr("server[0].trusted: names who may send a PROXY header, which only a "
                        "server with accept_proxy = true reads"));
  EXPECT_THAT(ErrorOf(Server("accept_proxy = true\ntrusted = [\"10.0.0.1/8\"]")),
              HasSubstr("test.toml:4:12: server[0].trusted: "));
  EXPECT_THAT(ErrorOf(Server("accept_proxy = true\ntrusted = [\"10.0.0.1/8\"]")),
              HasSubstr("10.0.0.0/8"));
  EXPECT_THAT(ErrorOf(Server("accept_proxy = true\ntrusted = []")),
              HasSubstr("server[0].trusted: expected a non-empty list of networks"));
  EXPECT_THAT(ErrorOf(Server("accept_proxy = \"yes\"\ntrusted = [\"10.0.0.0/8\"]")),
              HasSubstr("server[0].accept_proxy"));
  // handshake_timeout bounds how long an untrusted client's piece of a signature is held.
  absl::StatusOr<Config> held = ParseConfig(
      Server("accept_proxy = true\ntrusted = [\"10.0.0.0/8\"]\nhandshake_timeout = \"2s\""),
      "test.toml");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->servers[0].handshake_timeout, absl::Seconds(2));
  EXPECT_THAT(ErrorOf(Server("handshake_timeout = \"2s\"")),
              HasSubstr("handshake_timeout: bounds the wait for a ClientHello"));
}

TEST(ConfigTest, DuplicatesAreRefused) {
  const std::string two = Server() +
                          "[[server]]\nname = \"b\"\nlisten = \"127.0.0.1:8200\"\n"
                          "[[server.forward]]\nbackends = []\n";
  EXPECT_THAT(ErrorOf(two), HasSubstr("test.toml:7:1: server \"b\": listen \"127.0.0.1:8200\" is "
                                      "already used by server \"127.0.0.1:8200\" at line 1"));
  const std::string overlap = Server() +
                              "[[server]]\nlisten = \"0.0.0.0:8200\"\n"
                              "[[server.forward]]\nbackends = []\n";
  EXPECT_THAT(ErrorOf(overlap), HasSubstr("test.toml:7:1: server \"0.0.0.0:8200\": listen "
                                          "\"0.0.0.0:8200\" overlaps server \"127.0.0.1:8200\""));
  const std::string names = Server("name = \"x\"") +
                            "[[server]]\nname = \"x\"\nlisten = \"127.0.0.1:8300\"\n"
                            "[[server.forward]]\nbackends = []\n";
  EXPECT_THAT(ErrorOf(names),
              HasSubstr("test.toml:7:1: duplicate server name \"x\" (first used at line 1)"));
  EXPECT_THAT(
      ErrorOf(Server("", R"([ { address = "127.0.0.1:8080" }, { address = "127.0.0.1:8080" } ])")),
      HasSubstr("test.toml:6:46: server[0].forward[0].backends[1]: backend \"127.0.0.1:8080\" is "
                "listed twice in pool \"127.0.0.1:8200\""));
  EXPECT_THAT(ErrorOf("[control]\nlisten = \"127.0.0.1:8200\"\n" + Server()),
              HasSubstr("test.toml:3:1: server \"127.0.0.1:8200\": listen \"127.0.0.1:8200\" is "
                        "already used by the control service"));
  // The health and metrics listeners too: the node would fail after opening the pools'.
  EXPECT_THAT(ErrorOf("[control]\nhealth_listen = \"127.0.0.1:9100\"\n"),
              HasSubstr("test.toml:2:1: control.health_listen \"127.0.0.1:9100\" is already used "
                        "by the control service; every listener needs its own address and port"));
  // gRPC's "[::]" takes the IPv4 port too (plby's own IPv6 listeners are IPv6 only).
  EXPECT_THAT(ErrorOf("[control]\nlisten = \"[::]:8200\"\n" + Server()),
              HasSubstr("test.toml:3:1: server \"127.0.0.1:8200\": listen \"127.0.0.1:8200\" "
                        "overlaps the control service at line 2 (\"[::]:8200\")"));
  EXPECT_THAT(ErrorOf("[metrics]\nlisten = \"0.0.0.0:8200\"\n" + Server()),
              HasSubstr("test.toml:3:1: server \"127.0.0.1:8200\": listen \"127.0.0.1:8200\" "
                        "overlaps the metrics listener at line 2 (\"0.0.0.0:8200\")"));
}

TEST(ConfigTest, ABackendThatIsOneOfTheListenersIsALoop) {
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:8200" } ])")),
              HasSubstr("test.toml:6:14: pool \"127.0.0.1:8200\": backend \"127.0.0.1:8200\": "
                        "127.0.0.1:8200 is one of this node's own listeners, server "
                        "\"127.0.0.1:8200\": its connections would loop back into the node"));
  const std::string wildcard =
      "[[server]]\nname = \"front\"\nlisten = \"0.0.0.0:8300\"\n[[server.forward]]\n"
      "backends = [ { address = \"127.0.0.2:8300\" } ]\n";
  EXPECT_THAT(ErrorOf(wildcard), HasSubstr("test.toml:5:14: pool \"front\": backend "
                                           "\"127.0.0.2:8300\": 127.0.0.2:8300 is one of this "
                                           "node's own listeners, server \"front\" "
                                           "(0.0.0.0:8300)"));
  // Another port on this machine is a backend like any other.
  EXPECT_TRUE(ParseConfig(Server("", R"([ { address = "127.0.0.1:8201" } ])"), "t.toml").ok());
}

// The control, health and metrics ports are the node's own listeners too: a backend there would
// expose them on the traffic port, past the loopback rule and the network policy.
TEST(ConfigTest, ABackendThatIsTheControlHealthOrMetricsPortIsRefused) {
  const std::string listeners =
      "[control]\nlisten = \"127.0.0.1:21301\"\nhealth_listen = \"0.0.0.0:21302\"\n"
      "[metrics]\nlisten = \"127.0.0.1:21303\"\n";
  EXPECT_THAT(ErrorOf(listeners + Server("", R"([ { address = "127.0.0.1:21301" } ])")),
              HasSubstr("backend \"127.0.0.1:21301\": 127.0.0.1:21301 is one of this node's own "
                        "listeners, the control service: it would expose the control service on "
                        "a traffic port"));
  // gRPC's wildcard takes both families: [::1] reaches the health service on 0.0.0.0.
  EXPECT_THAT(ErrorOf(listeners + Server("", R"([ { address = "[::1]:21302" } ])")),
              HasSubstr("[::1]:21302 is one of this node's own listeners, the health service "
                        "(0.0.0.0:21302)"));
  EXPECT_THAT(ErrorOf(listeners + Server("", R"([ { address = "localhost:21303" } ])")),
              HasSubstr("is one of this node's own listeners, the metrics listener"));
  // The default control address counts as well.
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:9100" } ])")),
              HasSubstr("is one of this node's own listeners, the control service"));
}

TEST(ConfigTest, BackendsMustBeUnicastAndAreComparedAsTheyConnect) {
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "0.0.0.0:80" } ])")),
              HasSubstr("0.0.0.0:80 is the unspecified address"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "255.255.255.255:80" } ])")),
              HasSubstr("the broadcast address"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "224.0.0.1:80" } ])")),
              HasSubstr("a multicast address"));
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "[ff02::1]:80" } ])")),
              HasSubstr("a multicast address"));
  // An IPv4-mapped IPv6 address is the IPv4 address: the same backend twice.
  EXPECT_THAT(ErrorOf(Server("", R"([ { address = "127.0.0.1:21080" }, )"
                                 R"({ address = "[::ffff:127.0.0.1]:21080" } ])")),
              HasSubstr("backend \"127.0.0.1:21080\" is listed twice in pool"));
}

TEST(ConfigTest, APoolHoldsAtMostTheCapTheControlApiHolds) {
  const auto backends = [](size_t count) {
    std::string list = "[";
    for (size_t i = 0; i < count; ++i) {
      absl::StrAppend(&list, i == 0 ? "" : ",", "{address=\"10.", i / 65536, ".", (i / 256) % 256,
                      ".", i % 256, ":80\"}");
    }
    return list + "]";
  };
  absl::StatusOr<Config> full = ParseConfig(Server("", backends(kMaxBackendsPerPool)), "t.toml");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->pools[0].backends.size(), kMaxBackendsPerPool);
  EXPECT_THAT(ErrorOf(Server("", backends(kMaxBackendsPerPool + 1))),
              HasSubstr("65537 backends, more than the 65536 a pool may hold"));
}

TEST(ConfigTest, PortZeroListenersNeverCollide) {
  const std::string text =
      "[control]\nlisten = \"127.0.0.1:0\"\n[[server]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\n"
      "[[server.forward]]\nbackends = []\n[[server]]\nname = \"b\"\nlisten = \"127.0.0.1:0\"\n"
      "[[server.forward]]\nbackends = []\n";
  EXPECT_TRUE(ParseConfig(text, "t.toml").ok());
}

TEST(ConfigTest, EveryErrorIsReportedAtOnce) {
  const std::string message = ErrorOf(
      "[[server]]\nlisten = \"127.0.0.1:99999\"\ncolour = \"blue\"\n[[server.forward]]\n"
      "algorithm = \"FAST\"\nbackends = []\n");
  EXPECT_THAT(message, HasSubstr("test.toml:2:10:"));
  EXPECT_THAT(message, HasSubstr("test.toml:3:1: unknown key \"colour\""));
  EXPECT_THAT(message, HasSubstr("test.toml:5:13:"));
}

TEST(ConfigTest, ControlOffLoopbackNeedsTlsOrAnExplicitOptIn) {
  EXPECT_THAT(ErrorOf("[control]\nlisten = \"0.0.0.0:9100\"\n" + Server()),
              HasSubstr("test.toml:2:10: control.listen \"0.0.0.0:9100\" is not a loopback "
                        "address, and the control service (which can change where traffic goes) "
                        "has no TLS: set tls_cert, tls_key and tls_client_ca for mTLS, or "
                        "allow_insecure_remote = true"));
  absl::StatusOr<Config> opted_in = ParseConfig(
      "[control]\nlisten = \"0.0.0.0:9100\"\nallow_insecure_remote = true\n" + Server(), "t.toml");
  ASSERT_TRUE(opted_in.ok()) << opted_in.status();
  EXPECT_TRUE(opted_in->control.allow_insecure_remote);
  EXPECT_TRUE(ParseConfig("[control]\nlisten = \"[::1]:9100\"\n" + Server(), "t.toml").ok());
  EXPECT_THAT(ErrorOf("[control]\nallow_insecure_remote = \"yes\"\n" + Server()),
              HasSubstr("test.toml:2:25: control.allow_insecure_remote: expected true or false, "
                        "got a string"));
}

TEST(ConfigTest, APoolMayDiscoverItsBackendsInDns) {
  const std::string server =
      "[[server]]\nlisten = \"127.0.0.1:8200\"\n[[server.forward]]\npool = \"web\"\n";
  absl::StatusOr<Config> config = ParseConfig(
      "[[pool]]\nname = \"web\"\ndiscover = { dns = \"web.default.svc.cluster.local:8080\", "
      "every = \"2s\", hold_nx = \"1m\" }\n" +
          server,
      "t.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->pools[0].discover.has_value());
  EXPECT_EQ(config->pools[0].discover->dns.ToString(), "web.default.svc.cluster.local:8080");
  EXPECT_EQ(config->pools[0].discover->every, absl::Seconds(2));
  EXPECT_EQ(config->pools[0].discover->hold_nx, absl::Minutes(1));
  EXPECT_TRUE(config->pools[0].backends.empty());
  absl::StatusOr<Config> defaults =
      ParseConfig("[[pool]]\nname = \"web\"\ndiscover = { dns = \"web:80\" }\n" + server, "t.toml");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->pools[0].discover->every, absl::Seconds(5));
  EXPECT_EQ(defaults->pools[0].discover->hold_nx, absl::Seconds(30));  // HAProxy's hold nx
  EXPECT_THAT(ErrorOf("[[pool]]\nname = \"web\"\ndiscover = { dns = \"web:80\", hold_nx = "
                      "\"-1s\" }\n" +
                      server),
              HasSubstr("pool[0].discover.hold_nx"));
  EXPECT_THAT(ErrorOf("[[pool]]\nname = \"web\"\nbackends = []\ndiscover = { dns = \"web:80\" }\n" +
                      server),
              HasSubstr("test.toml:3:12: pool[0]: backends and discover exclude each other"));
  EXPECT_THAT(ErrorOf("[[pool]]\nname = \"web\"\ndiscover = { every = \"5s\" }\n" + server),
              HasSubstr("pool[0].discover: missing required key \"dns\""));
  EXPECT_THAT(ErrorOf("[[pool]]\nname = \"web\"\ndiscover = { dns = \"web\" }\n" + server),
              HasSubstr("pool[0].discover.dns: invalid address \"web\": missing \":PORT\""));
  EXPECT_THAT(ErrorOf("[[pool]]\nname = \"web\"\ndiscover = { dns = \"web:80\", every = "
                      "\"100ms\" }\n" +
                      server),
              HasSubstr("pool[0].discover.every"));
  EXPECT_THAT(
      ErrorOf("[[pool]]\nname = \"web\"\ndiscover = { dns = \"web:80\", ttl = 1 }\n" + server),
      HasSubstr("unknown key \"ttl\" in discover (valid: dns, every, hold_nx)"));
}

TEST(ConfigTest, ReadyAfterSyncAndBackendsThatStartDraining) {
  absl::StatusOr<Config> config = ParseConfig(
      "[control]\nready_after_sync = true\n" +
          Server(
              "",
              R"([ { address = "127.0.0.1:8080", draining = true }, { address = "127.0.0.1:8081" } ])"),
      "t.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->control.ready_after_sync);
  EXPECT_EQ(config->pools[0].backends[0].draining, true);
  EXPECT_FALSE(config->pools[0].backends[1].draining.has_value());
  absl::StatusOr<Config> plain = ParseConfig(Server(), "t.toml");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->control.ready_after_sync);
  EXPECT_THAT(ErrorOf("[control]\nready_after_sync = 1\n" + Server()),
              HasSubstr("test.toml:2:20: control.ready_after_sync: expected true or false, got a "
                        "integer"));
}

// A directory with a config file and real certificates (tests/tools/make-test-certs.sh), for
// the TLS settings.
class ControlTlsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/plby-config-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    const std::string make =
        absl::StrCat("bash " PLBY_SOURCE_DIR "/tests/tools/make-test-certs.sh ", dir_);
    ASSERT_EQ(std::system(make.c_str()), 0);
    Write("junk.pem", "not a certificate\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  absl::StatusOr<Config> Load(const std::string& control) {
    Write("config.toml", "[control]\nlisten = \"0.0.0.0:9100\"\n" + control + Server());
    return LoadConfigFile(dir_ + "/config.toml");
  }
  std::string Files(const std::string& cert, const std::string& key, const std::string& ca) {
    return "tls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\ntls_client_ca = \"" + ca +
           "\"\n";
  }

  std::string dir_;
};

TEST_F(ControlTlsConfigTest, ReadsTheFilesRelativeToTheConfig) {
  absl::StatusOr<Config> config = Load(Files("node.pem", "node.key", dir_ + "/ca.pem"));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->control.tls.has_value());
  EXPECT_EQ(config->control.tls->cert_file, dir_ + "/node.pem");
  EXPECT_THAT(config->control.tls->key_pem, HasSubstr("PRIVATE KEY"));
  EXPECT_THAT(config->control.tls->client_ca_pem, HasSubstr("BEGIN CERTIFICATE"));
  // The test certificates last two days: soon to expire, which is worth a warning.
  EXPECT_THAT(config->warnings,
              Contains(AllOf(HasSubstr("config.toml:3:12: control.tls_cert \"node.pem\": the "
                                       "certificate CN=plby node expires on"),
                             HasSubstr("(in 1 day): renew it"))));
}

TEST_F(ControlTlsConfigTest, RefusesMissingIncompleteAndNonPemFiles) {
  absl::StatusOr<Config> partial = Load("tls_cert = \"node.pem\"\ntls_key = \"node.key\"\n");
  ASSERT_FALSE(partial.ok());
  EXPECT_THAT(partial.status().message(),
              HasSubstr("config.toml:1:1: [control]: tls_cert, tls_key and tls_client_ca go "
                        "together"));
  absl::StatusOr<Config> missing = Load(Files("nope.pem", "node.key", "ca.pem"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("config.toml:3:12: control.tls_cert \"nope.pem\": cannot read it: No "
                        "such file or directory"));
  absl::StatusOr<Config> junk = Load(Files("node.pem", "node.key", "junk.pem"));
  ASSERT_FALSE(junk.ok());
  EXPECT_THAT(junk.status().message(),
              HasSubstr("config.toml:5:17: control.tls_client_ca \"junk.pem\": not PEM"));
}

// [server.tls]: read relative to the config, loaded as the node loads it, each problem named
// with its file.
TEST_F(ControlTlsConfigTest, ServerTlsIsLoadedAndItsMistakesNamed) {
  const auto load = [&](const std::string& tls) {
    Write("config.toml",
          "[[server]]\nlisten = \"127.0.0.1:8443\"\n[server.tls]\n" + tls +
              "[[server.forward]]\nbackends = [ { address = \"127.0.0.1:9001\" } ]\n");
    return LoadConfigFile(dir_ + "/config.toml");
  };
  absl::StatusOr<Config> good = load(
      "certificates = [ { cert = \"node.pem\", key = \"node.key\" }, { cert = \"api.pem\", key "
      "= \"api.key\" } ]\nmin_version = \"1.3\"\nalpn = [\"http/1.1\"]\nhandshake_timeout = "
      "\"2s\"\n");
  ASSERT_TRUE(good.ok()) << good.status();
  const ServerConfig& server = good->servers.at(0);
  ASSERT_TRUE(server.tls.has_value());
  EXPECT_THAT(server.tls->certificates, SizeIs(2));
  EXPECT_EQ(server.tls->certificates[1].cert_file, dir_ + "/api.pem");
  EXPECT_EQ(server.tls->min_version, tls::TlsVersion::kTls13);
  EXPECT_THAT(server.tls->alpn, ElementsAre("http/1.1"));
  EXPECT_EQ(server.handshake_timeout, absl::Seconds(2));
  EXPECT_EQ(server.routes.at(0).tls, RouteTls::kTerminate);  // the default with certificates
  EXPECT_TRUE(server.reads_client_hello());
  EXPECT_THAT(good->warnings, Contains(HasSubstr("api.pem: the certificate CN=api.example.com "
                                                 "expires on")));

  const auto error_of = [&](const std::string& tls) {
    absl::StatusOr<Config> config = load(tls);
    EXPECT_FALSE(config.ok()) << tls;
    return config.ok() ? std::string() : std::string(config.status().message());
  };
  EXPECT_THAT(error_of("certificates = [ { cert = \"node.pem\", key = \"api.key\" } ]\n"),
              HasSubstr("api.key: the private key does not belong to the certificate CN=plby "
                        "node"));
  EXPECT_THAT(error_of("certificates = [ { cert = \"expired.pem\", key = \"expired.key\" } ]\n"),
              AllOf(HasSubstr("expired.pem: the certificate CN=old plbyctl expired on"),
                    HasSubstr("clients would refuse it")));
  EXPECT_THAT(error_of("certificates = [ { cert = \"nope.pem\", key = \"node.key\" } ]\n"),
              HasSubstr("server[0].tls.certificates[0].cert \"nope.pem\": cannot read it"));
  Write("config.toml",
        "[[server]]\nlisten = \"127.0.0.1:8443\"\nhandshake_timeout = \"1s\"\n[server.tls]\n"
        "certificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n[[server.forward]]\n"
        "backends = [ { address = \"127.0.0.1:9001\" } ]\n");
  EXPECT_THAT(LoadConfigFile(dir_ + "/config.toml").status().message(),
              HasSubstr("handshake_timeout: this server has a [server.tls]; set it there"));
  Write("config.toml",
        "[[server]]\nlisten = \"127.0.0.1:8443\"\n[[server.forward]]\ntls = \"passthrough\"\n"
        "pool = \"p\"\n[[pool]]\nname = \"p\"\nbackends = [ { address = \"127.0.0.1:9001\" } ]\n"
        "[pool.tls]\nenabled = true\nca = \"ca.pem\"\n");
  EXPECT_THAT(LoadConfigFile(dir_ + "/config.toml").status().message(),
              HasSubstr("passes TLS through to pool \"p\", whose [pool.tls] would wrap the "
                        "client's TLS in a second one"));
  EXPECT_THAT(error_of("certificates = [ { cert = \"node.pem\" } ]\n"),
              HasSubstr("server[0].tls.certificates[0]: missing required key \"key\""));
  EXPECT_THAT(error_of("certificates = []\n"),
              HasSubstr("server[0].tls.certificates: expected a non-empty list"));
  EXPECT_THAT(error_of("certificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n"
                       "min_version = \"1.1\"\n"),
              HasSubstr("\"1.1\" is not valid (valid: 1.2, 1.3)"));
  Write("bad-tickets.key", "not base64 at all\n");
  EXPECT_THAT(error_of("certificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n"
                       "session_ticket_keys = \"bad-tickets.key\"\n"),
              HasSubstr("bad-tickets.key: line 1 is not a key: each line is the base64 of 80 "
                        "random bytes"));
}

// ciphers, ciphersuites and groups: Mozilla's intermediate profile (ECDHE, AEAD) unless set,
// each element checked as OpenSSL takes it; an OCSP response is checked against its certificate.
TEST_F(ControlTlsConfigTest, CiphersGroupsAndOcspAreCheckedAtLoad) {
  const auto load = [&](const std::string& tls) {
    Write("config.toml",
          "[[server]]\nlisten = \"127.0.0.1:8443\"\n[server.tls]\n" + tls +
              "[[server.forward]]\nbackends = [ { address = \"127.0.0.1:9001\" } ]\n");
    return LoadConfigFile(dir_ + "/config.toml");
  };
  const std::string node = "certificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n";
  absl::StatusOr<Config> defaults = load(node);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->servers[0].tls->ciphers, tls::CipherSettings{});
  EXPECT_THAT(defaults->servers[0].tls->ciphers.ciphers, Not(HasSubstr("CBC")));
  absl::StatusOr<Config> chosen =
      load(node +
           "ciphers = \"ECDHE-ECDSA-AES256-GCM-SHA384:!aNULL\"\n"
           "ciphersuites = \"TLS_AES_256_GCM_SHA384\"\ngroups = \"P-384:X25519\"\n");
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ(chosen->servers[0].tls->ciphers.ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384:!aNULL");
  EXPECT_EQ(chosen->servers[0].tls->ciphers.ciphersuites, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(chosen->servers[0].tls->ciphers.groups, "P-384:X25519");
  const auto error_of = [&](const std::string& tls) {
    absl::StatusOr<Config> config = load(tls);
    EXPECT_FALSE(config.ok()) << tls;
    return config.ok() ? std::string() : std::string(config.status().message());
  };
  EXPECT_THAT(error_of(node + "ciphers = \"ECDHE-ECDSA-AES256-GCM-SHA384:NOPE-CIPHER\"\n"),
              HasSubstr("config.toml:5:11: server[0].tls.ciphers: \"NOPE-CIPHER\" selects no "
                        "TLS 1.2 cipher OpenSSL knows"));
  EXPECT_THAT(error_of(node + "ciphersuites = \"TLS_AES_256_GCM_SHA384:TLS_AES_999\"\n"),
              HasSubstr("server[0].tls.ciphersuites: \"TLS_AES_999\" is not a TLS 1.3 cipher "
                        "suite (valid: TLS_AES_128_GCM_SHA256,"));
  EXPECT_THAT(error_of(node + "groups = \"P-999\"\n"),
              HasSubstr("server[0].tls.groups: \"P-999\" is not a key exchange group OpenSSL "
                        "knows (valid: X25519"));
  EXPECT_THAT(error_of(node + "groups = \"\"\n"), HasSubstr("expected a non-empty list"));

  // OCSP: a response signed by the issuer, for this certificate, good and current, is stapled;
  // the chain file must hold the issuer, to name the certificate as the response does.
  const auto read = [&](const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  Write("node-chain.pem", read("node.pem") + read("ca.pem"));
  const auto ocsp = [&](const std::string& name, const std::string& cert,
                        const std::vector<std::string>& extra) {
    std::string command =
        absl::StrCat("/usr/bin/python3 " PLBY_SOURCE_DIR "/tests/tools/make-ocsp-response.py ",
                     dir_, "/", cert, " ", dir_, "/ca.pem ", dir_, "/ca.key ", dir_, "/", name);
    for (const std::string& arg : extra) absl::StrAppend(&command, " ", arg);
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  };
  ocsp("good.ocsp", "node.pem", {});
  ocsp("api.ocsp", "api.pem", {});
  ocsp("revoked.ocsp", "node.pem", {"--status", "revoked"});
  ocsp("unknown.ocsp", "node.pem", {"--status", "unknown"});
  ocsp("expired.ocsp", "node.pem", {"--this-update-hours", "-48", "--next-update-hours", "-24"});
  const auto with_ocsp = [](const std::string& cert, const std::string& response) {
    return absl::StrCat("certificates = [ { cert = \"", cert, "\", key = \"node.key\", ocsp = \"",
                        response, "\" } ]\n");
  };
  absl::StatusOr<Config> stapled = load(with_ocsp("node-chain.pem", "good.ocsp"));
  ASSERT_TRUE(stapled.ok()) << stapled.status();
  EXPECT_EQ(stapled->servers[0].tls->certificates[0].ocsp_file, dir_ + "/good.ocsp");
  EXPECT_FALSE(stapled->servers[0].tls->certificates[0].ocsp_der.empty());
  EXPECT_THAT(stapled->warnings, Not(Contains(HasSubstr("OCSP"))));
  EXPECT_THAT(error_of(with_ocsp("node-chain.pem", "api.ocsp")),
              HasSubstr("api.ocsp: the OCSP response has no status for this certificate "
                        "(CN=plby node"));
  EXPECT_THAT(error_of(with_ocsp("node-chain.pem", "revoked.ocsp")),
              HasSubstr("revoked.ocsp: the OCSP response says the certificate CN=plby node"));
  EXPECT_THAT(error_of(with_ocsp("node-chain.pem", "revoked.ocsp")), HasSubstr("is revoked"));
  EXPECT_THAT(error_of(with_ocsp("node-chain.pem", "unknown.ocsp")),
              HasSubstr("is unknown to its responder"));
  EXPECT_THAT(error_of(with_ocsp("node-chain.pem", "junk.pem")),
              HasSubstr("junk.pem: the OCSP response is not a DER OCSP response"));
  EXPECT_THAT(error_of(with_ocsp("node.pem", "good.ocsp")),
              HasSubstr("the certificate file holds no issuer certificate after the leaf"));
  // Signed by another CA: not the issuer's word.
  {
    const std::string command = absl::StrCat(
        "/usr/bin/python3 " PLBY_SOURCE_DIR "/tests/tools/make-ocsp-response.py ", dir_,
        "/node.pem ", dir_, "/rogue-ca.pem ", dir_, "/rogue-ca.key ", dir_, "/rogue.ocsp");
    ASSERT_EQ(std::system(command.c_str()), 0);
  }
  EXPECT_THAT(error_of(with_ocsp("node-chain.pem", "rogue.ocsp")),
              HasSubstr("rogue.ocsp: the OCSP response is not signed by the certificate's issuer "
                        "CN=plby test CA"));
  // Expired: the certificate loads, the response is not stapled, and a warning says so.
  absl::StatusOr<Config> expired = load(with_ocsp("node-chain.pem", "expired.ocsp"));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_THAT(expired->warnings,
              Contains(HasSubstr("node-chain.pem: the OCSP response expired on")));
  EXPECT_THAT(error_of("certificates = [ { cert = \"node.pem\", key = \"node.key\", oscp = "
                       "\"x\" } ]\n"),
              HasSubstr("unknown key \"oscp\" in a certificate (valid: cert, key, ocsp)"));
}

TEST_F(ControlTlsConfigTest, PoolTlsIsLoadedAndItsMistakesNamed) {
  const auto load = [&](const std::string& tls) {
    Write("config.toml",
          "[[server]]\nlisten = \"127.0.0.1:8443\"\n[[server.forward]]\npool = \"p\"\n[[pool]]\n"
          "name = \"p\"\nbackends = [ { address = \"127.0.0.1:9001\" } ]\n[pool.tls]\n" +
              tls);
    return LoadConfigFile(dir_ + "/config.toml");
  };
  absl::StatusOr<Config> good = load(
      "enabled = true\nca = \"ca.pem\"\nserver_name = \"api.example.com\"\ncert = "
      "\"client.pem\"\nkey = \"client.key\"\n");
  ASSERT_TRUE(good.ok()) << good.status();
  ASSERT_TRUE(good->pools.at(0).tls.has_value());
  EXPECT_EQ(good->pools[0].tls->server_name, "api.example.com");
  EXPECT_EQ(good->pools[0].tls->ca_file, dir_ + "/ca.pem");
  absl::StatusOr<Config> unverified = load("enabled = true\nverify = false\n");
  ASSERT_TRUE(unverified.ok()) << unverified.status();
  EXPECT_THAT(unverified->warnings,
              Contains(HasSubstr("pool[0].tls.verify = false: the backends' certificates are not "
                                 "checked")));

  const auto error_of = [&](const std::string& tls) {
    absl::StatusOr<Config> config = load(tls);
    EXPECT_FALSE(config.ok()) << tls;
    return config.ok() ? std::string() : std::string(config.status().message());
  };
  EXPECT_THAT(error_of("enabled = true\n"), HasSubstr("pool[0].tls: missing ca"));
  EXPECT_THAT(error_of("ca = \"ca.pem\"\n"), HasSubstr("say enabled = true"));
  EXPECT_THAT(error_of("enabled = true\nca = \"ca.pem\"\ncert = \"client.pem\"\n"),
              HasSubstr("cert and key go together"));
  EXPECT_THAT(error_of("enabled = true\nca = \"node.pem\"\n"), HasSubstr("node.pem: "));
  EXPECT_THAT(error_of("enabled = true\nca = \"ca.pem\"\ncert = \"client.pem\"\nkey = "
                       "\"node.key\"\n"),
              HasSubstr("node.key: the private key does not belong to the certificate"));
}

// What gRPC would only refuse at start, with no file named: each is named here, with the problem.
TEST_F(ControlTlsConfigTest, SwappedMismatchedAndNonCaFilesAreNamed) {
  absl::StatusOr<Config> swapped = Load(Files("node.key", "node.pem", "ca.pem"));
  ASSERT_FALSE(swapped.ok());
  EXPECT_THAT(swapped.status().message(),
              HasSubstr("config.toml:3:12: control.tls_cert \"node.key\": no certificate in it "
                        "(it holds a private key)"));
  EXPECT_THAT(swapped.status().message(),
              HasSubstr("config.toml:4:11: control.tls_key \"node.pem\": no private key in it "
                        "(it holds a certificate)"));
  absl::StatusOr<Config> mismatched = Load(Files("node.pem", "client.key", "ca.pem"));
  ASSERT_FALSE(mismatched.ok());
  EXPECT_THAT(mismatched.status().message(),
              HasSubstr("config.toml:4:11: control.tls_key \"client.key\": the private key does "
                        "not belong to the certificate CN=plby node"));
  absl::StatusOr<Config> not_a_ca = Load(Files("node.pem", "node.key", "client.pem"));
  ASSERT_FALSE(not_a_ca.ok());
  EXPECT_THAT(not_a_ca.status().message(),
              HasSubstr("config.toml:5:17: control.tls_client_ca \"client.pem\": not a CA: its "
                        "certificate CN=plbyctl has no basicConstraints CA:TRUE"));
  absl::StatusOr<Config> expired = Load(Files("expired.pem", "expired.key", "ca.pem"));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_THAT(expired->warnings,
              Contains(HasSubstr("control.tls_cert \"expired.pem\": the certificate CN=old "
                                 "plbyctl expired on")));
}

TEST(ConfigTest, HealthChecksAndTheNodeSection) {
  absl::StatusOr<Config> defaults = ParseConfig(Server(), "t.toml");
  ASSERT_TRUE(defaults.ok());
  const HealthCheckConfig& d = defaults->pools[0].health;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.interval, absl::Seconds(1));
  EXPECT_EQ(d.timeout, absl::Milliseconds(800));
  EXPECT_EQ(d.rise, 2);
  EXPECT_EQ(d.fall, 2);
  EXPECT_EQ(d.passive_failures, 3);
  EXPECT_EQ(d.when_all_unhealthy, AllUnhealthyPolicy::kFailOpen);
  EXPECT_EQ(defaults->pools[0].idle_timeout, absl::Hours(1));
  EXPECT_EQ(defaults->node.drain_timeout, absl::Seconds(30));
  EXPECT_FALSE(defaults->node.max_connections.has_value());

  absl::StatusOr<Config> set = ParseConfig(
      "[node]\ndrain_timeout = \"5s\"\nmax_connections = 500\n" +
          Server("idle_timeout = \"2m\"\n[server.health]\ncheck = \"none\"\ninterval = \"5s\"\n"
                 "timeout = \"2s\"\nrise = 3\nfall = 4\npassive_failures = 0\n"
                 "when_all_unhealthy = \"refuse\""),
      "t.toml");
  ASSERT_TRUE(set.ok()) << set.status();
  const HealthCheckConfig& h = set->pools[0].health;
  EXPECT_FALSE(h.enabled);
  EXPECT_EQ(h.interval, absl::Seconds(5));
  EXPECT_EQ(h.rise, 3);
  EXPECT_EQ(h.fall, 4);
  EXPECT_EQ(h.passive_failures, 0);
  EXPECT_EQ(h.when_all_unhealthy, AllUnhealthyPolicy::kRefuse);
  EXPECT_EQ(set->pools[0].idle_timeout, absl::Minutes(2));
  EXPECT_EQ(set->node.drain_timeout, absl::Seconds(5));
  EXPECT_EQ(set->node.max_connections, 500);
}

TEST(ConfigTest, BadHealthAndNodeSettingsAreNamed) {
  EXPECT_THAT(ErrorOf(Server("[server.health]\ncheck = \"grpc\"")),
              HasSubstr("test.toml:4:9: server[0].health.check: \"grpc\" is not valid (valid: "
                        "tcp, none, http)"));
  EXPECT_THAT(ErrorOf(Server("[server.health]\npath = \"/healthz\"")),
              HasSubstr("server[0].health.path: belongs to HTTP checks; say check = \"http\""));
  EXPECT_THAT(ErrorOf(Server("[server.health]\ncheck = \"http\"\npath = \"healthz\"")),
              HasSubstr("\"healthz\" is not a request path"));
  EXPECT_THAT(ErrorOf(Server("[server.health]\ncheck = \"http\"\nexpect = \"300-200\"")),
              HasSubstr("\"300-200\" is not a status range (valid: \"200\" or \"200-399\""));
  EXPECT_THAT(ErrorOf(Server("[server.health]\ncheck = \"http\"\nexpect = \"2xx\"")),
              HasSubstr("\"2xx\" is not a status range"));
  absl::StatusOr<Config> http_check = ParseConfig(
      Server("[server.health]\ncheck = \"http\"\npath = \"/healthz\"\nhost = \"a.test\"\n"
             "expect = \"204\""),
      "test.toml");
  ASSERT_TRUE(http_check.ok()) << http_check.status();
  const HealthCheckConfig& checked = http_check->pools.at(0).health;
  EXPECT_TRUE(checked.enabled);
  ASSERT_TRUE(checked.http.has_value());
  EXPECT_EQ(checked.http->path, "/healthz");
  EXPECT_EQ(checked.http->host, "a.test");
  EXPECT_EQ(checked.http->expect_min, 204);
  EXPECT_EQ(checked.http->expect_max, 204);
  EXPECT_THAT(ErrorOf(Server("[server.health]\nrise = 0")),
              HasSubstr("test.toml:4:8: server[0].health.rise 0 is out of range (valid: 1-100)"));
  EXPECT_THAT(ErrorOf(Server("[server.health]\ninterval = \"1s\"\ntimeout = \"2s\"")),
              HasSubstr("server[0].health: timeout (2s) must be shorter than interval (1s)"));
  EXPECT_THAT(ErrorOf(Server("[server.health]\ninterval = \"1s\"\ntimeout = \"1s\"")),
              HasSubstr("timeout (1s) must be shorter than interval (1s)"));
  // Only a shorter interval: the timeout follows it down.
  absl::StatusOr<Config> quick =
      ParseConfig(Server("[server.health]\ninterval = \"500ms\""), "t.toml");
  ASSERT_TRUE(quick.ok()) << quick.status();
  EXPECT_EQ(quick->pools[0].health.timeout, absl::Milliseconds(400));
  EXPECT_THAT(ErrorOf(Server("[server.health]\nwhen_all_unhealthy = \"panic\"")),
              HasSubstr("(valid: fail_open, refuse)"));
  EXPECT_THAT(ErrorOf(Server("[server.health]\nintervall = \"1s\"")),
              HasSubstr("unknown key \"intervall\" in [server.health]"));
  EXPECT_THAT(ErrorOf(Server("idle_timeout = \"0s\"")),
              HasSubstr("server[0].idle_timeout \"0s\" is out of range (valid: 1s to 168h)"));
  EXPECT_THAT(ErrorOf("[node]\nmax_connections = 0\n" + Server()),
              HasSubstr("test.toml:2:19: node.max_connections 0 is out of range"));
  EXPECT_THAT(ErrorOf("[node]\nworkers = 2\n" + Server()),
              HasSubstr("unknown key \"workers\" in [node] (valid: drain_timeout, "
                        "max_connections)"));
  EXPECT_THAT(ErrorOf("[control]\nstate_file = \"\"\n" + Server()),
              HasSubstr("control.state_file: empty"));
}

// Inputs the config fuzzer found to upset toml++ 3.3 itself: refused cleanly, nothing worse.
TEST(ConfigTest, InputsThatUpsetTheTomlParserAreRefusedCleanly) {
  EXPECT_THAT(ErrorOf("[$cconto"), HasSubstr("test.toml:1:2: TOML syntax error"));
  EXPECT_THAT(ErrorOf("\xcc\xa4'"),
              HasSubstr("test.toml:1:1: a non-ASCII character outside a comment"));
  EXPECT_THAT(ErrorOf("listen = 0.BBB'[\x01contr\xef\xbb\xaf"),
              HasSubstr("test.toml:1:22: a non-ASCII character outside a comment"));
}

TEST(ConfigTest, NonAsciiIsFineInCommentsOnly) {
  EXPECT_TRUE(
      ParseConfig("# Serveur principal — été 2026\n" + Server() + "# fin\n", "t.toml").ok());
  EXPECT_THAT(ErrorOf(Server("name = \"café\"")),
              HasSubstr("test.toml:3:12: a non-ASCII character outside a comment (every plby "
                        "setting is ASCII"));
  // A '#' inside a string starts no comment.
  EXPECT_THAT(ErrorOf(Server("name = \"a#b\" é")), HasSubstr("test.toml:3:14:"));
}

// Editors on Windows write a UTF-8 byte-order mark at the start of a file.
TEST(ConfigTest, AByteOrderMarkAtTheStartIsAccepted) {
  absl::StatusOr<Config> config = ParseConfig("\xef\xbb\xbf" + std::string(kSeedConfig), "t.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pools[0].backends.size(), 3u);
  EXPECT_THAT(ErrorOf("\xef\xbb\xbf[[server]]\nlisten = 8200\n"),
              HasSubstr("test.toml:2:10: server[0].listen: expected a string"));
  EXPECT_THAT(ErrorOf(Server() + "\xef\xbb\xbf\n"),
              HasSubstr("test.toml:7:1: a UTF-8 byte-order mark (U+FEFF) past the start of the "
                        "file"));
}

TEST(ConfigTest, PassiveCooldownIsForPoolsWithoutActiveChecks) {
  absl::StatusOr<Config> config = ParseConfig(
      Server("[server.health]\ncheck = \"none\"\npassive_cooldown = \"10s\""), "t.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->pools[0].health.passive_cooldown, absl::Seconds(10));
  EXPECT_TRUE(config->warnings.empty());
  absl::StatusOr<Config> checked =
      ParseConfig(Server("[server.health]\npassive_cooldown = \"10s\""), "t.toml");
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(checked->warnings,
              Contains(HasSubstr("server[0].health.passive_cooldown applies with check = "
                                 "\"none\" only")));
  EXPECT_THAT(ErrorOf(Server("[server.health]\npassive_cooldown = \"0s\"")),
              HasSubstr("passive_cooldown \"0s\" is out of range (valid: 1s to 1h)"));
}

TEST(ConfigTest, UnreadableFileIsNamed) {
  absl::StatusOr<Config> missing = LoadConfigFile("/nonexistent/config.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "/nonexistent/config.toml: cannot read the configuration file: No such file or "
            "directory");
  absl::StatusOr<Config> directory = LoadConfigFile("/tmp");
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().message(),
            "/tmp: cannot read the configuration file: Is a directory");
}

TEST(ConfigTest, MetricsAndHealthListenersAreRead) {
  absl::StatusOr<Config> config = ParseConfig(R"(
[control]
health_listen = "127.0.0.1:9101"
[metrics]
listen = "127.0.0.1:0"
[[server]]
listen = "127.0.0.1:0"
[[server.forward]]
backends = []
)",
                                              "test.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->metrics.listen.has_value());
  EXPECT_EQ(config->metrics.listen->ToString(), "127.0.0.1:0");
  ASSERT_TRUE(config->control.health_listen.has_value());
  EXPECT_EQ(config->control.health_listen_address.port(), 9101);
}

TEST(ConfigTest, NoMetricsUnlessAsked) {
  absl::StatusOr<Config> config = ParseConfig(kSeedConfig, "test.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->metrics.listen.has_value());
  EXPECT_FALSE(config->control.health_listen.has_value());
}

TEST(ConfigTest, BadMetricsSectionsAreRefused) {
  const std::string pool =
      "[[server]]\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\nbackends = []\n";
  EXPECT_THAT(ErrorOf("[metrics]\n" + pool), HasSubstr("[metrics]: missing listen"));
  EXPECT_THAT(ErrorOf("[metrics]\nlisten = \"nowhere\"\n" + pool),
              HasSubstr("test.toml:2:10: metrics.listen"));
  EXPECT_THAT(ErrorOf("[metrics]\nlisten = \"127.0.0.1:1\"\npath = \"/m\"\n" + pool),
              HasSubstr("path"));
  EXPECT_THAT(ErrorOf("[control]\nhealth_listen = 9101\n" + pool),
              HasSubstr("control.health_listen"));
}

}  // namespace
}  // namespace plby::config
