#include "balance/smooth_weighted.h"

#include <map>
#include <random>
#include <vector>

#include "balance/round_robin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_pool.h"

namespace plby::balance {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// nginx's ngx_http_upstream_get_peer(), step by step, as the reference.
std::vector<uint32_t> NginxSequence(const std::vector<int64_t>& weights, size_t steps) {
  std::vector<int64_t> current(weights.size(), 0);
  int64_t total = 0;
  for (int64_t w : weights) total += w;
  std::vector<uint32_t> picks;
  for (size_t step = 0; step < steps; ++step) {
    int best = -1;
    for (size_t i = 0; i < weights.size(); ++i) {
      current[i] += weights[i];
      if (best == -1 || current[i] > current[best]) best = static_cast<int>(i);
    }
    current[best] -= total;
    picks.push_back(static_cast<uint32_t>(best));
  }
  return picks;
}

SmoothWeighted Wrr(const std::vector<int64_t>& weights) {
  TestPool pool(weights);
  return SmoothWeighted(pool.candidates());
}

TEST(SmoothWeightedTest, FiveOneOneInterleavesLikeNginx) {
  const std::vector<int64_t> weights{5, 1, 1};
  SmoothWeighted balancer = Wrr(weights);
  // a a b a c a a, not a a a a a b c
  EXPECT_THAT(Picks(balancer, 0, 7), ElementsAre(0, 0, 1, 0, 2, 0, 0));
  EXPECT_THAT(Picks(balancer, 7, 7), ElementsAre(0, 0, 1, 0, 2, 0, 0));
}

TEST(SmoothWeightedTest, EqualWeightsAreRoundRobin) {
  const std::vector<int64_t> weights{1, 1, 1};
  EXPECT_THAT(Picks(Wrr(weights), 0, 6), ElementsAre(0, 1, 2, 0, 1, 2));
  const std::vector<int64_t> heavy{7, 7};
  EXPECT_THAT(SmoothWeighted::BuildSchedule(heavy), ElementsAre(0, 1));
}

TEST(SmoothWeightedTest, MatchesNginxForRandomWeights) {
  std::mt19937 random(20261125);
  for (int round = 0; round < 200; ++round) {
    const size_t count = 1 + random() % 12;
    std::vector<int64_t> weights;
    for (size_t i = 0; i < count; ++i) {
      // Few distinct values as often as many, so classes of equal weight get exercised.
      weights.push_back(round % 2 == 0 ? 1 + random() % 4 : 1 + random() % 256);
    }
    const std::vector<uint32_t> schedule = SmoothWeighted::BuildSchedule(weights);
    ASSERT_THAT(schedule, ElementsAreArray(NginxSequence(weights, schedule.size())))
        << "round " << round;
  }
}

TEST(SmoothWeightedTest, EachPeriodHonoursTheWeightsExactly) {
  const std::vector<int64_t> weights{3, 1, 6, 2};
  SmoothWeighted balancer = Wrr(weights);
  std::map<uint32_t, int> counts;
  for (uint32_t pick : Picks(balancer, 0, 12 * 100)) ++counts[pick];
  EXPECT_EQ(counts[0], 300);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(counts[2], 600);
  EXPECT_EQ(counts[3], 200);
}

TEST(SmoothWeightedTest, CommonFactorIsDividedOut) {
  const std::vector<int64_t> weights{2, 2, 4};
  EXPECT_THAT(SmoothWeighted::BuildSchedule(weights), ElementsAre(2, 0, 1, 2));
}

TEST(SmoothWeightedTest, LongSchedulesAreScaledButKeepEveryBackend) {
  std::vector<int64_t> weights(50, 1);
  weights[0] = 256;
  weights[1] = 255;  // coprime, so nothing divides out: total 559
  const std::vector<uint32_t> schedule = SmoothWeighted::BuildSchedule(weights, 200);
  EXPECT_LE(schedule.size(), 200u + weights.size());
  std::map<uint32_t, int> counts;
  for (uint32_t pick : schedule) ++counts[pick];
  EXPECT_EQ(counts.size(), weights.size()) << "a scaled weight never drops below 1";
  EXPECT_NEAR(static_cast<double>(counts[0]) / counts[1], 256.0 / 255.0, 0.05);
  EXPECT_GT(counts[0], 10 * counts[2]);
}

TEST(SmoothWeightedTest, TenThousandBackendsKeepAPeriodOfTenThousand) {
  std::vector<int64_t> weights(10000, 1);
  for (size_t i = 0; i < weights.size(); i += 2) weights[i] = 3;
  SmoothWeighted balancer = Wrr(weights);
  std::map<uint32_t, int> counts;
  for (uint32_t pick : Picks(balancer, 0, 20000)) ++counts[pick];
  EXPECT_EQ(counts[0], 3);
  EXPECT_EQ(counts[1], 1);
  EXPECT_EQ(counts.size(), 10000u);
}

TEST(RoundRobinTest, CyclesThroughEveryBackend) {
  TestPool pool({1, 1, 1, 1});
  RoundRobin balancer(pool.candidates());
  EXPECT_THAT(Picks(balancer, 0, 9), ElementsAre(0, 1, 2, 3, 0, 1, 2, 3, 0));
}

TEST(RoundRobinTest, ABackendThatRampsUpTakesItsShareOfTurns) {
  // Weights are ignored (4 and 1 take equal turns), but slow start's ramp counts: the second
  // backend at 25% of its ramp takes a quarter of a full turn.
  TestPool pool({4, 1, 1});
  pool.candidates()[1].effective_weight = kWeightScale / 4;
  RoundRobin ramping(pool.candidates());
  EXPECT_THAT(Count(Picks(ramping, 0, 900)),
              ElementsAre(std::pair{0u, 400}, std::pair{1u, 100}, std::pair{2u, 400}));
  pool.candidates()[1].effective_weight = kWeightScale;
  RoundRobin done(pool.candidates());
  EXPECT_THAT(Picks(done, 0, 6), ElementsAre(0, 1, 2, 0, 1, 2));
}

TEST(AlgorithmTest, ParsesCaseInsensitivelyAndNamesTheValidOnes) {
  EXPECT_EQ(*ParseAlgorithm("wrr"), Algorithm::kWeightedRoundRobin);
  EXPECT_EQ(*ParseAlgorithm("RR"), Algorithm::kRoundRobin);
  EXPECT_EQ(*ParseAlgorithm("round_robin"), Algorithm::kRoundRobin);
  EXPECT_EQ(*ParseAlgorithm("Weighted_Round_Robin"), Algorithm::kWeightedRoundRobin);
  EXPECT_EQ(*ParseAlgorithm("lc"), Algorithm::kLeastConnections);
  EXPECT_EQ(*ParseAlgorithm("LEAST_CONNECTIONS"), Algorithm::kLeastConnections);
  EXPECT_EQ(*ParseAlgorithm("power_of_two"), Algorithm::kPowerOfTwo);
  EXPECT_EQ(*ParseAlgorithm("P2C"), Algorithm::kPowerOfTwo);
  EXPECT_EQ(*ParseAlgorithm("random"), Algorithm::kRandom);
  EXPECT_EQ(*ParseAlgorithm("Maglev"), Algorithm::kMaglev);
  for (const AlgorithmInfo& info : Algorithms()) {
    EXPECT_EQ(*ParseAlgorithm(AlgorithmName(info.algorithm)), info.algorithm);
  }
  auto bad = ParseAlgorithm("hash");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "unknown algorithm \"hash\" (valid: RR (round_robin), WRR (weighted_round_robin), "
            "least_connections (LC), p2c (power_of_two), random, maglev)");
  EXPECT_TRUE(ValidateWeight(1).ok());
  EXPECT_TRUE(ValidateWeight(256).ok());
  EXPECT_EQ(ValidateWeight(0).message(), "weight 0 is out of range (valid: 1-256)");
}

}  // namespace
}  // namespace plby::balance
