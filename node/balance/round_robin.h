// Plain round robin: each backend in list order, weights ignored.
#pragma once

#include "balance/balancer.h"

namespace plby::balance {

class RoundRobin final : public Balancer {
 public:
  explicit RoundRobin(uint32_t backend_count) : backend_count_(backend_count) {}
  uint32_t Pick(uint64_t ticket) const override {
    return static_cast<uint32_t>(ticket % backend_count_);
  }

 private:
  uint32_t backend_count_;
};

}  // namespace plby::balance
