// Test harness for the integration tests: real processes (plby-node, plby-testpeer) on
// loopback, with their output captured, and helpers that wait on conditions, never on a clock.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace plby::testing {

using std::chrono::milliseconds;

// Generous: sanitizer builds on a loaded 2-core machine are slow. Waits end as soon as their
// condition holds, so the bound costs nothing when things work.
inline constexpr milliseconds kWaitTimeout{20000};

// A child process whose stdout and stderr are captured line by line. It runs in a process group
// of its own, which is killed when this object goes away; the child is also killed if the test
// process dies (PR_SET_PDEATHSIG).
class Process {
 public:
  static absl::StatusOr<std::unique_ptr<Process>> Start(const std::string& binary,
                                                        const std::vector<std::string>& args);
  ~Process();

  pid_t pid() const { return pid_; }

  // Waits for a line (from stdout or stderr, from line `from` on; 0 is the first) matching
  // `pattern`, and returns its capture groups ([0] is the whole match). nullopt when the
  // process ends or time runs out.
  std::optional<std::vector<std::string>> WaitForLine(const std::regex& pattern,
                                                      milliseconds timeout = kWaitTimeout,
                                                      size_t from = 0);
  // How many lines have been captured so far: a `from` for lines still to come.
  size_t LineCount();
  // Counts the lines matching `pattern` seen so far.
  int CountLines(const std::regex& pattern);
  // Everything captured so far, for failure messages.
  std::string Output();
  // Waits until the process has closed its stdout and stderr (normally: it exited).
  bool WaitForOutputEnd(milliseconds timeout = kWaitTimeout);

  void Signal(int signo);
  // The exit code (128 + N after signal N), or nullopt if still running after `timeout`.
  std::optional<int> WaitForExit(milliseconds timeout = kWaitTimeout);

 private:
  Process() = default;
  void ReadOutput(int stdout_fd, int stderr_fd);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;  // guarded by mutex_
  bool output_closed_ = false;      // guarded by mutex_
};

// A directory for one test's files, removed afterwards.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A plby-testpeer server.
struct Backend {
  std::unique_ptr<Process> process;
  uint16_t port = 0;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};
absl::StatusOr<Backend> StartBackend(const std::string& mode,
                                     const std::vector<std::string>& extra_args = {});

// A backend whose handshakes are never answered: plby-testpeer blackhole (backlog 0) with its
// accept queue filled by connections held while this lives. Connects to it time out.
struct SilentBackend {
  Backend backend;
  std::vector<int> fillers;
  SilentBackend() = default;
  SilentBackend(SilentBackend&&) = default;
  ~SilentBackend();
  std::string address() const { return backend.address(); }
};
absl::StatusOr<SilentBackend> StartSilentBackend();

// What plby-testpeer's "hi" mode answers.
std::string Hi(const Backend& backend);

// A backend line of a test config.
struct BackendEntry {
  std::string address;
  int weight = 0;  // 0: leave the key out
};

// A config with one pool "web" on a free port and the control service on a free port.
// `control_extra` goes into [control], `server_extra` into [[server]].
std::string OnePoolConfig(const std::vector<BackendEntry>& backends,
                          const std::string& algorithm = "WRR",
                          const std::string& server_extra = "",
                          const std::string& control_extra = "");

// A plby-node and the ports its servers listen on.
struct Node {
  std::unique_ptr<Process> process;
  std::map<std::string, uint16_t>
      ports;  // server name -> port (a server with inline backends: its pool's name too)
  uint16_t control_port = 0;
  uint16_t metrics_port = 0;                               // 0: the config has no [metrics]
  uint16_t port() const { return ports.begin()->second; }  // the only (or first) server's
  std::string control_address() const { return "127.0.0.1:" + std::to_string(control_port); }
};
// Writes `config_text` into `dir` and runs plby-node on it until it says "ready", with
// `environment` ("NAME=value") added to its environment. `runner`, when given, is a command
// that runs the node ("setpriv --reuid=N ...", ending where the node's path goes), and `binary`
// the node's path when not NodeBinary().
absl::StatusOr<Node> StartNode(const TempDir& dir, const std::string& config_text,
                               std::vector<std::string> extra_args = {"--workers", "2"},
                               const std::vector<std::string>& environment = {},
                               const std::vector<std::string>& runner = {},
                               const std::string& binary = "");

