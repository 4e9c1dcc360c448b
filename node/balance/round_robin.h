// Plain round robin: each eligible backend in list order, weights ignored.
#pragma once

#include "balance/balancer.h"
#include "balance/eligible_set.h"

namespace plby::balance {

class RoundRobin final : public Balancer {
 public:
  explicit RoundRobin(std::span<const Candidate> candidates) : eligible_(candidates) {}
  uint32_t Pick(const PickRequest& request) const override {
    if (!request.tried.empty()) return eligible_.NextAfterLastTried(request.tried);
    return eligible_.at(request.ticket % eligible_.size());
  }

 private:
  EligibleSet eligible_;
};

}  // namespace plby::balance
