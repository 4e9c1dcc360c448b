#include "control/control_plane.h"

#include <atomic>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::control {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"([control]
listen = "127.0.0.1:0"
[[server]]
name = "web"
listen = "127.0.0.1:0"
[[server.forward]]
backends = [ { address = "127.0.0.1:9001" }, { address = "127.0.0.1:9002", weight = 2 } ]
[[server]]
name = "api"
listen = "127.0.0.1:0"
[[server.forward]]
algorithm = "RR"
backends = []
)";

net::SocketAddress Address(const std::string& text) {
  return *net::SocketAddress::Resolve(*net::ParseHostPort(text, net::AddressUse::kListen));
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  ControlPlaneTest()
      : registry_(pool::PoolRegistry::FromConfig(*config::ParseConfig(kConfig, "t.toml"), 2)),
        plane_(*registry_, Facts()) {
    plane_.SetOwnListeners(OwnListeners());
  }

  static NodeFacts Facts() {
    NodeFacts facts;
    facts.version = "1.2.3";
    facts.started = absl::Now() - absl::Seconds(90);
    facts.workers = 2;
    facts.listeners = {{"web", Address("127.0.0.1:8200")}, {"api", Address("0.0.0.0:8300")}};
    facts.accepted_connections = [] { return uint64_t{42}; };
    facts.active_connections = [] { return uint64_t{7}; };
    return facts;
  }

  // The node's listeners as bound: two pools, control, health (gRPC) and metrics.
  static net::OwnListeners OwnListeners() {
    net::OwnListeners own;
    own.Add(net::Listener::Traffic("web", Address("127.0.0.1:8200")));
    own.Add(net::Listener::Traffic("api", Address("0.0.0.0:8300")));
    own.Add(net::Listener::Grpc(net::ListenerKind::kControl, Address("127.0.0.1:9100")));
    own.Add(net::Listener::Grpc(net::ListenerKind::kHealth, Address("0.0.0.0:9111")));
    own.Add(net::Listener::Metrics(Address("127.0.0.1:9102")));
    return own;
  }

  std::vector<std::string> Addresses(const std::string& pool) {
    std::vector<std::string> addresses;
    const absl::StatusOr<PoolState> state = plane_.ListBackends(pool);
    for (const BackendStatus& b : state->backends) addresses.push_back(b.address);
    return addresses;
  }

  std::unique_ptr<pool::PoolRegistry> registry_;
  ControlPlane plane_;
};

TEST_F(ControlPlaneTest, StatusAndPoolsDescribeTheNode) {
  const NodeStatus status = plane_.Status();
  EXPECT_EQ(status.version, "1.2.3");
  EXPECT_GE(status.uptime, absl::Seconds(90));
  EXPECT_EQ(status.workers, 2);
  EXPECT_EQ(status.accepted_connections, 42u);
  ASSERT_EQ(status.pools.size(), 2u);
  EXPECT_EQ(status.pools[0].name, "web");
  EXPECT_THAT(status.pools[0].listeners, ElementsAre("127.0.0.1:8200"));
  EXPECT_EQ(status.pools[0].version, 1u);
  EXPECT_EQ(status.pools[0].backend_count, 2u);
  EXPECT_EQ(status.pools[1].balance.algorithm, balance::Algorithm::kRoundRobin);
}

TEST_F(ControlPlaneTest, AddRemoveAndUpdateBumpTheVersion) {
  absl::StatusOr<BackendChange> added =
      plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9003", .weight = 3});
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->version, 2u);
  EXPECT_EQ(added->backend.address, "127.0.0.1:9003");
  EXPECT_EQ(added->backend.weight, 3);
  EXPECT_EQ(added->backend.health, pool::Health::kUnknown);
  EXPECT_THAT(Addresses("web"), ElementsAre("127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"));

  absl::StatusOr<BackendChange> drained =
      plane_.UpdateBackend({.pool = "web", .address = "127.0.0.1:9003", .draining = true});
  ASSERT_TRUE(drained.ok()) << drained.status();
  EXPECT_EQ(drained->version, 3u);
  EXPECT_TRUE(drained->backend.draining);
  // Drained: listed, but not among the backends new connections go to.
  const auto snapshot = registry_->Find("web")->snapshot();
  EXPECT_THAT(snapshot->eligible(), ElementsAre(0, 1));

  absl::StatusOr<BackendChange> removed =
      plane_.RemoveBackend({.pool = "web", .address = "127.0.0.1:9001", .expected_version = 3});
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->version, 4u);
  EXPECT_EQ(removed->backend.address, "127.0.0.1:9001");
  EXPECT_THAT(Addresses("web"), ElementsAre("127.0.0.1:9002", "127.0.0.1:9003"));
}

