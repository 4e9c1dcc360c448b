#include "render.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::ctl {
namespace {

using ::testing::HasSubstr;

v1::Backend MakeBackend(const std::string& address, uint32_t weight, bool draining) {
  v1::Backend backend;
  backend.set_address(address);
  backend.set_weight(weight);
  backend.set_health(v1::HEALTH_UNKNOWN);
  backend.set_state(draining ? v1::BACKEND_STATE_DRAINING : v1::BACKEND_STATE_ACTIVE);
  backend.set_active_connections(2);
  backend.set_total_connections(10);
  return backend;
}

std::vector<NodeResult> ListResults() {
  NodeResult ok;
  ok.node = "127.0.0.1:9100";
  ok.pool = "web";
  ok.version = 3;
  ok.algorithm = v1::ALGORITHM_WEIGHTED_ROUND_ROBIN;
  ok.listeners = {"0.0.0.0:80", "0.0.0.0:8080"};
  ok.backends = {MakeBackend("127.0.0.1:8080", 1, false), MakeBackend("127.0.0.1:8081", 25, true)};
  NodeResult failed;
  failed.node = "127.0.0.1:9101";
  failed.error = absl::UnavailableError("failed to connect \"quoted\"");
  return {ok, failed};
}

Invocation ListInvocation() {
  Invocation invocation;
  invocation.command = Command::kBackendsList;
  invocation.command_name = "backends list";
  return invocation;
}

TEST(RenderTest, TableAlignsColumnsAndLeavesFailuresToStderr) {
  EXPECT_EQ(RenderTable(ListInvocation(), ListResults()),
            "NODE            POOL  LISTENERS                ALGORITHM  VERSION  ADDRESS         "
            "WEIGHT  HEALTH   STATE     ACTIVE  TOTAL\n"
            "127.0.0.1:9100  web   0.0.0.0:80,0.0.0.0:8080  WRR        3        127.0.0.1:8080  "
            "1       unknown  active    2       10\n"
            "127.0.0.1:9100  web   0.0.0.0:80,0.0.0.0:8080  WRR        3        127.0.0.1:8081  "
            "25      unknown  draining  2       10\n");
  EXPECT_EQ(RenderFailure("127.0.0.1:9101", ListResults()[1].error),
            "plbyctl: 127.0.0.1:9101: UNAVAILABLE: failed to connect \"quoted\"\n");
}

TEST(RenderTest, JsonIsOneDocumentWithEveryNode) {
  EXPECT_EQ(RenderJson(ListInvocation(), ListResults()),
            "{\"command\":\"backends list\",\"ok\":false,\"nodes\":["
            "{\"node\":\"127.0.0.1:9100\",\"ok\":true,\"pool\":\"web\",\"listeners\":["
            "\"0.0.0.0:80\",\"0.0.0.0:8080\"],\"algorithm\":\"WRR\","
            "\"version\":3,\"backends\":["
            "{\"address\":\"127.0.0.1:8080\",\"weight\":1,\"health\":\"unknown\",\"state\":"
            "\"active\",\"active_connections\":2,\"total_connections\":10},"
            "{\"address\":\"127.0.0.1:8081\",\"weight\":25,\"health\":\"unknown\",\"state\":"
            "\"draining\",\"active_connections\":2,\"total_connections\":10}]},"
            "{\"node\":\"127.0.0.1:9101\",\"ok\":false,\"error\":{\"code\":\"UNAVAILABLE\","
            "\"message\":\"failed to connect \\\"quoted\\\"\"}}]}\n");
}

// A pool's hash and table size are shown where the node reports them: p2c's request hash has
// no table.
TEST(RenderTest, PoolsSetShowsTheSettingsThatDecideSomething) {
  Invocation invocation;
  invocation.command = Command::kPoolsSet;
  NodeResult p2c;
  p2c.node = "n:1";
  p2c.pool = "web";
  v1::PoolSummary summary;
  summary.set_name("web");
  summary.set_algorithm(v1::ALGORITHM_POWER_OF_TWO);
  summary.set_hash("cookie:session");
  summary.add_listeners("0.0.0.0:80");
  p2c.pools = {summary};
  EXPECT_THAT(RenderTable(invocation, {p2c}), HasSubstr("set p2c hash cookie:session\n"));
  const std::string json = RenderJson(invocation, {p2c});
  EXPECT_THAT(json, HasSubstr("\"listen\":\"0.0.0.0:80\",\"listeners\":[\"0.0.0.0:80\"]"));
  EXPECT_THAT(json, HasSubstr("\"hash\":\"cookie:session\","));
  EXPECT_THAT(json, ::testing::Not(HasSubstr("maglev_table_size")));
  NodeResult maglev = p2c;
  maglev.pools[0].set_algorithm(v1::ALGORITHM_MAGLEV);
  maglev.pools[0].set_hash("source_ip");
  maglev.pools[0].set_maglev_table_size(65537);
  EXPECT_THAT(RenderTable(invocation, {maglev}),
              HasSubstr("set maglev hash source_ip maglev_table_size 65537"));
}

TEST(RenderTest, ChangesSayWhatHappened) {
  Invocation invocation;
  invocation.command = Command::kBackendsAdd;
  NodeResult added;
  added.node = "n:1";
  added.pool = "web";
  added.version = 4;
  added.backend = MakeBackend("127.0.0.1:8083", 2, false);
  EXPECT_THAT(RenderTable(invocation, {added}),
              HasSubstr("n:1   web   4        added 127.0.0.1:8083 "
                        "(weight 2)"));
  NodeResult there = added;
  there.unchanged = true;
  EXPECT_THAT(RenderTable(invocation, {there}),
              HasSubstr("n:1   web   4        already there: 127.0.0.1:8083 (weight 2)"));
  EXPECT_THAT(RenderJson(invocation, {added, there}),
              HasSubstr("\"version\":4,\"unchanged\":false,\"backend\":{"));
  EXPECT_THAT(RenderJson(invocation, {added, there}), HasSubstr("\"unchanged\":true,"));
}

TEST(RenderTest, WatchUpdatesInJsonAreOneLineEach) {
  v1::WatchBackendsResponse update;
  update.set_pool("web");
  update.set_version(9);
  *update.add_backends() = MakeBackend("127.0.0.1:8080", 1, false);
  const std::string line = RenderWatchUpdate(OutputFormat::kJson, "n:1", update);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_THAT(line, HasSubstr("{\"node\":\"n:1\",\"pool\":\"web\",\"version\":9,\"backends\":[{"));
  EXPECT_THAT(RenderWatchUpdate(OutputFormat::kTable, "n:1", update),
              HasSubstr("n:1  pool web  version 9\n  ADDRESS"));
}

}  // namespace
}  // namespace plby::ctl
