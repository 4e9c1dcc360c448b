// Balancer: chooses the backend for each new connection of a pool.
//
// A balancer is immutable and belongs to one PoolSnapshot. The state that moves (whose turn it
// is) lives outside it, in the pool's shared ticket counter: every worker draws the next ticket
// for each connection, so the algorithm's order holds across all workers together without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "balance/algorithm.h"

namespace plby::balance {

class Balancer {
 public:
  virtual ~Balancer() = default;

  // The index, into the snapshot's backend list, of the backend that the connection holding
  // `ticket` goes to. Consecutive tickets walk the algorithm's sequence. Constant time; the
  // snapshot never asks with an empty backend list.
  virtual uint32_t Pick(uint64_t ticket) const = 0;
};

// A balancer for backends with these weights (one per backend, in list order; non-empty).
std::unique_ptr<const Balancer> MakeBalancer(Algorithm algorithm, std::span<const int64_t> weights);

}  // namespace plby::balance