TEST_F(ControlPlaneTest, AnUpdateThatChangesNothingKeepsTheVersion) {
  absl::StatusOr<BackendChange> same =
      plane_.UpdateBackend({.pool = "web", .address = "127.0.0.1:9002", .weight = 2});
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->version, 1u);
}

// Readiness: every pool needs a backend that takes new connections ("api" starts empty), and
// the listener hears of each change that went through, not of refused ones.
TEST_F(ControlPlaneTest, EveryPoolNeedsABackendThatIsNotDraining) {
  int changes = 0;
  plane_.SetChangeListener([&] { ++changes; });
  EXPECT_FALSE(plane_.EveryPoolHasBackends());
  ASSERT_TRUE(plane_.AddBackend({.pool = "api", .address = "127.0.0.1:9101"}).ok());
  EXPECT_TRUE(plane_.EveryPoolHasBackends());
  EXPECT_EQ(changes, 1);
  EXPECT_FALSE(plane_.AddBackend({.pool = "api", .address = "127.0.0.1:9101"}).ok());
  EXPECT_EQ(changes, 1);
  ASSERT_TRUE(
      plane_.UpdateBackend({.pool = "api", .address = "127.0.0.1:9101", .draining = true}).ok());
  EXPECT_FALSE(plane_.EveryPoolHasBackends());
  ASSERT_TRUE(plane_.RemoveBackend({.pool = "api", .address = "127.0.0.1:9101"}).ok());
  EXPECT_FALSE(plane_.EveryPoolHasBackends());
  EXPECT_EQ(changes, 3);
  plane_.SetChangeListener({});
  ASSERT_TRUE(plane_.AddBackend({.pool = "api", .address = "127.0.0.1:9101"}).ok());
  EXPECT_EQ(changes, 3);
  EXPECT_TRUE(plane_.EveryPoolHasBackends());
}

// A fleet-wide add re-run for new nodes: where the backend is already there as asked, nothing
// changes and that is success; anything else there is still a conflict.
TEST_F(ControlPlaneTest, AddIfAbsentAcceptsOnlyWhatIsAlreadyThereAsAsked) {
  absl::StatusOr<BackendChange> same = plane_.AddBackend(
      {.pool = "web", .address = "127.0.0.1:9002", .weight = 2, .if_absent = true});
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->version, 1u);
  EXPECT_EQ(same->backend.address, "127.0.0.1:9002");

  absl::StatusOr<BackendChange> other_weight = plane_.AddBackend(
      {.pool = "web", .address = "127.0.0.1:9002", .weight = 3, .if_absent = true});
  EXPECT_EQ(other_weight.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(other_weight.status().message(),
              HasSubstr("backend \"127.0.0.1:9002\" is already in pool \"web\" (weight 2), not "
                        "as asked (weight 3, not draining)"));
  ASSERT_TRUE(
      plane_.UpdateBackend({.pool = "web", .address = "127.0.0.1:9001", .draining = true}).ok());
  EXPECT_EQ(plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9001", .if_absent = true})
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);

  absl::StatusOr<BackendChange> added =
      plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9003", .if_absent = true});
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(added->changed);
  EXPECT_EQ(added->version, 3u);
}

TEST_F(ControlPlaneTest, CountersFollowABackendAcrossVersions) {
  pool::Pool* web = registry_->Find("web");
  web->snapshot()->backends()[1].runtime->worker(1).total.Add(5);
  ASSERT_TRUE(plane_.UpdateBackend({.pool = "web", .address = "127.0.0.1:9002", .weight = 9}).ok());
  EXPECT_EQ(plane_.ListBackends("web")->backends[1].total_connections, 5u);
}

