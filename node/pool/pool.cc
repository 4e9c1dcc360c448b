#include "pool/pool.h"

namespace plby::pool {

Pool::Pool(PoolSettings settings, std::vector<Backend> backends)
    : settings_(std::move(settings)),
      snapshot_(std::make_shared<const PoolSnapshot>(1, settings_.algorithm, std::move(backends))),
      version_(1) {}

std::shared_ptr<const PoolSnapshot> Pool::Publish(std::vector<Backend> backends) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  const uint64_t version = version_.load(std::memory_order_relaxed) + 1;
  auto next =
      std::make_shared<const PoolSnapshot>(version, settings_.algorithm, std::move(backends));
  // Snapshot first, version second: a reader that sees the new version finds the new snapshot.
  snapshot_.store(next, std::memory_order_release);
  version_.store(version, std::memory_order_release);
  return next;
}

}  // namespace plby::pool
