#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace plby::testing {
namespace {

absl::Status Errno(const std::string& what) { return absl::ErrnoToStatus(errno, what); }

// The binary this build made, unless `variable` names another: the sanitizer stages of
// tests/test.sh run these tests against their sanitized binaries without building the tests
// again (the test code itself needs no sanitizer, and building it twice more took minutes).
std::string BinaryOr(const char* variable, const char* built) {
  const char* other = std::getenv(variable);
  return other != nullptr && other[0] != '\0' ? other : built;
}

}  // namespace

std::string NodeBinary() { return BinaryOr("PLBY_NODE_BINARY", PLBY_NODE_BINARY); }
std::string CtlBinary() { return BinaryOr("PLBY_CTL_BINARY", PLBY_CTL_BINARY); }
std::string TestPeerBinary() { return BinaryOr("PLBY_TESTPEER_BINARY", PLBY_TESTPEER_BINARY); }

absl::StatusOr<std::unique_ptr<Process>> Process::Start(const std::string& binary,
                                                        const std::vector<std::string>& args) {
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return Errno("pipe2");
  std::vector<std::string> argv_storage{binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);  // its own process group, so that children it forks go down with it
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  std::unique_ptr<Process> process(new Process());
  process->pid_ = pid;
  process->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  process->reader_ =
      std::thread([p = process.get(), o = out[0], e = err[0]] { p->ReadOutput(o, e); });
  return process;
}

Process::~Process() {
  if (!exit_code_) {
    kill(-pid_, SIGKILL);  // the group: nginx's workers, say, would keep the output pipes open
    WaitForExit(kWaitTimeout);
  }
  if (reader_.joinable()) reader_.join();
  if (pidfd_ >= 0) close(pidfd_);
  // In sanitizer builds a report in a child fails the test that ran it, even when the child
  // was killed before it could exit with an error.
  static const std::regex kSanitizerReport(
      "ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|runtime error:");
  if (CountLines(kSanitizerReport) > 0) ADD_FAILURE() << "sanitizer report:\n" << Output();
}

void Process::ReadOutput(int stdout_fd, int stderr_fd) {
  pollfd fds[2] = {{.fd = stdout_fd, .events = POLLIN, .revents = 0},
                   {.fd = stderr_fd, .events = POLLIN, .revents = 0}};
  std::string partial[2];
  int open = 2;
  while (open > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        if (!partial[i].empty()) {
          std::lock_guard<std::mutex> lock(mutex_);
          lines_.push_back(std::move(partial[i]));
        }
        continue;
      }
      partial[i].append(buffer, static_cast<size_t>(n));
      size_t newline;
      std::lock_guard<std::mutex> lock(mutex_);
      while ((newline = partial[i].find('\n')) != std::string::npos) {
        lines_.push_back(partial[i].substr(0, newline));
        partial[i].erase(0, newline + 1);
      }
      changed_.notify_all();
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  output_closed_ = true;
  changed_.notify_all();
}

size_t Process::LineCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_.size();
}

std::optional<std::vector<std::string>> Process::WaitForLine(const std::regex& pattern,
                                                             milliseconds timeout, size_t from) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  size_t checked = from;
  while (true) {
    for (; checked < lines_.size(); ++checked) {
      std::smatch match;
      if (std::regex_search(lines_[checked], match, pattern)) {
        return std::vector<std::string>(match.begin(), match.end());
      }
    }
    if (output_closed_) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
  }
}

bool Process::WaitForOutputEnd(milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return output_closed_; });
}

int Process::CountLines(const std::regex& pattern) {
  std::lock_guard<std::mutex> lock(mutex_);
  int count = 0;
  for (const std::string& line : lines_) count += std::regex_search(line, pattern) ? 1 : 0;
  return count;
}

std::string Process::Output() {
  std::lock_guard<std::mutex> lock(mutex_);
  return absl::StrJoin(lines_, "\n");
}

void Process::Signal(int signo) {
  if (!exit_code_) kill(pid_, signo);
}

