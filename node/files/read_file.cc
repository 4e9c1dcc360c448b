#include "files/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "net/unique_fd.h"

namespace plby::files {
namespace {

// strerror's text alone, with the code that goes with the errno (NOT_FOUND for ENOENT).
absl::Status FromErrno(int error) {
  return absl::Status(absl::ErrnoToStatus(error, "").code(), std::strerror(error));
}

absl::string_view KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

absl::Status TooLarge(size_t max_bytes, size_t size) {
  return absl::FailedPreconditionError(
      size == 0 ? absl::StrCat("larger than ", SizeText(max_bytes))
                : absl::StrCat("larger than ", SizeText(max_bytes), " (", size, " bytes)"));
}

}  // namespace

std::string SizeText(size_t bytes) {
  if (bytes >= (size_t{1} << 20) && bytes % (size_t{1} << 20) == 0) {
    return absl::StrCat(bytes >> 20, " MiB");
  }
  if (bytes >= 1024 && bytes % 1024 == 0) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " bytes");
}

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the check below refuses it anyway.
  net::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return FromErrno(errno);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return FromErrno(errno);
  if (!S_ISREG(info.st_mode)) {
    if (S_ISDIR(info.st_mode)) return FromErrno(EISDIR);
    return absl::FailedPreconditionError(
        absl::StrCat("not a regular file (", KindOf(info.st_mode), ")"));
  }
  if (static_cast<uint64_t>(info.st_size) > max_bytes) {
    return TooLarge(max_bytes, static_cast<size_t>(info.st_size));
  }
  std::string text;
  text.reserve(static_cast<size_t>(info.st_size));
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno(errno);
    if (n == 0) break;
    // A file that grows while it is read (a log, say) is held to the limit too.
    if (text.size() + static_cast<size_t>(n) > max_bytes) return TooLarge(max_bytes, 0);
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace plby::files