TEST_F(ControlPlaneTest, RefusedChangesNameTheValueAndChangeNothing) {
  struct Case {
    absl::StatusOr<BackendChange> result;
    absl::StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.1"}),
       absl::StatusCode::kInvalidArgument, "invalid address \"127.0.0.1\": missing \":PORT\""},
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.1:70000"}),
       absl::StatusCode::kInvalidArgument, "port 70000 is out of range (valid: 1-65535)"},
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9009", .weight = 0}),
       absl::StatusCode::kInvalidArgument, "weight 0 is out of range (valid: 1-256)"},
      {plane_.AddBackend({.pool = "web", .address = ""}), absl::StatusCode::kInvalidArgument,
       "address is empty (valid: HOST:PORT"},
      {plane_.AddBackend({.pool = "", .address = "127.0.0.1:9009"}),
       absl::StatusCode::kInvalidArgument, "no pool named; the node has: web, api (name one)"},
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.1:8200"}),
       absl::StatusCode::kInvalidArgument,
       "backend \"127.0.0.1:8200\": 127.0.0.1:8200 is one of this node's own listeners, "
       "server \"web\": its connections would loop back into the node"},
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.5:8300"}),
       absl::StatusCode::kInvalidArgument,
       "127.0.0.5:8300 is one of this node's own listeners, server \"api\" (0.0.0.0:8300)"},
      // The control, health and metrics ports too: a backend there would expose them on the
      // traffic port.
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9100"}),
       absl::StatusCode::kInvalidArgument,
       "is one of this node's own listeners, the control service: it would expose the "
       "control service on a traffic port"},
      {plane_.AddBackend({.pool = "web", .address = "[::1]:9111"}),  // gRPC's [::] is dual-stack
       absl::StatusCode::kInvalidArgument,
       "is one of this node's own listeners, the health service (0.0.0.0:9111)"},
      {plane_.AddBackend({.pool = "web", .address = "[::ffff:127.0.0.1]:9102"}),
       absl::StatusCode::kInvalidArgument,
       "127.0.0.1:9102 is one of this node's own listeners, the metrics listener"},
      {plane_.AddBackend({.pool = "web", .address = "0.0.0.0:9009"}),
       absl::StatusCode::kInvalidArgument, "0.0.0.0:9009 is the unspecified address"},
      {plane_.AddBackend({.pool = "web", .address = "239.1.2.3:9009"}),
       absl::StatusCode::kInvalidArgument, "is a multicast address"},
      // A huge value is quoted in part, with its length, so that the reply stays small.
      {plane_.AddBackend({.pool = std::string(100'000, 'p'), .address = "127.0.0.1:9009"}),
       absl::StatusCode::kNotFound,
       absl::StrCat("no pool \"", std::string(100, 'p'),
                    "...\" (100000 characters, the first 100 shown) on this node")},
      {plane_.AddBackend({.pool = "nope", .address = "127.0.0.1:9009"}),
       absl::StatusCode::kNotFound, "no pool \"nope\" on this node (pools: web, api)"},
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9001"}),
       absl::StatusCode::kAlreadyExists, "backend \"127.0.0.1:9001\" is already in pool \"web\""},
      {plane_.AddBackend({.pool = "web", .address = "localhost:9001"}),
       absl::StatusCode::kAlreadyExists, "already in pool \"web\" as \"127.0.0.1:9001\""},
      {plane_.RemoveBackend({.pool = "web", .address = "127.0.0.1:9999"}),
       absl::StatusCode::kNotFound,
       "no backend \"127.0.0.1:9999\" in pool \"web\" (backends: 127.0.0.1:9001, 127.0.0.1:9002)"},
      {plane_.UpdateBackend({.pool = "web", .address = "127.0.0.1:9001"}),
       absl::StatusCode::kInvalidArgument,
       "nothing to change for backend \"127.0.0.1:9001\": set a weight (1-256) or draining"},
      {plane_.UpdateBackend({.pool = "web", .address = "127.0.0.1:9001", .weight = 300}),
       absl::StatusCode::kInvalidArgument, "weight 300 is out of range"},
      {plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9009", .expected_version = 7}),
       absl::StatusCode::kAborted,
       "pool \"web\" is at version 1, not the expected version 7: someone else changed it"},
  };
  for (const Case& c : cases) {
    ASSERT_FALSE(c.result.ok()) << c.message;
    EXPECT_EQ(c.result.status().code(), c.code) << c.result.status();
    EXPECT_THAT(c.result.status().message(), HasSubstr(c.message));
    EXPECT_LT(c.result.status().message().size(), 1000u) << c.result.status();
  }
  EXPECT_EQ(registry_->Find("web")->version(), 1u);
  EXPECT_THAT(Addresses("web"), ElementsAre("127.0.0.1:9001", "127.0.0.1:9002"));
}

TEST_F(ControlPlaneTest, ACallerThatWentAwayChangesNothing) {
  absl::StatusOr<BackendChange> late =
      plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9003"}, [] { return true; });
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(late.status().message(), HasSubstr("nothing changed"));
  EXPECT_EQ(registry_->Find("web")->version(), 1u);
  EXPECT_THAT(Addresses("web"), ElementsAre("127.0.0.1:9001", "127.0.0.1:9002"));
}

