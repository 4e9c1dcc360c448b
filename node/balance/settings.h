// Settings: how a pool balances, as config.toml, the control API and the state file set it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "balance/algorithm.h"

namespace plby::balance {

inline constexpr absl::Duration kMaxSlowStart = absl::Hours(1);

struct Settings {
  Algorithm algorithm = Algorithm::kWeightedRoundRobin;
  // A backend that starts taking connections (added, undrained, healthy again) starts at 10%
  // of its weight and reaches all of it linearly over this window; zero: off.
  absl::Duration slow_start = absl::ZeroDuration();
  HashKey hash = {};                                     // key-based algorithms only
  uint64_t maglev_table_size = kDefaultMaglevTableSize;  // maglev only

  friend bool operator==(const Settings&, const Settings&) = default;
};

// OK when `slow_start` is within [0, kMaxSlowStart] and, when not zero, `algorithm` allows it;
// otherwise an error that says why ("slow_start 10s is not valid with algorithm maglev: ...").
absl::Status CheckSlowStart(Algorithm algorithm, absl::Duration slow_start);

// Every rule at once: the slow start, and the maglev table size.
absl::Status Validate(const Settings& settings);

// Whether `settings.hash` decides anything: always for maglev, and for p2c when it names a
// request field or cookie. Where it does not, it is neither shown nor compared.
bool UsesHash(const Settings& settings);
// Whether `settings.maglev_table_size` decides anything (maglev only).
bool UsesTableSize(const Settings& settings);

// "maglev hash source_ip maglev_table_size 65537", "WRR slow_start 30s": for logs and output.
std::string Summary(const Settings& settings);

}  // namespace plby::balance
