// EventLoop: one epoll set driven by one thread, with deadlines and deferred work.
//
// Ownership: the loop owns its epoll and wakeup descriptors only. It never owns the handlers,
// timers or deferred tasks registered with it; their owners keep them alive while registered.
// Everything except Post() and Stop() must be called from the loop's own thread.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "net/unique_fd.h"

namespace plby::net {

// Milliseconds on the monotonic clock: the time base of loops, timers and deadlines.
int64_t MonotonicMs();

// Receives the epoll events of one descriptor.
class EventHandler {
 public:
  virtual void OnEvents(uint32_t events) = 0;

 protected:
  ~EventHandler() = default;
};

class TimerHandler {
 public:
  virtual void OnTimer() = 0;

 protected:
  ~TimerHandler() = default;
};

// Work that must run after the current batch of events: finishing a transfer that used up its
// turn, or releasing an object that events later in the same batch may still point to.
class DeferredTask {
 public:
  virtual void RunDeferred() = 0;

 protected:
  ~DeferredTask() = default;
};

// A one-shot deadline, embedded in its owner. It must be cancelled before the owner goes away.
class Timer {
 public:
  explicit Timer(TimerHandler* handler) : handler_(handler) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const { return heap_index_ != kNotArmed; }

 private:
  friend class EventLoop;
  static constexpr size_t kNotArmed = std::numeric_limits<size_t>::max();

  TimerHandler* handler_;
  int64_t deadline_ms_ = 0;
  size_t heap_index_ = kNotArmed;
};

class EventLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();

  // epoll_ctl wrappers. `handler` receives the events until the descriptor is removed or closed.
  absl::Status Add(int fd, uint32_t events, EventHandler* handler);
  absl::Status Modify(int fd, uint32_t events, EventHandler* handler);
  void Remove(int fd);

  // Milliseconds on the monotonic clock, read once per loop iteration.
  int64_t now_ms() const { return now_ms_; }

  // Arms (or re-arms) `timer` to fire `delay_ms` from now.
  void ArmTimer(Timer& timer, int64_t delay_ms);
  void CancelTimer(Timer& timer);

  // Runs `task` after the events of the current iteration have been handled.
  void Defer(DeferredTask* task) { deferred_.push_back(task); }

  // Runs until Stop(). Returns an error only if epoll itself fails.
  absl::Status Run();

  // Thread-safe: run `fn` on the loop's thread, soon. For the control path, not per packet.
  void Post(absl::AnyInvocable<void()> fn);
  // Thread-safe: makes Run() return after the current iteration.
  void Stop();

 private:
  class Wakeup;

  EventLoop(UniqueFd epoll, UniqueFd wakeup);
  void RunPosted();
  void RunExpiredTimers();
  int NextTimeoutMs() const;
  void SiftUp(size_t index);
  void SiftDown(size_t index);
  void PlaceAt(size_t index, Timer* timer);
  void RemoveFromHeap(Timer& timer);

  UniqueFd epoll_fd_;
  UniqueFd wakeup_fd_;
  std::unique_ptr<Wakeup> wakeup_handler_;
  int64_t now_ms_;
  std::vector<Timer*> timers_;  // a binary min-heap on deadline
  std::vector<DeferredTask*> deferred_;
  std::vector<DeferredTask*> running_deferred_;

  std::atomic<bool> stopping_{false};
  std::mutex posted_mutex_;
  std::vector<absl::AnyInvocable<void()>> posted_;  // guarded by posted_mutex_
};

}  // namespace plby::net
