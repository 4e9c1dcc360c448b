// SnapshotCell: the one place a published immutable value is swapped and copied across threads.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <utility>

namespace plby::pool {

// One published immutable value that a writer replaces while any thread copies it: what
// std::atomic<std::shared_ptr<T>> is for. libstdc++ 12 (Debian 12's) implements that with a lock
// bit in the control-block word but releases it with memory_order_relaxed after a load, so a
// load's read of the object pointer is not ordered before the next store's write of it.
// ThreadSanitizer reports the race (google/sanitizers#1558), and on a weakly ordered CPU the load
// could pair the new object pointer with the old control block. This cell takes the same kind of
// one-word lock for the same few instructions (a pointer copy and a reference-count increment)
// and releases it with release order, so every load and store is ordered. No allocation.
template <typename T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::shared_ptr<T> initial = nullptr) : value_(std::move(initial)) {}
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;

  std::shared_ptr<T> Load() const {
    Lock();
    std::shared_ptr<T> copy = value_;
    Unlock();
    return copy;
  }

  void Store(std::shared_ptr<T> next) {
    Lock();
    value_.swap(next);
    Unlock();
    // `next` now holds the previous value; dropping the last reference to it (which may free a
    // whole snapshot) happens here, outside the lock.
  }

 private:
  void Lock() const {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
      // Held for a few instructions; yield only if its holder was preempted.
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64) std::this_thread::yield();
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  void Unlock() const { locked_.store(false, std::memory_order_release); }

  mutable std::atomic<bool> locked_{false};
  std::shared_ptr<T> value_;  // guarded by locked_
};

}  // namespace plby::pool
