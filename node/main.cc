// plby-node: flags, signals and wiring. The logic lives in the libraries.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "balance/algorithm.h"
#include "config/config.h"
#include "control/control_plane.h"
#include "control/control_server.h"
#include "log/log.h"
#include "plby/version.h"
#include "runtime/node.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;  // bad flags or a bad configuration
constexpr int kMaxWorkers = 256;

constexpr absl::string_view kUsage = R"(Usage: plby-node [options]

plby-node forwards TCP connections from each [[server]] listener in the
configuration to that server's pool of backends.

Options:
  --config FILE         configuration to run (default: ./config.toml)
  --check-config FILE   validate FILE, print what it defines, exit 0 (valid)
                        or 2 (invalid); nothing listens
  --workers N           worker threads, 1-256 (default: the number of CPUs)
  --log-level LEVEL     debug, info, warn or error (default: info)
  --help                show this help
  --version             show the version

Exit codes: 0 stopped cleanly (SIGINT/SIGTERM) or config valid; 1 could not
start (for example an address already in use); 2 bad flags or configuration.
)";

struct Flags {
  std::string config_path = "config.toml";
  bool check_only = false;
  int workers = 0;
  plby::log::Level log_level = plby::log::Level::kInfo;
};

[[noreturn]] void UsageError(absl::string_view message) {
  std::fprintf(stderr, "plby-node: %.*s\nRun 'plby-node --help' for the options.\n",
               static_cast<int>(message.size()), message.data());
  std::exit(kExitUsage);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    std::optional<absl::string_view> inline_value;
    if (const size_t eq = arg.find('=');
        absl::StartsWith(arg, "--") && eq != absl::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const auto value = [&]() -> absl::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) UsageError(absl::StrCat(arg, " needs a value"));
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      std::exit(kExitOk);
    } else if (arg == "--version") {
      std::printf("plby-node %s\n", PLBY_VERSION);
      std::exit(kExitOk);
    } else if (arg == "--config" || arg == "-c") {
      flags.config_path = std::string(value());
    } else if (arg == "--check-config") {
      flags.config_path = std::string(value());
      flags.check_only = true;
    } else if (arg == "--workers") {
      const absl::string_view text = value();
      int workers = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), workers);
      if (ec != std::errc() || end != text.data() + text.size() || workers < 1 ||
          workers > kMaxWorkers) {
        UsageError(absl::StrCat("--workers \"", text,
                                "\" is not valid (valid: a whole number "
                                "from 1 to ",
                                kMaxWorkers, ")"));
      }
      flags.workers = workers;
    } else if (arg == "--log-level") {
      absl::StatusOr<plby::log::Level> level = plby::log::ParseLevel(value());
      if (!level.ok()) UsageError(absl::StrCat("--log-level: ", level.status().message()));
      flags.log_level = *level;
    } else {
      UsageError(absl::StrCat("unknown argument \"", argv[i], "\""));
    }
  }
  if (flags.workers == 0) {
    flags.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    flags.workers = std::min(flags.workers, kMaxWorkers);
  }
  return flags;
}

// Like HAProxy and nginx, take every descriptor the hard limit allows: each proxied connection
// needs two.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  getrlimit(RLIMIT_NOFILE, &limit);
  PLBY_LOG(kInfo, "file descriptor limit ", limit.rlim_cur, " (about ", limit.rlim_cur / 2,
           " proxied connections)");
}

