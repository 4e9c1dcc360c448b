#include "pool/pool.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/event_loop.h"
#include "pool/pool_registry.h"
#include "pool/pool_view.h"

namespace plby::pool {
namespace {

Backend MakeBackend(const std::string& text, int64_t weight = 1) {
  net::HostPort address = *net::ParseHostPort(text, net::AddressUse::kConnect);
  return Backend{.address = address,
                 .socket_address = *net::SocketAddress::Resolve(address),
                 .weight = weight,
                 .draining = false,
                 .unresolved = "",
                 .runtime = std::make_shared<BackendRuntime>(1)};
}

PoolSettings Settings() {
  PoolSettings settings;
  settings.name = "web";
  settings.connect_timeout = absl::Seconds(1);
  return settings;
}

TEST(SlowStartTest, RampsFromATenthToTheFullWeightLinearly) {
  const absl::Duration window = absl::Seconds(30);
  EXPECT_EQ(RampedWeight(4, absl::ZeroDuration(), window), 400);
  EXPECT_EQ(RampedWeight(4, absl::Seconds(15), window), 2200);  // 10% + 90% / 2
  EXPECT_EQ(RampedWeight(4, absl::Seconds(30), window), 4000);
  EXPECT_EQ(RampedWeight(4, absl::Hours(1), window), 4000);
  EXPECT_EQ(RampedWeight(1, absl::Seconds(3), window), 190);
  EXPECT_EQ(RampedWeight(3, absl::Seconds(5), absl::ZeroDuration()), 3000) << "off";
}

TEST(SlowStartTest, ABackendRampsWhenItStartsTakingConnectionsNotAtStart) {
  PoolSettings settings = Settings();
  settings.balance.slow_start = absl::Seconds(30);
  Pool pool(settings, {MakeBackend("10.0.0.1:80", 2), MakeBackend("10.0.0.2:80", 2)});
  EXPECT_FALSE(pool.snapshot()->ramping()) << "the backends a node starts with are at full weight";
  EXPECT_THAT(pool.snapshot()->effective_weights(), ::testing::ElementsAre(2000, 2000));

  std::vector<Backend> backends = pool.snapshot()->backends();
  backends[1].draining = true;
  pool.Publish(backends);
  EXPECT_FALSE(pool.snapshot()->ramping());
  backends[1].draining = false;                       // undrained: ramps
  backends.push_back(MakeBackend("10.0.0.3:80", 1));  // joins: ramps
  pool.Publish(backends);
  const std::shared_ptr<const PoolSnapshot> ramping = pool.snapshot();
  EXPECT_TRUE(ramping->ramping());
  EXPECT_EQ(ramping->effective_weights()[0], 2000);
  EXPECT_NEAR(ramping->effective_weights()[1], 200, 10);
  EXPECT_NEAR(ramping->effective_weights()[2], 100, 5);

  // Unhealthy and back: ramps again from a tenth.
  backends[0].runtime->set_health(Health::kUnhealthy);
  pool.RefreshHealth();
  backends[0].runtime->set_health(Health::kHealthy);
  EXPECT_NEAR(pool.RefreshHealth()->effective_weights()[0], 200, 10);

  PoolSettings maglev = Settings();
  maglev.balance = {.algorithm = balance::Algorithm::kMaglev, .slow_start = absl::Seconds(30)};
  Pool hashed(maglev, {MakeBackend("10.0.0.1:80")});
  hashed.Publish({MakeBackend("10.0.0.1:80"), MakeBackend("10.0.0.2:80")});
  EXPECT_FALSE(hashed.snapshot()->ramping()) << "maglev never ramps: it would move keys";
}

TEST(SlowStartTest, ARampKeepsWhatItReachedWhenTheWindowChanges) {
  PoolSettings settings = Settings();
  settings.balance.slow_start = absl::Seconds(30);
  Pool pool(settings, {MakeBackend("10.0.0.1:80", 2)});
  // Its ramp began 31 s ago: over under a 30 s window.
  std::vector<Backend> backends = pool.snapshot()->backends();
  backends[0].runtime->set_ramp_start_ms(net::MonotonicMs() - 31'000);
  const auto keep = [](const PoolContent&) { return absl::OkStatus(); };
  BalanceSettings longer = settings.balance;
  longer.slow_start = absl::Seconds(60);
  absl::StatusOr<std::shared_ptr<const PoolSnapshot>> updated =
      pool.UpdateBalance(std::nullopt, longer, keep);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT((*updated)->effective_weights(), ::testing::ElementsAre(2000))
      << "a 60 s window must not take the backend back to 31 s of 60";
  EXPECT_FALSE((*updated)->ramping());

  // A ramp still under way keeps its progress (15 s of 60: a quarter) and goes on, slower,
  // under the new window.
  backends[0].runtime->set_ramp_start_ms(net::MonotonicMs() - 15'000);
  longer.slow_start = absl::Seconds(120);
  updated = pool.UpdateBalance(std::nullopt, longer, keep);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_NEAR((*updated)->effective_weights()[0], 2 * (100 + 900 / 4), 20);
  EXPECT_TRUE((*updated)->ramping());
}

TEST(PoolTest, PublishReplacesTheSnapshotAndBumpsTheVersion) {
  Pool pool(Settings(), {MakeBackend("10.0.0.1:80")});
  EXPECT_EQ(pool.version(), 1u);
  const std::shared_ptr<const PoolSnapshot> first = pool.snapshot();
  std::shared_ptr<const PoolSnapshot> second =
      pool.Publish({MakeBackend("10.0.0.1:80"), MakeBackend("10.0.0.2:80", 3)});
  EXPECT_EQ(pool.version(), 2u);
  EXPECT_EQ(second->version(), 2u);
  EXPECT_EQ(pool.snapshot(), second);
  // The old snapshot is untouched: whoever holds it still sees one backend.
  EXPECT_EQ(first->backends().size(), 1u);
  EXPECT_EQ(second->backends()[1].weight, 3);
}

TEST(PoolSnapshotTest, DrainingAndUnhealthyBackendsGetNoNewConnections) {
  std::vector<Backend> backends = {MakeBackend("10.0.0.1:80"), MakeBackend("10.0.0.2:80"),
                                   MakeBackend("10.0.0.3:80"), MakeBackend("10.0.0.4:80")};
  backends[1].draining = true;
  backends[2].runtime->set_health(Health::kUnhealthy);
  backends[3].runtime->set_health(Health::kHealthy);
  PoolSnapshot snapshot(
      {.version = 4, .generation = 9, .balance = {.algorithm = balance::Algorithm::kRoundRobin}},
      backends);
  EXPECT_EQ(snapshot.version(), 4u);
  EXPECT_EQ(snapshot.generation(), 9u);
  EXPECT_THAT(snapshot.eligible(), ::testing::ElementsAre(0, 3)) << "unknown health is eligible";
  EXPECT_FALSE(snapshot.all_unhealthy());
}

TEST(PoolSnapshotTest, WhenEveryBackendIsUnhealthyThePolicyDecides) {
  std::vector<Backend> backends = {MakeBackend("10.0.0.1:80"), MakeBackend("10.0.0.2:80"),
                                   MakeBackend("10.0.0.3:80")};
  backends[0].runtime->set_health(Health::kUnhealthy);
  backends[1].runtime->set_health(Health::kUnhealthy);
  backends[2].draining = true;  // draining stays out either way
  PoolSnapshot open({.balance = {.algorithm = balance::Algorithm::kRoundRobin}, .fail_open = true},
                    backends);
  EXPECT_TRUE(open.all_unhealthy());
  EXPECT_THAT(open.eligible(), ::testing::ElementsAre(0, 1));
  PoolSnapshot refuse(
      {.balance = {.algorithm = balance::Algorithm::kRoundRobin}, .fail_open = false}, backends);
  EXPECT_TRUE(refuse.all_unhealthy());
  EXPECT_TRUE(refuse.eligible().empty());
}

TEST(PoolTest, AHealthChangeKeepsTheVersionButNotTheGeneration) {
  Pool pool(Settings(), {MakeBackend("10.0.0.1:80"), MakeBackend("10.0.0.2:80")});
  const uint64_t generation = pool.generation();
  pool.snapshot()->backends()[0].runtime->set_health(Health::kUnhealthy);
  std::shared_ptr<const PoolSnapshot> refreshed = pool.RefreshHealth();
  EXPECT_EQ(refreshed->version(), 1u);
  EXPECT_EQ(pool.version(), 1u);
  EXPECT_GT(pool.generation(), generation);
  EXPECT_THAT(refreshed->eligible(), ::testing::ElementsAre(1));
}

TEST(PoolTest, UpdateRefusesOnAVersionMismatchOrAFailedCommit) {
  Pool pool(Settings(), {MakeBackend("10.0.0.1:80")});
  const auto add = [](std::vector<Backend>& backends) -> absl::StatusOr<bool> {
    backends.push_back(MakeBackend("10.0.0.9:80"));
    return true;
  };
  const auto accept = [](const PoolContent&) { return absl::OkStatus(); };
  EXPECT_EQ(pool.Update(7, add, accept).status().code(), absl::StatusCode::kAborted);
  const auto refuse = [](const PoolContent& content) {
    EXPECT_EQ(content.version, 2u);
    return absl::UnavailableError("disk full");
  };
  EXPECT_EQ(pool.Update(std::nullopt, add, refuse).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool.version(), 1u);
  EXPECT_EQ(pool.snapshot()->backends().size(), 1u);
  absl::StatusOr<std::shared_ptr<const PoolSnapshot>> done = pool.Update(1, add, accept);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ((*done)->version(), 2u);
}

TEST(PoolTest, UpdateBalanceBumpsTheVersionAndIsSaved) {
  Pool pool(Settings(), {MakeBackend("10.0.0.1:80"), MakeBackend("10.0.0.2:80")});
  EXPECT_FALSE(pool.balance_set());
  const BalanceSettings maglev{
      .algorithm = balance::Algorithm::kMaglev,
      .slow_start = absl::ZeroDuration(),
      .hash = balance::HashKey{.source = balance::HashKey::Source::kSourceIpPort, .name = ""},
      .maglev_table_size = 251};
  const auto refuse = [](const PoolContent&) { return absl::UnavailableError("disk full"); };
  EXPECT_EQ(pool.UpdateBalance(std::nullopt, maglev, refuse).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool.snapshot()->balance().algorithm, balance::Algorithm::kWeightedRoundRobin);
  EXPECT_EQ(pool.UpdateBalance(5, maglev, refuse).status().code(), absl::StatusCode::kAborted);

  std::optional<state::PoolRecord> saved;
  const auto save = [&](const PoolContent& content) {
    saved = SavedRecord("web", content);
    return absl::OkStatus();
  };
  absl::StatusOr<std::shared_ptr<const PoolSnapshot>> done = pool.UpdateBalance(1, maglev, save);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ((*done)->version(), 2u);
  EXPECT_EQ((*done)->balance(), maglev);
  EXPECT_EQ((*done)->TableEntries().size(), 2u);
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(saved->balance, maglev);
  EXPECT_EQ(saved->backends.size(), 2u);
  EXPECT_TRUE(pool.balance_set());
  saved.reset();
  EXPECT_EQ((*pool.UpdateBalance(std::nullopt, maglev, save))->version(), 2u) << "unchanged";
  EXPECT_FALSE(saved.has_value());

  // Backend changes from now on save the balance too.
  const auto add = [](std::vector<Backend>& backends) -> absl::StatusOr<bool> {
    backends.push_back(MakeBackend("10.0.0.9:80"));
    return true;
  };
  ASSERT_TRUE(pool.Update(std::nullopt, add, save).ok());
  EXPECT_EQ(saved->balance, maglev);
  EXPECT_EQ(pool.snapshot()->balance(), maglev);
}

TEST(PoolTest, TicketsAreSharedAcrossThreads) {
  Pool pool(Settings(), {MakeBackend("10.0.0.1:80")});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) pool.TakeTicket();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(pool.TakeTicket(), 4000u);
}

TEST(PoolViewTest, NewConnectionsSeeTheLatestSnapshotOldOnesKeepTheirs) {
  Pool pool(Settings(), {MakeBackend("10.0.0.1:80")});
  PoolView view(pool);
  PoolView::SnapshotRef* before = view.Acquire();
  EXPECT_EQ(before->snapshot->version(), 1u);
  std::weak_ptr<const PoolSnapshot> old = before->snapshot;

  pool.Publish({MakeBackend("10.0.0.2:80")});
  PoolView::SnapshotRef* after = view.Acquire();
  EXPECT_EQ(after->snapshot->version(), 2u);
  EXPECT_EQ(before->snapshot->backends()[0].address.ToString(), "10.0.0.1:80");
  EXPECT_FALSE(old.expired()) << "a connection still uses version 1";

  view.Release(before);
  EXPECT_TRUE(old.expired()) << "the last user of version 1 has gone";
  view.Release(after);
  EXPECT_EQ(view.Acquire()->snapshot->version(), 2u);
}

TEST(PoolViewTest, AnUnusedSnapshotIsReplacedInPlace) {
  Pool pool(Settings(), {MakeBackend("10.0.0.1:80")});
  PoolView view(pool);
  std::weak_ptr<const PoolSnapshot> first = pool.snapshot();
  pool.Publish({MakeBackend("10.0.0.2:80")});
  PoolView::SnapshotRef* ref = view.Acquire();
  EXPECT_TRUE(first.expired());
  EXPECT_EQ(ref->snapshot->version(), 2u);
  view.Release(ref);
}

TEST(PoolRegistryTest, OnePoolPerServerInFileOrder) {
  absl::StatusOr<config::Config> config = config::ParseConfig(R"(
[[server]]
name = "a"
listen = "127.0.0.1:0"
connect_timeout = "2s"
[[server.forward]]
algorithm = "RR"
backends = [ { address = "127.0.0.1:1" }, { address = "127.0.0.1:2", weight = 4 } ]
[[server]]
name = "b"
listen = "127.0.0.1:0"
[[server.forward]]
backends = []
)",
                                                              "r.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  std::unique_ptr<PoolRegistry> registry = PoolRegistry::FromConfig(*config, 2);
  ASSERT_EQ(registry->pools().size(), 2u);
  Pool* a = registry->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->settings().balance.algorithm, balance::Algorithm::kRoundRobin);
  EXPECT_EQ(a->settings().connect_timeout, absl::Seconds(2));
  EXPECT_EQ(a->snapshot()->backends()[1].weight, 4);
  EXPECT_TRUE(registry->Find("b")->snapshot()->backends().empty());
  EXPECT_EQ(registry->Find("c"), nullptr);
}

}  // namespace
}  // namespace plby::pool
