#include "balance/settings.h"

#include "absl/strings/str_cat.h"

namespace plby::balance {

absl::Status CheckSlowStart(Algorithm algorithm, absl::Duration slow_start) {
  if (slow_start < absl::ZeroDuration() || slow_start > kMaxSlowStart) {
    return absl::InvalidArgumentError(absl::StrCat("slow_start ", absl::FormatDuration(slow_start),
                                                   " is out of range (valid: 0s, which is off, "
                                                   "to ",
                                                   absl::FormatDuration(kMaxSlowStart), ")"));
  }
  const AlgorithmInfo& info = Describe(algorithm);
  if (slow_start > absl::ZeroDuration() && !info.slow_start) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slow_start ", absl::FormatDuration(slow_start), " is not valid with algorithm ", info.name,
        ": ramping a backend's weight up would move keys between backends while it ramps "
        "(valid with every other algorithm)"));
  }
  return absl::OkStatus();
}

absl::Status Validate(const Settings& settings) {
  if (absl::Status slow = CheckSlowStart(settings.algorithm, settings.slow_start); !slow.ok()) {
    return slow;
  }
  return ValidateMaglevTableSize(settings.maglev_table_size);
}

std::string Summary(const Settings& settings) {
  std::string text(AlgorithmName(settings.algorithm));
  if (settings.slow_start > absl::ZeroDuration()) {
    absl::StrAppend(&text, " slow_start ", absl::FormatDuration(settings.slow_start));
  }
  if (UsesHash(settings)) absl::StrAppend(&text, " hash ", HashKeyName(settings.hash));
  if (UsesTableSize(settings)) {
    absl::StrAppend(&text, " maglev_table_size ", settings.maglev_table_size);
  }
  return text;
}

bool UsesHash(const Settings& settings) {
  const AlgorithmInfo& info = Describe(settings.algorithm);
  return info.needs_key || (info.draws_by_request_key && settings.hash.from_request());
}

bool UsesTableSize(const Settings& settings) { return Describe(settings.algorithm).needs_key; }

}  // namespace plby::balance
