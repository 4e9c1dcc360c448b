#include "pool/pool.h"

#include "absl/strings/str_cat.h"

namespace plby::pool {

Pool::Pool(PoolSettings settings, std::vector<Backend> backends, ChangeFeed* changes)
    : settings_(std::move(settings)),
      changes_(changes),
      snapshot_(std::make_shared<const PoolSnapshot>(1, settings_.algorithm, std::move(backends))),
      version_(1) {}

absl::StatusOr<std::shared_ptr<const PoolSnapshot>> Pool::Update(
    std::optional<uint64_t> expected_version, Edit edit, Commit commit) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  std::shared_ptr<const PoolSnapshot> current = snapshot_.load(std::memory_order_relaxed);
  if (expected_version && *expected_version != current->version()) {
    return absl::AbortedError(absl::StrCat("pool \"", settings_.name, "\" is at version ",
                                           current->version(), ", not the expected version ",
                                           *expected_version,
                                           ": someone else changed it; read it again and retry"));
  }
  std::vector<Backend> backends = current->backends();
  absl::StatusOr<bool> changed = edit(backends);
  if (!changed.ok()) return changed.status();
  if (!*changed) return current;
  if (absl::Status committed = commit(backends, current->version() + 1); !committed.ok()) {
    return committed;
  }
  return PublishLocked(std::move(backends));
}

std::shared_ptr<const PoolSnapshot> Pool::Publish(std::vector<Backend> backends) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  return PublishLocked(std::move(backends));
}

std::shared_ptr<const PoolSnapshot> Pool::PublishLocked(std::vector<Backend> backends) {
  const uint64_t version = version_.load(std::memory_order_relaxed) + 1;
  auto next =
      std::make_shared<const PoolSnapshot>(version, settings_.algorithm, std::move(backends));
  // Snapshot first, version second: a reader that sees the new version finds the new snapshot.
  snapshot_.store(next, std::memory_order_release);
  version_.store(version, std::memory_order_release);
  if (changes_ != nullptr) changes_->Notify();
  return next;
}

}  // namespace plby::pool