TEST_F(ControlPlaneTest, ConcurrentWritersWithTheSameExpectedVersionOneWins) {
  std::atomic<int> wins{0};
  std::atomic<int> aborted{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < 8; ++i) {
    writers.emplace_back([&, i] {
      absl::StatusOr<BackendChange> result = plane_.AddBackend(
          {.pool = "web", .address = absl::StrCat("127.0.0.1:", 9200 + i), .expected_version = 1});
      if (result.ok()) ++wins;
      if (result.status().code() == absl::StatusCode::kAborted) ++aborted;
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(wins, 1);
  EXPECT_EQ(aborted, 7);
  EXPECT_EQ(registry_->Find("web")->version(), 2u);
}

TEST_F(ControlPlaneTest, WatchStartsWithTheCurrentStateThenFollowsChanges) {
  std::vector<PoolState> seen;
  std::promise<void> first_sent;
  std::thread watcher([&] {
    absl::Status status = plane_.Watch(
        "web",
        [&](const PoolState& state) {
          seen.push_back(state);
          if (seen.size() == 1) first_sent.set_value();
          return state.version < 2;  // stop once the change has been seen
        },
        [] { return false; });
    EXPECT_TRUE(status.ok()) << status;
  });
  first_sent.get_future().wait();
  ASSERT_TRUE(plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9003"}).ok());
  watcher.join();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].version, 1u);
  EXPECT_EQ(seen[0].backends.size(), 2u);
  EXPECT_EQ(seen[1].version, 2u);
  EXPECT_EQ(seen[1].backends.size(), 3u);
}

TEST_F(ControlPlaneTest, WatchEndsWhenTheFeedCloses) {
  std::thread closer([&] { registry_->changes().Close(); });
  absl::Status status = plane_.Watch(
      "", [](const PoolState&) { return true; }, [] { return false; });
  closer.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(plane_
                .Watch(
                    "nope", [](const PoolState&) { return true; }, [] { return false; })
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ControlPlaneTest, WatchesAreCappedAndANewcomerIsRefused) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> watchers;
  for (int i = 0; i < kMaxWatches; ++i) {
    watchers.emplace_back([&] {
      EXPECT_EQ(plane_
                    .Watch(
                        "web", [](const PoolState&) { return true; }, [&] { return stop.load(); },
                        absl::Milliseconds(10))
                    .code(),
                absl::StatusCode::kCancelled);
    });
  }
  while (plane_.Status().open_watches < kMaxWatches) std::this_thread::yield();
  const absl::Status refused = plane_.Watch(
      "web", [](const PoolState&) { return true; }, [] { return false; });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr(absl::StrCat("serves ", kMaxWatches,
                                                        " watch streams already, the most it "
                                                        "takes at once")));
  stop = true;
  for (std::thread& watcher : watchers) watcher.join();
  EXPECT_EQ(plane_.Status().open_watches, 0);
  // Room again: a watch that stops after its first message ends normally.
  EXPECT_TRUE(plane_
                  .Watch(
                      "web", [](const PoolState&) { return false; }, [] { return false; })
                  .ok());
}

TEST_F(ControlPlaneTest, EveryMutationIsCountedByOutcome) {
  const Caller caller{.peer = "ipv4:10.0.0.7:5555", .identity = "CN=ops"};
  ASSERT_TRUE(
      plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9003", .caller = caller}).ok());
  EXPECT_FALSE(
      plane_.AddBackend({.pool = "web", .address = "127.0.0.1:9003", .caller = caller}).ok());
  ASSERT_TRUE(plane_
                  .UpdateBackend(
                      {.pool = "web", .address = "127.0.0.1:9003", .weight = 1, .caller = caller})
                  .ok());
  ASSERT_TRUE(plane_.RemoveBackend({.pool = "web", .address = "127.0.0.1:9003"}).ok());
  const AuditCounts counts = plane_.Status().control;
  const auto count = [&](Mutation mutation, Outcome outcome) {
    return counts.changes[static_cast<size_t>(mutation)][static_cast<size_t>(outcome)];
  };
  EXPECT_EQ(count(Mutation::kAddBackend, Outcome::kApplied), 1u);
  EXPECT_EQ(count(Mutation::kAddBackend, Outcome::kRefused), 1u);
  EXPECT_EQ(count(Mutation::kUpdateBackend, Outcome::kUnchanged), 1u);
  EXPECT_EQ(count(Mutation::kRemoveBackend, Outcome::kApplied), 1u);
  EXPECT_EQ(counts.save_failures, 0u);
}

TEST(ControlPlaneStartTest, ChangesWaitUntilTheNodesListenersAreKnown) {
  std::unique_ptr<pool::PoolRegistry> registry =
      pool::PoolRegistry::FromConfig(*config::ParseConfig(kConfig, "t.toml"), 1);
  ControlPlane plane(*registry, NodeFacts{});
  absl::StatusOr<BackendChange> early =
      plane.AddBackend({.pool = "web", .address = "127.0.0.1:9003"});
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(early.status().message(), HasSubstr("the node is still starting"));
  plane.SetOwnListeners({});
  EXPECT_TRUE(plane.AddBackend({.pool = "web", .address = "127.0.0.1:9003"}).ok());
}

}  // namespace
}  // namespace plby::control

