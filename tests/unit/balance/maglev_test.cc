#include "balance/maglev.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "balance/hash.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_pool.h"

namespace plby::balance {
namespace {

constexpr int kKeys = 100000;

// The identity each of kKeys keys reaches.
std::vector<std::string> Assignment(TestPool& pool, const Balancer& balancer) {
  std::vector<std::string> reached;
  reached.reserve(kKeys);
  for (uint64_t k = 0; k < kKeys; ++k) {
    const uint32_t pick = balancer.Pick(Request(0, Mix(k, 99)));
    reached.emplace_back(pool.candidates()[pick].identity);
  }
  return reached;
}

double MovedFraction(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  int moved = 0;
  for (size_t i = 0; i < a.size(); ++i) moved += a[i] != b[i];
  return static_cast<double>(moved) / static_cast<double>(a.size());
}

TestPool Shuffled(const std::vector<std::pair<std::string, int64_t>>& backends, uint32_t seed) {
  std::vector<std::pair<std::string, int64_t>> order = backends;
  std::mt19937 random(seed);
  std::shuffle(order.begin(), order.end(), random);
  TestPool pool;
  for (const auto& [identity, weight] : order) pool.Add(identity, weight);
  return pool;
}

std::vector<std::pair<std::string, int64_t>> Backends(int count) {
  std::vector<std::pair<std::string, int64_t>> backends;
  for (int i = 0; i < count; ++i) {
    backends.emplace_back(absl::StrCat("10.1.", i / 200, ".", i % 200 + 1, ":8080"), 1 + i % 3);
  }
  return backends;
}

TEST(MaglevTest, EveryOrderOfTheSameBackendsBuildsTheSameTable) {
  const auto backends = Backends(25);
  TestPool first = Shuffled(backends, 1);
  const auto reference = Assignment(first, *first.Make(Algorithm::kMaglev));
  for (uint32_t seed = 2; seed < 6; ++seed) {
    TestPool other = Shuffled(backends, seed);
    EXPECT_EQ(Assignment(other, *other.Make(Algorithm::kMaglev)), reference) << "order " << seed;
  }
}

TEST(MaglevTest, TableSharesFollowTheWeights) {
  TestPool pool({1, 2, 3, 1, 2, 3, 1, 2, 3, 4});
  const auto balancer = pool.Make(Algorithm::kMaglev);
  const std::vector<uint32_t> entries = balancer->TableEntries();
  const double per_weight = static_cast<double>(kDefaultMaglevTableSize) / 22;
  uint64_t total = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    total += entries[i];
    // Rounds hand out `weight` entries each: shares are exact to one round.
    EXPECT_NEAR(entries[i], per_weight * pool.candidates()[i].weight, 4.0) << "backend " << i;
  }
  EXPECT_EQ(total, kDefaultMaglevTableSize);
}

TEST(MaglevTest, AnIneligibleBackendLosesOnlyItsOwnKeysAndGetsThemBack) {
  TestPool pool({1, 1, 1, 1, 1, 1, 1, 1});
  const auto healthy = pool.Make(Algorithm::kMaglev);
  const auto before = Assignment(pool, *healthy);
  pool.candidates()[3].eligible = false;
  const auto down = pool.Make(Algorithm::kMaglev, healthy.get());
  EXPECT_EQ(&dynamic_cast<const Maglev&>(*down).table(),
            &dynamic_cast<const Maglev&>(*healthy).table())
      << "the table is reused: health is not part of it";
  const auto during = Assignment(pool, *down);
  const std::string lost(pool.candidates()[3].identity);
  int moved = 0;
  for (int k = 0; k < kKeys; ++k) {
    if (before[k] == lost) {
      EXPECT_NE(during[k], lost);
      ++moved;
    } else {
      ASSERT_EQ(during[k], before[k]) << "key " << k << " moved without cause";
    }
  }
  EXPECT_NEAR(moved / static_cast<double>(kKeys), 1.0 / 8, 0.01);
  pool.candidates()[3].eligible = true;
  EXPECT_EQ(Assignment(pool, *pool.Make(Algorithm::kMaglev, down.get())), before);
}

TEST(MaglevTest, RemovingOneOfNMovesCloseToOneNthOfTheKeys) {
  for (int n : {10, 100}) {
    const auto backends = Backends(n);
    TestPool all = Shuffled(backends, 7);
    const auto before = Assignment(all, *all.Make(Algorithm::kMaglev));
    auto fewer = backends;
    fewer.erase(fewer.begin() + n / 2);
    TestPool rest = Shuffled(fewer, 8);
    const auto after = Assignment(rest, *rest.Make(Algorithm::kMaglev));
    const double moved = MovedFraction(before, after);
    // The removed backend held weight/total of the keys: the least that must move.
    double total = 0;
    for (const auto& [identity, weight] : backends) total += static_cast<double>(weight);
    const double ideal = static_cast<double>(backends[n / 2].second) / total;
    std::printf("maglev: removing 1 of %d backends moved %.4f of the keys (ideal %.4f)\n", n, moved,
                ideal);
    EXPECT_GE(moved, ideal * 0.95);
    EXPECT_LE(moved, ideal * 1.6) << n << " backends";
  }
}

TEST(MaglevTest, RetriesFollowTheKeysOwnPreferencesOnEveryNode) {
  const auto backends = Backends(12);
  TestPool a = Shuffled(backends, 3);
  TestPool b = Shuffled(backends, 4);
  const auto balancer_a = a.Make(Algorithm::kMaglev);
  const auto balancer_b = b.Make(Algorithm::kMaglev);
  for (uint64_t k = 0; k < 500; ++k) {
    std::vector<uint32_t> tried_a, tried_b;
    for (int attempt = 0; attempt < 4; ++attempt) {
      const uint32_t pick_a = balancer_a->Pick({.ticket = k, .key = Mix(k, 5), .tried = tried_a});
      // Another ticket: the key alone decides.
      const uint32_t pick_b =
          balancer_b->Pick({.ticket = k + 1000, .key = Mix(k, 5), .tried = tried_b});
      ASSERT_EQ(a.candidates()[pick_a].identity, b.candidates()[pick_b].identity)
          << "key " << k << " attempt " << attempt;
      tried_a.push_back(pick_a);
      tried_b.push_back(pick_b);
    }
  }
}

TEST(MaglevTest, ATableSmallerThanThePoolStillServesEveryKey) {
  TestPool pool(std::vector<int64_t>(20, 1));
  const auto balancer = pool.Make(Algorithm::kMaglev, nullptr, 7);
  for (uint64_t k = 0; k < 100; ++k) EXPECT_NE(balancer->Pick(Request(0, k)), kNoBackend);
}

TEST(MaglevTableSizeTest, MustBeAPrimeInRange) {
  EXPECT_TRUE(ValidateMaglevTableSize(65537).ok());
  EXPECT_TRUE(ValidateMaglevTableSize(5'000'011).ok());
  EXPECT_TRUE(ValidateMaglevTableSize(3).ok());
  EXPECT_EQ(ValidateMaglevTableSize(65536).message(),
            "maglev_table_size 65536 is not a prime (the nearest primes are 65521 and 65537): a "
            "prime size lets every backend's sequence reach every entry");
  EXPECT_EQ(ValidateMaglevTableSize(4).message(),
            "maglev_table_size 4 is not a prime (the nearest primes are 3 and 5): a prime size "
            "lets every backend's sequence reach every entry");
  EXPECT_EQ(ValidateMaglevTableSize(5'000'012).message(),
            "maglev_table_size 5000012 is out of range (valid: a prime from 3 to 5000011; the "
            "default is 65537)");
  EXPECT_FALSE(ValidateMaglevTableSize(1).ok());
  EXPECT_TRUE(IsPrime(2));
  EXPECT_FALSE(IsPrime(1));
  EXPECT_FALSE(IsPrime(65535));
  EXPECT_TRUE(IsPrime(4'999'999));
}

}  // namespace
}  // namespace plby::balance
