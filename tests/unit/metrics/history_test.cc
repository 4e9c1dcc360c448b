#include "metrics/history.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Report OnePool(int backends, uint64_t connections, uint64_t failures) {
  Report report;
  PoolReport pool;
  pool.state.pool = "web";
  for (int i = 0; i < backends; ++i) {
    control::BackendStatus backend;
    backend.address = absl::StrCat("10.0.0.", i + 1, ":80");
    backend.total_connections = connections;
    backend.connect_failures = failures;
    pool.state.backends.push_back(backend);
  }
  report.pools.push_back(pool);
  return report;
}

TEST(TrafficHistoryTest, RecordsRatesSinceThePreviousSample) {
  TrafficHistory history;
  const absl::Time start = absl::FromUnixSeconds(1000);
  history.Record(OnePool(2, 100, 0), start);
  EXPECT_THAT(history.Json(), HasSubstr("\"samples\":[]")) << "the first sample is the baseline";
  history.Record(OnePool(2, 150, 5), start + absl::Seconds(5));
  EXPECT_EQ(history.Json(),
            "{\"interval_seconds\":5,\"charted_backends\":16,\"pools\":[{\"name\":\"web\","
            "\"samples\":[{\"at_ms\":1005000,"
            "\"failures\":2,\"connections\":{\"10.0.0.1:80\":10,\"10.0.0.2:80\":10}}]}]}");
}

TEST(TrafficHistoryTest, KeepsFiveMinutesAndSumsBackendsPastTheChartedOnes) {
  TrafficHistory history;
  const absl::Time start = absl::FromUnixSeconds(0);
  for (size_t i = 0; i <= TrafficHistory::kSamples + 10; ++i) {
    history.Record(OnePool(20, 5 * i, 0), start + absl::Seconds(5 * static_cast<int64_t>(i)));
  }
  const std::string json = history.Json();
  size_t samples = 0;
  for (size_t at = json.find("\"at_ms\""); at != std::string::npos;
       at = json.find("\"at_ms\"", at + 1)) {
    ++samples;
  }
  EXPECT_EQ(samples, TrafficHistory::kSamples);
  EXPECT_THAT(json, HasSubstr("\"10.0.0.16:80\":1,\"others\":4}"));
  EXPECT_THAT(json, Not(HasSubstr("10.0.0.17:80")));
  history.Record(Report(), start + absl::Hours(1));
  EXPECT_THAT(history.Json(), HasSubstr("\"pools\":[]")) << "a pool no longer there is forgotten";
}

}  // namespace
}  // namespace plby::metrics