std::optional<int> Process::WaitForExit(milliseconds timeout) {
  if (exit_code_) return exit_code_;
  pollfd exited{.fd = pidfd_, .events = POLLIN, .revents = 0};
  if (poll(&exited, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

TempDir::TempDir() {
  std::string pattern = std::filesystem::temp_directory_path() / "plby-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  const std::string file = path_ + "/" + name;
  std::ofstream(file, std::ios::binary) << content;
  return file;
}

absl::StatusOr<Backend> StartBackend(const std::string& mode,
                                     const std::vector<std::string>& extra_args) {
  std::vector<std::string> args{mode, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<std::unique_ptr<Process>> process = Process::Start(TestPeerBinary(), args);
  if (!process.ok()) return process.status();
  static const std::regex kListening(R"(^listening 127\.0\.0\.1:(\d+)$)");
  auto line = (*process)->WaitForLine(kListening);
  if (!line) {
    return absl::InternalError(
        absl::StrCat("plby-testpeer ", mode, " did not start: ", (*process)->Output()));
  }
  return Backend{*std::move(process), static_cast<uint16_t>(std::stoi((*line)[1]))};
}

SilentBackend::~SilentBackend() {
  for (int fd : fillers) close(fd);
}

absl::StatusOr<SilentBackend> StartSilentBackend() {
  absl::StatusOr<Backend> blackhole = StartBackend("blackhole");
  if (!blackhole.ok()) return blackhole.status();
  SilentBackend silent;
  silent.backend = *std::move(blackhole);
  // Fill its accept queue (backlog 0): further handshakes get no answer at all.
  for (int i = 0; i < 2; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(silent.backend.port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    silent.fillers.push_back(fd);
  }
  return silent;
}

std::string Hi(const Backend& backend) { return "Hi from server " + std::to_string(backend.port); }

std::string OnePoolConfig(const std::vector<BackendEntry>& backends, const std::string& algorithm,
                          const std::string& server_extra, const std::string& control_extra) {
  std::string text = "[control]\nlisten = \"127.0.0.1:0\"\n" + control_extra +
                     "\n[[server]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\n" + server_extra +
                     "\n[[server.forward]]\nalgorithm = \"" + algorithm + "\"\nbackends = [\n";
  for (const BackendEntry& backend : backends) {
    absl::StrAppend(&text, "  { address = \"", backend.address, "\"",
                    backend.weight > 0 ? absl::StrCat(", weight = ", backend.weight) : "", " },\n");
  }
  return text + "]\n";
}

absl::StatusOr<RunResult> Ctl(const std::vector<std::string>& args) {
  return RunToExit(CtlBinary(), args);
}

std::string ControlAddresses(const std::vector<Node>& nodes) {
  std::vector<std::string> addresses;
  for (const Node& node : nodes) addresses.push_back(node.control_address());
  return absl::StrJoin(addresses, ",");
}

int CountOf(const std::string& text, const std::string& what) {
  int count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

void WriteHostsFile(const std::string& path, const std::string& name,
                    const std::vector<std::string>& ips) {
  std::string text = "127.0.0.1 localhost\n";
  for (const std::string& ip : ips) absl::StrAppend(&text, ip, " ", name, "\n");
  std::ofstream(path + ".new") << text;
  std::filesystem::rename(path + ".new", path);
}

absl::StatusOr<Node> StartNode(const TempDir& dir, const std::string& config_text,
                               std::vector<std::string> extra_args,
                               const std::vector<std::string>& environment,
                               const std::vector<std::string>& runner, const std::string& binary) {
  const std::string config = dir.Write("config.toml", config_text);
  // env(1) adds the variables and execs the node (so does a runner such as setpriv): the same
  // process, so signals still reach it.
  std::vector<std::string> args = environment;
  args.insert(args.end(), runner.begin(), runner.end());
  args.insert(args.end(), {binary.empty() ? NodeBinary() : binary, "--config", config});
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<std::unique_ptr<Process>> process = Process::Start("/usr/bin/env", args);
  if (!process.ok()) return process.status();
  static const std::regex kReady(R"( ready workers=\d+)");
  if (!(*process)->WaitForLine(kReady)) {
    return absl::InternalError(
        absl::StrCat("plby-node did not become ready:\n", (*process)->Output()));
  }
  Node node{*std::move(process), {}};
  static const std::regex kListening(R"( listening server=(\S+) pool=\S+ address=\S+:(\d+) )");
  const std::string output = node.process->Output();
  for (std::sregex_iterator it(output.begin(), output.end(), kListening), end; it != end; ++it) {
    node.ports[(*it)[1]] = static_cast<uint16_t>(std::stoi((*it)[2]));
  }
  if (node.ports.empty()) return absl::InternalError("plby-node listens on nothing: " + output);
  static const std::regex kControl(R"( control service listening address=\S+:(\d+) )");
  std::smatch control;
  if (std::regex_search(output, control, kControl)) {
    node.control_port = static_cast<uint16_t>(std::stoi(control[1]));
  }
  static const std::regex kMetrics(R"( metrics listening address=\S+:(\d+) )");
  std::smatch metrics;
  if (std::regex_search(output, metrics, kMetrics)) {
    node.metrics_port = static_cast<uint16_t>(std::stoi(metrics[1]));
  }
  return node;
}

std::optional<uint64_t> MetricValue(const std::string& exposition, const std::string& sample) {
  const std::string start = sample + " ";
  size_t at = exposition.rfind("\n" + start);
  if (at == std::string::npos) return std::nullopt;
  at += 1 + start.size();
  return std::stoull(exposition.substr(at, exposition.find('\n', at) - at));
}

bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout,
               milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);  // the poll interval: the loop ends on the condition
  }
}

std::optional<uint64_t> WaitForMetric(const Node& node, const std::string& sample,
                                      uint64_t at_least) {
  std::optional<uint64_t> value;
  WaitUntil([&] {
    absl::StatusOr<std::string> answer =
        Exchange(node.metrics_port, "GET /metrics HTTP/1.0\r\n\r\n");
    if (answer.ok()) value = MetricValue(*answer, sample);
    return value && *value >= at_least;
  });
  return value;
}

RefusedPort::RefusedPort() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
}

RefusedPort::~RefusedPort() { close(fd_); }

void RaiseDescriptorLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

absl::StatusOr<RunResult> RunToExit(const std::string& binary,
                                    const std::vector<std::string>& args) {
  absl::StatusOr<std::unique_ptr<Process>> process = Process::Start(binary, args);
  if (!process.ok()) return process.status();
  std::optional<int> code = (*process)->WaitForExit();
  if (!code) return absl::DeadlineExceededError(binary + " did not exit");
  (*process)->WaitForOutputEnd();
  return RunResult{*code, (*process)->Output()};
}

absl::StatusOr<int> Connect(uint16_t port) { return ConnectTo("127.0.0.1", port); }

absl::StatusOr<int> ConnectTo(const std::string& ip, uint16_t port, const std::string& from_ip) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  timeval timeout{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (!from_ip.empty()) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    if (inet_pton(AF_INET, from_ip.c_str(), &source.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0) {
      const absl::Status status = Errno(absl::StrCat("bind to ", from_ip));
      close(fd);
      return status;
    }
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", ip));
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    const absl::Status status = Errno(absl::StrCat("connect to ", ip, ":", port));
    close(fd);
    return status;
  }
  return fd;
}

std::string SendAndReadAll(const std::string& ip, uint16_t port, const std::string& bytes,
                           const std::string& from_ip, bool half_close) {
  absl::StatusOr<int> fd = ConnectTo(ip, port, from_ip);
  if (!fd.ok()) return absl::StrCat("(connect failed: ", fd.status().ToString(), ")");
  if (!SendAll(*fd, bytes).ok()) {
    close(*fd);
    return "(send failed)";
  }
  if (half_close) shutdown(*fd, SHUT_WR);
  absl::StatusOr<std::string> answer = ReadToEnd(*fd);
  close(*fd);
  return answer.ok() ? *answer : "(read failed)";
}

absl::StatusOr<std::unique_ptr<Process>> StartPeer(const std::string& binary,
                                                   const std::vector<std::string>& args,
                                                   const std::string& ip, uint16_t port) {
  absl::StatusOr<std::unique_ptr<Process>> process = Process::Start(binary, args);
  if (!process.ok()) return process.status();
  const auto deadline = std::chrono::steady_clock::now() + kWaitTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<int> fd = ConnectTo(ip, port);
    if (fd.ok()) {
      close(*fd);
      return process;
    }
    if ((*process)->WaitForExit(milliseconds(20))) {  // also the poll interval
      return absl::InternalError(absl::StrCat(binary, " exited before listening on ", ip, ":", port,
                                              ":\n", (*process)->Output()));
    }
  }
  return absl::DeadlineExceededError(absl::StrCat(binary, ": nothing listens on ", ip, ":", port,
                                                  " after ", kWaitTimeout.count(), " ms:\n",
                                                  (*process)->Output()));
}

absl::Status SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("send");
    }
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadToEnd(int fd) {
  std::string data;
  char buffer[65536];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read");
    }
    if (n == 0) return data;
    data.append(buffer, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> Exchange(uint16_t port, const std::string& message) {
  absl::StatusOr<int> fd = Connect(port);
  if (!fd.ok()) return fd.status();
  absl::Status sent = SendAll(*fd, message);
  if (sent.ok()) shutdown(*fd, SHUT_WR);
  absl::StatusOr<std::string> answer = sent.ok() ? ReadToEnd(*fd) : sent;
  close(*fd);
  return answer;
}

}  // namespace plby::testing
