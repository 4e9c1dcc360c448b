#include "net/event_loop.h"

#include <sys/eventfd.h>
#include <time.h>

#include <cerrno>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"

namespace plby::net {

class EventLoop::Wakeup final : public EventHandler {
 public:
  explicit Wakeup(EventLoop* loop) : loop_(loop) {}
  void OnEvents(uint32_t) override {
    uint64_t count = 0;
    while (::read(loop_->wakeup_fd_.get(), &count, sizeof(count)) < 0 && errno == EINTR) {
    }
    loop_->RunPosted();
  }

 private:
  EventLoop* loop_;
};

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return absl::ErrnoToStatus(errno, "epoll_create1");
  UniqueFd wakeup(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeup) return absl::ErrnoToStatus(errno, "eventfd");
  std::unique_ptr<EventLoop> loop =
      absl::WrapUnique(new EventLoop(std::move(epoll), std::move(wakeup)));
  if (auto s = loop->Add(loop->wakeup_fd_.get(), EPOLLIN, loop->wakeup_handler_.get()); !s.ok()) {
    return s;
  }
  return loop;
}

EventLoop::EventLoop(UniqueFd epoll, UniqueFd wakeup)
    : epoll_fd_(std::move(epoll)),
      wakeup_fd_(std::move(wakeup)),
      wakeup_handler_(std::make_unique<Wakeup>(this)),
      now_ms_(MonotonicMs()) {}

EventLoop::~EventLoop() = default;

absl::Status EventLoop::Add(int fd, uint32_t events, EventHandler* handler) {
  epoll_event event{.events = events, .data = {.ptr = handler}};
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl(ADD)");
  }
  return absl::OkStatus();
}

absl::Status EventLoop::Modify(int fd, uint32_t events, EventHandler* handler) {
  epoll_event event{.events = events, .data = {.ptr = handler}};
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl(MOD)");
  }
  return absl::OkStatus();
}

void EventLoop::Remove(int fd) { epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int64_t MonotonicMs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

void EventLoop::ArmTimer(Timer& timer, int64_t delay_ms) {
  if (timer.armed()) RemoveFromHeap(timer);
  timer.deadline_ms_ = now_ms_ + delay_ms;
  timers_.push_back(&timer);
  timer.heap_index_ = timers_.size() - 1;
  SiftUp(timer.heap_index_);
}

void EventLoop::CancelTimer(Timer& timer) {
  if (timer.armed()) RemoveFromHeap(timer);
}

void EventLoop::PlaceAt(size_t index, Timer* timer) {
  timers_[index] = timer;
  timer->heap_index_ = index;
}

void EventLoop::SiftUp(size_t index) {
  Timer* moving = timers_[index];
  while (index > 0) {
    const size_t parent = (index - 1) / 2;
    if (timers_[parent]->deadline_ms_ <= moving->deadline_ms_) break;
    PlaceAt(index, timers_[parent]);
    index = parent;
  }
  PlaceAt(index, moving);
}

void EventLoop::SiftDown(size_t index) {
  Timer* moving = timers_[index];
  const size_t size = timers_.size();
  while (true) {
    size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && timers_[child + 1]->deadline_ms_ < timers_[child]->deadline_ms_) {
      ++child;
    }
    if (moving->deadline_ms_ <= timers_[child]->deadline_ms_) break;
    PlaceAt(index, timers_[child]);
    index = child;
  }
  PlaceAt(index, moving);
}

void EventLoop::RemoveFromHeap(Timer& timer) {
  const size_t index = timer.heap_index_;
  Timer* last = timers_.back();
  timers_.pop_back();
  timer.heap_index_ = Timer::kNotArmed;
  if (last == &timer) return;
  PlaceAt(index, last);
  SiftDown(index);
  SiftUp(last->heap_index_);
}

int EventLoop::NextTimeoutMs() const {
  if (!deferred_.empty()) return 0;
  if (timers_.empty()) return -1;
  const int64_t wait = timers_.front()->deadline_ms_ - now_ms_;
  if (wait <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(wait, 60'000));
}

void EventLoop::RunExpiredTimers() {
  while (!timers_.empty() && timers_.front()->deadline_ms_ <= now_ms_) {
    Timer* timer = timers_.front();
    RemoveFromHeap(*timer);
    timer->handler_->OnTimer();
  }
}

void EventLoop::RunPosted() {
  std::vector<absl::AnyInvocable<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::Post(absl::AnyInvocable<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  while (::write(wakeup_fd_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void EventLoop::Stop() {
  stopping_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  while (::write(wakeup_fd_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

absl::Status EventLoop::Run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (!stopping_.load(std::memory_order_acquire)) {
    const int count = epoll_wait(epoll_fd_.get(), events, kMaxEvents, NextTimeoutMs());
    now_ms_ = MonotonicMs();
    if (count < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "epoll_wait");
    }
    for (int i = 0; i < count; ++i) {
      static_cast<EventHandler*>(events[i].data.ptr)->OnEvents(events[i].events);
    }
    now_ms_ = MonotonicMs();  // a long batch must not make timers late or early
    RunExpiredTimers();
    // Tasks deferred while running deferred tasks wait for the next iteration, so that a busy
    // transfer yields to the descriptors that became ready meanwhile.
    running_deferred_.swap(deferred_);
    for (DeferredTask* task : running_deferred_) task->RunDeferred();
    running_deferred_.clear();
  }
  return absl::OkStatus();
}

}  // namespace plby::net
