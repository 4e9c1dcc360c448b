// The plbyctl command line: what the user asked for, checked before any node is contacted.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "balance/algorithm.h"
#include "net/host_port.h"

namespace plby::ctl {

inline constexpr char kDefaultNode[] = "127.0.0.1:9100";
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(5);
// --concurrency: nodes worked on at once, so that 1000 nodes do not open 1000 channels at once.
inline constexpr int kDefaultConcurrency = 16;
inline constexpr int kMaxConcurrency = 1024;

enum class Command {
  kStatus,
  kPoolsList,
  kPoolsSet,
  kBackendsList,
  kBackendsAdd,
  kBackendsRemove,
  kBackendsSet,
  kBackendsDrain,
  kBackendsUndrain,
  kBackendsWatch,
  kDiff,
  kApply,
  kReconcile,
  kCertsList,
  kCertsReload,
};

// diff, apply and reconcile: the commands that work from a file of desired pools (-f).
inline bool IsSyncCommand(Command command) {
  return command == Command::kDiff || command == Command::kApply || command == Command::kReconcile;
}

enum class OutputFormat { kTable, kJson };

struct TlsFiles {
  std::string ca;           // CA that signed the nodes' certificates
  std::string cert;         // this client's certificate ...
  std::string key;          // ... and key
  std::string server_name;  // name to check the node's certificate against, instead of its host
  bool enabled() const { return !ca.empty() || !cert.empty() || !key.empty(); }
};

struct Invocation {
  Command command = Command::kStatus;
  std::string command_name;  // "backends add"
  std::vector<std::string> nodes;
  // --fleet names: each becomes a node per address it resolves to (ResolveFleets adds them).
  std::vector<net::HostPort> fleets;
  absl::Duration timeout = kDefaultTimeout;
  OutputFormat output = OutputFormat::kTable;
  std::string pool;     // empty: the node's only pool
  std::string address;  // the backend, for add/remove/set/drain/undrain
  std::optional<int64_t> weight;
  std::optional<uint64_t> expected_version;
  TlsFiles tls;
  std::optional<int64_t> watch_count;            // stop after this many updates per node
  std::optional<absl::Duration> watch_duration;  // stop after this long
  std::optional<absl::Duration> drain_timeout;   // drain/remove: then close what is left
  bool if_absent = false;  // add: a node that already has the backend as asked is done
  // pools set: how the pool should balance (at least one is set).
  std::optional<balance::Algorithm> algorithm;
  std::optional<absl::Duration> slow_start;
  std::optional<balance::HashKey> hash;
  std::optional<uint64_t> maglev_table_size;
  // diff, apply: the file of desired pools (-f).
  std::string file;
  // Nodes worked on at once (not for watch, which holds a stream per node).
  int concurrency = kDefaultConcurrency;
  // reconcile: the time between rounds, where /metrics and /healthz are served, and the log
  // lines' format ("text" or "json").
  absl::Duration every = absl::Seconds(10);
  std::string listen = "127.0.0.1:9180";
  std::string log_format = "text";
};

// Either an invocation to run, or help text to print.
struct ParsedCommandLine {
  std::optional<Invocation> invocation;
  std::string help;
};

// `args` excludes the program name. `environment` supplies PLBY_NODES, PLBY_FLEET, PLBY_CA,
// PLBY_CERT and PLBY_KEY. Errors are InvalidArgument with a message that names the bad argument and
// what would be valid.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& environment);

}  // namespace plby::ctl
