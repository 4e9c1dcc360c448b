// LogRateLimit: lets one message of a kind (or a few) through per interval and counts the ones
// it held back, so a dead backend or an exhausted fd table cannot flood the log. One per thread.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace plby::log {

class LogRateLimit {
 public:
  // At most `burst` messages per `interval_ms`.
  explicit LogRateLimit(int64_t interval_ms, uint32_t burst = 1)
      : interval_ms_(interval_ms), burst_(burst) {}

  // True when a message may be written now; `*suppressed` gets how many were held back since.
  bool Allow(int64_t now_ms, uint64_t* suppressed) {
    if (window_start_ms_ == kNever || now_ms - window_start_ms_ >= interval_ms_) {
      window_start_ms_ = now_ms;
      allowed_ = 0;
    }
    if (allowed_ == burst_) {
      ++suppressed_;
      return false;
    }
    ++allowed_;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  static constexpr int64_t kNever = INT64_MIN;
  int64_t interval_ms_;
  uint32_t burst_;
  int64_t window_start_ms_ = kNever;
  uint32_t allowed_ = 0;  // in the current window
  uint64_t suppressed_ = 0;
};

// " (N similar messages suppressed)" after a message that was let through, or nothing.
inline std::string SuppressedSuffix(uint64_t suppressed) {
  return suppressed > 0 ? absl::StrCat(" (", suppressed, " similar messages suppressed)") : "";
}

}  // namespace plby::log
