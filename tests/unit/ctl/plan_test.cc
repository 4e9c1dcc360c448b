#include "plan.h"

#include "desired_pools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tls/digest.h"

namespace plby::ctl {
namespace {

using ::testing::HasSubstr;

config::PoolConfig Desired(const std::string& text) {
  absl::StatusOr<DesiredPools> desired = ParseDesiredPools(text, "pools.toml");
  EXPECT_TRUE(desired.ok()) << desired.status();
  return desired.ok() ? desired->pools.front() : config::PoolConfig();
}

ObservedPool Observed(std::vector<ObservedPool::Backend> backends, balance::Settings settings = {},
                      std::string discover_dns = "") {
  return {.name = "web",
          .version = 7,
          .balance = settings,
          .backends = std::move(backends),
          .discover_dns = std::move(discover_dns)};
}

std::vector<std::string> Lines(const std::vector<PlannedChange>& changes) {
  std::vector<std::string> lines;
  for (const PlannedChange& change : changes) {
    lines.push_back(std::string(ChangeName(change.kind)) + " " + change.backend + " [" +
                    change.from + " -> " + change.to + "]");
  }
  return lines;
}

TEST(PlanTest, AMatchingPoolNeedsNothing) {
  const config::PoolConfig desired = Desired(
      "[[pool]]\nname = \"web\"\nbackends = [ { address = \"10.0.0.1:80\", weight = 2 },"
      " { address = \"10.0.0.2:80\" } ]\n");
  EXPECT_TRUE(
      PlanPool(desired, Observed({{"10.0.0.1:80", 2, false}, {"10.0.0.2:80", 1, false}})).empty());
  // A drain the file says nothing about is the node's (an operator's) to keep.
  EXPECT_TRUE(
      PlanPool(desired, Observed({{"10.0.0.1:80", 2, true}, {"10.0.0.2:80", 1, false}})).empty());
}

// Balance first, then adds (the pool never runs dry midway), weights and drains, removes last.
TEST(PlanTest, EveryDifferenceIsPlannedInASafeOrder) {
  const config::PoolConfig desired = Desired(
      "[[pool]]\nname = \"web\"\nalgorithm = \"maglev\"\nbackends = [\n"
      "  { address = \"10.0.0.1:80\", weight = 3 },\n"
      "  { address = \"10.0.0.2:80\", draining = false },\n"
      "  { address = \"10.0.0.4:80\", draining = true },\n"
      "  { address = \"10.0.0.5:80\", weight = 4 },\n]\n");
  const std::vector<PlannedChange> plan = PlanPool(
      desired,
      Observed(
          {{"10.0.0.1:80", 1, false}, {"10.0.0.2:80", 1, true}, {"10.0.0.3:80", 2, true}},
          {.algorithm = balance::Algorithm::kWeightedRoundRobin, .slow_start = absl::Seconds(30)}));
  EXPECT_THAT(Lines(plan),
              ::testing::ElementsAre(
                  "set balance  [WRR slow_start 30s -> maglev hash source_ip maglev_table_size "
                  "65537]",
                  "add 10.0.0.4:80 [ -> weight 1]", "drain 10.0.0.4:80 [active -> draining]",
                  "add 10.0.0.5:80 [ -> weight 4]", "set weight 10.0.0.1:80 [weight 1 -> weight 3]",
                  "undrain 10.0.0.2:80 [draining -> active]",
                  "remove 10.0.0.3:80 [weight 2, draining -> ]"));
  EXPECT_EQ(plan[0].balance.algorithm, balance::Algorithm::kMaglev);
  EXPECT_EQ(plan[0].balance.slow_start, absl::ZeroDuration());  // all the file's settings
  EXPECT_EQ(plan[3].weight, 4);
  for (const PlannedChange& change : plan) EXPECT_EQ(change.pool, "web");
}

// Hash settings that an algorithm ignores are not a difference (the node does not report them),
// and a pool whose backends come from DNS gets only its balancing planned.
TEST(PlanTest, WhatTheNodeDoesNotUseIsNoDifference) {
  EXPECT_TRUE(PlanPool(Desired("[[pool]]\nname = \"web\"\nhash = \"source_ip_port\"\n"
                               "backends = []\n"),
                       Observed({}))
                  .empty());
  // p2c uses a hash only when it names a request field or cookie.
  const balance::Settings p2c{.algorithm = balance::Algorithm::kPowerOfTwo};
  EXPECT_TRUE(PlanPool(Desired("[[pool]]\nname = \"web\"\nalgorithm = \"p2c\"\n"
                               "hash = \"source_ip_port\"\nbackends = []\n"),
                       Observed({}, p2c))
                  .empty());
  EXPECT_THAT(Lines(PlanPool(Desired("[[pool]]\nname = \"web\"\nalgorithm = \"p2c\"\n"
                                     "hash = \"cookie:session\"\nbackends = []\n"),
                             Observed({}, p2c))),
              ::testing::ElementsAre("set balance  [p2c -> p2c hash cookie:session]"));
  const config::PoolConfig discovered = Desired(
      "[[pool]]\nname = \"web\"\nalgorithm = \"RR\"\n"
      "discover = { dns = \"web.default.svc:8080\", every = \"5s\" }\n");
  ASSERT_TRUE(discovered.discover.has_value());
  EXPECT_EQ(discovered.discover->dns.ToString(), "web.default.svc:8080");
  EXPECT_THAT(Lines(PlanPool(discovered,
                             Observed({{"10.0.0.1:8080", 1, false}}, {}, "web.default.svc:8080"))),
              ::testing::ElementsAre("set balance  [WRR -> RR]"));
  // The node discovers, the file lists: the node's DNS set is left alone too.
  EXPECT_TRUE(PlanPool(Desired("[[pool]]\nname = \"web\"\nbackends = []\n"),
                       Observed({{"10.0.0.1:8080", 1, false}}, {}, "web.default.svc:8080"))
                  .empty());
}

TEST(PlanTest, AnEmptyListRemovesEveryBackend) {
  const std::vector<PlannedChange> plan =
      PlanPool(Desired("[[pool]]\nname = \"web\"\nbackends = []\n"),
               Observed({{"10.0.0.1:80", 1, false}, {"name.example:80", 1, false}}));
  EXPECT_THAT(Lines(plan), ::testing::ElementsAre("remove 10.0.0.1:80 [weight 1 -> ]",
                                                  "remove name.example:80 [weight 1 -> ]"));
}

TEST(DesiredPoolsTest, HashesTheBytesAndNotesWhatApplyLeavesAlone) {
  const std::string text =
      "[[pool]]\nname = \"web\"\nconnect_timeout = \"1s\"\nbackends = [ { address = "
      "\"web-0.web:8080\" } ]\n[pool.health]\ninterval = \"2s\"\n"
      "[[pool]]\nname = \"api\"\nbackends = [ { address = \"10.0.0.1:80\" } ]\n";
  absl::StatusOr<DesiredPools> desired = ParseDesiredPools(text, "pools.toml");
  ASSERT_TRUE(desired.ok()) << desired.status();
  // What sha256sum prints for the same bytes (FIPS 180-2's "abc" vector checks the digest).
  EXPECT_EQ(tls::Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(desired->content_hash, "sha256:" + tls::Sha256Hex(text));
  absl::StatusOr<DesiredPools> changed = ParseDesiredPools(text + "\n", "pools.toml");
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_NE(changed->content_hash, desired->content_hash);
  ASSERT_EQ(desired->pools.size(), 2u);
  EXPECT_EQ(desired->pools[0].backends[0].address.ToString(), "web-0.web:8080");  // not resolved
  ASSERT_EQ(desired->notes.size(), 1u);
  EXPECT_THAT(desired->notes[0], HasSubstr("pools.toml:1:1: pool \"web\": its timeouts, health "
                                           "checks, send_proxy and tls are start settings"));
}

TEST(DesiredPoolsTest, RefusesWhatTheNodeWouldRefuseWithItsLine) {
  const auto error = [](const std::string& text) {
    absl::StatusOr<DesiredPools> desired = ParseDesiredPools(text, "pools.toml");
    EXPECT_FALSE(desired.ok());
    return std::string(desired.status().message());
  };
  EXPECT_THAT(error(""), HasSubstr("pools.toml:1:1: no [[pool]] is defined"));
  EXPECT_THAT(error("[[pool]]\nname = \"web\"\nbackends = [ { address = \"10.0.0.1:80\", "
                    "draining = \"yes\" } ]\n"),
              HasSubstr("pools.toml:3:52: pool[0].backends[0].draining: expected true or false, "
                        "got a string"));
  EXPECT_THAT(error("[[pool]]\nname = \"web\"\nalgorithm = \"fastest\"\nbackends = []\n"),
              HasSubstr("pools.toml:3:13: pool[0].algorithm:"));
  EXPECT_THAT(error("[[pool]]\nname = \"web\"\nbackends = []\n[[pool]]\nname = \"web\"\n"
                    "backends = []\n"),
              HasSubstr("duplicate pool name \"web\""));
  // A node's whole config is a valid file of desired pools: its servers' inline pools count.
  absl::StatusOr<DesiredPools> whole = ParseDesiredPools(
      "[control]\nlisten = \"127.0.0.1:9100\"\n[[server]]\nname = \"web\"\nlisten = "
      "\"0.0.0.0:8200\"\n[[server.forward]]\nbackends = [ { address = \"127.0.0.1:8080\" } ]\n",
      "config.toml");
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->pools.size(), 1u);
  EXPECT_EQ(whole->pools[0].name, "web");
}

}  // namespace
}  // namespace plby::ctl
