#include "workloads.h"

#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plby/v1/control.grpc.pb.h"

namespace plby::bench {
namespace {

double ToMilliseconds(double value, const std::string& unit) {
  if (unit == "us") return value / 1000;
  if (unit == "s") return value * 1000;
  return value;  // ms
}

// One HTTP/1.1 request and its whole answer on a blocking socket; false on any failure.
bool OneRequest(int fd, bool close_after) {
  const std::string request = absl::StrCat("GET / HTTP/1.1\r\nHost: bench\r\n",
                                           close_after ? "Connection: close\r\n" : "", "\r\n");
  if (!testing::SendAll(fd, request).ok()) return false;
  std::string answer;
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) return close_after && n == 0 && !answer.empty();
    answer.append(buffer, static_cast<size_t>(n));
    const size_t head_end = answer.find("\r\n\r\n");
    if (head_end == std::string::npos) continue;
    std::smatch length;
    if (!std::regex_search(answer, length, std::regex("Content-Length: (\\d+)"))) return false;
    if (answer.size() >= head_end + 4 + std::stoul(length[1])) {
      if (!close_after) return true;
    }
  }
}

absl::StatusOr<uint64_t> CallgrindInstructions(const std::string& out_file) {
  std::ifstream file(out_file);
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("summary:", 0) == 0) return std::stoull(line.substr(8));
    if (line.rfind("totals:", 0) == 0) return std::stoull(line.substr(7));
  }
  return absl::InternalError("no summary in " + out_file);
}

}  // namespace

