#include "cli.h"

#include <charconv>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "balance/algorithm.h"
#include "config/duration.h"
#include "net/host_port.h"
#include "text/quote.h"

namespace plby::ctl {
namespace {

constexpr char kUsage[] = R"(Usage: plbyctl [flags] COMMAND [ARGS]

Reads and changes the backend pools of one or many plby nodes, through their gRPC
control service. Every command goes to all the nodes at once.

Commands:
  status                      node version, uptime, workers and pools
  pools list                  the pools of each node
  pools set                   how a pool balances (--algorithm A, --slow-start D,
                              --hash K, --maglev-table-size N)
  backends list               the backends of a pool
  backends add ADDRESS        add a backend (--weight N, default 1)
  backends remove ADDRESS     remove a backend; its open connections go on
                              (--drain-timeout D: closed after D)
  backends set ADDRESS        change a backend's weight (--weight N)
  backends drain ADDRESS      no new connections to the backend; open ones go on
                              (--drain-timeout D: closed after D)
  backends undrain ADDRESS    take new connections again
  backends watch              print each pool change as it happens (--count N,
                              --duration D; otherwise until Ctrl-C)
  diff -f FILE                what apply would change on each node
  apply -f FILE               make the pools FILE names exactly what it says
  reconcile -f FILE           keep applying FILE, every --every and when it changes

Flags:
  --node ADDR          a node's control address, HOST:PORT; repeat it or separate
                       with commas for a fleet (default: $PLBY_NODES, else 127.0.0.1:9100)
  --fleet NAME:PORT    every address NAME resolves to is a node (a Kubernetes
                       headless Service, say); repeatable, adds to --node
                       (default: $PLBY_FLEET). $PLBY_HOSTS_FILE, if set, names an
                       /etc/hosts-style file read instead of DNS for these names
  --pool NAME          the pool (default: the node's only pool)
  --weight N           1-256, for add and set
  --algorithm A        pools set: RR (round_robin), WRR (weighted_round_robin),
                       least_connections (LC), p2c (power_of_two), random or maglev
  --slow-start D       pools set: ramp a backend that starts taking connections
                       from 10% of its weight over D (0 turns it off; not with maglev)
  --hash K             pools set: source_ip or source_ip_port (maglev), header:NAME or
                       cookie:NAME (maglev and p2c, HTTP mode)
  --maglev-table-size N  pools set, maglev: a prime up to 5000011 (default 65537)
  --if-absent          add: a node that already has the backend with that weight,
                       not draining, counts as done (re-run a fleet-wide add safely)
  --expected-version V change only if the pool is at version V (add, remove, set,
                       drain, undrain, pools set): two operators cannot overwrite each other
  --timeout D          deadline per node, e.g. 5s or 500ms (default 5s)
  --concurrency N      nodes worked on at once, 1-1024 (default 16; not for watch)
  -o, --output FORMAT  table (default) or json (one document; watch: one per line)
  --ca FILE            CA of the nodes' certificates (mTLS; default: $PLBY_CA)
  --cert FILE          client certificate (default: $PLBY_CERT)
  --key FILE           client key (default: $PLBY_KEY)
  --tls-server-name N  name the node certificates carry, if not their address
  -h, --help           this help; also after a command: plbyctl backends add --help

Exit codes: 0 every node succeeded; 1 some node failed (each is named with its
error, and the nodes that succeeded keep the change); 2 bad command line (no node
was contacted). diff: 0 every node matches, 1 some differ, 2 errors.
)";

constexpr char kSyncHelp[] = R"(
FILE holds [[pool]] tables in the node's config syntax (a node's whole config.toml
will do: its servers' inline pools count too, its other tables are checked and
otherwise ignored). A pool FILE names becomes exactly what FILE says:
  - backends: added, removed (open connections go on; --drain-timeout D closes
    those left after D), weights set;
  - drain state: set where a backend has draining = true or false; a backend
    without the key keeps the drain state the node has (a `backends drain` by an
    operator is left alone);
  - balancing: algorithm, slow_start, hash, maglev_table_size.
Pools FILE does not name are left alone; a pool FILE names that a node lacks is an
error for that node. Timeouts and [pool.health] are start settings: apply does not
change them (a note says so). FILE is checked in full before any node is contacted
(errors name file:line:column, exit 2).

Each node is read, planned and changed against the version it was read at
(expected_version); when another writer gets in between (ABORTED), the node is read
again and re-planned, up to 5 attempts. Last, apply records FILE's content hash on
the node (plbyctl status shows it), so that a second apply of the same file finds
every node in sync and makes no call that changes anything.
)";

