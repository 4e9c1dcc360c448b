#include "balance/algorithm.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "text/quote.h"

namespace plby::balance {

absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(text);
  if (upper == "RR") return Algorithm::kRoundRobin;
  if (upper == "WRR") return Algorithm::kWeightedRoundRobin;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown algorithm ", text::Quote(text), " (valid: RR, WRR)"));
}

absl::string_view AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kRoundRobin:
      return "RR";
    case Algorithm::kWeightedRoundRobin:
      return "WRR";
  }
  return "?";
}

absl::Status ValidateWeight(int64_t weight) {
  if (weight < kMinWeight || weight > kMaxWeight) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight ", weight, " is out of range (valid: ", kMinWeight, "-", kMaxWeight, ")"));
  }
  return absl::OkStatus();
}

}  // namespace plby::balance
