// plby-node: flags, signals and wiring. The logic lives in the libraries.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "balance/algorithm.h"
#include "balance/settings.h"
#include "config/config.h"
#include "control/control_plane.h"
#include "control/control_server.h"
#include "discovery/backend_resolver.h"
#include "discovery/dns_discovery.h"
#include "log/log.h"
#include "metrics/http_server.h"
#include "metrics/routes.h"
#include "net/event_loop.h"
#include "net/own_listeners.h"
#include "net/socket_address.h"
#include "plby/version.h"
#include "pool/pool_registry.h"
#include "runtime/certificate_reloader.h"
#include "runtime/node.h"
#include "state/state_file.h"
#include "text/quote.h"

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
  --log-format FORMAT   text, or json: one object per line (default: text)
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
  plby::log::Format log_format = plby::log::Format::kText;
};

[[noreturn]] void UsageError(absl::string_view message) {
  std::fprintf(stderr, "plby-node: %.*s\nRun 'plby-node --help' for the options.\n",
               static_cast<int>(message.size()), message.data());
  std::exit(kExitUsage);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  std::set<std::string> given;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    std::optional<absl::string_view> inline_value;
    if (const size_t eq = arg.find('=');
        absl::StartsWith(arg, "--") && eq != absl::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    // Each flag once: a second value would silently win. --config and --check-config both
    // name the one file to read.
    const std::string name(arg == "-c" || arg == "--check-config" ? "--config" : arg);
    if (absl::StartsWith(arg, "-") && !given.insert(name).second) {
      UsageError(name == "--config"
                     ? "--config and --check-config name the one file to read: give one of "
                       "them, once"
                     : absl::StrCat(arg, " is given twice (give each flag once)"));
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
        UsageError(absl::StrCat("--workers ", plby::text::Quote(text),
                                " is not valid (valid: a whole number from 1 to ", kMaxWorkers,
                                ")"));
      }
      flags.workers = workers;
    } else if (arg == "--log-level") {
      absl::StatusOr<plby::log::Level> level = plby::log::ParseLevel(value());
      if (!level.ok()) UsageError(absl::StrCat("--log-level: ", level.status().message()));
      flags.log_level = *level;
    } else if (arg == "--log-format") {
      absl::StatusOr<plby::log::Format> format = plby::log::ParseFormat(value());
      if (!format.ok()) UsageError(absl::StrCat("--log-format: ", format.status().message()));
      flags.log_format = *format;
    } else {
      UsageError(absl::StrCat("unknown argument ", plby::text::Quote(argv[i])));
    }
  }
  if (flags.workers == 0) {
    flags.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    flags.workers = std::min(flags.workers, kMaxWorkers);
  }
  return flags;
}

// Like HAProxy and nginx, take every descriptor the hard limit allows: each proxied connection
// needs two. Returns the limit now in force.
int64_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  getrlimit(RLIMIT_NOFILE, &limit);
  return static_cast<int64_t>(limit.rlim_cur);
}

// The connections the descriptor limit leaves room for: two descriptors each, after a reserve
// for listeners, event loops, health checks, the control service and the state file.
int64_t ConnectionsAllowedBy(int64_t descriptor_limit) {
  const int64_t reserve = std::min<int64_t>(256, descriptor_limit / 4);
  return std::max<int64_t>(1, (descriptor_limit - reserve) / 2);
}

// The state file named in the config, read (nullopt when there is none yet).
absl::StatusOr<std::optional<plby::state::State>> ReadState(const plby::config::Config& config) {
  if (config.control.state_file.empty()) return std::optional<plby::state::State>();
  return plby::state::ReadStateFile(config.control.state_file);
}