struct CommandSpec {
  const char* name;
  Command command;
  bool takes_address;
  const char* help;
};

constexpr CommandSpec kCommands[] = {
    {"status", Command::kStatus, false,
     "Usage: plbyctl status [flags]\n\nShows each node's version, uptime, workers, connections "
     "and pools.\n"},
    {"pools list", Command::kPoolsList, false,
     "Usage: plbyctl pools list [flags]\n\nLists each node's pools: name, the listeners that "
     "forward to it, algorithm,\nversion, backends, open connections and where the backends "
     "come from.\n"},
    {"pools set", Command::kPoolsSet, false,
     "Usage: plbyctl pools set [--pool NAME] [--algorithm A] [--slow-start D] [--hash K]\n"
     "                        [--maglev-table-size N] [--expected-version V]\n\n"
     "Changes how the pool balances new connections; open ones keep their backend. What is\n"
     "not given stays as it is. The change is saved in the node's state file, so it\n"
     "survives a restart, and bumps the pool's version.\n"
     "  --algorithm        RR (round_robin), WRR (weighted_round_robin), least_connections\n"
     "                     (LC), p2c (power_of_two), random, maglev\n"
     "  --slow-start       e.g. 30s: a backend that is added, undrained or healthy again\n"
     "                     starts at 10% of its weight and reaches all of it over D; 0s\n"
     "                     turns it off. Not with maglev (it would move keys)\n"
     "  --hash             maglev: source_ip (default) or source_ip_port; maglev and p2c,\n"
     "                     HTTP mode: header:NAME or cookie:NAME\n"
     "  --maglev-table-size  maglev: the lookup table's size, a prime (default 65537)\n"},
    {"certs list", Command::kCertsList, false,
     "Usage: plbyctl certs list [flags]\n\nLists the certificates of each node's listeners that "
     "terminate TLS: the file,\nthe names it is for, when it expires, its SHA-256 fingerprint "
     "(the first of a\nlistener is the default, for clients whose SNI matches none).\n"},
    {"certs reload", Command::kCertsReload, false,
     "Usage: plbyctl certs reload [flags]\n\nMakes each node read its certificate, key and "
     "ticket key files again, as it\ndoes by itself when they change on disk: new handshakes use "
     "them, open\nconnections keep theirs. A file that does not load is refused, and the node\n"
     "keeps the certificates it had (exit 1). Then lists the certificates in use.\n"},
    {"backends list", Command::kBackendsList, false,
     "Usage: plbyctl backends list [--pool NAME] [flags]\n\nLists the backends of a pool: "
     "address, weight, health, state (active or draining),\nactive and total connections.\n"},
    {"backends add", Command::kBackendsAdd, true,
     "Usage: plbyctl backends add ADDRESS [--weight N] [--if-absent] [--pool NAME]\n"
     "                            [--expected-version V]\n\n"
     "Adds the backend ADDRESS (HOST:PORT) to the pool. New connections start going to it\n"
     "at once. A node that already has it fails with ALREADY_EXISTS, unless --if-absent is\n"
     "given and it is there with the same weight and not draining: then nothing changes and\n"
     "the node reports it as already there (for a fleet where only some nodes lack it).\n"},
    {"backends remove", Command::kBackendsRemove, true,
     "Usage: plbyctl backends remove ADDRESS [--drain-timeout D] [--pool NAME]\n"
     "                               [--expected-version V]\n\n"
     "Removes the backend. Connections already open to it are not cut, unless\n"
     "--drain-timeout D is given: those still open after D are closed.\n"},
    {"backends set", Command::kBackendsSet, true,
     "Usage: plbyctl backends set ADDRESS --weight N [--pool NAME] [--expected-version V]\n\n"
     "Changes the backend's weight (1-256).\n"},
    {"backends drain", Command::kBackendsDrain, true,
     "Usage: plbyctl backends drain ADDRESS [--drain-timeout D] [--pool NAME]\n"
     "                              [--expected-version V]\n\n"
     "Sends no new connections to the backend; open ones go on until they end, or with\n"
     "--drain-timeout D until D has passed, when those left are closed.\n"},
    {"backends undrain", Command::kBackendsUndrain, true,
     "Usage: plbyctl backends undrain ADDRESS [--pool NAME] [--expected-version V]\n\n"
     "Lets the backend take new connections again.\n"},
    {"backends watch", Command::kBackendsWatch, false,
     "Usage: plbyctl backends watch [--pool NAME] [--count N] [--duration D] [flags]\n\n"
     "Prints each pool's state now, then again after every change, from every node,\n"
     "until Ctrl-C, or after N updates per node (--count), or after D (--duration).\n"
     "Without --pool, every pool of the node is watched. With -o json, one JSON object\n"
     "per line.\n"},
    {"diff", Command::kDiff, false,
     "Usage: plbyctl diff -f FILE [--concurrency N] [-o json] [flags]\n\n"
     "Shows, for each node, the changes apply -f FILE would make (and nothing else).\n"
     "Exit codes: 0 every node matches FILE, 1 some node differs, 2 errors (a bad FILE,\n"
     "a node that could not be read).\n"},
    {"reconcile", Command::kReconcile, false,
     "Usage: plbyctl reconcile -f FILE --fleet NAME:PORT [--every D] [--listen ADDR]\n"
     "                         [--log-format text|json] [--drain-timeout D] [flags]\n\n"
     "The controller: a loop that keeps the fleet at FILE. Each round re-resolves the fleet,\n"
     "reads every node and applies where it differs (as apply does), working only from what\n"
     "the nodes report. A round runs every D (--every, default 10s) and at once when FILE\n"
     "changes (its directory is watched, as a ConfigMap update swaps a symlink). An edit\n"
     "that makes FILE bad is refused loudly and the last good FILE stays enforced.\n"
     "Drains a file does not set are left alone; everything else it sets reverts at the\n"
     "next round, and the log says so. Logs each change and each node it cannot reach;\n"
     "serves /metrics and /healthz on --listen (default 127.0.0.1:9180); stops cleanly\n"
     "on SIGTERM or SIGINT (exit 0). Exit 1: it could not start (--listen in use);\n"
     "2: a bad FILE or command line at the start.\n"},
    {"apply", Command::kApply, false,
     "Usage: plbyctl apply -f FILE [--drain-timeout D] [--concurrency N] [-o json] [flags]\n\n"
     "Makes each node's pools what FILE says, and prints the changes made, node by node,\n"
     "then a summary. Exit codes: 0 every node matches FILE now, 1 some node failed\n"
     "(named, with its error), 2 bad FILE or command line (no node was contacted).\n"},
};

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::StatusOr<int64_t> ParseInteger(absl::string_view flag, absl::string_view text, int64_t min,
                                     int64_t max) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return Usage(absl::StrCat(flag, " ", text::Quote(text),
                              " is not valid (valid: a whole number from ", min, " to ", max, ")"));
  }
  return value;
}

