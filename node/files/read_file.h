// Reading a whole file plby was given by name (a config, a state or desired-state file, a
// certificate, key, CA bundle or ticket key file): the one copy of the rule that it is a regular
// file (not a device, a pipe or a directory: /dev/zero would never end, a FIFO could block for
// ever) of at most a stated size, read in memory bounded by that size.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace plby::files {

// Config, state and desired-state files: far above any real one (10,000 backends take ~500 KB).
inline constexpr size_t kMaxConfigBytes = size_t{64} << 20;
// Certificates, keys, CA bundles, ticket key files.
inline constexpr size_t kMaxPemBytes = size_t{1} << 20;

// The file's bytes. On failure the message is the reason alone, for the caller to put after
// the file's name and role: strerror's text ("No such file or directory"; NOT_FOUND when it
// does not exist, the errno's code otherwise), "not a regular file (a character device)"
// (FAILED_PRECONDITION), or "larger than 64 MiB (70000000 bytes)" (FAILED_PRECONDITION, also
// when it grows past the limit while being read).
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes);

// "64 MiB", "1 MiB", "512 KiB", "100 bytes": a limit as messages say it.
std::string SizeText(size_t bytes);

}  // namespace plby::files
