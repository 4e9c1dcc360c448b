// The plby.v1.Control service through a real gRPC server in this process: status codes,
// versions, atomicity of refused calls, watch streams, and the health and reflection services.
#include "control/control_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <future>
#include <thread>

#include "control/control_server.h"
#include "gmock/gmock.h"
#include "grpc_probe.h"
#include "gtest/gtest.h"

namespace plby::control {
namespace {

using ::testing::HasSubstr;

constexpr char kConfig[] = R"([control]
listen = "127.0.0.1:0"
[[server]]
name = "web"
listen = "127.0.0.1:0"
[[server.forward]]
backends = [ { address = "127.0.0.1:9001" }, { address = "127.0.0.1:9002", weight = 2 } ]
)";

class ControlServiceTest : public ::testing::Test {
 protected:
  virtual const char* ConfigText() const { return kConfig; }

  void SetUp() override {
    absl::StatusOr<config::Config> config = config::ParseConfig(ConfigText(), "t.toml");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    registry_ = pool::PoolRegistry::FromConfig(config_, 1);
    NodeFacts facts;
    facts.version = "test";
    facts.started = absl::Now();
    facts.workers = 1;
    // Each server as if bound to a port of its own.
    for (size_t i = 0; i < config_.servers.size(); ++i) {
      net::SocketAddress bound = config_.servers[i].listen_address;
      bound.set_port(static_cast<uint16_t>(18000 + i));
      facts.listeners.push_back({.pool = config_.servers[i].routes.front().pool, .address = bound});
    }
    plane_ = std::make_unique<ControlPlane>(*registry_, std::move(facts));
    absl::StatusOr<std::unique_ptr<ControlServer>> server =
        ControlServer::Start(config_.control, *plane_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    net::OwnListeners own;
    own.Add(net::Listener::Grpc(net::ListenerKind::kControl, server_->address()));
    plane_->SetOwnListeners(std::move(own));
    channel_ =
        grpc::CreateChannel(server_->address().ToString(), grpc::InsecureChannelCredentials());
    stub_ = v1::Control::NewStub(channel_);
  }

  void TearDown() override {
    // A SetUp that failed an assertion leaves these unset.
    if (registry_ != nullptr) registry_->changes().Close();
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  v1::ListBackendsResponse List() {
    v1::ListBackendsRequest request;
    request.set_pool("web");
    v1::ListBackendsResponse response;
    EXPECT_TRUE(stub_->ListBackends(Context().get(), request, &response).ok());
    return response;
  }

  grpc::Status Add(const std::string& pool, const std::string& address,
                   std::optional<uint32_t> weight = std::nullopt,
                   std::optional<uint64_t> expected_version = std::nullopt,
                   v1::AddBackendResponse* response = nullptr) {
    v1::AddBackendRequest request;
    request.set_pool(pool);
    request.set_address(address);
    if (weight) request.set_weight(*weight);
    if (expected_version) request.set_expected_version(*expected_version);
    v1::AddBackendResponse ignored;
    return stub_->AddBackend(Context().get(), request, response ? response : &ignored);
  }

  config::Config config_;
  std::unique_ptr<pool::PoolRegistry> registry_;
  std::unique_ptr<ControlPlane> plane_;
  std::unique_ptr<ControlServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Control::Stub> stub_;
};

TEST_F(ControlServiceTest, ListsPoolsAndBackendsWithVersions) {
  v1::ListPoolsResponse pools;
  ASSERT_TRUE(stub_->ListPools(Context().get(), {}, &pools).ok());
  ASSERT_EQ(pools.pools_size(), 1);
  EXPECT_EQ(pools.pools(0).name(), "web");
  EXPECT_EQ(pools.pools(0).version(), 1u);
  EXPECT_EQ(pools.pools(0).algorithm(), v1::ALGORITHM_WEIGHTED_ROUND_ROBIN);

  const v1::ListBackendsResponse list = List();
  EXPECT_EQ(list.version(), 1u);
  ASSERT_EQ(list.backends_size(), 2);
  EXPECT_EQ(list.backends(1).address(), "127.0.0.1:9002");
  EXPECT_EQ(list.backends(1).weight(), 2u);
  EXPECT_EQ(list.backends(1).health(), v1::HEALTH_UNKNOWN);
  EXPECT_EQ(list.backends(1).state(), v1::BACKEND_STATE_ACTIVE);

  v1::GetStatusResponse status;
  ASSERT_TRUE(stub_->GetStatus(Context().get(), {}, &status).ok());
  EXPECT_EQ(status.node_version(), "test");
  EXPECT_EQ(status.workers(), 1u);
  EXPECT_EQ(status.pools_size(), 1);
}

TEST_F(ControlServiceTest, MutationsReturnTheNewVersion) {
  v1::AddBackendResponse added;
  ASSERT_TRUE(Add("web", "127.0.0.1:9003", 4, 1, &added).ok());
  EXPECT_EQ(added.version(), 2u);
  EXPECT_EQ(added.backend().weight(), 4u);

  v1::UpdateBackendRequest drain;
  drain.set_pool("web");
  drain.set_address("127.0.0.1:9003");
  drain.set_draining(true);
  v1::UpdateBackendResponse drained;
  ASSERT_TRUE(stub_->UpdateBackend(Context().get(), drain, &drained).ok());
  EXPECT_EQ(drained.version(), 3u);
  EXPECT_EQ(drained.backend().state(), v1::BACKEND_STATE_DRAINING);

  v1::RemoveBackendRequest remove;
  remove.set_pool("web");
  remove.set_address("127.0.0.1:9003");
  remove.set_expected_version(3);
  v1::RemoveBackendResponse removed;
  ASSERT_TRUE(stub_->RemoveBackend(Context().get(), remove, &removed).ok());
  EXPECT_EQ(removed.version(), 4u);
  EXPECT_EQ(List().backends_size(), 2);
}

// As plbyctl has it: a node with one pool takes a request that names none as about that pool
// (a node with several refuses it: see the ControlPlane tests).
TEST_F(ControlServiceTest, NoPoolNamedMeansTheOnlyPool) {
  v1::AddBackendResponse added;
  ASSERT_TRUE(Add("", "127.0.0.1:9003", std::nullopt, std::nullopt, &added).ok());
  EXPECT_EQ(added.pool(), "web");
  v1::ListBackendsResponse list;
  ASSERT_TRUE(stub_->ListBackends(Context().get(), v1::ListBackendsRequest(), &list).ok());
  EXPECT_EQ(list.pool(), "web");
  EXPECT_EQ(list.backends_size(), 3);
}

TEST_F(ControlServiceTest, EveryRefusalHasItsCodeAndChangesNothing) {
  struct Case {
    grpc::Status status;
    grpc::StatusCode code;
    std::string message;
  };
  v1::UpdateBackendRequest empty_update;
  empty_update.set_pool("web");
  empty_update.set_address("127.0.0.1:9001");
  v1::UpdateBackendResponse update_response;
  v1::RemoveBackendRequest unknown_backend;
  unknown_backend.set_pool("web");
  unknown_backend.set_address("127.0.0.1:9999");
  v1::RemoveBackendResponse remove_response;
  v1::ListBackendsRequest unknown_pool;
  unknown_pool.set_pool("nope");
  v1::ListBackendsResponse list_response;
  const auto update_pool = [&](auto fill) {
    v1::UpdatePoolRequest request;
    request.set_pool("web");
    fill(request);
    v1::UpdatePoolResponse response;
    return stub_->UpdatePool(Context().get(), request, &response);
  };
  const Case cases[] = {
      {Add("web", "not an address"), grpc::StatusCode::INVALID_ARGUMENT,
       "invalid address \"not an address\""},
      {Add("web", "127.0.0.1:65536"), grpc::StatusCode::INVALID_ARGUMENT,
       "port 65536 is out of range (valid: 1-65535)"},
      {Add("web", "127.0.0.1:9003", 0), grpc::StatusCode::INVALID_ARGUMENT,
       "weight 0 is out of range (valid: 1-256)"},
      {Add("web", ""), grpc::StatusCode::INVALID_ARGUMENT, "address is empty"},
      {Add("nope", "127.0.0.1:9003"), grpc::StatusCode::NOT_FOUND,
       "no pool \"nope\" on this node (pools: web)"},
      {Add("web", "127.0.0.1:9001"), grpc::StatusCode::ALREADY_EXISTS,
       "backend \"127.0.0.1:9001\" is already in pool \"web\""},
      {Add("web", "127.0.0.1:9003", 1, 5), grpc::StatusCode::ABORTED,
       "pool \"web\" is at version 1, not the expected version 5"},
      {stub_->UpdateBackend(Context().get(), empty_update, &update_response),
       grpc::StatusCode::INVALID_ARGUMENT, "nothing to change"},
      {stub_->RemoveBackend(Context().get(), unknown_backend, &remove_response),
       grpc::StatusCode::NOT_FOUND, "no backend \"127.0.0.1:9999\" in pool \"web\""},
      {stub_->ListBackends(Context().get(), unknown_pool, &list_response),
       grpc::StatusCode::NOT_FOUND, "no pool \"nope\""},
      // A 100 KB address: echoed whole, the reply would pass gRPC's metadata limit and reach
      // the client as RESOURCE_EXHAUSTED; quoted in part it is the INVALID_ARGUMENT it is.
      {Add("web", std::string(100'000, 'a') + ":80x"), grpc::StatusCode::INVALID_ARGUMENT,
       "(100004 characters, the first 100 shown)"},
      {Add(std::string(100'000, 'p'), "127.0.0.1:9003"), grpc::StatusCode::NOT_FOUND,
       "no pool \"pppp"},
      // The control service's own port is not a backend.
      {Add("web", server_->address().ToString()), grpc::StatusCode::INVALID_ARGUMENT,
       "is one of this node's own listeners, the control service"},
      // UpdatePool: each bad value is named with what is valid.
      {update_pool([](v1::UpdatePoolRequest& r) {
         r.set_algorithm(v1::ALGORITHM_MAGLEV);
         r.set_maglev_table_size(65536);
       }),
       grpc::StatusCode::INVALID_ARGUMENT,
       "maglev_table_size 65536 is not a prime (the nearest primes are 65521 and 65537)"},
      {update_pool([](v1::UpdatePoolRequest& r) {
         r.set_algorithm(v1::ALGORITHM_MAGLEV);
         r.set_slow_start_ms(30'000);
       }),
       grpc::StatusCode::INVALID_ARGUMENT, "slow_start 30s is not valid with algorithm maglev"},
      {update_pool([](v1::UpdatePoolRequest& r) { r.set_hash("source_port"); }),
       grpc::StatusCode::INVALID_ARGUMENT,
       "unknown hash \"source_port\" (valid: source_ip, source_ip_port, header:NAME, "
       "cookie:NAME)"},
      {update_pool([](v1::UpdatePoolRequest& r) { r.set_slow_start_ms(7'200'000); }),
       grpc::StatusCode::INVALID_ARGUMENT,
       "slow_start_ms 7200000 is out of range (valid: 0, which is off, to 3600000)"},
      {update_pool([](v1::UpdatePoolRequest& r) {
         r.set_algorithm(v1::ALGORITHM_RANDOM);
         r.set_expected_version(9);
       }),
       grpc::StatusCode::ABORTED, "pool \"web\" is at version 1, not the expected version 9"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.error_code(), c.code) << c.status.error_message();
    EXPECT_THAT(c.status.error_message(), HasSubstr(c.message));
  }
  const v1::ListBackendsResponse after = List();
  EXPECT_EQ(after.version(), 1u);
  EXPECT_EQ(after.backends_size(), 2);
  v1::ListPoolsResponse pools;
  ASSERT_TRUE(stub_->ListPools(Context().get(), {}, &pools).ok());
  EXPECT_EQ(pools.pools(0).algorithm(), v1::ALGORITHM_WEIGHTED_ROUND_ROBIN);
  EXPECT_EQ(pools.pools(0).slow_start_ms(), 0u);
}

// Two servers forward to one pool, and a pool no server uses: every pool is listed, each with
// the listeners that use it, and the deprecated `listen` still holds the first of them.
class SharedPoolsTest : public ControlServiceTest {
 protected:
  const char* ConfigText() const override {
    return R"([control]
listen = "127.0.0.1:0"
[[pool]]
name = "api"
algorithm = "p2c"
hash = "cookie:session"
backends = [ { address = "127.0.0.1:9001" } ]
[[pool]]
name = "spare"
backends = [ { address = "127.0.0.1:9002" } ]
[[server]]
name = "a"
listen = "127.0.0.1:0"
[[server.forward]]
pool = "api"
[[server]]
name = "b"
listen = "127.0.0.1:0"
[[server.forward]]
pool = "api"
)";
  }
};

TEST_F(SharedPoolsTest, ListPoolsShowsEveryPoolWithItsListeners) {
  v1::ListPoolsResponse pools;
  ASSERT_TRUE(stub_->ListPools(Context().get(), {}, &pools).ok());
  ASSERT_EQ(pools.pools_size(), 2);
  const v1::PoolSummary& api = pools.pools(0);
  EXPECT_EQ(api.name(), "api");
  ASSERT_EQ(api.listeners_size(), 2);
  EXPECT_NE(api.listeners(0), api.listeners(1));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(api.listen(), api.listeners(0)) << "kept filled for older clients";
  EXPECT_EQ(pools.pools(1).listen(), "");
#pragma GCC diagnostic pop
  EXPECT_EQ(api.algorithm(), v1::ALGORITHM_POWER_OF_TWO);
  EXPECT_EQ(api.hash(), "cookie:session") << "p2c draws by it in HTTP mode";
  EXPECT_EQ(api.maglev_table_size(), 0u) << "no table outside maglev";
  EXPECT_EQ(pools.pools(1).name(), "spare");
  EXPECT_EQ(pools.pools(1).listeners_size(), 0) << "a pool no server uses is listed too";
  EXPECT_EQ(pools.pools(1).hash(), "");

  v1::ListBackendsRequest request;
  request.set_pool("api");
  v1::ListBackendsResponse backends;
  ASSERT_TRUE(stub_->ListBackends(Context().get(), request, &backends).ok());
  EXPECT_THAT(backends.listeners(), ::testing::ElementsAreArray(api.listeners()));
}

TEST_F(ControlServiceTest, WatchStreamsTheCurrentStateThenChanges) {
  grpc::ClientContext context;
  v1::WatchBackendsRequest request;
  request.set_pool("web");
  std::unique_ptr<grpc::ClientReader<v1::WatchBackendsResponse>> stream =
      stub_->WatchBackends(&context, request);
  v1::WatchBackendsResponse message;
  ASSERT_TRUE(stream->Read(&message));
  EXPECT_EQ(message.version(), 1u);
  EXPECT_EQ(message.backends_size(), 2);
  ASSERT_TRUE(Add("web", "127.0.0.1:9003").ok());
  ASSERT_TRUE(stream->Read(&message));
  EXPECT_EQ(message.version(), 2u);
  EXPECT_EQ(message.backends_size(), 3);
  context.TryCancel();
  while (stream->Read(&message)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ControlServiceTest, ServesHealthAndReflection) {
  absl::StatusOr<int> health = testing::CheckHealth(channel_);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1) << "SERVING";
  absl::StatusOr<std::string> services = testing::ListServicesByReflection(channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, HasSubstr("plby.v1.Control"));
  EXPECT_THAT(*services, HasSubstr("grpc.health.v1.Health"));
}

TEST_F(ControlServiceTest, StoppingTheNodeEndsOpenWatchStreams) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WatchBackendsResponse>> stream =
      stub_->WatchBackends(&context, {});
  v1::WatchBackendsResponse message;
  ASSERT_TRUE(stream->Read(&message));
  std::thread stopper([&] {
    registry_->changes().Close();
    server_->Shutdown(absl::Seconds(5));
  });
  while (stream->Read(&message)) {
  }
  const grpc::Status status = stream->Finish();
  stopper.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("the node is stopping"));
}

}  // namespace
}  // namespace plby::control
