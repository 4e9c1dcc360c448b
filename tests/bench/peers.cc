#include "peers.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace plby::bench {
namespace {

// Waits until something accepts connections on `port` (the peers that print nothing when
// ready), or the process dies.
absl::Status WaitForPort(testing::Process& process, uint16_t port) {
  for (int attempt = 0; attempt < 2000; ++attempt) {
    absl::StatusOr<int> fd = testing::Connect(port);
    if (fd.ok()) {
      close(*fd);
      return absl::OkStatus();
    }
    if (process.WaitForExit(std::chrono::milliseconds(5))) {
      return absl::InternalError(absl::StrCat("exited before listening:\n", process.Output()));
    }
  }
  return absl::DeadlineExceededError(absl::StrCat("nothing listens on ", port));
}

std::string NginxHeader(int threads, const testing::TempDir& dir) {
  return absl::StrCat("load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n",
                      "worker_processes ", threads, ";\nworker_rlimit_nofile 20000;\n",
                      "daemon off;\nmaster_process on;\nuser root;\n", "pid ", dir.path(),
                      "/nginx-", threads, ".pid;\n",
                      "error_log stderr warn;\nevents { worker_connections 20000; }\n");
}

absl::StatusOr<std::unique_ptr<testing::Process>> StartNginx(const std::string& config_path,
                                                             const testing::TempDir& dir) {
  return testing::Process::Start("/usr/sbin/nginx", {"-p", dir.path(), "-c", config_path});
}

// The fields of /proc/PID/stat after the command name: [0] is the state (field 3 in proc(5)),
// [1] the parent, [11] and [12] the user and system time in clock ticks. Empty if it is gone.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the name may hold spaces and parentheses
  if (close == std::string::npos || close + 2 > text.size()) return {};
  return absl::StrSplit(text.substr(close + 2), ' ', absl::SkipEmpty());
}

}  // namespace

uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

std::string SystemName(System system) {
  switch (system) {
    case System::kDirect:
      return "direct";
    case System::kPlby:
      return "plby";
    case System::kHaproxy:
      return "haproxy";
    case System::kNginx:
      return "nginx";
  }
  return "?";
}

absl::StatusOr<Backends> StartBackends(const testing::TempDir& dir) {
  Backends backends;
  backends.http_ports[0] = FreePort();
  backends.http_ports[1] = FreePort();
  // One worker: the same backend capacity behind every proxy. It listens on every address, so
  // that 127.0.X.Y backends of a large pool all reach it.
  const std::string http = dir.Write(
      "backend-nginx.conf",
      absl::StrCat(NginxHeader(1, dir),
                   "http {\n  access_log off;\n  keepalive_requests 10000000;\n"
                   "  keepalive_timeout 300s;\n  server {\n    listen ",
                   backends.http_ports[0], " reuseport;\n    listen ", backends.http_ports[1],
                   " reuseport;\n    location / { return 200 \"hello from the backend\\n\"; }\n"
                   "  }\n}\n"));
  absl::StatusOr<std::unique_ptr<testing::Process>> nginx = StartNginx(http, dir);
  if (!nginx.ok()) return nginx.status();
  backends.http = *std::move(nginx);
  if (absl::Status up = WaitForPort(*backends.http, backends.http_ports[1]); !up.ok()) return up;

  backends.bulk_port = FreePort();
  absl::StatusOr<std::unique_ptr<testing::Process>> iperf = testing::Process::Start(
      "/usr/bin/iperf3",
      {"-s", "--forceflush", "-B", "127.0.0.1", "-p", std::to_string(backends.bulk_port)});
  if (!iperf.ok()) return iperf.status();
  backends.bulk = *std::move(iperf);
  if (!backends.bulk->WaitForLine(std::regex("Server listening on"))) {
    return absl::InternalError("iperf3 -s did not start: " + backends.bulk->Output());
  }

  absl::StatusOr<testing::Backend> echo = testing::StartBackend("echo");
  if (!echo.ok()) return echo.status();
  backends.idle = std::move(echo->process);
  backends.idle_port = echo->port;
  return backends;
}