namespace plby::control {
namespace {

TEST_F(ControlPlaneTest, UpdatePoolChangesHowItBalancesAndBumpsTheVersion) {
  absl::StatusOr<PoolChange> change =
      plane_.UpdatePool({.pool = "web",
                         .algorithm = balance::Algorithm::kLeastConnections,
                         .slow_start = absl::Seconds(20)});
  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_TRUE(change->changed);
  EXPECT_EQ(change->version, 2u);
  EXPECT_EQ(change->summary.balance.algorithm, balance::Algorithm::kLeastConnections);
  EXPECT_EQ(change->summary.balance.slow_start, absl::Seconds(20));
  EXPECT_EQ(registry_->Find("web")->snapshot()->balance().algorithm,
            balance::Algorithm::kLeastConnections);

  // The same again: unchanged, no new version.
  change = plane_.UpdatePool({.pool = "web", .algorithm = balance::Algorithm::kLeastConnections});
  ASSERT_TRUE(change.ok());
  EXPECT_FALSE(change->changed);
  EXPECT_EQ(change->version, 2u);
  EXPECT_EQ(change->summary.balance.slow_start, absl::Seconds(20)) << "what is not asked stays";
}

TEST_F(ControlPlaneTest, UpdatePoolRefusesWhatWouldNotBeValidAndChangesNothing) {
  ASSERT_TRUE(plane_.UpdatePool({.pool = "web", .slow_start = absl::Seconds(30)}).ok());
  const auto refused = [&](UpdatePoolArgs args, absl::StatusCode code, const std::string& text) {
    const absl::StatusOr<PoolChange> change = plane_.UpdatePool(args);
    EXPECT_EQ(change.status().code(), code) << text;
    EXPECT_THAT(change.status().message(), HasSubstr(text));
    EXPECT_EQ(registry_->Find("web")->version(), 2u);
    EXPECT_EQ(registry_->Find("web")->snapshot()->balance().algorithm,
              balance::Algorithm::kWeightedRoundRobin);
  };
  refused({.pool = "web", .algorithm = balance::Algorithm::kMaglev},
          absl::StatusCode::kInvalidArgument,
          "slow_start 30s is not valid with algorithm maglev: ramping a backend's weight up would "
          "move keys between backends while it ramps (valid with every other algorithm); pool "
          "\"web\" has that slow_start: set slow_start 0 in the same call");
  refused({.pool = "web", .maglev_table_size = 1000}, absl::StatusCode::kInvalidArgument,
          "maglev_table_size 1000 is not a prime (the nearest primes are 997 and 1009)");
  refused({.pool = "web"}, absl::StatusCode::kInvalidArgument, "nothing to change");
  refused({.pool = "nope", .algorithm = balance::Algorithm::kRandom}, absl::StatusCode::kNotFound,
          "nope");
  refused({.pool = "web", .algorithm = balance::Algorithm::kRandom, .expected_version = 1},
          absl::StatusCode::kAborted, "is at version 2, not the expected version 1");

  // With the slow start turned off in the same call, maglev is fine.
  absl::StatusOr<PoolChange> maglev = plane_.UpdatePool(
      {.pool = "web",
       .algorithm = balance::Algorithm::kMaglev,
       .slow_start = absl::ZeroDuration(),
       .hash = balance::HashKey{.source = balance::HashKey::Source::kSourceIpPort, .name = ""}});
  ASSERT_TRUE(maglev.ok()) << maglev.status();
  const absl::StatusOr<PoolState> state = plane_.ListBackends("web");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->algorithm, balance::Algorithm::kMaglev);
  uint64_t entries = 0;
  for (const BackendStatus& backend : state->backends) entries += backend.table_entries;
  EXPECT_EQ(entries, balance::kDefaultMaglevTableSize);
  EXPECT_EQ(plane_.Status().control.changes[static_cast<size_t>(Mutation::kUpdatePool)]
                                           [static_cast<size_t>(Outcome::kRefused)],
            5u);
}

}  // namespace
}  // namespace plby::control

