#include "metrics/prometheus.h"

#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/status_page.h"

namespace plby::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Report SampleReport() {
  Report report;
  report.node.version = "9.9.9";
  report.node.uptime = absl::Seconds(42);
  report.node.workers = 2;
  report.node.counters.accepted = 10;
  report.node.counters.active = 3;
  report.node.counters.no_backend = 1;
  report.node.counters.idle_timeouts = 4;
  PoolReport pool;
  pool.summary.name = "web";
  pool.summary.listeners = {"127.0.0.1:8200"};
  pool.state.pool = "web";
  pool.state.version = 7;
  pool.state.backends.push_back({.address = "127.0.0.1:8080",
                                 .weight = 3,
                                 .draining = false,
                                 .health = pool::Health::kHealthy,
                                 .unresolved = "",
                                 .active_connections = 2,
                                 .total_connections = 6,
                                 .connect_failures = 1,
                                 .bytes_sent = 100,
                                 .bytes_received = 2000,
                                 .current_weight = 3,
                                 .table_entries = 0});
  pool.state.backends.push_back({.address = "[::1]:8081",
                                 .weight = 1,
                                 .draining = true,
                                 .health = pool::Health::kUnhealthy,
                                 .unresolved = ""});
  report.pools.push_back(pool);
  return report;
}

TEST(PrometheusTest, MaglevPoolsShowTheirTable) {
  Report report;
  PoolReport pool;
  pool.summary.name = "sticky";
  pool.summary.balance = {.algorithm = balance::Algorithm::kMaglev,
                          .slow_start = absl::ZeroDuration(),
                          .hash = balance::HashKey{},
                          .maglev_table_size = 251};
  pool.state.pool = "sticky";
  control::BackendStatus b125;
  b125.address = "10.0.0.1:80";
  b125.table_entries = 125;
  pool.state.backends.push_back(b125);
  control::BackendStatus b126;
  b126.address = "10.0.0.2:80";
  b126.table_entries = 126;
  pool.state.backends.push_back(b126);
  report.pools.push_back(pool);
  const std::string text = RenderPrometheus(report);
  EXPECT_THAT(text,
              HasSubstr("plby_pool_info{pool=\"sticky\",algorithm=\"maglev\","
                        "slow_start_seconds=\"0\",hash=\"source_ip\",table_size=\"251\"} 1\n"));
  EXPECT_THAT(
      text, HasSubstr("plby_backend_table_entries{pool=\"sticky\",backend=\"10.0.0.2:80\"} 126\n"));
}