absl::StatusOr<Proxy> StartProxy(System system, const ProxyOptions& options,
                                 const Backends& backends, const testing::TempDir& dir) {
  Proxy proxy;
  proxy.system = system;
  proxy.threads = options.threads;
  if (system == System::kDirect) {
    proxy.http_port = backends.http_ports[0];
    proxy.bulk_port = backends.bulk_port;
    proxy.idle_port = backends.idle_port;
    return proxy;
  }
  const std::string b1 = absl::StrCat("127.0.0.1:", backends.http_ports[0]);
  const std::string b2 = absl::StrCat("127.0.0.1:", backends.http_ports[1]);
  const std::string bulk = absl::StrCat("127.0.0.1:", backends.bulk_port);
  const std::string idle = absl::StrCat("127.0.0.1:", backends.idle_port);

  if (system == System::kPlby) {
    std::string http_backends =
        absl::StrCat("{ address = \"", b1, "\" }, { address = \"", b2, "\" }");
    for (int i = 2; i < options.plby_http_backends; ++i) {
      // 127.0.1.0 upwards: distinct addresses, the same nginx.
      absl::StrAppend(&http_backends, ", { address = \"127.0.", 1 + i / 250, ".", i % 250, ":",
                      backends.http_ports[0], "\" }");
    }
    const std::string health =
        options.plby_health_checks ? "" : "[server.health]\ncheck = \"none\"\n";
    const std::string config = absl::StrCat(
        "[control]\nlisten = \"127.0.0.1:0\"\n",
        "[[server]]\nname = \"http\"\nlisten = \"127.0.0.1:0\"\n", health,
        "[[server.forward]]\nalgorithm = \"", options.plby_algorithm, "\"\n",
        options.plby_algorithm == "maglev" ? "hash = \"source_ip_port\"\n" : "", "backends = [ ",
        http_backends, " ]\n", "[[server]]\nname = \"bulk\"\nlisten = \"127.0.0.1:0\"\n", health,
        "[[server.forward]]\nbackends = [ { address = \"", bulk, "\" } ]\n",
        "[[server]]\nname = \"idle\"\nlisten = \"127.0.0.1:0\"\n", health,
        "[[server.forward]]\nbackends = [ { address = \"", idle, "\" } ]\n");
    absl::StatusOr<testing::Node> node = testing::StartNode(
        dir, config, {"--workers", std::to_string(options.threads), "--log-level", "info"});
    if (!node.ok()) return node.status();
    proxy.http_port = node->ports["http"];
    proxy.bulk_port = node->ports["bulk"];
    proxy.idle_port = node->ports["idle"];
    proxy.control_port = node->control_port;
    proxy.process = std::move(node->process);
    return proxy;
  }

  proxy.http_port = FreePort();
  proxy.bulk_port = FreePort();
  proxy.idle_port = FreePort();
  absl::StatusOr<std::unique_ptr<testing::Process>> process;
  if (system == System::kHaproxy) {
    const std::string config = dir.Write(
        absl::StrCat("haproxy-", options.threads, ".cfg"),
        absl::StrCat("global\n  nbthread ", options.threads, "\n  maxconn 9000\n",
                     "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 300s\n",
                     "  timeout server 300s\n  maxconn 9000\n",
                     "listen http\n  bind 127.0.0.1:", proxy.http_port, "\n  balance roundrobin\n",
                     "  server s1 ", b1, "\n  server s2 ", b2, "\n",
                     "listen bulk\n  bind 127.0.0.1:", proxy.bulk_port, "\n  server s1 ", bulk,
                     "\n", "listen idle\n  bind 127.0.0.1:", proxy.idle_port, "\n  server s1 ",
                     idle, "\n"));
    process = testing::Process::Start("/usr/sbin/haproxy", {"-db", "-f", config});
  } else {
    const std::string config = dir.Write(
        absl::StrCat("nginx-stream-", options.threads, ".conf"),
        absl::StrCat(NginxHeader(options.threads, dir), "stream {\n", "  upstream http { server ",
                     b1, "; server ", b2, "; }\n", "  server { listen 127.0.0.1:", proxy.http_port,
                     "; proxy_pass http; }\n", "  server { listen 127.0.0.1:", proxy.bulk_port,
                     "; proxy_pass ", bulk, "; }\n", "  server { listen 127.0.0.1:",
                     proxy.idle_port, "; proxy_pass ", idle, "; proxy_timeout 300s; }\n}\n"));
    process = StartNginx(config, dir);
  }
  if (!process.ok()) return process.status();
  proxy.process = *std::move(process);
  for (uint16_t port : {proxy.http_port, proxy.bulk_port, proxy.idle_port}) {
    if (absl::Status up = WaitForPort(*proxy.process, port); !up.ok()) {
      return absl::Status(up.code(), absl::StrCat(SystemName(system), ": ", up.message()));
    }
  }
  return proxy;
}

std::vector<pid_t> Proxy::WorkingPids() const {
  if (process == nullptr) return {};
  if (system != System::kNginx) return {process->pid()};
  // nginx: the workers (children of the master) carry the connections.
  std::vector<pid_t> workers;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    const std::vector<std::string> fields = StatFields(pid);
    if (fields.size() > 1 && fields[1] == std::to_string(process->pid())) workers.push_back(pid);
  }
  closedir(proc);
  return workers;
}

double CpuSeconds(const std::vector<pid_t>& pids) {
  const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  double total = 0;
  for (pid_t pid : pids) {
    const std::vector<std::string> fields = StatFields(pid);
    if (fields.size() > 12)
      total += (std::stod(fields[11]) + std::stod(fields[12])) / ticks_per_second;
  }
  return total;
}

int64_t ResidentKiB(const std::vector<pid_t>& pids) {
  int64_t total = 0;
  for (pid_t pid : pids) {
    std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) total += std::stoll(line.substr(6));
    }
  }
  return total;
}

}  // namespace plby::bench