int CheckConfig(const plby::config::Config& config) {
  size_t backends = 0;
  for (const auto& pool : config.pools) backends += pool.backends.size();
  for (const std::string& warning : config.warnings) {
    std::fprintf(stderr, "%s: warning\n", warning.c_str());
  }
  absl::StatusOr<std::optional<plby::state::State>> state = ReadState(config);
  if (!state.ok()) {
    std::fprintf(stderr,
                 "%s\nplby-node: the state file is not usable: the node would refuse to "
                 "start\n",
                 std::string(state.status().message()).c_str());
    return kExitUsage;
  }
  // The pools exactly as a start would build them, saved state included, so that what the
  // start would note (a saved name that does not resolve, an entry left out) is said here too.
  std::vector<std::string> notes;
  absl::StatusOr<std::unique_ptr<plby::pool::PoolRegistry>> pools =
      plby::pool::PoolRegistry::Create(config, 1, *state ? &**state : nullptr,
                                       plby::config::OwnListenersOf(config), &notes);
  if (!pools.ok()) {
    std::fprintf(stderr, "%s\nplby-node: the node would refuse to start\n",
                 std::string(pools.status().message()).c_str());
    return kExitUsage;
  }
  for (const std::string& note : notes) std::fprintf(stderr, "%s: warning\n", note.c_str());
  std::printf(
      "%s: configuration is valid: %zu server(s), %zu backend(s), %zu pool(s), control %s\n",
      config.source.c_str(), config.servers.size(), backends, config.pools.size(),
      config.control.listen.ToString().c_str());
  for (const auto& server : config.servers) {
    std::printf("  server \"%s\" listen %s pool \"%s\"%s\n", server.name.c_str(),
                server.listen.ToString().c_str(), server.pool().c_str(),
                server.accept_proxy ? " accept_proxy" : "");
    if (server.routes.size() == 1 && server.routes.front().tls == plby::config::RouteTls::kNone) {
      continue;
    }
    for (const auto& route : server.routes) {
      // What the route matches: its SNI names, or an HTTP route's conditions; else nothing.
      std::string match = !route.sni.empty() ? absl::StrCat("sni ", absl::StrJoin(route.sni, ","))
                                             : plby::route::Describe(route.http_match);
      if (match.empty()) match = "default";
      std::printf("    route %s%s -> pool \"%s\"\n", match.c_str(),
                  route.tls == plby::config::RouteTls::kPassthrough ? " tls passthrough"
                  : route.tls == plby::config::RouteTls::kTerminate ? " tls terminate"
                                                                    : "",
                  route.pool.c_str());
    }
  }
  for (const auto& pool : config.pools) {
    const bool from_state = (*pools)->FromSavedState(pool.name);
    const plby::pool::Pool* running = (*pools)->Find(pool.name);
    const plby::pool::BalanceSettings& balance = running->snapshot()->balance();
    const std::string balancing = plby::balance::Summary(balance);
    std::printf(
        "  pool \"%s\" algorithm %s backends %zu%s connect_timeout %s idle_timeout %s health "
        "%s\n",
        pool.name.c_str(), balancing.c_str(), running->snapshot()->backends().size(),
        from_state ? " (from the state file)" : "",
        absl::FormatDuration(pool.connect_timeout).c_str(),
        absl::FormatDuration(pool.idle_timeout).c_str(), pool.health.enabled ? "tcp" : "none");
  }
  if (!config.control.state_file.empty()) {
    std::printf("  state file %s: %s\n", config.control.state_file.c_str(),
                *state ? "valid" : "not there yet (created at the first change)");
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  plby::log::SetLevel(flags.log_level);
  plby::log::SetFormat(flags.log_format);
  // Names from an /etc/hosts-style file instead of the resolver (the tests use it).
  if (const char* hosts = std::getenv("PLBY_HOSTS_FILE"); hosts != nullptr && *hosts != '\0') {
    plby::net::UseHostsFile(hosts);
  }

  absl::StatusOr<plby::config::Config> config = plby::config::LoadConfigFile(flags.config_path);
  if (!config.ok()) {
    if (flags.log_format == plby::log::Format::kJson && !flags.check_only) {
      // A log pipeline reads one object per line: the refusal is one, its lines escaped.
      PLBY_LOG(kError, "configuration refused, nothing was started: ", config.status().message());
    } else {
      std::fprintf(stderr, "%s\nplby-node: configuration refused, nothing was started\n",
                   std::string(config.status().message()).c_str());
    }
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

  // The state file, if any: a corrupt or unreadable one stops the start, never silently.
  absl::StatusOr<std::optional<plby::state::State>> saved = ReadState(*config);
  if (!saved.ok()) {
    PLBY_LOG(kError, "cannot start: ", saved.status().message());
    PLBY_LOG(kError, "the state file is refused as a whole; fix it, or stop the node and delete ",
             config->control.state_file, " to start again from ", config->source);
    return kExitUsage;
  }

  const int64_t descriptor_limit = RaiseDescriptorLimit();
  const int64_t allowed = ConnectionsAllowedBy(descriptor_limit);
  const int64_t max_connections = config->node.max_connections.value_or(allowed);
  if (max_connections > allowed) {
    // Honoured as asked: past the descriptors, accepts fail with EMFILE and pause briefly.
    PLBY_LOG(kWarn, "node.max_connections ", max_connections,
             " is more than the descriptor limit of ", descriptor_limit, " allows (", allowed,
             "); beyond that, accepting pauses whenever descriptors run out");
  }
  PLBY_LOG(kInfo, "file descriptor limit ", descriptor_limit, ", at most ", max_connections,
           " connections open at once");

  // A worker whose event loop fails stops the whole node, with exit code 1: a node serving on
  // fewer workers than asked would leave part of the traffic unanswered.
  static std::atomic<bool> worker_failed{false};
  std::vector<std::string> notes;
  absl::StatusOr<std::unique_ptr<plby::runtime::Node>> node =
      plby::runtime::Node::Create(*config,
                                  {.workers = flags.workers,
                                   .max_connections = max_connections,
                                   .saved_state = *saved ? &**saved : nullptr,
                                   .on_worker_failure =
                                       [](const absl::Status&) {
                                         worker_failed.store(true);
                                         kill(getpid(), SIGTERM);  // wakes the sigwait() below
                                       }},
                                  &notes);
  if (!node.ok()) {
    PLBY_LOG(kError, "cannot start: ", node.status().message());
    return kExitRuntimeError;
  }
  for (const std::string& note : notes) PLBY_LOG(kWarn, note);
  plby::runtime::Node& running = **node;

  std::unique_ptr<plby::state::StateFile> state_file;
  if (!config->control.state_file.empty()) {
    // What was saved, as the node runs it now (see PoolRegistry::StateToKeep).
    plby::state::State kept = running.pools().StateToKeep();
    absl::StatusOr<std::unique_ptr<plby::state::StateFile>> opened =
        plby::state::StateFile::Open(config->control.state_file, std::move(kept));
    if (!opened.ok()) {
      PLBY_LOG(kError, "cannot start: ", opened.status().message());
      return kExitRuntimeError;
    }
    state_file = *std::move(opened);
    PLBY_LOG(kInfo, "state file ", config->control.state_file,
             *saved ? ": pools it lists start from it" : ": none yet, created at the first change");
  }

  for (const auto& listener : running.listeners()) {
    const plby::pool::Pool* pool = running.pools().Find(listener.pool);
    PLBY_LOG(kInfo, "listening server=", listener.server, " pool=", listener.pool,
             " address=", listener.address.ToString(),
             " algorithm=", plby::balance::AlgorithmName(pool->snapshot()->balance().algorithm),
             " backends=", pool->snapshot()->backends().size(), " version=", pool->version(),
             " health=", pool->settings().health.enabled ? "tcp" : "none",
             listener.spec->routes.size() > 1
                 ? absl::StrCat(" routes=", listener.spec->routes.size(),
                                " pools=", absl::StrJoin(listener.pools, ","))
                 : "",
             listener.spec->accept_proxy ? " accept_proxy=on" : "",
             listener.spec->tls != nullptr       ? " tls=terminate"
             : listener.spec->reads_client_hello ? " tls=passthrough"
                                                 : "");
  }

  plby::control::NodeFacts facts{
      .version = PLBY_VERSION,
      .started = absl::Now(),
      .workers = running.worker_count(),
      .listeners = {},
      .accepted_connections = [&running] { return running.accepted_connections(); },
      .active_connections = [&running] { return running.active_connections(); },
      .counters = [&running] { return running.totals(); },
      .listener_counters = [&running] { return running.listener_totals(); },
      .certificates = {},
      .reload_certificates = {},
      .ready_after_sync = config->control.ready_after_sync};
  absl::StatusOr<std::unique_ptr<plby::runtime::CertificateReloader>> reloader =
      plby::runtime::CertificateReloader::Create(running.listener_specs(), running.worker_count());
  if (!reloader.ok()) {
    PLBY_LOG(kError, "cannot start: ", reloader.status().message());
    return kExitRuntimeError;
  }
  facts.certificates = [&running] {
    std::vector<plby::control::CertificateStatus> all;
    for (const plby::proxy::ListenerSpec* spec : running.listener_specs()) {
      if (spec->tls == nullptr) continue;
      bool first = true;
      for (const plby::tls::LoadedCertificate& certificate : spec->tls->Get()->certificates()) {
        all.push_back({.listener = spec->name,
                       .file = certificate.cert_file,
                       .names = certificate.facts.names,
                       .not_after = certificate.facts.not_after,
                       .fingerprint = certificate.facts.fingerprint,
                       .is_default = first});
        first = false;
      }
    }
    return all;
  };
  facts.reload_certificates = [reloader = reloader->get()] {
    std::vector<plby::control::CertificateReloadStatus> all;
    for (plby::runtime::CertificateReload& reload : reloader->Reload("ReloadCertificates")) {
      all.push_back({.listener = std::move(reload.listener),
                     .changed = reload.changed,
                     .error = std::move(reload.error)});
    }
    return all;
  };
  for (const auto& listener : running.listeners()) {
    for (const std::string& pool : listener.pools)
      facts.listeners.push_back({pool, listener.address});
  }
  plby::control::ControlPlane control_plane(running.pools(), std::move(facts), state_file.get());
  absl::StatusOr<std::unique_ptr<plby::control::ControlServer>> control =
      plby::control::ControlServer::Start(config->control, control_plane);
  if (!control.ok()) {
    PLBY_LOG(kError, "cannot start: ", control.status().message());
    return kExitRuntimeError;
  }
  PLBY_LOG(kInfo, "control service listening address=", (*control)->address().ToString(),
           " tls=", (*control)->tls() ? "mtls" : "off");
  if (const auto& health = (*control)->health_address()) {
    PLBY_LOG(kInfo, "health service listening address=", health->ToString(), " tls=off");
  }

  std::unique_ptr<plby::metrics::HttpServer> metrics;
  plby::metrics::TrafficHistory history;
  std::unique_ptr<plby::metrics::HistorySampler> sampler;
  if (config->metrics.listen) {
    absl::StatusOr<std::unique_ptr<plby::metrics::HttpServer>> started =
        plby::metrics::HttpServer::Start(
            config->metrics.listen_address, [&control_plane, &history](const std::string& path) {
              return plby::metrics::Route(control_plane, history, path);
            });
    if (!started.ok()) {
      PLBY_LOG(kError, "cannot start: metrics listener: ", started.status().message());
      return kExitRuntimeError;
    }
    metrics = *std::move(started);
    sampler = std::make_unique<plby::metrics::HistorySampler>(control_plane, history);
    PLBY_LOG(kInfo, "metrics listening address=", metrics->address().ToString(),
             " paths=/metrics,/,/status.json,/history.json");
  }

  // Every listener is bound now: no backend may reach one of them, whatever adds it.
  plby::net::OwnListeners own;
  for (const auto& listener : running.listeners()) {
    own.Add(plby::net::Listener::Traffic(listener.server, listener.address));
  }
  own.Add(plby::net::Listener::Grpc(plby::net::ListenerKind::kControl, (*control)->address()));
  if (const auto& health = (*control)->health_address()) {
    own.Add(plby::net::Listener::Grpc(plby::net::ListenerKind::kHealth, *health));
  }
  if (metrics != nullptr) own.Add(plby::net::Listener::Metrics(metrics->address()));
  control_plane.SetOwnListeners(own);
  plby::discovery::DnsDiscovery dns(running.pools(), own, state_file.get(),
                                    [&control_plane] { control_plane.NotifyChanged(); });
  dns.Start();  // the first lookups now, before the node says it is ready
  plby::discovery::BackendResolver resolver(running.pools(), std::move(own),
                                            [&control_plane] { control_plane.NotifyChanged(); });
  resolver.Start();

  running.Start();
  (*reloader)->Start();
  PLBY_LOG(kInfo, "ready workers=", running.worker_count());

  int signo = 0;
  while (true) {
    if (sigwait(&stop_signals, &signo) != 0) continue;
    if (signo != SIGHUP) break;
    PLBY_LOG(kWarn, "SIGHUP ignored: configuration reload is not supported; restart the node");
  }

  // Graceful stop: no new connections (listeners closed, health NOT_SERVING so that load
  // balancers and Kubernetes stop sending), the open ones go on until they end or the drain
  // timeout passes; a second signal ends the wait at once.
  if (worker_failed.load()) {
    PLBY_LOG(kError, "a worker failed, stopping");
  } else {
    PLBY_LOG(kInfo, "received ", signo == SIGINT ? "SIGINT" : "SIGTERM", ", stopping");
    (*control)->SetServing(false);
    // The main thread has nothing else to do while it waits; a signal wakes it early.
    running.Drain(config->node.drain_timeout, [&stop_signals](absl::Duration wait) {
      const timespec tick = absl::ToTimespec(wait);
      const int second = sigtimedwait(&stop_signals, nullptr, &tick);
      return second == SIGINT || second == SIGTERM;
    });
  }

  // Watch streams end first (their feed closes), then the control service, then the workers.
  (*reloader)->Stop();
  resolver.Stop();
  dns.Stop();
  running.pools().changes().Close();
  (*control)->Shutdown(absl::Seconds(1));
  metrics.reset();
  sampler.reset();
  const uint64_t open = running.active_connections();
  running.Stop();
  PLBY_LOG(kInfo, "stopped accepted=", running.accepted_connections(),
           " closed_open_connections=", open);
  return worker_failed.load() ? kExitRuntimeError : kExitOk;
}
