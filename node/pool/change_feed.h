// ChangeFeed: lets watchers (control-plane streams) sleep until some pool changes. Writers bump a
// generation number; a watcher remembers the last one it saw and waits for a newer one. Only the
// control path uses it; workers never touch it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/time/time.h"

namespace plby::pool {

class ChangeFeed {
 public:
  uint64_t generation() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return generation_;
  }

  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++generation_;
    }
    changed_.notify_all();
  }

  // Waits until the generation passes `seen`, the feed is closed, or `timeout` runs out.
  // Returns the generation then.
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [&] { return generation_ != seen || closed_; });
    return generation_;
  }

  // Wakes every watcher for good (the node is stopping).
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    changed_.notify_all();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  uint64_t generation_ = 0;  // guarded by mutex_
  bool closed_ = false;      // guarded by mutex_
};

}  // namespace plby::pool
