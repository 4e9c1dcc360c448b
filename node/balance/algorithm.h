// The balancing algorithms a pool can use, declared once in kAlgorithms (balance/algorithm.cc):
// adding one is a line there and its Balancer, plus its wire value (proto/plby/v1/control.proto
// and control/algorithm_wire.cc). Tests check that the wire mapping and plbyctl's help cover
// every algorithm in the table.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace plby::balance {

enum class Algorithm {
  kRoundRobin,          // "RR": each backend in turn; weights are ignored
  kWeightedRoundRobin,  // "WRR": nginx's smooth weighted round robin
  kLeastConnections,    // the fewest connections per unit of weight (HAProxy's leastconn)
  kPowerOfTwo,          // the less loaded of two weighted random draws (Envoy's least_request)
  kRandom,              // weighted random
  kMaglev,              // Google's Maglev consistent hashing of the client's address
};

class Balancer;
struct BalancerInput;

// Everything the rest of the node needs to know about an algorithm.
struct AlgorithmInfo {
  Algorithm algorithm;
  absl::string_view name;  // as shown and saved; accepted case-insensitively
  absl::Span<const absl::string_view> aliases;
  bool uses_weights;  // false: weights are accepted but ignored (warned about)
  bool needs_key;     // picks by a hash of the client's address (hash = ...)
  // HTTP mode: a request key (hash = "header:NAME" or "cookie:NAME") seeds its random draws,
  // so one user's requests choose between the same backends; other hash kinds mean nothing.
  bool draws_by_request_key;
  bool needs_load;  // reads the backends' node-wide connection counts
  bool slow_start;  // may ramp a backend's weight up; not for a key hash (it would move keys)
  // Builds the balancer for one snapshot. `previous`, the balancer of the snapshot being
  // replaced (same algorithm, or null), lets an expensive one (maglev's table) be reused.
  std::unique_ptr<const Balancer> (*make)(const BalancerInput& input, const Balancer* previous);
};

// Every algorithm, in the order they are listed in messages.
std::span<const AlgorithmInfo> Algorithms();
const AlgorithmInfo& Describe(Algorithm algorithm);

// A name or alias, case-insensitively; anything else is refused with the valid list.
absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view text);
absl::string_view AlgorithmName(Algorithm algorithm);

// What a key-hashing algorithm hashes.
struct HashKey {
  enum class Source {
    kSourceIp,      // "source_ip": the client's address, so one client sticks to one backend
    kSourceIpPort,  // "source_ip_port": address and port, spreading one client's connections
    // HTTP mode: "header:NAME", a request field's value, or "cookie:NAME", a cookie's (a
    // request without it, and any TCP connection, hashes its source address instead).
    kHeader,
    kCookie,
  };
  Source source = Source::kSourceIp;
  std::string name;  // kHeader: the field name, lower-cased; kCookie: the cookie's name

  bool from_request() const { return source == Source::kHeader || source == Source::kCookie; }
  friend bool operator==(const HashKey&, const HashKey&) = default;
};
// "source_ip", "source_ip_port", "header:NAME" (a field name), "cookie:NAME" (a cookie name);
// the kinds case-insensitively.
absl::StatusOr<HashKey> ParseHashKey(absl::string_view text);
std::string HashKeyName(const HashKey& key);

// HAProxy's range: operators know it, and it keeps smooth schedules small.
inline constexpr int64_t kMinWeight = 1;
inline constexpr int64_t kMaxWeight = 256;

// OK when `weight` is within [kMinWeight, kMaxWeight]; otherwise an error naming the value.
absl::Status ValidateWeight(int64_t weight);

// Maglev's lookup table size: a prime (so that every backend's permutation covers the table).
// 65537 entries give each of 100 backends about 655, within 1% of its share; the largest keeps
// 5000 backends as close.
inline constexpr uint64_t kDefaultMaglevTableSize = 65537;
inline constexpr uint64_t kMaxMaglevTableSize = 5'000'011;
// OK when `size` is a prime within [kMinMaglevTableSize, kMaxMaglevTableSize]; otherwise an
// error that names the nearest primes.
inline constexpr uint64_t kMinMaglevTableSize = 3;
absl::Status ValidateMaglevTableSize(uint64_t size);
bool IsPrime(uint64_t n);

}  // namespace plby::balance