const CommandSpec* FindCommand(absl::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

std::string CommandNames() {
  std::vector<std::string> names;
  for (const CommandSpec& spec : kCommands) names.push_back(spec.name);
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<ParsedCommandLine> ParseCommandLine(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& environment) {
  Invocation invocation;
  std::vector<std::string> words;  // the command and its positional arguments
  std::vector<std::string> node_flags;
  std::vector<std::string> fleet_flags;
  bool help = false;
  std::vector<std::string> set_flags;  // for "not valid with this command" checks

  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (flag.size() < 2 || flag[0] != '-') {  // a word of the command, or an argument
      words.push_back(flag);
      continue;
    }
    if (absl::StartsWith(flag, "--")) {
      if (const size_t eq = flag.find('='); eq != std::string::npos) {
        inline_value = flag.substr(eq + 1);
        flag = flag.substr(0, eq);
      }
    }
    const auto value = [&]() -> absl::StatusOr<std::string> {
      if (inline_value) return *inline_value;
      // A flag where its value should be is a forgotten value, not a strange one.
      if (i + 1 >= args.size() || absl::StartsWith(args[i + 1], "--")) {
        return Usage(absl::StrCat(flag, " needs a value"));
      }
      return args[++i];
    };
    if (flag == "-f") flag = "--file";
    if (flag == "-h" || flag == "--help") {
      help = true;
      continue;
    }
    if (flag == "--if-absent") {  // the one flag without a value
      if (inline_value) {
        return Usage(absl::StrCat("--if-absent takes no value, got ", text::Quote(*inline_value)));
      }
      invocation.if_absent = true;
      set_flags.push_back(flag);
      continue;
    }
    static constexpr absl::string_view kValueFlags[] = {"--node",
                                                        "--fleet",
                                                        "--pool",
                                                        "--weight",
                                                        "--expected-version",
                                                        "--timeout",
                                                        "--duration",
                                                        "--count",
                                                        "-o",
                                                        "--output",
                                                        "--ca",
                                                        "--cert",
                                                        "--key",
                                                        "--tls-server-name",
                                                        "--drain-timeout",
                                                        "--algorithm",
                                                        "--slow-start",
                                                        "--hash",
                                                        "--maglev-table-size",
                                                        "--file",
                                                        "--concurrency",
                                                        "--every",
                                                        "--listen",
                                                        "--log-format"};
    if (std::find(std::begin(kValueFlags), std::end(kValueFlags), flag) == std::end(kValueFlags)) {
      return Usage(absl::StrCat("unknown flag ", text::Quote(flag), " (see plbyctl --help)"));
    }
    absl::StatusOr<std::string> text = value();
    if (!text.ok()) return text.status();
    // A second value would silently be the one used; only --node and --fleet add up.
    const std::string canonical = flag == "-o" ? "--output" : flag;
    if (canonical != "--node" && canonical != "--fleet" &&
        std::find(set_flags.begin(), set_flags.end(), canonical) != set_flags.end()) {
      return Usage(absl::StrCat(flag,
                                " is given twice (give it once; only --node and --fleet "
                                "may repeat)"));
    }
    set_flags.push_back(canonical);
    if (flag == "--node") {
      node_flags.push_back(*text);
    } else if (flag == "--fleet") {
      fleet_flags.push_back(*text);
    } else if (flag == "--pool") {
      if (text->empty()) return Usage("--pool needs a pool name");
      invocation.pool = *text;
    } else if (flag == "--weight") {
      absl::StatusOr<int64_t> weight =
          ParseInteger("--weight", *text, balance::kMinWeight, balance::kMaxWeight);
      if (!weight.ok()) return weight.status();
      invocation.weight = *weight;
    } else if (flag == "--expected-version") {
      absl::StatusOr<int64_t> version = ParseInteger("--expected-version", *text, 1, INT64_MAX);
      if (!version.ok()) return version.status();
      invocation.expected_version = static_cast<uint64_t>(*version);
    } else if (flag == "--timeout" || flag == "--duration") {
      absl::StatusOr<absl::Duration> duration = config::ParseDuration(*text);
      if (!duration.ok() || *duration <= absl::ZeroDuration()) {
        return Usage(absl::StrCat(flag, " ", text::Quote(*text),
                                  " is not valid (valid: a positive duration such as 5s or "
                                  "500ms)"));
      }
      const absl::Duration longest = flag == "--timeout" ? absl::Hours(24) : absl::Hours(24 * 365);
      if (*duration > longest) {
        return Usage(absl::StrCat(flag, " ", text::Quote(*text), " is too long (valid: up to ",
                                  absl::FormatDuration(longest), ")"));
      }
      (flag == "--timeout" ? invocation.timeout : invocation.watch_duration.emplace()) = *duration;
    } else if (flag == "--drain-timeout") {
      absl::StatusOr<absl::Duration> duration = config::ParseDuration(*text);
      if (!duration.ok() || *duration <= absl::ZeroDuration() || *duration > absl::Hours(24)) {
        return Usage(absl::StrCat(flag, " ", text::Quote(*text),
                                  " is not valid (valid: a positive duration up to 24h, such as "
                                  "30s)"));
      }
      invocation.drain_timeout = *duration;
    } else if (flag == "--count") {
      absl::StatusOr<int64_t> count = ParseInteger("--count", *text, 1, INT64_MAX);
      if (!count.ok()) return count.status();
      invocation.watch_count = *count;
    } else if (flag == "-o" || flag == "--output") {
      if (*text == "table") {
        invocation.output = OutputFormat::kTable;
      } else if (*text == "json") {
        invocation.output = OutputFormat::kJson;
      } else {
        return Usage(
            absl::StrCat(flag, " ", text::Quote(*text), " is not valid (valid: table, json)"));
      }
    } else if (flag == "--algorithm") {
      absl::StatusOr<balance::Algorithm> algorithm = balance::ParseAlgorithm(*text);
      if (!algorithm.ok())
        return Usage(absl::StrCat("--algorithm: ", algorithm.status().message()));
      invocation.algorithm = *algorithm;
    } else if (flag == "--slow-start") {
      absl::StatusOr<absl::Duration> duration = config::ParseDuration(*text);
      if (!duration.ok() || *duration < absl::ZeroDuration() || *duration > absl::Hours(1)) {
        return Usage(absl::StrCat(flag, " ", text::Quote(*text),
                                  " is not valid (valid: a duration from 0s, which is off, to 1h, "
                                  "such as 30s)"));
      }
      invocation.slow_start = *duration;
    } else if (flag == "--hash") {
      absl::StatusOr<balance::HashKey> hash = balance::ParseHashKey(*text);
      if (!hash.ok()) return Usage(absl::StrCat("--hash: ", hash.status().message()));
      invocation.hash = *hash;
    } else if (flag == "--maglev-table-size") {
      absl::StatusOr<int64_t> size = ParseInteger(flag, *text, 1, INT64_MAX);
      if (!size.ok()) return size.status();
      if (absl::Status valid = balance::ValidateMaglevTableSize(static_cast<uint64_t>(*size));
          !valid.ok()) {
        return Usage(absl::StrCat("--maglev-table-size: ", valid.message()));
      }
      invocation.maglev_table_size = static_cast<uint64_t>(*size);
    } else if (flag == "--file") {
      if (text->empty()) return Usage("-f needs a file name");
      invocation.file = *text;
    } else if (flag == "--every") {
      absl::StatusOr<absl::Duration> every = config::ParseDuration(*text);
      if (!every.ok() || *every < absl::Seconds(1) || *every > absl::Hours(24)) {
        return Usage(absl::StrCat(flag, " ", text::Quote(*text),
                                  " is not valid (valid: a duration from 1s to 24h, such as 10s)"));
      }
      invocation.every = *every;
    } else if (flag == "--listen") {
      absl::StatusOr<net::HostPort> listen = net::ParseHostPort(*text, net::AddressUse::kListen);
      if (!listen.ok()) return Usage(absl::StrCat("--listen: ", listen.status().message()));
      invocation.listen = listen->ToString();
    } else if (flag == "--log-format") {
      if (*text != "text" && *text != "json") {
        return Usage(
            absl::StrCat(flag, " ", text::Quote(*text), " is not valid (valid: text, json)"));
      }
      invocation.log_format = *text;
    } else if (flag == "--concurrency") {
      absl::StatusOr<int64_t> concurrency = ParseInteger(flag, *text, 1, kMaxConcurrency);
      if (!concurrency.ok()) return concurrency.status();
      invocation.concurrency = static_cast<int>(*concurrency);
    } else if (flag == "--ca") {
      invocation.tls.ca = *text;
    } else if (flag == "--cert") {
      invocation.tls.cert = *text;
    } else if (flag == "--key") {
      invocation.tls.key = *text;
    } else if (flag == "--tls-server-name") {
      invocation.tls.server_name = *text;
    }
  }

  // The command is the longest known prefix of the words: "status", or "backends add".
  const CommandSpec* spec = nullptr;
  size_t used = 0;
  if (!words.empty()) {
    if (words.size() >= 2) spec = FindCommand(absl::StrCat(words[0], " ", words[1]));
    used = spec != nullptr ? 2 : 1;
    if (spec == nullptr) spec = FindCommand(words[0]);
  }
  if (help) {
    std::string text = spec ? spec->help : kUsage;
    if (spec != nullptr && IsSyncCommand(spec->command)) {
      text += kSyncHelp;
    }
    return ParsedCommandLine{.invocation = std::nullopt, .help = text};
  }
  if (words.empty()) return Usage(absl::StrCat("no command given (valid: ", CommandNames(), ")"));
  if (spec == nullptr) {
    const std::string given =
        absl::StrJoin(words.begin(), words.begin() + std::min<size_t>(2, words.size()), " ");
    return Usage(
        absl::StrCat("unknown command ", text::Quote(given), " (valid: ", CommandNames(), ")"));
  }
  invocation.command = spec->command;
  invocation.command_name = spec->name;
  const std::vector<std::string> rest(words.begin() + used, words.end());
  if (spec->takes_address) {
    if (rest.empty()) {
      return Usage(absl::StrCat(spec->name, " needs the backend's ADDRESS (HOST:PORT)"));
    }
    absl::StatusOr<net::HostPort> address = net::ParseHostPort(rest[0], net::AddressUse::kConnect);
    if (!address.ok()) return Usage(address.status().message());
    invocation.address = address->ToString();
  }
  if (rest.size() > (spec->takes_address ? 1u : 0u)) {
    return Usage(absl::StrCat("unexpected argument ",
                              text::Quote(rest[spec->takes_address ? 1 : 0]), " for ", spec->name));
  }

  const auto allowed = [&](const std::string& flag) {
    if (flag == "--weight") {
      return spec->command == Command::kBackendsAdd || spec->command == Command::kBackendsSet;
    }
    if (flag == "--if-absent") return spec->command == Command::kBackendsAdd;
    if (flag == "--expected-version") {
      return spec->command == Command::kBackendsAdd || spec->command == Command::kBackendsRemove ||
             spec->command == Command::kBackendsSet || spec->command == Command::kBackendsDrain ||
             spec->command == Command::kBackendsUndrain || spec->command == Command::kPoolsSet;
    }
    if (flag == "--algorithm" || flag == "--slow-start" || flag == "--hash" ||
        flag == "--maglev-table-size") {
      return spec->command == Command::kPoolsSet;
    }
    if (flag == "--count" || flag == "--duration") return spec->command == Command::kBackendsWatch;
    const bool sync = IsSyncCommand(spec->command);
    if (flag == "--drain-timeout") {
      return spec->command == Command::kBackendsDrain ||
             spec->command == Command::kBackendsRemove || spec->command == Command::kApply ||
             spec->command == Command::kReconcile;
    }
    if (flag == "--pool") {
      return spec->command != Command::kStatus && spec->command != Command::kPoolsList &&
             spec->command != Command::kCertsList && spec->command != Command::kCertsReload &&
             !sync;
    }
    if (flag == "--file") return sync;
    if (flag == "--every" || flag == "--listen" || flag == "--log-format") {
      return spec->command == Command::kReconcile;
    }
    if (flag == "--output") return spec->command != Command::kReconcile;
    if (flag == "--concurrency") return spec->command != Command::kBackendsWatch;
    return true;
  };
  for (const std::string& flag : set_flags) {
    if (!allowed(flag)) {
      return Usage(absl::StrCat(flag, " does not apply to ", spec->name, " (see plbyctl ",
                                spec->name, " --help)"));
    }
  }
  if (spec->command == Command::kPoolsSet && !invocation.algorithm && !invocation.slow_start &&
      !invocation.hash && !invocation.maglev_table_size) {
    return Usage(
        "pools set needs at least one of --algorithm, --slow-start, --hash and "
        "--maglev-table-size");
  }
  if (IsSyncCommand(spec->command) && invocation.file.empty()) {
    return Usage(absl::StrCat(spec->name, " needs -f FILE (a file of [[pool]] tables)"));
  }
  if (spec->command == Command::kBackendsSet && !invocation.weight) {
    return Usage("backends set needs --weight N (1-256)");
  }

  // Fleets: --fleet, else $PLBY_FLEET (only when no --node either). Resolved later, by main.
  std::vector<std::string> fleet_texts = fleet_flags;
  if (fleet_texts.empty() && node_flags.empty()) {
    auto it = environment.find("PLBY_FLEET");
    if (it != environment.end() && !it->second.empty()) fleet_texts.push_back(it->second);
  }
  for (const std::string& text : fleet_texts) {
    for (absl::string_view fleet : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
      absl::StatusOr<net::HostPort> address =
          net::ParseHostPort(absl::StripAsciiWhitespace(fleet), net::AddressUse::kConnect);
      if (!address.ok()) return Usage(absl::StrCat("--fleet: ", address.status().message()));
      invocation.fleets.push_back(*address);
    }
  }

  // Nodes: --node, else $PLBY_NODES, else the default (unless a fleet names them).
  std::vector<std::string> node_texts = node_flags;
  if (node_texts.empty() && invocation.fleets.empty()) {
    auto it = environment.find("PLBY_NODES");
    node_texts.push_back(it != environment.end() && !it->second.empty() ? it->second
                                                                        : kDefaultNode);
  }
  for (const std::string& text : node_texts) {
    for (absl::string_view node : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
      absl::StatusOr<net::HostPort> address =
          net::ParseHostPort(absl::StripAsciiWhitespace(node), net::AddressUse::kConnect);
      if (!address.ok()) return Usage(absl::StrCat("--node: ", address.status().message()));
      const std::string canonical = address->ToString();
      if (std::find(invocation.nodes.begin(), invocation.nodes.end(), canonical) ==
          invocation.nodes.end()) {
        invocation.nodes.push_back(canonical);
      }
    }
  }
  if (invocation.nodes.empty() && invocation.fleets.empty()) {
    return Usage("--node: no node address given");
  }

  // TLS files: flags, else the environment.
  for (auto [file, variable] :
       {std::pair{&invocation.tls.ca, "PLBY_CA"}, std::pair{&invocation.tls.cert, "PLBY_CERT"},
        std::pair{&invocation.tls.key, "PLBY_KEY"}}) {
    if (file->empty()) {
      auto it = environment.find(variable);
      if (it != environment.end()) *file = it->second;
    }
  }
  if (invocation.tls.cert.empty() != invocation.tls.key.empty()) {
    return Usage("--cert and --key go together: give both (mTLS) or neither");
  }
  if (!invocation.tls.server_name.empty() && !invocation.tls.enabled()) {
    return Usage("--tls-server-name applies to TLS only: give --ca (and --cert, --key) too");
  }
  return ParsedCommandLine{.invocation = std::move(invocation), .help = ""};
}

}  // namespace plby::ctl
