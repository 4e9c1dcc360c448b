#include "balance/maglev.h"

#include <algorithm>
#include <numeric>

#include "balance/eligible_set.h"
#include "balance/hash.h"

namespace plby::balance {

MaglevTable::MaglevTable(Members members, uint64_t size)
    : members_(std::move(members)), entries_(size, kNoBackend) {
  const size_t n = members_.size();
  std::vector<uint64_t> offset(n), skip(n), next(n, 0);
  for (size_t i = 0; i < n; ++i) {
    offset[i] = StableHash(members_[i].first, 0) % size;
    skip[i] = StableHash(members_[i].first, 1) % (size - 1) + 1;
  }
  uint64_t filled = 0;
  while (filled < size) {
    for (size_t i = 0; i < n && filled < size; ++i) {
      for (int64_t turn = 0; turn < members_[i].second && filled < size; ++turn) {
        // The next free entry along member i's permutation; it covers the whole table.
        uint64_t entry = (offset[i] + next[i] * skip[i]) % size;
        while (entries_[entry] != kNoBackend) {
          ++next[i];
          entry = (offset[i] + next[i] * skip[i]) % size;
        }
        entries_[entry] = static_cast<uint32_t>(i);
        ++next[i];
        ++filled;
      }
    }
  }
}

Maglev::Maglev(const BalancerInput& input, const Balancer* previous)
    : eligible_(input.candidates.size()) {
  const auto& candidates = input.candidates;
  std::vector<uint32_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return candidates[a].identity < candidates[b].identity;
  });
  MaglevTable::Members members;
  members.reserve(order.size());
  for (uint32_t i : order) {
    members.emplace_back(std::string(candidates[i].identity), candidates[i].weight);
    eligible_[i] = candidates[i].eligible;
    if (candidates[i].eligible) eligible_by_identity_.push_back(i);
  }
  candidate_of_member_ = std::move(order);
  if (const auto* before = dynamic_cast<const Maglev*>(previous);
      before != nullptr && before->table_->size() == input.maglev_table_size &&
      before->table_->members() == members) {
    table_ = before->table_;
  } else {
    table_ = std::make_shared<const MaglevTable>(std::move(members), input.maglev_table_size);
  }
}

uint32_t Maglev::Pick(const PickRequest& request) const {
  const MaglevTable& table = *table_;
  for (uint64_t probe = 0; probe < kMaxProbes; ++probe) {
    const uint32_t candidate =
        candidate_of_member_[table.at(Mix(request.key, probe) % table.size())];
    if (eligible_[candidate] && !WasTried(request.tried, candidate)) return candidate;
  }
  const size_t n = eligible_by_identity_.size();
  for (size_t step = 0; step < n; ++step) {
    const uint32_t candidate = eligible_by_identity_[(request.key + step) % n];
    if (!WasTried(request.tried, candidate)) return candidate;
  }
  return kNoBackend;
}

std::vector<uint32_t> Maglev::TableEntries() const {
  std::vector<uint32_t> entries(candidate_of_member_.size(), 0);
  for (uint64_t e = 0; e < table_->size(); ++e) ++entries[candidate_of_member_[table_->at(e)]];
  return entries;
}

}  // namespace plby::balance
