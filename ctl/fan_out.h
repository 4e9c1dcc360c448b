// Fan-out: a command runs on many nodes at once, but on at most --concurrency at a time, so
// that 1000 nodes do not open 1000 channels (and threads) at once. On a terminal, a fan-out
// that takes more than a moment shows its progress on stderr.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace plby::ctl {

// "applied 340/1000 nodes, 2 failed", redrawn in place on stderr every 100 ms once the work
// has taken half a second; cleared when it ends. Off unless `shown` (stderr is a terminal and
// the output is a table).
class Progress {
 public:
  Progress(std::string verb, size_t total, bool shown);
  ~Progress();  // clears the line

  void NodeDone(bool ok);

 private:
  void Draw();

  const std::string verb_;
  const size_t total_;
  const bool shown_;
  std::atomic<size_t> done_{0};
  std::atomic<size_t> failed_{0};
  std::mutex mutex_;
  std::condition_variable finished_changed_;
  bool finished_ = false;  // guarded by mutex_
  bool drawn_ = false;     // only the drawing thread touches it
  std::thread drawer_;
};

// Whether stderr is a terminal (a progress line is then worth drawing).
bool StderrIsTerminal();

// Runs work(i) for every i below `count`, on at most `concurrency` threads, and waits for all.
void ForEachNode(size_t count, int concurrency, const std::function<void(size_t)>& work);

}  // namespace plby::ctl
