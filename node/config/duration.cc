#include "config/duration.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "text/quote.h"

namespace plby::config {

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration ", text::Quote(text),
                     " (valid: a whole number and a unit, ms, s, m or h, "
                     "e.g. \"500ms\" or \"3s\")"));
  };
  int64_t amount = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), amount);
  if (ec != std::errc() || end == text.data() || amount < 0) return invalid();
  const absl::string_view unit(end, text.data() + text.size() - end);
  if (unit == "ms") return absl::Milliseconds(amount);
  if (unit == "s") return absl::Seconds(amount);
  if (unit == "m") return absl::Minutes(amount);
  if (unit == "h") return absl::Hours(amount);
  return invalid();
}

}  // namespace plby::config
