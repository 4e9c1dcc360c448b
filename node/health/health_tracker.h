// HealthTracker: turns a backend's check results into its health, with hysteresis: `fall` failed
// checks in a row make it unhealthy, `rise` good ones make it healthy, so one lost probe does
// not flap a backend out of rotation.
#pragma once

#include "pool/backend_runtime.h"

namespace plby::health {

class HealthTracker {
 public:
  HealthTracker(int rise, int fall) : rise_(rise), fall_(fall) {}

  // Records one check result and returns the health after it.
  pool::Health Record(bool ok) {
    if (ok) {
      failures_ = 0;
      if (++successes_ >= rise_) health_ = pool::Health::kHealthy;
    } else {
      successes_ = 0;
      if (++failures_ >= fall_) health_ = pool::Health::kUnhealthy;
    }
    return health_;
  }

  // Marks the backend unhealthy now (the forwarder saw it fail); `rise` good checks bring it
  // back.
  void MarkUnhealthy() {
    health_ = pool::Health::kUnhealthy;
    successes_ = 0;
  }

  // Back to unknown, as when first seen (a passive mark's cooldown ended, with no checks to
  // say more).
  void Forget() {
    health_ = pool::Health::kUnknown;
    successes_ = 0;
    failures_ = 0;
  }

  pool::Health health() const { return health_; }
  int successes() const { return successes_; }
  int failures() const { return failures_; }

 private:
  const int rise_;
  const int fall_;
  pool::Health health_ = pool::Health::kUnknown;
  int successes_ = 0;
  int failures_ = 0;
};

}  // namespace plby::health
