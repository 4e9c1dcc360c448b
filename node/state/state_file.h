// The state file: the backend pools as the control plane left them, kept on disk so that a
// change plbyctl reported as done survives SIGKILL and power loss.
//
// Every acknowledged change rewrites the whole file (it is small) durably before the call
// returns: write a temporary file, fsync it, rename it over the old one, fsync the directory.
// At start, pools found in the file take their backends and version from it, over config.toml.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "balance/settings.h"

namespace plby::state {

struct BackendRecord {
  std::string address;  // canonical HOST:PORT
  int64_t weight = 1;
  bool draining = false;
};

struct PoolRecord {
  std::string name;
  uint64_t version = 1;
  std::vector<BackendRecord> backends;
  // How the pool balances, once the control service set it (UpdatePool); until then the
  // config's settings apply.
  std::optional<balance::Settings> balance;
};

struct State {
  std::vector<PoolRecord> pools;
  // Entries left out when the file was read, each with its place and why (see ParseState).
  std::vector<std::string> warnings;
  const PoolRecord* Find(absl::string_view name) const;
};

// The file's text (TOML).
std::string FormatState(const State& state);

// Parses and checks the file's text. A file that is not a plby state file (TOML syntax, an
// unknown key, a missing or mistyped field, a bad version or format) is an error with
// file:line:column, as for config.toml: it is refused whole, never silently ignored. A
// well-formed backend entry whose values the node would refuse today (an address outside the
// grammar, a weight out of range, the same address twice) is left out of its pool with a
// warning instead: data the control API accepted once must never stop a restart. The next
// change the node saves writes the file without it.
absl::StatusOr<State> ParseState(absl::string_view text, absl::string_view source_name);

// Reads `path`: nullopt when it does not exist yet (first start), an error when it cannot be
// read or does not parse. Never silently empty.
absl::StatusOr<std::optional<State>> ReadStateFile(const std::string& path);

// Writes `text` to `path` durably and atomically (see the file comment).
absl::Status WriteFileDurably(const std::string& path, absl::string_view text);

// The state file of a running node: what was last saved for every pool.
class StateFile {
 public:
  // Checks that `path`'s directory is writable now, so that a node that cannot save its
  // changes fails at start rather than on the first change.
  static absl::StatusOr<std::unique_ptr<StateFile>> Open(std::string path, State initial);

  // Records `pool`'s new state and writes the file, before returning. On error the file and
  // the recorded state stay as they were.
  absl::Status Save(const PoolRecord& pool);

  const std::string& path() const { return path_; }

 private:
  StateFile(std::string path, State initial) : path_(std::move(path)), state_(std::move(initial)) {}

  const std::string path_;
  std::mutex mutex_;  // one writer at a time: pools change independently, the file is one
  State state_;       // guarded by mutex_
};

}  // namespace plby::state
