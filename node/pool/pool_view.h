// PoolView: one worker's view of one pool. It follows the pool's published snapshots and keeps
// each one alive while connections of this worker still use it, with a plain (non-atomic) count:
// only the worker's thread touches a view.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pool/pool.h"

namespace plby::pool {

class PoolView {
 public:
  // A snapshot and how many of this worker's connections use it.
  struct SnapshotRef {
    std::shared_ptr<const PoolSnapshot> snapshot;
    uint32_t users = 0;
  };

  explicit PoolView(Pool& pool);
  PoolView(const PoolView&) = delete;
  PoolView& operator=(const PoolView&) = delete;

  Pool& pool() const { return pool_; }

  // The snapshot for a new connection (the pool's latest), with its user count taken.
  SnapshotRef* Acquire();
  // Gives back what Acquire() returned; the last user of an outdated snapshot drops it.
  void Release(SnapshotRef* ref);

 private:
  Pool& pool_;
  std::unique_ptr<SnapshotRef> current_;
  std::vector<std::unique_ptr<SnapshotRef>> retired_;  // outdated, still in use
};

}  // namespace plby::pool
