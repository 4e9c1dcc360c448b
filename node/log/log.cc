#include "log/log.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "json/json_writer.h"
#include "text/quote.h"

namespace plby::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};

}  // namespace

absl::StatusOr<Level> ParseLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "debug") return Level::kDebug;
  if (lower == "info") return Level::kInfo;
  if (lower == "warn" || lower == "warning") return Level::kWarn;
  if (lower == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level ", text::Quote(text), " (valid: debug, info, warn, error)"));
}

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

absl::StatusOr<Format> ParseFormat(absl::string_view text) {
  if (text == "text") return Format::kText;
  if (text == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log format ", text::Quote(text), " (valid: text, json)"));
}

void SetFormat(Format format) { g_format.store(format, std::memory_order_relaxed); }

void SetLevel(Level level) { g_level.store(level, std::memory_order_relaxed); }

bool Enabled(Level level) {
  return static_cast<int>(level) >= static_cast<int>(g_level.load(std::memory_order_relaxed));
}

std::string NowUtc() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                         utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000);
}

void Write(Level level, absl::string_view message) {
  const std::string time = NowUtc();
  std::string line;
  if (g_format.load(std::memory_order_relaxed) == Format::kJson) {
    json::JsonWriter json;
    json.BeginObject()
        .Key("time")
        .String(time)
        .Key("level")
        .String(LevelName(level))
        .Key("msg")
        .String(message)
        .EndObject();
    line = absl::StrCat(json.text(), "\n");
  } else {
    line = absl::StrFormat("%s %-5s %s\n", time, LevelName(level), message);
  }
  WriteLine(line);
}

void WriteLine(absl::string_view line) {
  // One write per line keeps concurrent lines whole; a full or closed stderr must not stop the
  // node, so short writes and errors are dropped after a retry on EINTR.
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace plby::log
