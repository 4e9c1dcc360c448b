// FileWatch: notices changes of files by watching their directories (inotify), the way a
// Kubernetes ConfigMap volume changes: the kubelet writes a new directory and swaps the
// `..data` symlink, so the file itself is never written and a watch on it would miss it.
// Used by plbyctl reconcile (its desired pools) and the node (its certificates).
//
// inotify instances are few and shared: fs.inotify.max_user_instances (128 by default) counts
// every instance of every process of a user, all the pods of one UID on a Kubernetes node
// among them. So a watch of no file takes none, and when none can be had (or a directory
// cannot be watched) the files are polled instead, once a second: their inode, size and mtime,
// through symlinks, which a symlink swap changes too.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/unique_fd.h"

namespace plby::net {

class FileWatch {
 public:
  // How often polled files are looked at.
  static constexpr absl::Duration kPollInterval = absl::Seconds(1);

  // Watches the directories that hold `paths` (each once); polls `paths` when inotify cannot
  // (polling() says why). An error only when the wake-up eventfd cannot be made.
  static absl::StatusOr<FileWatch> Create(const std::vector<std::string>& paths);

  // Waits up to `timeout` for anything to change in the directory (polled: in the files), or
  // Wake(). True when something did; the events of a burst (an editor writes and renames) are
  // taken together.
  bool Wait(absl::Duration timeout);
  // Ends a Wait early, from any thread (a stop).
  void Wake();

  // Why the files are polled rather than watched ("inotify: Too many open files"); empty when
  // they are watched, or there are none.
  const std::string& polling() const { return polling_; }

 private:
  // What a change of a polled file changes: all zero while it cannot be read.
  struct Signature {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const Signature&) const = default;
  };
  static Signature SignatureOf(const std::string& path);

  FileWatch() = default;
  // Waits up to `ms` for the eventfd: true when woken.
  bool WaitForWake(int ms);
  bool Poll(absl::Duration timeout);

  net::UniqueFd inotify_;  // empty: no file is watched (none given, or polled)
  net::UniqueFd wake_;     // an eventfd
  std::vector<std::string> polled_;
  std::vector<Signature> signatures_;  // of polled_, as last seen
  std::string polling_;
};

}  // namespace plby::net
