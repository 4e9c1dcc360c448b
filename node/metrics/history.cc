#include "metrics/history.h"

#include <pthread.h>

#include "json/json_writer.h"

namespace plby::metrics {

void TrafficHistory::Record(const Report& report, absl::Time now) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, PoolHistory> kept;
  for (const PoolReport& pool : report.pools) {
    PoolHistory& history = kept[pool.state.pool];
    if (auto it = pools_.find(pool.state.pool); it != pools_.end()) history = std::move(it->second);
    const double seconds = absl::ToDoubleSeconds(now - history.last_at);
    const bool baseline = history.last_at == absl::InfinitePast();
    std::map<std::string, std::pair<uint64_t, uint64_t>> last;
    Sample sample{.at_ms = absl::ToUnixMillis(now), .failures = 0, .connections = {}};
    double others = 0;
    for (size_t i = 0; i < pool.state.backends.size(); ++i) {
      const control::BackendStatus& backend = pool.state.backends[i];
      last[backend.address] = {backend.total_connections, backend.connect_failures};
      // A backend new since the last sample counts from zero: it joined within the interval.
      const auto before = history.last.find(backend.address);
      const uint64_t connections_before = before != history.last.end() ? before->second.first : 0;
      const uint64_t failures_before = before != history.last.end() ? before->second.second : 0;
      const double rate =
          seconds > 0
              ? static_cast<double>(backend.total_connections - connections_before) / seconds
              : 0;
      if (seconds > 0) {
        sample.failures +=
            static_cast<double>(backend.connect_failures - failures_before) / seconds;
      }
      if (i < kChartedBackends) {
        sample.connections.emplace_back(backend.address, rate);
      } else {
        others += rate;
      }
    }
    if (pool.state.backends.size() > kChartedBackends)
      sample.connections.emplace_back("others", others);
    history.last = std::move(last);
    history.last_at = now;
    if (baseline) continue;
    history.samples.push_back(std::move(sample));
    while (history.samples.size() > kSamples) history.samples.pop_front();
  }
  pools_ = std::move(kept);  // pools no longer reported are forgotten
}

std::string TrafficHistory::Json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  json::JsonWriter json;
  json.BeginObject()
      .Key("interval_seconds")
      .Number(absl::ToInt64Seconds(kInterval))
      .Key("charted_backends")
      .Unsigned(kChartedBackends)
      .Key("pools")
      .BeginArray();
  for (const auto& [name, history] : pools_) {
    json.BeginObject().Key("name").String(name).Key("samples").BeginArray();
    for (const Sample& sample : history.samples) {
      json.BeginObject()
          .Key("at_ms")
          .Number(sample.at_ms)
          .Key("failures")
          .Double(sample.failures)
          .Key("connections")
          .BeginObject();
      for (const auto& [series, rate] : sample.connections) json.Key(series).Double(rate);
      json.EndObject().EndObject();
    }
    json.EndArray().EndObject();
  }
  json.EndArray().EndObject();
  return json.text();
}

HistorySampler::HistorySampler(const control::ControlPlane& plane, TrafficHistory& history)
    : thread_([this, &plane, &history] {
        pthread_setname_np(pthread_self(), "plby-history");
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopping_) {
          lock.unlock();
          history.Record(Collect(plane), absl::Now());
          lock.lock();
          wake_.wait_for(lock, absl::ToChronoMilliseconds(TrafficHistory::kInterval),
                         [this] { return stopping_; });
        }
      }) {}

HistorySampler::~HistorySampler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

}  // namespace plby::metrics