TEST(PrometheusTest, NodeCountersAndErrorsByKind) {
  const std::string text = RenderPrometheus(SampleReport());
  EXPECT_THAT(text, HasSubstr("plby_build_info{version=\"9.9.9\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plby_uptime_seconds 42.000\n"));
  EXPECT_THAT(text, HasSubstr("plby_workers 2\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE plby_connections_accepted_total counter\n"
                              "plby_connections_accepted_total 10\n"));
  EXPECT_THAT(text, HasSubstr("plby_connections_active 3\n"));
  EXPECT_THAT(text, HasSubstr("plby_errors_total{kind=\"no_backend\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plby_errors_total{kind=\"accept\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("plby_connections_closed_total{reason=\"idle_timeout\"} 4\n"));
}

TEST(PrometheusTest, PoolsAndBackendsAreLabelled) {
  const std::string text = RenderPrometheus(SampleReport());
  EXPECT_THAT(text, HasSubstr("plby_pool_version{pool=\"web\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("plby_pool_info{pool=\"web\",algorithm=\"WRR\",slow_start_seconds="
                              "\"0\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_effective_weight{pool=\"web\",backend=\"127.0.0.1:"
                              "8080\"} 3.000\n"));
  EXPECT_THAT(text, Not(HasSubstr("plby_backend_table_entries{"))) << "maglev pools only";
  EXPECT_THAT(text, HasSubstr("plby_pool_backends{pool=\"web\"} 2\n"));
  const std::string first = "{pool=\"web\",backend=\"127.0.0.1:8080\"}";
  EXPECT_THAT(text, HasSubstr("plby_backend_connections_total" + first + " 6\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_connections_active" + first + " 2\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_sent_bytes_total" + first + " 100\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_received_bytes_total" + first + " 2000\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_connect_failures_total" + first + " 1\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_weight" + first + " 3\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_draining{pool=\"web\",backend=\"[::1]:8081\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_health{pool=\"web\",backend=\"127.0.0.1:8080\","
                              "state=\"healthy\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_health{pool=\"web\",backend=\"127.0.0.1:8080\","
                              "state=\"unhealthy\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("plby_backend_health{pool=\"web\",backend=\"[::1]:8081\","
                              "state=\"unhealthy\"} 1\n"));
}

// Each family's HELP and TYPE come once, before all of its samples: the format requires the
// samples of a family to be together.
TEST(PrometheusTest, EveryFamilyIsDeclaredOnceAndItsSamplesFollowIt) {
  const std::string text = RenderPrometheus(SampleReport());
  std::string current;
  std::set<std::string> declared;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      current = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(declared.insert(current).second) << current << " declared twice";
      continue;
    }
    if (line.rfind("#", 0) == 0) continue;
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(name, current) << line;
    EXPECT_EQ(name.rfind("plby_", 0), 0u) << line;
  }
  EXPECT_GE(declared.size(), 15u);
}

TEST(PrometheusTest, LabelValuesAreEscaped) {
  Report report = SampleReport();
  report.pools[0].state.pool = "we\"b\\x\ny";
  const std::string text = RenderPrometheus(report);
  EXPECT_THAT(text, HasSubstr("plby_pool_version{pool=\"we\\\"b\\\\x\\ny\"} 7\n"));
  EXPECT_THAT(text, Not(HasSubstr("\ny\"")));
}

TEST(StatusJsonTest, CarriesWhatThePageShows) {
  const std::string json = RenderStatusJson(SampleReport());
  EXPECT_THAT(json, HasSubstr("\"version\":\"9.9.9\""));
  EXPECT_THAT(json, HasSubstr("\"uptime_seconds\":42"));
  EXPECT_THAT(json, HasSubstr("\"name\":\"web\",\"listen\":\"127.0.0.1:8200\""));
  EXPECT_THAT(json, HasSubstr("{\"address\":\"127.0.0.1:8080\",\"weight\":3,\"current_weight\":3,"
                              "\"table_entries\":0,\"draining\":false,"
                              "\"health\":\"healthy\",\"unresolved\":\"\",\"active_connections\":2,"
                              "\"total_connections\":6,\"connect_failures\":1,\"bytes_sent\":100,"
                              "\"bytes_received\":2000}"));
  EXPECT_THAT(json, HasSubstr("\"draining\":true,\"health\":\"unhealthy\""));
}

// What an apply recorded, and how a discovering pool's lookups went.
TEST(PrometheusTest, TheSyncMarkAndDiscovery) {
  Report report = SampleReport();
  EXPECT_THAT(RenderStatusJson(report), HasSubstr("\"ready_after_sync\":false,\"sync\":null"));
  EXPECT_THAT(RenderPrometheus(report), HasSubstr("plby_sync_timestamp_seconds 0.000\n"));
  report.node.sync = control::SyncMark{.content_hash = "sha256:ab",
                                       .source = "pools.toml",
                                       .at = absl::FromUnixSeconds(1800000000),
                                       .by = "ipv4:10.0.0.7:1"};
  report.pools[0].summary.discovery =
      control::DiscoverySummary{.dns = "web.svc:8080",
                                .every = absl::Seconds(5),
                                .status = {.lookups = 9,
                                           .failures = 2,
                                           .last_answer = absl::FromUnixSeconds(1800000001),
                                           .last_error = "",
                                           .addresses = 3}};
  const std::string text = RenderPrometheus(report);
  EXPECT_THAT(text,
              HasSubstr("plby_sync_info{content_hash=\"sha256:ab\",source=\"pools.toml\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("plby_sync_timestamp_seconds 1800000000.000\n"));
  EXPECT_THAT(text, HasSubstr("plby_discovery_lookups_total{pool=\"web\"} 9\n"));
  EXPECT_THAT(text, HasSubstr("plby_discovery_failures_total{pool=\"web\"} 2\n"));
  EXPECT_THAT(
      text, HasSubstr("plby_discovery_last_answer_timestamp_seconds{pool=\"web\"} 1800000001.000"));
  EXPECT_THAT(RenderStatusJson(report),
              HasSubstr("\"sync\":{\"content_hash\":\"sha256:ab\",\"source\":\"pools.toml\","
                        "\"synced_unix_ms\":1800000000000,\"by\":\"ipv4:10.0.0.7:1\"}"));
}

// The page must work offline, and under a policy that allows only the node's own origin:
// nothing is loaded from elsewhere, and nothing is inline (script, style, handlers).
TEST(StatusPageTest, IsSelfContained) {
  const std::string page(StatusPageHtml());
  const std::string script(StatusPageScript());
  const std::string style(StatusPageStyle());
  EXPECT_THAT(script, HasSubstr("fetch(\"status.json\""));
  for (const std::string& part : {page, script, style}) {
    EXPECT_THAT(part, Not(HasSubstr("http://")));
    EXPECT_THAT(part, Not(HasSubstr("https://")));
    EXPECT_THAT(part, Not(HasSubstr("innerHTML")));
  }
  EXPECT_THAT(page, HasSubstr("<script src=\"status.js\"></script>"));
  EXPECT_THAT(page, HasSubstr("<link rel=\"stylesheet\" href=\"status.css\">"));
  EXPECT_THAT(page, Not(HasSubstr("<script>")));
  EXPECT_THAT(page, Not(HasSubstr("<style")));
  EXPECT_THAT(page, Not(HasSubstr(" style=")));
  EXPECT_THAT(page, Not(HasSubstr(" on")));  // no onclick= and the like
}

}  // namespace
}  // namespace plby::metrics
