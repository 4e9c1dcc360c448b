// TrafficHistory: the last five minutes of each pool, for the status page's charts: new
// connections per second per backend and connect failures per second, sampled every five
// seconds from the same counters /metrics shows. Kept in the node (not in the page), so a page
// opened now shows the trend that led here.
//
// Bounded whatever the pools hold: the first kChartedBackends backends of a pool (in list
// order) get a series each; the rest are summed into one series named "others".
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "control/control_plane.h"
#include "metrics/report.h"

namespace plby::metrics {

class TrafficHistory {
 public:
  static constexpr absl::Duration kInterval = absl::Seconds(5);
  static constexpr size_t kSamples = 60;  // five minutes
  static constexpr size_t kChartedBackends = 16;

  // Adds a sample taken at `now`: the rates since the previous one (the first only sets the
  // baseline). Thread-safe.
  void Record(const Report& report, absl::Time now);

  // {"interval_seconds":5,"charted_backends":16,"pools":[{"name":..,"samples":[{"at_ms":..,"failures":..,
  // "connections":{"backend":rate,..}},..]},..]}: oldest sample first.
  std::string Json() const;

 private:
  struct Sample {
    int64_t at_ms = 0;
    double failures = 0;                                      // per second, the whole pool
    std::vector<std::pair<std::string, double>> connections;  // per second, per series
  };
  struct PoolHistory {
    std::deque<Sample> samples;
    std::map<std::string, std::pair<uint64_t, uint64_t>> last;  // backend: connections, failures
    absl::Time last_at = absl::InfinitePast();  // none yet: the next sample is the baseline
  };

  mutable std::mutex mutex_;
  std::map<std::string, PoolHistory> pools_;  // guarded by mutex_
};

// Samples `plane` into `history` every TrafficHistory::kInterval on a thread of its own, from
// construction to destruction.
class HistorySampler {
 public:
  HistorySampler(const control::ControlPlane& plane, TrafficHistory& history);
  ~HistorySampler();
  HistorySampler(const HistorySampler&) = delete;
  HistorySampler& operator=(const HistorySampler&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace plby::metrics
