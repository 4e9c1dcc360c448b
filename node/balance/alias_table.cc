#include "balance/alias_table.h"

#include <numeric>

namespace plby::balance {

AliasTable::AliasTable(std::span<const int64_t> weights) : columns_(weights.size()) {
  const size_t n = weights.size();
  const long double total = std::accumulate(weights.begin(), weights.end(), 0.0L);
  // Each column's share scaled so that the average is 1.
  std::vector<long double> scaled(n);
  std::vector<uint32_t> small, large;
  for (size_t i = 0; i < n; ++i) {
    scaled[i] = static_cast<long double>(weights[i]) * static_cast<long double>(n) / total;
    (scaled[i] < 1.0L ? small : large).push_back(static_cast<uint32_t>(i));
  }
  constexpr long double kOne = 4294967296.0L;  // 2^32
  const auto keep_of = [&](long double share) {
    const long double keep = share * kOne;
    return keep >= kOne - 1 ? uint32_t{0xffffffffu} : static_cast<uint32_t>(keep);
  };
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back();
    small.pop_back();
    const uint32_t l = large.back();
    columns_[s] = {keep_of(scaled[s]), l};
    scaled[l] -= 1.0L - scaled[s];
    if (scaled[l] < 1.0L) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left is 1 up to rounding: always itself.
  for (uint32_t i : large) columns_[i] = {0xffffffffu, i};
  for (uint32_t i : small) columns_[i] = {0xffffffffu, i};
}

}  // namespace plby::balance
