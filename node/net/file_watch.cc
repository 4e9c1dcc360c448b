#include "net/file_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
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

}  // namespace

absl::StatusOr<FileWatch> FileWatch::Create(const std::vector<std::string>& paths) {
  FileWatch watch;
  watch.inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  watch.wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!watch.inotify_ || !watch.wake_) {
    return absl::InternalError(absl::StrCat("cannot watch files: ", std::strerror(errno)));
  }
  for (const std::string& path : paths) {
    const size_t slash = path.rfind('/');
    const std::string directory = slash == std::string::npos ? std::string(".")
                                  : slash == 0               ? std::string("/")
                                                             : path.substr(0, slash);
    // The same directory twice is one watch (inotify returns the same descriptor).
    if (inotify_add_watch(
            watch.inotify_.get(), directory.c_str(),
            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot watch the directory ", directory, ": ", std::strerror(errno)));
    }
  }
  return watch;
}

bool FileWatch::Wait(absl::Duration timeout) {
  pollfd fds[2] = {{.fd = inotify_.get(), .events = POLLIN, .revents = 0},
                   {.fd = wake_.get(), .events = POLLIN, .revents = 0}};
  const int ms =
      static_cast<int>(absl::ToInt64Milliseconds(std::max(timeout, absl::ZeroDuration())));
  if (::poll(fds, 2, ms) <= 0) return false;
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
