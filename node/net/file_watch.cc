#include "net/file_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace plby::net {
namespace {

// Reads every event queued (their content does not matter: any change means "read it again").
void Drain(int fd) {
  char buffer[4096];
  while (::read(fd, buffer, sizeof(buffer)) > 0) {
  }
}

int Milliseconds(absl::Duration duration) {
  return static_cast<int>(absl::ToInt64Milliseconds(std::max(duration, absl::ZeroDuration())));
}

}  // namespace

absl::StatusOr<FileWatch> FileWatch::Create(const std::vector<std::string>& paths) {
  FileWatch watch;
  watch.wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!watch.wake_) {
    return absl::InternalError(absl::StrCat("cannot watch files: ", std::strerror(errno)));
  }
  if (paths.empty()) return watch;  // nothing to watch: no inotify instance taken
  watch.inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!watch.inotify_) {
    watch.polling_ = absl::StrCat("no inotify instance: ", std::strerror(errno));
  }
  for (const std::string& path : paths) {
    if (!watch.inotify_) break;
    const size_t slash = path.rfind('/');
    const std::string directory = slash == std::string::npos ? std::string(".")
                                  : slash == 0               ? std::string("/")
                                                             : path.substr(0, slash);
    // The same directory twice is one watch (inotify returns the same descriptor).
    if (inotify_add_watch(
            watch.inotify_.get(), directory.c_str(),
            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
      // Out of watches (fs.inotify.max_user_watches), or a directory that cannot be watched:
      // polling still sees the files change, where a refusal would stop the caller.
      watch.polling_ =
          absl::StrCat("cannot watch the directory ", directory, ": ", std::strerror(errno));
      watch.inotify_.reset();
    }
  }
  if (!watch.inotify_) {
    watch.polled_ = paths;
    for (const std::string& path : paths) watch.signatures_.push_back(SignatureOf(path));
  }
  return watch;
}

FileWatch::Signature FileWatch::SignatureOf(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return {};
  return {
      .device = static_cast<uint64_t>(info.st_dev),
      .inode = static_cast<uint64_t>(info.st_ino),
      .size = static_cast<int64_t>(info.st_size),
      .mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

bool FileWatch::WaitForWake(int ms) {
  pollfd wake = {.fd = wake_.get(), .events = POLLIN, .revents = 0};
  if (::poll(&wake, 1, ms) <= 0) return false;
  Drain(wake_.get());
  return true;
}

bool FileWatch::Poll(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = until - absl::Now();
    if (WaitForWake(Milliseconds(std::min(left, kPollInterval)))) return true;
    bool changed = false;
    for (size_t i = 0; i < polled_.size(); ++i) {
      const Signature now = SignatureOf(polled_[i]);
      if (now == signatures_[i]) continue;
      signatures_[i] = now;
      changed = true;
    }
    if (changed) return true;
    if (absl::Now() >= until) return false;
  }
}

bool FileWatch::Wait(absl::Duration timeout) {
  if (!polled_.empty()) return Poll(timeout);
  if (!inotify_) return WaitForWake(Milliseconds(timeout));
  pollfd fds[2] = {{.fd = inotify_.get(), .events = POLLIN, .revents = 0},
                   {.fd = wake_.get(), .events = POLLIN, .revents = 0}};
  if (::poll(fds, 2, Milliseconds(timeout)) <= 0) return false;
  if (fds[1].revents != 0) {
    Drain(wake_.get());
    return true;
  }
  // A burst: an editor writes a temporary file and renames it, the kubelet makes a directory
  // and swaps two symlinks. Take what follows within 100 ms with it, for a second at most (a
  // directory that never stops changing must not hold the rounds up), and never past a Wake.
  const absl::Time until = absl::Now() + absl::Seconds(1);
  do {
    Drain(inotify_.get());
    if (fds[1].revents != 0) break;
  } while (absl::Now() < until && ::poll(fds, 2, 100) > 0);
  return true;
}

void FileWatch::Wake() {
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
}

}  // namespace plby::net