// Calls `condition` until it holds (true) or `timeout` passes (false), `interval` apart: the one
// poll loop of the tests, which ends on its condition, never on a clock alone.
bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout = kWaitTimeout,
               milliseconds interval = milliseconds(50));

// The value of `sample` ("plby_x_total{a=\"b\"}") in Prometheus text, if it is there.
std::optional<uint64_t> MetricValue(const std::string& exposition, const std::string& sample);
// Scrapes the node's /metrics until `sample` is at least `at_least` (counters are summed when
// scraped, so a connection just refused may take a moment to show); the last value seen.
std::optional<uint64_t> WaitForMetric(const Node& node, const std::string& sample,
                                      uint64_t at_least = 1);

// A port on which connects are refused: bound, never listening, held while this lives.
class RefusedPort {
 public:
  RefusedPort();
  ~RefusedPort();
  RefusedPort(const RefusedPort&) = delete;
  RefusedPort& operator=(const RefusedPort&) = delete;
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Writes an /etc/hosts-style file at `path` in which `name` has each of `ips` (for
// PLBY_HOSTS_FILE), whole at once: written beside it, then renamed over it, as a reader must
// never see half of it.
void WriteHostsFile(const std::string& path, const std::string& name,
                    const std::vector<std::string>& ips);

// Raises this process's soft descriptor limit to the hard one (a test holding many
// connections needs a descriptor for each).
void RaiseDescriptorLimit();

// Runs a binary to completion and returns its exit code and output (stdout + stderr).
struct RunResult {
  int exit_code = -1;
  std::string output;
};
absl::StatusOr<RunResult> RunToExit(const std::string& binary,
                                    const std::vector<std::string>& args);
// plbyctl with `args`, to its exit.
absl::StatusOr<RunResult> Ctl(const std::vector<std::string>& args);
// The nodes' control addresses, comma-separated, for --node.
std::string ControlAddresses(const std::vector<Node>& nodes);
// How many times `what` occurs in `text`.
int CountOf(const std::string& text, const std::string& what);

// A blocking TCP connection to 127.0.0.1:port, with 20 s send and receive timeouts so that a
// hang fails the test instead of stalling it.
absl::StatusOr<int> Connect(uint16_t port);
// The same to `ip`:`port`, from `from_ip` (any port) when it is not empty: distinct 127.x.y.z
// sources tell clients apart.
absl::StatusOr<int> ConnectTo(const std::string& ip, uint16_t port,
                              const std::string& from_ip = "");
// A server nobody here wrote (nginx, HAProxy, openssl s_server), once `ip`:`port` accepts
// connections; an error, with its output, if it exits first.
absl::StatusOr<std::unique_ptr<Process>> StartPeer(const std::string& binary,
                                                   const std::vector<std::string>& args,
                                                   const std::string& ip, uint16_t port);
// Connects to `ip`:`port` (from `from_ip` when set), sends `bytes`, half-closes unless told
// not to, and returns everything the peer sends until it closes; "(... failed ...)" on an
// error (a reset reads as "(read failed)").
std::string SendAndReadAll(const std::string& ip, uint16_t port, const std::string& bytes,
                           const std::string& from_ip = "", bool half_close = true);
// Connects, sends `message`, half-closes, and reads until the other side closes.
absl::StatusOr<std::string> Exchange(uint16_t port, const std::string& message);
// Sends all of `data` (blocking socket).
absl::Status SendAll(int fd, const std::string& data);
// Reads until EOF.
absl::StatusOr<std::string> ReadToEnd(int fd);

std::string NodeBinary();
std::string CtlBinary();
std::string TestPeerBinary();

}  // namespace plby::testing

#define PLBY_CONCAT_INNER(a, b) a##b
#define PLBY_CONCAT(a, b) PLBY_CONCAT_INNER(a, b)
#define PLBY_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  PLBY_ASSERT_OK_AND_ASSIGN_IMPL(PLBY_CONCAT(status_or_, __LINE__), lhs, expr)
#define PLBY_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  ASSERT_TRUE(tmp.ok()) << tmp.status();               \
  lhs = *std::move(tmp)
