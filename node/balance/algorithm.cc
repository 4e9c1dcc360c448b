#include "balance/algorithm.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "balance/balancer.h"
#include "balance/least_connections.h"
#include "balance/maglev.h"
#include "balance/round_robin.h"
#include "balance/smooth_weighted.h"
#include "balance/weighted_random.h"
#include "http/parser.h"
#include "text/quote.h"

namespace plby::balance {
namespace {

template <typename T>
std::unique_ptr<const Balancer> Make(const BalancerInput& input, const Balancer*) {
  return std::make_unique<T>(input.candidates);
}

std::unique_ptr<const Balancer> MakeMaglev(const BalancerInput& input, const Balancer* previous) {
  return std::make_unique<Maglev>(input, previous);
}

constexpr absl::string_view kRoundRobinAliases[] = {"round_robin"};
constexpr absl::string_view kWeightedAliases[] = {"weighted_round_robin"};
constexpr absl::string_view kLeastAliases[] = {"LC"};
constexpr absl::string_view kPowerAliases[] = {"power_of_two"};

// The one table of algorithms.
const AlgorithmInfo kAlgorithms[] = {
    // algorithm, name, aliases, uses_weights, needs_key, draws_by_request_key, needs_load,
    // slow_start, make
    {Algorithm::kRoundRobin, "RR", kRoundRobinAliases, false, false, false, false, true,
     Make<RoundRobin>},
    {Algorithm::kWeightedRoundRobin, "WRR", kWeightedAliases, true, false, false, false, true,
     Make<SmoothWeighted>},
    {Algorithm::kLeastConnections, "least_connections", kLeastAliases, true, false, false, true,
     true, Make<LeastConnections>},
    {Algorithm::kPowerOfTwo, "p2c", kPowerAliases, true, false, true, true, true, Make<PowerOfTwo>},
    {Algorithm::kRandom, "random", {}, true, false, false, false, true, Make<WeightedRandom>},
    {Algorithm::kMaglev, "maglev", {}, true, true, false, false, false, MakeMaglev},
};

std::string ValidNames() {
  std::vector<std::string> names;
  for (const AlgorithmInfo& info : kAlgorithms) {
    std::string name(info.name);
    if (!info.aliases.empty()) absl::StrAppend(&name, " (", absl::StrJoin(info.aliases, ", "), ")");
    names.push_back(std::move(name));
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

std::span<const AlgorithmInfo> Algorithms() { return kAlgorithms; }

const AlgorithmInfo& Describe(Algorithm algorithm) {
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (info.algorithm == algorithm) return info;
  }
  return kAlgorithms[0];  // unreachable: every enumerator is in the table
}

absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view text) {
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (absl::EqualsIgnoreCase(text, info.name)) return info.algorithm;
    for (absl::string_view alias : info.aliases) {
      if (absl::EqualsIgnoreCase(text, alias)) return info.algorithm;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown algorithm ", text::Quote(text), " (valid: ", ValidNames(), ")"));
}

absl::string_view AlgorithmName(Algorithm algorithm) { return Describe(algorithm).name; }

absl::StatusOr<HashKey> ParseHashKey(absl::string_view text) {
  if (absl::EqualsIgnoreCase(text, "source_ip")) return HashKey{};
  if (absl::EqualsIgnoreCase(text, "source_ip_port")) {
    return HashKey{.source = HashKey::Source::kSourceIpPort, .name = ""};
  }
  for (const auto& [prefix, source] : {std::pair{"header:", HashKey::Source::kHeader},
                                       std::pair{"cookie:", HashKey::Source::kCookie}}) {
    if (text.size() < 7 || !absl::EqualsIgnoreCase(text.substr(0, 7), prefix)) continue;
    const absl::string_view name = text.substr(7);
    if (name.size() > 64 || !http::IsToken(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hash ", text::Quote(text), ": ", text::Quote(name),
          " is not a field or cookie name (valid: a token of 1-64 characters, like x-user-id)"));
    }
    return HashKey{.source = source,
                   .name = source == HashKey::Source::kHeader ? absl::AsciiStrToLower(name)
                                                              : std::string(name)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown hash ", text::Quote(text),
                   " (valid: source_ip, source_ip_port, header:NAME, cookie:NAME)"));
}

std::string HashKeyName(const HashKey& key) {
  switch (key.source) {
    case HashKey::Source::kSourceIp:
      return "source_ip";
    case HashKey::Source::kSourceIpPort:
      return "source_ip_port";
    case HashKey::Source::kHeader:
      return absl::StrCat("header:", key.name);
    case HashKey::Source::kCookie:
      return absl::StrCat("cookie:", key.name);
  }
  return "source_ip";
}

absl::Status ValidateWeight(int64_t weight) {
  if (weight < kMinWeight || weight > kMaxWeight) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight ", weight, " is out of range (valid: ", kMinWeight, "-", kMaxWeight, ")"));
  }
  return absl::OkStatus();
}

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

absl::Status ValidateMaglevTableSize(uint64_t size) {
  if (size < kMinMaglevTableSize || size > kMaxMaglevTableSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maglev_table_size ", size, " is out of range (valid: a prime from ", kMinMaglevTableSize,
        " to ", kMaxMaglevTableSize, "; the default is ", kDefaultMaglevTableSize, ")"));
  }
  if (IsPrime(size)) return absl::OkStatus();
  uint64_t below = size - 1;
  while (below >= kMinMaglevTableSize && !IsPrime(below)) --below;
  uint64_t above = size + 1;
  while (!IsPrime(above)) ++above;
  // The largest size allowed is a prime, so `above` is always within range.
  const std::string nearest = below >= kMinMaglevTableSize
                                  ? absl::StrCat("the nearest primes are ", below, " and ", above)
                                  : absl::StrCat("the nearest prime is ", above);
  return absl::InvalidArgumentError(
      absl::StrCat("maglev_table_size ", size, " is not a prime (", nearest,
                   "): a prime size lets every backend's sequence reach every entry"));
}

}  // namespace plby::balance
