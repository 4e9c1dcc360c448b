// Balancer: chooses the backend for each new connection of a pool.
//
// A balancer is immutable and belongs to one PoolSnapshot; workers call it without locks. What
// moves lives outside it: whose turn it is (the pool's shared ticket counter, one ticket per
// connection, so an order holds across all workers together) and how loaded each backend is
// (one atomic count per backend, node-wide, changed once when a connection to it starts and
// once when it ends, never per read or write).
//
// The promises, per algorithm (tested in tests/unit/balance/):
// - Every pick returns an eligible backend the connection has not tried yet, or kNoBackend
//   when none is left: a failed connect retries on another backend, each at most once. The
//   balancer owns that retry order.
// - RR: the eligible backends in list order, one ticket each, weights ignored; while slow
//   start ramps a backend up it takes that fraction of a turn (smooth round robin over the
//   ramps). A retry takes the next in list order.
// - WRR: nginx's smooth weighted round robin over the effective weights; retries as RR.
// - least_connections: the eligible backend with the fewest connections per unit of effective
//   weight; among equals the ticket decides, in list order, so ties go round robin (HAProxy's
//   leastconn). Linear in the eligible backends.
// - p2c: two distinct eligible backends drawn at random with probability proportional to
//   effective weight; the one with fewer connections per unit of weight wins, the first drawn
//   on a tie (Envoy's least_request, nginx's "random two least_conn"). Constant time.
// - random: one backend drawn with probability proportional to effective weight. Constant time.
// - maglev: Maglev's lookup table (Eisenbud et al., NSDI 2016), weighted, over every backend of
//   the pool whatever its health: it depends only on the set of (address, weight) pairs, so
//   every node with the same backends builds the same table in whatever order they were listed
//   or added. The key's entry names its backend; when that one is not eligible (unhealthy,
//   draining, unresolved) or was tried already, the key's next preference is taken: the entry
//   at the next position of the key's own probe sequence. A backend that leaves loses only its
//   own keys and gets them back when it returns; other keys never move.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "absl/strings/string_view.h"
#include "balance/algorithm.h"

namespace plby::balance {

// Effective weights are in thousandths of a configured weight: a backend of weight 2 at full
// weight balances with 2000, and 200 at the start of a slow-start ramp.
inline constexpr int64_t kWeightScale = 1000;

inline constexpr uint32_t kNoBackend = std::numeric_limits<uint32_t>::max();

// One backend as a balancer sees it; a balancer is built over every backend of a snapshot.
struct Candidate {
  // Its canonical address as configured ("10.0.0.1:80", "db.internal:5432"): the same on every
  // node, so key-based algorithms order and hash backends by it. Empty for the others.
  absl::string_view identity;
  int64_t weight = 1;                       // as configured
  int64_t effective_weight = kWeightScale;  // weight * kWeightScale, less while ramping up
  bool eligible = true;                     // takes new connections now
  // Connections being made or open to it, over all workers. Read by load-aware algorithms.
  const std::atomic<int64_t>* load = nullptr;
};

struct BalancerInput {
  std::span<const Candidate> candidates;  // at least one eligible
  uint64_t maglev_table_size = kDefaultMaglevTableSize;
};

// What one pick needs.
struct PickRequest {
  uint64_t ticket = 0;              // from the pool's counter; also the pick's random seed
  uint64_t key = 0;                 // the hash of the client's address, for key-based algorithms
  std::span<const uint32_t> tried;  // candidates this connection tried already, in order
};

class Balancer {
 public:
  virtual ~Balancer() = default;

  // The index of the candidate for this pick (see the promises above), or kNoBackend.
  virtual uint32_t Pick(const PickRequest& request) const = 0;

  // How many of maglev's table entries each candidate holds (empty for other algorithms).
  virtual std::vector<uint32_t> TableEntries() const { return {}; }
};

// The balancer of `algorithm` over `input`; `previous` as in AlgorithmInfo::make.
std::unique_ptr<const Balancer> MakeBalancer(Algorithm algorithm, const BalancerInput& input,
                                             const Balancer* previous = nullptr);

}  // namespace plby::balance
