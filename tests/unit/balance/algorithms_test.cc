// What each algorithm promises (balance/balancer.h), checked over many picks. Bounds on
// random draws are at least eight standard deviations wide, so a correct balancer fails them
// with odds below one in 10^14; a wrong one (a share off by a few percent) fails them always.
#include <algorithm>
#include <cmath>
#include <set>

#include "balance/alias_table.h"
#include "balance/balancer.h"
#include "balance/hash.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_pool.h"

namespace plby::balance {
namespace {

std::vector<uint32_t> RetrySequence(const Balancer& balancer, uint64_t ticket, uint64_t key) {
  std::vector<uint32_t> tried;
  while (true) {
    const uint32_t pick = balancer.Pick({.ticket = ticket, .key = key, .tried = tried});
    if (pick == kNoBackend) return tried;
    tried.push_back(pick);
    if (tried.size() > 1000) return tried;  // a bug: never ends
  }
}

class EveryAlgorithm : public ::testing::TestWithParam<Algorithm> {};

TEST_P(EveryAlgorithm, RetriesVisitEachEligibleBackendOnceThenSayNoneIsLeft) {
  TestPool pool({1, 3, 2, 5, 1, 1, 4});
  pool.candidates()[2].eligible = false;
  pool.candidates()[5].eligible = false;
  for (size_t i = 0; i < 7; ++i) pool.set_load(i, static_cast<int64_t>(i % 3));
  const auto balancer = pool.Make(GetParam());
  for (uint64_t ticket = 0; ticket < 200; ++ticket) {
    std::vector<uint32_t> sequence = RetrySequence(*balancer, ticket, Mix(ticket, 7));
    std::sort(sequence.begin(), sequence.end());
    ASSERT_THAT(sequence, ::testing::ElementsAre(0, 1, 3, 4, 6)) << "ticket " << ticket;
  }
}

TEST_P(EveryAlgorithm, NeverPicksAnIneligibleBackend) {
  TestPool pool({2, 2, 2, 2});
  pool.candidates()[1].eligible = false;
  const auto balancer = pool.Make(GetParam());
  for (uint64_t ticket = 0; ticket < 5000; ++ticket) {
    ASSERT_NE(balancer->Pick(Request(ticket, Mix(ticket, 1))), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(All, EveryAlgorithm,
                         ::testing::Values(Algorithm::kRoundRobin, Algorithm::kWeightedRoundRobin,
                                           Algorithm::kLeastConnections, Algorithm::kPowerOfTwo,
                                           Algorithm::kRandom, Algorithm::kMaglev),
                         [](const auto& info) { return std::string(AlgorithmName(info.param)); });

TEST(AlgorithmTableTest, DescribesEveryAlgorithm) {
  std::set<std::string> names;
  for (const AlgorithmInfo& info : Algorithms()) {
    EXPECT_EQ(&Describe(info.algorithm), &info);
    EXPECT_NE(info.make, nullptr);
    names.insert(std::string(info.name));
  }
  EXPECT_EQ(names.size(), 6u);
  EXPECT_TRUE(Describe(Algorithm::kMaglev).needs_key);
  EXPECT_FALSE(Describe(Algorithm::kMaglev).slow_start) << "a ramp would move keys";
  EXPECT_TRUE(Describe(Algorithm::kLeastConnections).needs_load);
  EXPECT_TRUE(Describe(Algorithm::kPowerOfTwo).needs_load);
  EXPECT_FALSE(Describe(Algorithm::kRoundRobin).uses_weights);
}

TEST(LeastConnectionsTest, PicksTheFewestConnectionsPerUnitOfWeight) {
  TestPool pool({1, 1, 4});
  pool.set_load(0, 3);
  pool.set_load(1, 2);
  pool.set_load(2, 7);  // 7/4 per unit of weight: the least loaded
  const auto balancer = pool.Make(Algorithm::kLeastConnections);
  for (uint64_t ticket = 0; ticket < 20; ++ticket) {
    EXPECT_EQ(balancer->Pick(Request(ticket)), 2u);
  }
  pool.set_load(2, 9);  // 9/4 > 2/1
  EXPECT_EQ(balancer->Pick(Request(0)), 1u) << "reads the live counts, not a copy";
}

TEST(LeastConnectionsTest, TiesGoRoundRobin) {
  TestPool pool({1, 1, 1, 1});
  pool.set_load(2, 5);
  const auto balancer = pool.Make(Algorithm::kLeastConnections);
  EXPECT_THAT(Picks(*balancer, 0, 8), ::testing::ElementsAre(0, 1, 3, 0, 1, 3, 0, 1));
  pool.set_load(2, 0);
  EXPECT_THAT(Picks(*balancer, 0, 8), ::testing::ElementsAre(0, 1, 2, 3, 0, 1, 2, 3));
}

TEST(LeastConnectionsTest, SpreadsNewConnectionsAsTheyAreCounted) {
  // Opening connections one by one, each counted as it starts, fills the backends in
  // proportion to their weights.
  TestPool pool({1, 2, 3});
  const auto balancer = pool.Make(Algorithm::kLeastConnections);
  for (uint64_t ticket = 0; ticket < 600; ++ticket) {
    const uint32_t pick = balancer->Pick(Request(ticket));
    pool.set_load(pick, pool.load(pick) + 1);
  }
  EXPECT_EQ(pool.load(0), 100);
  EXPECT_EQ(pool.load(1), 200);
  EXPECT_EQ(pool.load(2), 300);
}

TEST(PowerOfTwoTest, TheLessLoadedOfTwoWins) {
  TestPool pool({1, 1, 1, 1});
  for (size_t i = 0; i < 4; ++i) pool.set_load(i, static_cast<int64_t>(i));
  const auto balancer = pool.Make(Algorithm::kPowerOfTwo);
  const std::map<uint32_t, int> counts = Count(Picks(*balancer, 0, 120000));
  // Two distinct of four drawn: backend i wins when the other is one of the 3 - i more loaded:
  // (3 - i) / 6 of the pairs.
  EXPECT_EQ(counts.count(3), 0u) << "the most loaded never wins";
  EXPECT_NEAR(counts.at(0) / 120000.0, 3.0 / 6, 0.012);
  EXPECT_NEAR(counts.at(1) / 120000.0, 2.0 / 6, 0.012);
  EXPECT_NEAR(counts.at(2) / 120000.0, 1.0 / 6, 0.012);
}

TEST(PowerOfTwoTest, EqualLoadsFollowTheWeights) {
  TestPool pool({1, 3});
  const auto balancer = pool.Make(Algorithm::kPowerOfTwo);
  const std::map<uint32_t, int> counts = Count(Picks(*balancer, 0, 100000));
  // Two distinct of two: the first drawn wins a tie, and is drawn by weight.
  EXPECT_NEAR(counts.at(1) / 100000.0, 0.75, 0.012);
}

TEST(PowerOfTwoTest, AWeightOfItsOwnCountsPerUnit) {
  TestPool pool({1, 4});
  pool.set_load(0, 2);
  pool.set_load(1, 6);  // 1.5 per unit of weight: less loaded than 2
  const auto balancer = pool.Make(Algorithm::kPowerOfTwo);
  for (uint64_t ticket = 0; ticket < 100; ++ticket) EXPECT_EQ(balancer->Pick(Request(ticket)), 1u);
}

TEST(RandomTest, SharesFollowTheWeights) {
  TestPool pool({1, 2, 3, 4});
  const auto balancer = pool.Make(Algorithm::kRandom);
  const std::map<uint32_t, int> counts = Count(Picks(*balancer, 0, 200000));
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(counts.at(i) / 200000.0, (i + 1) / 10.0, 0.009) << "backend " << i;
  }
}

TEST(RandomTest, SlowStartWeightsCountToo) {
  TestPool pool({1, 1});
  pool.candidates()[1].effective_weight = kWeightScale / 10;  // at the start of its ramp
  const auto balancer = pool.Make(Algorithm::kRandom);
  const std::map<uint32_t, int> counts = Count(Picks(*balancer, 0, 110000));
  EXPECT_NEAR(counts.at(1) / 110000.0, 1.0 / 11, 0.008);
}

TEST(AliasTableTest, DrawsExactlyByWeight) {
  // Every column and every threshold: walking the 32-bit halves evenly gives exact shares.
  const std::vector<int64_t> weights{5, 1, 2, 8};
  AliasTable table(weights);
  std::vector<double> share(weights.size(), 0);
  constexpr int kSteps = 4096;
  for (uint64_t column = 0; column < weights.size(); ++column) {
    for (int step = 0; step < kSteps; ++step) {
      const uint64_t high = (column << 32) / weights.size() + 1;
      const uint64_t low = (static_cast<uint64_t>(step) << 32) / kSteps;
      share[table.Draw((high << 32) | low)] += 1.0 / (kSteps * weights.size());
    }
  }
  EXPECT_NEAR(share[0], 5.0 / 16, 1e-3);
  EXPECT_NEAR(share[1], 1.0 / 16, 1e-3);
  EXPECT_NEAR(share[2], 2.0 / 16, 1e-3);
  EXPECT_NEAR(share[3], 8.0 / 16, 1e-3);
}

TEST(StableHashTest, IsFixed) {
  // Written down once: a change here changes every node's maglev table.
  EXPECT_EQ(StableHash(absl::string_view("")), Finalize(0xcbf29ce484222325ULL));
  EXPECT_EQ(StableHash(absl::string_view("10.0.0.1:80")), 0x5ed8f8275e47a14aULL);
}

}  // namespace
}  // namespace plby::balance
