// HealthChecker: active TCP checks of every backend of every pool that has them, on a thread
// and event loop of its own (never on a worker's), plus the passive marks the workers report
// (with or without active checks: without, a mark is undone after the pool's cooldown). The
// same thread moves slow-start ramps on: like health, a ramp changes what a snapshot balances
// with, never the backend list.
// A change of health publishes a new snapshot of the pool (same version, new generation), so
// workers leave unhealthy backends out of the schedule without checking anything per connection.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "health/health_tracker.h"
#include "log/rate_limit.h"
#include "net/event_loop.h"
#include "pool/pool_registry.h"

namespace plby::health {

class HealthChecker {
 public:
  static absl::StatusOr<std::unique_ptr<HealthChecker>> Create(pool::PoolRegistry& pools);
  ~HealthChecker();

  void Start();
  void Stop();

  // Thread-safe, for workers: the forwarder saw `backend` of `pool` fail `failures` times in a
  // row (connect failures, resets). Marks it unhealthy unless it already is.
  void ReportPassiveFailures(pool::Pool* pool, const pool::Backend& backend, uint32_t failures);

 private:
  class Probe;
  class PoolTicker;
  class RampTicker;

  explicit HealthChecker(std::unique_ptr<net::EventLoop> loop);
  // Called by a probe when it ends.
  void OnProbeResult(Probe& probe, bool ok, int error);
  // A passive mark's cooldown ended (pools without active checks).
  void OnCooldownEnded(Probe& probe);
  // Publishes a new snapshot of `pool` and notes the change in the log.
  void Changed(pool::Pool& pool, const Probe& probe, pool::Health health, absl::string_view why);

  std::unique_ptr<net::EventLoop> loop_;
  log::LogRateLimit local_shortage_log_{1000};
  std::vector<std::unique_ptr<PoolTicker>> tickers_;
  std::unique_ptr<RampTicker> ramps_;
  std::thread thread_;
};

}  // namespace plby::health
