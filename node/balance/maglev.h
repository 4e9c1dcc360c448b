// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI 2016), weighted. See balancer.h for what it promises.
//
// The table: backends are ordered by identity (their canonical address); backend i starts at
// offset_i = StableHash(identity, 0) mod M and steps by skip_i = StableHash(identity, 1) mod
// (M - 1) + 1 (M prime, so the steps visit every entry); in each round every backend in that
// order claims `weight` entries, each the next free one along its own steps, until the table is
// full. A key k probes entries Mix(k, 0) mod M, Mix(k, 1) mod M, ... and takes the first whose
// backend is eligible and untried (after kMaxProbes, the eligible backends in identity order
// from k mod n).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "balance/balancer.h"

namespace plby::balance {

class MaglevTable {
 public:
  // (identity, weight) pairs; built off the data path.
  using Members = std::vector<std::pair<std::string, int64_t>>;

  // `members` sorted by identity, distinct; `size` prime.
  MaglevTable(Members members, uint64_t size);

  const Members& members() const { return members_; }
  uint64_t size() const { return entries_.size(); }
  // The member (index into members()) that holds `entry`.
  uint32_t at(uint64_t entry) const { return entries_[entry]; }

 private:
  Members members_;
  std::vector<uint32_t> entries_;
};

class Maglev final : public Balancer {
 public:
  // Probes along a key's sequence before falling back to the eligible list.
  static constexpr int kMaxProbes = 64;

  // Reuses `previous`'s table when it was built over the same members and size.
  Maglev(const BalancerInput& input, const Balancer* previous);

  uint32_t Pick(const PickRequest& request) const override;
  std::vector<uint32_t> TableEntries() const override;

  const MaglevTable& table() const { return *table_; }

 private:
  std::shared_ptr<const MaglevTable> table_;
  std::vector<uint32_t> candidate_of_member_;   // members are in identity order, candidates not
  std::vector<bool> eligible_;                  // per candidate
  std::vector<uint32_t> eligible_by_identity_;  // candidates, for the fallback
};

}  // namespace plby::balance