absl::StatusOr<HttpResult> RunWrk(uint16_t port, absl::Duration duration, bool new_connections) {
  std::vector<std::string> args{"-t1", "-c50", "-d",
                                absl::StrCat(absl::ToInt64Seconds(duration), "s"), "--latency"};
  if (new_connections) {
    args.push_back("-H");
    args.push_back("Connection: close");
  }
  args.push_back(absl::StrCat("http://127.0.0.1:", port, "/"));
  absl::StatusOr<testing::RunResult> run = testing::RunToExit("/usr/bin/wrk", args);
  if (!run.ok()) return run.status();
  HttpResult result;
  std::smatch match;
  if (!std::regex_search(run->output, match, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) {
    return absl::InternalError("wrk printed no rate:\n" + run->output);
  }
  result.requests_per_second = std::stod(match[1]);
  if (!std::regex_search(run->output, match, std::regex(R"((\d+) requests in )"))) {
    return absl::InternalError("wrk printed no request count:\n" + run->output);
  }
  result.requests = std::stod(match[1]);
  if (std::regex_search(run->output, match, std::regex(R"(\n\s+50%\s+([0-9.]+)(us|ms|s))"))) {
    result.p50_ms = ToMilliseconds(std::stod(match[1]), match[2]);
  }
  if (std::regex_search(run->output, match, std::regex(R"(\n\s+99%\s+([0-9.]+)(us|ms|s))"))) {
    result.p99_ms = ToMilliseconds(std::stod(match[1]), match[2]);
  }
  if (run->output.find("Non-2xx") != std::string::npos ||
      run->output.find("Socket errors") != std::string::npos) {
    std::fprintf(stderr, "note: wrk reported errors on port %u:\n%s\n", port, run->output.c_str());
  }
  return result;
}

absl::StatusOr<double> RunIperf(uint16_t port, absl::Duration duration, bool reverse) {
  std::vector<std::string> args{"-c", "127.0.0.1",
                                "-p", std::to_string(port),
                                "-t", std::to_string(absl::ToInt64Seconds(duration)),
                                "-J"};
  if (reverse) args.push_back("-R");
  absl::StatusOr<testing::RunResult> run = testing::RunToExit("/usr/bin/iperf3", args);
  if (!run.ok()) return run.status();
  std::smatch match;
  if (!std::regex_search(
          run->output, match,
          std::regex(R"("sum_received":\s*\{[^}]*?"bits_per_second":\s*([0-9.e+]+))"))) {
    return absl::InternalError("iperf3 printed no rate:\n" + run->output);
  }
  return std::stod(match[1]) / 1e9;  // Gbit/s
}

absl::StatusOr<double> IdleBytesPerConnection(const Proxy& proxy, int connections) {
  testing::RaiseDescriptorLimit();
  const std::vector<pid_t> pids = proxy.WorkingPids();
  const int64_t before = ResidentKiB(pids);
  std::vector<int> fds;
  fds.reserve(connections);
  for (int i = 0; i < connections; ++i) {
    absl::StatusOr<int> fd = testing::Connect(proxy.idle_port);
    if (!fd.ok()) {
      for (int open : fds) close(open);
      return fd.status();
    }
    fds.push_back(*fd);
  }
  // A byte each way on every connection: all of them are relayed, not just queued.
  for (int fd : fds) testing::SendAll(fd, "x").IgnoreError();
  for (int fd : fds) {
    char byte;
    if (recv(fd, &byte, 1, MSG_WAITALL) != 1) {
      for (int open : fds) close(open);
      return absl::InternalError("an idle connection did not echo");
    }
  }
  const int64_t after = ResidentKiB(pids);
  for (int fd : fds) close(fd);
  return static_cast<double>(after - before) * 1024.0 / connections;
}

struct PoolChurn::State {
  std::atomic<bool> running{true};
  std::atomic<int64_t> updates{0};
  std::thread thread;
};

PoolChurn::PoolChurn(uint16_t control_port, const std::string& pool, const std::string& backend)
    : state_(std::make_unique<State>()) {
  state_->thread = std::thread([state = state_.get(), control_port, pool, backend] {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", control_port),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1::Control::NewStub(channel);
    auto next = std::chrono::steady_clock::now();
    for (uint32_t i = 0; state->running; ++i) {
      next += std::chrono::milliseconds(10);
      v1::UpdateBackendRequest request;
      request.set_pool(pool);
      request.set_address(backend);
      request.set_weight(1 + i % 2);  // a real change each time: a new snapshot
      v1::UpdateBackendResponse response;
      grpc::ClientContext context;
      if (stub->UpdateBackend(&context, request, &response).ok()) ++state->updates;
      std::this_thread::sleep_until(next);  // the update rate itself, not a wait for a result
    }
  });
}

PoolChurn::~PoolChurn() {
  state_->running = false;
  state_->thread.join();
}

int64_t PoolChurn::updates() const { return state_->updates; }

absl::StatusOr<double> InstructionsPerRequest(const Backends& backends, const testing::TempDir& dir,
                                              bool keep_alive, int http_backends,
                                              const std::string& algorithm) {
  uint64_t instructions[2] = {0, 0};
  const int requests[2] = {2000, 4000};
  for (int run = 0; run < 2; ++run) {
    // plby-node under callgrind, counting only inside the workers' event loops (health checks
    // off: they would add work in proportion to the wall time, which valgrind stretches).
    const std::string out_file =
        absl::StrCat(dir.path(), "/callgrind.", keep_alive ? "ka" : "close", ".", http_backends,
                     ".", algorithm, ".", run);
    std::string backends_text =
        absl::StrCat("{ address = \"127.0.0.1:", backends.http_ports[0],
                     "\" }, { address = \"127.0.0.1:", backends.http_ports[1], "\" }");
    for (int i = 2; i < http_backends; ++i) {
      absl::StrAppend(&backends_text, ", { address = \"127.0.", 1 + i / 250, ".", i % 250, ":",
                      backends.http_ports[0], "\" }");
    }
    const std::string config_path =
        dir.Write("callgrind.toml",
                  absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n[[server]]\nname = \"http\"\n",
                               "listen = \"127.0.0.1:0\"\n[server.health]\ncheck = \"none\"\n",
                               "[[server.forward]]\nalgorithm = \"", algorithm, "\"\n",
                               algorithm == "maglev" ? "hash = \"source_ip_port\"\n" : "",
                               "backends = [ ", backends_text, " ]\n"));
    absl::StatusOr<std::unique_ptr<testing::Process>> node = testing::Process::Start(
        "/usr/bin/valgrind", {"--tool=callgrind", "--callgrind-out-file=" + out_file,
                              "--toggle-collect=plby::net::EventLoop::Run()", testing::NodeBinary(),
                              "--workers", "1", "--config", config_path});
    if (!node.ok()) return node.status();
    const auto listening =
        (*node)->WaitForLine(std::regex(" listening server=http pool=http address=\\S+:(\\d+) "),
                             std::chrono::milliseconds(60000));
    if (!listening ||
        !(*node)->WaitForLine(std::regex(" ready "), std::chrono::milliseconds(60000))) {
      return absl::InternalError("plby-node under callgrind did not start:\n" + (*node)->Output());
    }
    const uint16_t port = static_cast<uint16_t>(std::stoi((*listening)[1]));
    if (keep_alive) {
      absl::StatusOr<int> fd = testing::Connect(port);
      if (!fd.ok()) return fd.status();
      for (int i = 0; i < requests[run]; ++i) {
        if (!OneRequest(*fd, false)) return absl::InternalError("a keep-alive request failed");
      }
      close(*fd);
    } else {
      for (int i = 0; i < requests[run]; ++i) {
        absl::StatusOr<int> fd = testing::Connect(port);
        if (!fd.ok()) return fd.status();
        const bool ok = OneRequest(*fd, true);
        close(*fd);
        if (!ok) return absl::InternalError("a request on its own connection failed");
      }
    }
    (*node)->Signal(SIGTERM);
    if ((*node)->WaitForExit(std::chrono::milliseconds(60000)) != 0) {
      return absl::InternalError("plby-node under callgrind did not stop cleanly:\n" +
                                 (*node)->Output());
    }
    absl::StatusOr<uint64_t> counted = CallgrindInstructions(out_file);
    if (!counted.ok()) return counted.status();
    instructions[run] = *counted;
  }
  return static_cast<double>(instructions[1] - instructions[0]) / (requests[1] - requests[0]);
}

}  // namespace plby::bench