int CheckConfig(const plby::config::Config& config) {
  size_t backends = 0;
  for (const auto& server : config.servers) backends += server.backends.size();
  for (const std::string& warning : config.warnings) {
    std::fprintf(stderr, "%s: warning\n", warning.c_str());
  }
  std::printf("%s: configuration is valid: %zu server(s), %zu backend(s), control %s\n",
              config.source.c_str(), config.servers.size(), backends,
              config.control.listen.ToString().c_str());
  for (const auto& server : config.servers) {
    std::printf("  server \"%s\" listen %s algorithm %s backends %zu connect_timeout %s\n",
                server.name.c_str(), server.listen.ToString().c_str(),
                std::string(plby::balance::AlgorithmName(server.algorithm)).c_str(),
                server.backends.size(), absl::FormatDuration(server.connect_timeout).c_str());
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  plby::log::SetLevel(flags.log_level);

  absl::StatusOr<plby::config::Config> config = plby::config::LoadConfigFile(flags.config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\nplby-node: configuration refused, nothing was started\n",
                 std::string(config.status().message()).c_str());
    return kExitUsage;
  }
  if (flags.check_only) return CheckConfig(*config);

  // Signals are taken synchronously by this thread with sigwait(); every thread started from
  // here on inherits the blocked mask. Dispositions are reset first: a shell starting us in the
  // background may have set SIGINT to "ignore", and an ignored signal never reaches sigwait().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // first, so none can slip through below
  for (int signo : {SIGINT, SIGTERM, SIGHUP}) signal(signo, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);  // a write to a reset peer returns EPIPE instead of killing us

  PLBY_LOG(kInfo, "plby-node ", PLBY_VERSION, " starting config=", config->source,
           " workers=", flags.workers);
  for (const std::string& warning : config->warnings) PLBY_LOG(kWarn, warning);
  RaiseDescriptorLimit();

  // A worker whose event loop fails stops the whole node, with exit code 1: a node serving on
  // fewer workers than asked would leave part of the traffic unanswered.
  static std::atomic<bool> worker_failed{false};
  absl::StatusOr<std::unique_ptr<plby::runtime::Node>> node = plby::runtime::Node::Create(
      *config, {.workers = flags.workers, .on_worker_failure = [](const absl::Status&) {
                  worker_failed.store(true);
                  kill(getpid(), SIGTERM);  // wakes the sigwait() below
                }});
  if (!node.ok()) {
    PLBY_LOG(kError, "cannot start: ", node.status().message());
    return kExitRuntimeError;
  }
  for (const auto& listener : (*node)->listeners()) {
    const plby::pool::Pool* pool = (*node)->pools().Find(listener.pool);
    PLBY_LOG(kInfo, "listening pool=", listener.pool, " address=", listener.address.ToString(),
             " algorithm=", plby::balance::AlgorithmName(pool->settings().algorithm),
             " backends=", pool->snapshot()->backends().size());
  }
  plby::runtime::Node& running = **node;

  plby::control::NodeFacts facts{
      .version = PLBY_VERSION,
      .started = absl::Now(),
      .workers = running.worker_count(),
      .listeners = {},
      .accepted_connections = [&running] { return running.accepted_connections(); },
      .active_connections = [&running] { return running.active_connections(); }};
  for (const auto& listener : running.listeners()) {
    facts.listeners.push_back({listener.pool, listener.address});
  }
  plby::control::ControlPlane control_plane(running.pools(), std::move(facts));
  absl::StatusOr<std::unique_ptr<plby::control::ControlServer>> control =
      plby::control::ControlServer::Start(config->control, control_plane);
  if (!control.ok()) {
    PLBY_LOG(kError, "cannot start: ", control.status().message());
    return kExitRuntimeError;
  }
  PLBY_LOG(kInfo, "control service listening address=", (*control)->address().ToString(),
           " tls=", (*control)->tls() ? "mtls" : "off");

  running.Start();
  PLBY_LOG(kInfo, "ready workers=", running.worker_count());

  while (true) {
    int signo = 0;
    if (sigwait(&stop_signals, &signo) != 0) continue;
    if (signo == SIGHUP) {
      PLBY_LOG(kWarn, "SIGHUP ignored: configuration reload is not supported; restart the node");
      continue;
    }
    if (worker_failed.load()) {
      PLBY_LOG(kError, "a worker failed, stopping");
    } else {
      PLBY_LOG(kInfo, "received ", signo == SIGINT ? "SIGINT" : "SIGTERM", ", stopping");
    }
    break;
  }
  // Watch streams end first (their feed closes), then the control service, then the workers.
  running.pools().changes().Close();
  (*control)->Shutdown(absl::Seconds(1));
  const uint64_t open = running.active_connections();
  running.Stop();
  PLBY_LOG(kInfo, "stopped accepted=", (*node)->accepted_connections(),
           " closed_open_connections=", open);
  return worker_failed.load() ? kExitRuntimeError : kExitOk;
}