namespace plby::control {
namespace {

TEST(ReadinessTest, APoolNoServerUsesDoesNotHoldReadinessBack) {
  constexpr char kUnused[] = R"([control]
listen = "127.0.0.1:0"
[[pool]]
name = "spare"
backends = []
[[server]]
name = "web"
listen = "127.0.0.1:0"
[[server.forward]]
backends = [ { address = "127.0.0.1:9001" } ]
)";
  const std::unique_ptr<pool::PoolRegistry> registry =
      pool::PoolRegistry::FromConfig(*config::ParseConfig(kUnused, "t.toml"), 1);
  NodeFacts facts;
  facts.listeners = {{"web", *net::SocketAddress::Resolve(
                                 *net::ParseHostPort("127.0.0.1:8200", net::AddressUse::kListen))}};
  ControlPlane plane(*registry, facts);
  EXPECT_TRUE(plane.EveryPoolHasBackends());
  facts.listeners.push_back({"spare", facts.listeners[0].address});
  ControlPlane used(*registry, facts);
  EXPECT_FALSE(used.EveryPoolHasBackends()) << "once a server forwards to it, it counts";
}

}  // namespace
}  // namespace plby::control

namespace plby::control {
namespace {

const std::string kHash = "sha256:" + std::string(64, 'a');

// MarkSynced records the file an apply made the node match, checked against each pool's
// version; it changes no pool, and with ready_after_sync it is what makes the node ready.
TEST(ControlPlaneSyncTest, MarkSyncedIsCheckedAgainstThePoolsAndHoldsReadinessUntilThen) {
  std::unique_ptr<pool::PoolRegistry> registry = pool::PoolRegistry::FromConfig(
      *config::ParseConfig("[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:8200\"\n"
                           "[[server.forward]]\nbackends = [ { address = \"127.0.0.1:9001\" } ]\n",
                           "t.toml"),
      1);
  NodeFacts facts;
  facts.listeners = {{"web", *net::SocketAddress::Resolve(
                                 *net::ParseHostPort("127.0.0.1:8200", net::AddressUse::kListen))}};
  facts.ready_after_sync = true;
  ControlPlane plane(*registry, facts);
  EXPECT_TRUE(plane.EveryPoolHasBackends());
  EXPECT_FALSE(plane.ReadyForTraffic());
  EXPECT_FALSE(plane.Status().sync.has_value());

  const auto mark = [&](std::string hash, std::map<std::string, uint64_t> versions) {
    return plane.MarkSynced({.content_hash = std::move(hash),
                             .source = "pools.toml",
                             .pool_versions = std::move(versions),
                             .caller = {.peer = "ipv4:10.0.0.7:1234", .identity = ""}});
  };
  EXPECT_THAT(mark("sha256:abc", {{"web", 1}}).status().message(),
              HasSubstr("content_hash \"sha256:abc\" is not \"sha256:\" and 64 lowercase hex"));
  EXPECT_THAT(mark(kHash, {}).status().message(), HasSubstr("pool_versions is empty"));
  EXPECT_EQ(mark(kHash, {{"web", 2}}).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(mark(kHash, {{"nope", 1}}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(plane.ReadyForTraffic());  // none of those counted

  absl::StatusOr<std::pair<SyncMark, bool>> first = mark(kHash, {{"web", 1}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->second);
  EXPECT_EQ(first->first.by, "ipv4:10.0.0.7:1234");
  EXPECT_TRUE(plane.ReadyForTraffic());
  EXPECT_EQ(plane.ListBackends("web")->version, 1u);  // no pool changed
  absl::StatusOr<std::pair<SyncMark, bool>> again = mark(kHash, {{"web", 1}});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->second);  // unchanged
  EXPECT_EQ(plane.Status().sync->content_hash, kHash);
  EXPECT_EQ(plane.Status().control.changes[static_cast<size_t>(Mutation::kMarkSynced)]
                                          [static_cast<size_t>(Outcome::kRefused)],
            4u);
}

}  // namespace
}  // namespace plby::control
