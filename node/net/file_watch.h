// FileWatch: notices changes of files by watching their directories (inotify), the way a
// Kubernetes ConfigMap volume changes: the kubelet writes a new directory and swaps the
// `..data` symlink, so the file itself is never written and a watch on it would miss it.
// Used by plbyctl reconcile (its desired pools) and the node (its certificates).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/unique_fd.h"

namespace plby::net {

class FileWatch {
 public:
  // Watches the directories that hold `paths` (each once).
  static absl::StatusOr<FileWatch> Create(const std::vector<std::string>& paths);

  // Waits up to `timeout` for anything to change in the directory (or Wake()). True when
  // something did; the events of a burst (an editor writes and renames) are taken together.
  bool Wait(absl::Duration timeout);
  // Ends a Wait early, from any thread (a stop).
  void Wake();

 private:
  FileWatch() = default;

  net::UniqueFd inotify_;
  net::UniqueFd wake_;  // an eventfd
};

}  // namespace plby::net
