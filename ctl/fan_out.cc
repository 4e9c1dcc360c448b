#include "fan_out.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"

namespace plby::ctl {

Progress::Progress(std::string verb, size_t total, bool shown)
    : verb_(std::move(verb)), total_(total), shown_(shown) {
  if (!shown_) return;
  drawer_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    // A fan-out that ends within half a second draws nothing.
    if (finished_changed_.wait_for(lock, std::chrono::milliseconds(500),
                                   [this] { return finished_; })) {
      return;
    }
    do {
      Draw();
    } while (!finished_changed_.wait_for(lock, std::chrono::milliseconds(100),
                                         [this] { return finished_; }));
    if (drawn_) std::fputs("\r\033[K", stderr);  // leave the line clean for what follows
    std::fflush(stderr);
  });
}

Progress::~Progress() {
  if (!shown_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  finished_changed_.notify_all();
  drawer_.join();
}

void Progress::NodeDone(bool ok) {
  if (!ok) failed_.fetch_add(1, std::memory_order_relaxed);
  done_.fetch_add(1, std::memory_order_relaxed);
}

void Progress::Draw() {
  const size_t failed = failed_.load(std::memory_order_relaxed);
  const std::string line =
      absl::StrCat("\r\033[K", verb_, " ", done_.load(std::memory_order_relaxed), "/", total_,
                   " nodes", failed > 0 ? absl::StrCat(", ", failed, " failed") : "");
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

void ForEachNode(size_t count, int concurrency, const std::function<void(size_t)>& work) {
  std::atomic<size_t> next{0};
  const size_t threads = std::min(count, static_cast<size_t>(std::max(1, concurrency)));
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) work(i);
    });
  }
  for (std::thread& thread : pool) thread.join();
}

}  // namespace plby::ctl
