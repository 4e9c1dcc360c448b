// Plan: the changes that make a node's pool what a file of desired pools says. Pure: from what
// the node reported to a list of calls to make, each with what it changes from and to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "balance/settings.h"
#include "config/config.h"
#include "plby/v1/control.pb.h"

namespace plby::ctl {

// A pool as a node reported it.
struct ObservedPool {
  struct Backend {
    std::string address;  // canonical HOST:PORT
    int64_t weight = 1;
    bool draining = false;
  };
  std::string name;
  uint64_t version = 0;
  balance::Settings balance;
  std::vector<Backend> backends;
  std::string discover_dns;  // set: the node takes this pool's backends from DNS
};

// From GetStatus's summary of the pool and ListBackends' answer.
ObservedPool ObservedFromWire(const v1::PoolSummary& summary, const v1::ListBackendsResponse& list);

enum class ChangeKind { kSetBalance, kAdd, kSetWeight, kDrain, kUndrain, kRemove };
// "set balance", "add", "set weight", "drain", "undrain", "remove".
const char* ChangeName(ChangeKind kind);

struct PlannedChange {
  ChangeKind kind = ChangeKind::kAdd;
  std::string pool;
  std::string backend;        // empty for kSetBalance
  std::string from;           // as the node has it ("weight 2"); empty for an add
  std::string to;             // as the file has it; empty for a remove
  int64_t weight = 1;         // kAdd, kSetWeight
  balance::Settings balance;  // kSetBalance: all of the file's settings, in one call
};

// The changes, in the order they are to be made: the balance settings, then adds (so that the
// pool never runs dry midway), weights and drains, then removes. A backend the file lists with
// `draining` unset keeps the drain state the node has (an operator's `backends drain` is left
// alone); every other difference is planned away. A pool that discovers its backends in DNS
// (in the file or on the node) gets its balancing planned only: its backends are DNS's. The
// hash settings count only for an algorithm that hashes. Empty when the pool matches.
std::vector<PlannedChange> PlanPool(const config::PoolConfig& desired,
                                    const ObservedPool& observed);

}  // namespace plby::ctl
