// LogRateLimit: lets one message of a kind through per interval and counts the ones it held
// back, so a dead backend or an exhausted fd table cannot flood the log. One per thread.
#pragma once

#include <cstdint>

namespace plby::log {

class LogRateLimit {
 public:
  explicit LogRateLimit(int64_t interval_ms) : interval_ms_(interval_ms) {}

  // True when a message may be written now; `*suppressed` gets how many were held back since.
  bool Allow(int64_t now_ms, uint64_t* suppressed) {
    if (last_ms_ != kNever && now_ms - last_ms_ < interval_ms_) {
      ++suppressed_;
      return false;
    }
    last_ms_ = now_ms;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  static constexpr int64_t kNever = INT64_MIN;
  int64_t interval_ms_;
  int64_t last_ms_ = kNever;
  uint64_t suppressed_ = 0;
};

}  // namespace plby::log
