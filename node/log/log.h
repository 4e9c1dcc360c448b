// Leveled logging to stderr: one line per message, written with a single write(2) so lines from
// different threads never interleave. The data path logs nothing at the default level.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace plby::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Accepts "debug", "info", "warn" (or "warning") and "error", case-insensitively.
absl::StatusOr<Level> ParseLevel(absl::string_view text);
absl::string_view LevelName(Level level);

void SetLevel(Level level);
bool Enabled(Level level);

// kText: "<UTC timestamp> <level> <message>"; kJson: one object per line,
// {"time":"<UTC timestamp>","level":"<level>","msg":"<message>"}, for log pipelines.
enum class Format { kText, kJson };
// Accepts "text" and "json".
absl::StatusOr<Format> ParseFormat(absl::string_view text);
void SetFormat(Format format);

// Writes one line to stderr in the format set.
void Write(Level level, absl::string_view message);
// Writes `line` (ending in a newline) to stderr as it is, in one write(2): access logs.
void WriteLine(absl::string_view line);
// The current UTC time as logs write it: "2026-12-01T20:55:38.123Z".
std::string NowUtc();

}  // namespace plby::log

// PLBY_LOG(kInfo, "listening pool=", name, " address=", address);
// The arguments are only evaluated when the level is enabled.
#define PLBY_LOG(level, ...)                                                      \
  do {                                                                            \
    if (::plby::log::Enabled(::plby::log::Level::level)) {                        \
      ::plby::log::Write(::plby::log::Level::level, ::absl::StrCat(__VA_ARGS__)); \
    }                                                                             \
  } while (false)
