// plbyctl: flags, fan-out to the nodes, output. The calls and the rendering live beside it.
#include <grpc/support/log.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "channels.h"
#include "cli.h"
#include "desired_pools.h"
#include "fan_out.h"
#include "fleet.h"
#include "log/log.h"
#include "metrics/http_server.h"
#include "net/file_watch.h"
#include "net/socket_address.h"
#include "node_calls.h"
#include "reconciler.h"
#include "render.h"
#include "sync.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitSomeNodeFailed = 1;
constexpr int kExitUsage = 2;

void Print(FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

// Runs `work(i)` for every node index at once (a watch holds each node's stream for as long as
// it runs) and waits for all.
template <typename Work>
void ForEachNodeConcurrently(size_t count, const Work& work) {
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (size_t i = 0; i < count; ++i) threads.emplace_back([&work, i] { work(i); });
  for (std::thread& thread : threads) thread.join();
}

// The progress line of a fan-out: on a terminal, for tables.
bool ShowProgress(const plby::ctl::Invocation& invocation) {
  return invocation.output == plby::ctl::OutputFormat::kTable && invocation.nodes.size() > 1 &&
         plby::ctl::StderrIsTerminal();
}

// The certificate name of each node found through a fleet: the fleet's name.
using FleetNames = std::map<std::string, std::string>;

// gRPC says little about a failed TLS handshake ("Ssl handshake failed", "Socket closed"):
// when a call failed in one, a handshake of plbyctl's own says what is wrong with the node's
// certificate, and the error gets that.
void AddHandshakeDiagnosis(const plby::ctl::ChannelFactory& channels, const std::string& node,
                           const std::string& name, absl::Duration timeout, absl::Status& error) {
  if (error.code() != absl::StatusCode::kUnavailable) return;
  const std::string text = absl::AsciiStrToLower(error.message());
  if (!channels.tls()) {
    // A TLS node closes a plaintext client's connection without a word.
    if (absl::StrContains(text, "socket closed")) {
      error = absl::Status(error.code(),
                           absl::StrCat(error.message(),
                                        " (if the node's control service uses mTLS, give --ca, "
                                        "--cert and --key)"));
    }
    return;
  }
  if (!absl::StrContains(text, "ssl") && !absl::StrContains(text, "handshake") &&
      !absl::StrContains(text, "certificate")) {
    return;
  }
  const absl::Status diagnosis = channels.DiagnoseHandshake(node, name, timeout);
  if (diagnosis.ok()) return;
  error = absl::Status(error.code(),
                       absl::StrCat(diagnosis.message(), " (gRPC: ", error.message(), ")"));
}

// gRPC's own log lines ("E1201 ... Handshake failed ...") repeat what the failed call reports,
// in a raw form; they are shown only when GRPC_VERBOSITY asks for them.
void QuietGrpcLog(gpr_log_func_args* args) {
  static const bool verbose = std::getenv("GRPC_VERBOSITY") != nullptr;
  if (!verbose) return;
  std::fprintf(stderr, "plbyctl: grpc: %s\n", args->message);
}

int RunOnce(const plby::ctl::Invocation& invocation, const plby::ctl::ChannelFactory& channels,
            const FleetNames& names) {
  std::vector<plby::ctl::NodeResult> results(invocation.nodes.size());
  {
    plby::ctl::Progress progress("done", invocation.nodes.size(), ShowProgress(invocation));
    plby::ctl::ForEachNode(invocation.nodes.size(), invocation.concurrency, [&](size_t i) {
      const std::string& node = invocation.nodes[i];
      const auto name = names.find(node);
      results[i] = plby::ctl::RunOnNode(
          invocation, node, channels.ChannelTo(node, name == names.end() ? "" : name->second));
      progress.NodeDone(results[i].error.ok());
    });
  }
  int failed = 0;
  for (auto& result : results) {
    if (result.error.ok()) continue;
    ++failed;
    const auto name = names.find(result.node);
    AddHandshakeDiagnosis(channels, result.node, name == names.end() ? "" : name->second,
                          invocation.timeout, result.error);
  }
  if (invocation.output == plby::ctl::OutputFormat::kJson) {
    Print(stdout, plby::ctl::RenderJson(invocation, results));
  } else {
    Print(stdout, plby::ctl::RenderTable(invocation, results));
    for (const auto& result : results) {
      if (result.error.ok()) continue;
      Print(stderr, plby::ctl::RenderFailure(result.node, result.error));
      if (result.error.code() == absl::StatusCode::kDeadlineExceeded &&
          invocation.command != plby::ctl::Command::kStatus &&
          invocation.command != plby::ctl::Command::kPoolsList &&
          invocation.command != plby::ctl::Command::kBackendsList &&
          invocation.command != plby::ctl::Command::kCertsList &&
          invocation.command != plby::ctl::Command::kCertsReload) {
        Print(stderr, "plbyctl: " + result.node +
                          ": the node may still have applied the change just before the "
                          "deadline; check with: plbyctl " +
                          (invocation.command == plby::ctl::Command::kPoolsSet ? "pools list"
                                                                               : "backends list") +
                          "\n");
      }
    }
    if (failed > 0 && results.size() > 1) {
      Print(stderr, "plbyctl: " + std::to_string(failed) + " of " + std::to_string(results.size()) +
                        " nodes failed\n");
    }
  }
  return failed == 0 ? kExitOk : kExitSomeNodeFailed;
}

// diff and apply: every node read and planned (and changed, for apply) against `desired`.
int Sync(const plby::ctl::Invocation& invocation, const plby::ctl::DesiredPools& desired,
         const plby::ctl::ChannelFactory& channels, const FleetNames& names) {
  const bool apply = invocation.command == plby::ctl::Command::kApply;
  const plby::ctl::SyncOptions options{
      .mode = apply ? plby::ctl::SyncMode::kApply : plby::ctl::SyncMode::kDiff,
      .drain_timeout = invocation.drain_timeout,
      .max_attempts = 5};
  std::vector<plby::ctl::NodeSync> results(invocation.nodes.size());
  {
    plby::ctl::Progress progress(apply ? "applied" : "checked", invocation.nodes.size(),
                                 ShowProgress(invocation));
    plby::ctl::ForEachNode(invocation.nodes.size(), invocation.concurrency, [&](size_t i) {
      const std::string& node = invocation.nodes[i];
      const auto name = names.find(node);
      plby::ctl::NodeClient client(
          channels.ChannelTo(node, name == names.end() ? "" : name->second), invocation.timeout);
      results[i] = plby::ctl::SyncNode(desired, node, client, options);
      if (!results[i].error.ok()) {
        AddHandshakeDiagnosis(channels, node, name == names.end() ? "" : name->second,
                              invocation.timeout, results[i].error);
      }
      progress.NodeDone(results[i].error.ok());
    });
  }
  const plby::ctl::SyncCounts counts = plby::ctl::CountSyncs(results);
  if (invocation.output == plby::ctl::OutputFormat::kJson) {
    Print(stdout, plby::ctl::RenderSyncJson(invocation, desired, results));
  } else {
    for (const std::string& note : desired.notes) Print(stderr, "plbyctl: note: " + note + "\n");
    Print(stdout, plby::ctl::RenderSyncTable(invocation, results));
    for (const plby::ctl::NodeSync& result : results) {
      for (const std::string& note : result.notes) {
        Print(stderr, "plbyctl: " + result.node + ": " + note + "\n");
      }
      if (result.reverts_drift()) {
        Print(stderr, "plbyctl: " + result.node + ": " + (apply ? "reverted" : "would revert") +
                          " drift: the node was synced to this file, and its pools have changed "
                          "since (by another writer)\n");
      }
      if (!result.error.ok()) Print(stderr, plby::ctl::RenderFailure(result.node, result.error));
    }
    Print(stdout, plby::ctl::RenderSyncSummary(invocation, results));
  }
  if (apply) return counts.failed == 0 ? kExitOk : kExitSomeNodeFailed;
  return counts.failed > 0 ? kExitUsage : counts.changed > 0 ? kExitSomeNodeFailed : kExitOk;
}

// Watches every node until each watch ends; Ctrl-C (or SIGTERM) ends them all, normally.
int Watch(const plby::ctl::Invocation& invocation, const plby::ctl::ChannelFactory& channels,
          const FleetNames& names) {
  // The signals are taken by one thread with sigwait(); the others inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int signo : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, signo);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  plby::ctl::WatchStop stop;
  std::thread signal_waiter([&] {
    int signo = 0;
    while (sigwait(&signals, &signo) != 0) {
    }
    if (signo != SIGUSR1) stop.StopAll();  // SIGUSR1: every watch ended by itself
  });

  std::mutex output;
  std::vector<absl::Status> errors(invocation.nodes.size());
  ForEachNodeConcurrently(invocation.nodes.size(), [&](size_t i) {
    const std::string& node = invocation.nodes[i];
    const auto name = names.find(node);
    errors[i] = plby::ctl::WatchNode(
        invocation, node, channels.ChannelTo(node, name == names.end() ? "" : name->second), stop,
        [&](const plby::v1::WatchBackendsResponse& u) {
          const std::string text = plby::ctl::RenderWatchUpdate(invocation.output, node, u);
          std::lock_guard<std::mutex> lock(output);
          Print(stdout, text);
        },
        [&](const std::string& note) {
          std::lock_guard<std::mutex> lock(output);
          Print(stderr, "plbyctl: " + node + ": " + note + "\n");
        });
    if (!errors[i].ok()) {
      AddHandshakeDiagnosis(channels, node, name == names.end() ? "" : name->second,
                            invocation.timeout, errors[i]);
      std::lock_guard<std::mutex> lock(output);
      Print(stderr, plby::ctl::RenderFailure(node, errors[i]));
    }
  });
  pthread_kill(signal_waiter.native_handle(), SIGUSR1);
  signal_waiter.join();
  for (const absl::Status& error : errors) {
    if (!error.ok()) return kExitSomeNodeFailed;
  }
  return kExitOk;
}

// The controller: rounds until SIGTERM or SIGINT, /metrics and /healthz served meanwhile.
int Reconcile(const plby::ctl::Invocation& invocation, plby::ctl::DesiredPools desired,
              const plby::ctl::ChannelFactory& channels) {
  plby::log::SetFormat(*plby::log::ParseFormat(invocation.log_format));
  absl::StatusOr<plby::net::FileWatch> watch = plby::net::FileWatch::Create({invocation.file});
  if (!watch.ok()) {
    Print(stderr, "plbyctl: " + std::string(watch.status().message()) + "\n");
    return kExitUsage;
  }
  if (!watch->polling().empty()) {
    PLBY_LOG(kWarn, "reconcile: ", watch->polling(),
             "; the file is looked at every second instead");
  }
  sigset_t signals;
  sigemptyset(&signals);
  for (int signo : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, signo);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  plby::ctl::ReconcileOptions options{.file = invocation.file,
                                      .fleets = invocation.fleets,
                                      .nodes = invocation.nodes,
                                      .every = invocation.every,
                                      .concurrency = invocation.concurrency,
                                      .timeout = invocation.timeout,
                                      .drain_timeout = invocation.drain_timeout};
  for (const std::string& note : desired.notes) PLBY_LOG(kWarn, "file note: ", note);
  plby::ctl::Reconciler reconciler(std::move(options), channels, std::move(desired),
                                   *std::move(watch));
  absl::StatusOr<plby::net::SocketAddress> listen = plby::net::SocketAddress::Resolve(
      *plby::net::ParseHostPort(invocation.listen, plby::net::AddressUse::kListen));
  if (!listen.ok()) {  // (a name that does not resolve: it cannot start, like a port in use)
    Print(stderr, "plbyctl: --listen " + invocation.listen + ": " +
                      std::string(listen.status().message()) + "\n");
    return kExitSomeNodeFailed;
  }
  absl::StatusOr<std::unique_ptr<plby::metrics::HttpServer>> http =
      plby::metrics::HttpServer::Start(
          *listen, [&reconciler](const std::string& path) { return reconciler.Serve(path); });
  if (!http.ok()) {
    Print(stderr, "plbyctl: --listen " + invocation.listen + ": " +
                      std::string(http.status().message()) + "\n");
    return kExitSomeNodeFailed;
  }
  PLBY_LOG(kInfo, "serving /metrics and /healthz address=", (*http)->address().ToString());
  std::thread signal_waiter([&] {
    int signo = 0;
    while (sigwait(&signals, &signo) != 0) {
    }
    if (signo != SIGUSR1) PLBY_LOG(kInfo, "signal ", signo, ": stopping after this round");
    reconciler.Stop();
  });
  reconciler.Run();
  pthread_kill(signal_waiter.native_handle(), SIGUSR1);
  signal_waiter.join();
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  gpr_set_log_function(QuietGrpcLog);
  std::map<std::string, std::string> environment;
  for (const char* name : {"PLBY_NODES", "PLBY_FLEET", "PLBY_CA", "PLBY_CERT", "PLBY_KEY"}) {
    if (const char* value = std::getenv(name)) environment[name] = value;
  }
  absl::StatusOr<plby::ctl::ParsedCommandLine> parsed =
      plby::ctl::ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc), environment);
  if (!parsed.ok()) {
    Print(stderr, "plbyctl: " + std::string(parsed.status().message()) +
                      "\nRun 'plbyctl --help' for usage.\n");
    return kExitUsage;
  }
  if (!parsed->invocation) {
    Print(stdout, parsed->help);
    return kExitOk;
  }
  plby::ctl::Invocation& invocation = *parsed->invocation;
  const bool sync = plby::ctl::IsSyncCommand(invocation.command);
  // The file first: a bad one stops the run before any node is contacted.
  std::optional<plby::ctl::DesiredPools> desired;
  if (sync) {
    absl::StatusOr<plby::ctl::DesiredPools> loaded = plby::ctl::LoadDesiredPools(invocation.file);
    if (!loaded.ok()) {
      Print(stderr, "plbyctl: " + std::string(loaded.status().message()) + "\n");
      return kExitUsage;
    }
    desired = *std::move(loaded);
  }
  if (const char* hosts = std::getenv("PLBY_HOSTS_FILE"); hosts != nullptr && *hosts != '\0') {
    plby::net::UseHostsFile(hosts);
  }
  // A fleet is every address its name has now; a name that resolves to nothing stops the run
  // before any node is contacted, since the fleet it stands for is unknown. (The reconciler
  // resolves its fleets every round itself.)
  FleetNames names;
  if (invocation.command != plby::ctl::Command::kReconcile) {
    plby::ctl::FleetNodes found = plby::ctl::ResolveFleets(invocation.nodes, invocation.fleets);
    if (!found.failures.empty()) {
      Print(stderr, "plbyctl: " + std::string(found.failures.front().message()) + "\n");
      // For diff, an error is 2 (1 means "differs").
      return invocation.command == plby::ctl::Command::kDiff ? kExitUsage : kExitSomeNodeFailed;
    }
    invocation.nodes = std::move(found.nodes);
    names = std::move(found.names);
  }
  absl::StatusOr<plby::ctl::ChannelFactory> channels =
      plby::ctl::ChannelFactory::Create(invocation.tls);
  if (!channels.ok()) {
    Print(stderr, "plbyctl: " + std::string(channels.status().message()) + "\n");
    return kExitUsage;
  }
  if (invocation.command == plby::ctl::Command::kBackendsWatch) {
    return Watch(invocation, *channels, names);
  }
  if (invocation.command == plby::ctl::Command::kReconcile) {
    return Reconcile(invocation, *std::move(desired), *channels);
  }
  if (sync) return Sync(invocation, *desired, *channels, names);
  return RunOnce(invocation, *channels, names);
}
