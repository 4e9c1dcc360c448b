#include "pool/pool_view.h"

#include <algorithm>

namespace plby::pool {

PoolView::PoolView(Pool& pool)
    : pool_(pool), current_(std::make_unique<SnapshotRef>(SnapshotRef{pool.snapshot(), 0})) {}

PoolView::SnapshotRef* PoolView::Acquire() {
  if (pool_.generation() != current_->snapshot->generation()) {
    std::shared_ptr<const PoolSnapshot> latest = pool_.snapshot();
    if (current_->users == 0) {
      current_->snapshot = std::move(latest);
    } else {
      retired_.push_back(std::move(current_));
      current_ = std::make_unique<SnapshotRef>(SnapshotRef{std::move(latest), 0});
    }
  }
  ++current_->users;
  return current_.get();
}

void PoolView::Release(SnapshotRef* ref) {
  if (--ref->users > 0 || ref == current_.get()) return;
  std::erase_if(retired_, [ref](const std::unique_ptr<SnapshotRef>& r) { return r.get() == ref; });
}

}  // namespace plby::pool
