// plby-bench: plby-node next to HAProxy and nginx stream, in front of the same backends, on
// one machine, in one run; the backends reached directly are the ceiling. Each round measures
// the backends directly, then the proxies in an order that rotates from round to round; rounds
// repeat, and the table reports medians and ratios.
//
//   tests/bench/run.sh [--rounds N] [--seconds S] [--threads 1,2] [--no-callgrind]
//                      [--sections proxies,new-connections,churn,pool-size,algorithms,maglev,
//                      callgrind]
//
// Workloads: keep-alive HTTP requests (wrk, 50 connections, a small body: requests/s,
// p50/p99 latency and the proxy's CPU time per request), a new connection per request (wrk with
// "Connection: close"), bulk throughput both ways (iperf3) and memory per idle proxied connection
// (4000 of them). Then plby alone: the cost of 100 pool updates a second during the keep-alive run,
// a pool of 10,000 backends against one of 2, new connections per second for each balancing
// algorithm next to round robin, maglev's table build time and disruption, and instructions per
// relayed request (and per new connection for each algorithm) under callgrind.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "balance/maglev.h"
#include "peers.h"
#include "workloads.h"

namespace plby::bench {
namespace {

constexpr const char* kSections[] = {"proxies",    "new-connections", "churn",    "pool-size",
                                     "algorithms", "maglev",          "callgrind"};

// Every section but new-connections, which repeats a part of proxies.
std::set<std::string> DefaultSections() {
  std::set<std::string> sections(std::begin(kSections), std::end(kSections));
  sections.erase("new-connections");
  return sections;
}

struct Options {
  int rounds = 3;
  absl::Duration duration = absl::Seconds(5);
  std::vector<int> threads = {1, 2};
  std::set<std::string> sections = DefaultSections();
  int idle_connections = 4000;
  bool runs(const std::string& section) const { return sections.count(section) > 0; }
};

// The algorithms compared, by their config names; RR first, the reference.
constexpr const char* kAlgorithms[] = {"RR", "WRR", "least_connections", "p2c", "random", "maglev"};

enum Metric {
  kKeepAliveRps,
  kKeepAliveP50,
  kKeepAliveP99,
  kKeepAliveCpu,
  kNewConnectionRps,
  kNewConnectionCpu,
  kBulkUp,
  kBulkDown,
  kIdleBytes,
  kMetricCount,
};

struct MetricInfo {
  const char* name;
  int decimals;
};

constexpr MetricInfo kMetrics[kMetricCount] = {
    {"keep-alive requests/s", 0},
    {"keep-alive p50 ms", 3},
    {"keep-alive p99 ms", 3},
    {"keep-alive proxy CPU us/request", 2},
    {"new connection requests/s", 0},
    {"new connection proxy CPU us/request", 2},
    {"bulk client->server Gbit/s", 2},
    {"bulk server->client Gbit/s", 2},
    {"memory per idle connection, bytes", 0},
};

// samples[threads][system][metric] -> values over the rounds
using Samples = std::map<int, std::map<System, std::map<int, std::vector<double>>>>;

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

[[noreturn]] void Fail(const absl::Status& status) {
  std::fprintf(stderr, "plby-bench: %s\n", std::string(status.message()).c_str());
  std::exit(1);
}

template <typename T>
T OrFail(absl::StatusOr<T> value) {
  if (!value.ok()) Fail(value.status());
  return *std::move(value);
}

constexpr char kUsage[] =
    R"(Usage: plby-bench [--rounds N] [--seconds S] [--threads 1,2] [--no-callgrind]
                  [--sections LIST]

Runs plby-node, HAProxy and nginx (stream) side by side in front of the same backends, with
wrk and iperf3, and prints a markdown table of medians and ratios on stdout (progress on
stderr). Run it through tests/bench/run.sh, which installs the peers and builds in Release.

  --rounds N      rounds, 1-100 (default 3); each measures every proxy once, in rotating order
  --seconds S     length of each measurement, 1-600 (default 5)
  --threads LIST  worker threads of every proxy, comma-separated, each 1-64 (default 1,2)
  --no-callgrind  skip the instruction counts under valgrind (the callgrind section)
  --sections LIST what to run, comma-separated (default all but new-connections): proxies
                  (plby, HAProxy and nginx side by side), new-connections (the same with a
                  new connection per request only, plus each round's ratios: a cheap way to get
                  many rounds of the figure that varies most), churn (pool updates during
                  traffic), pool-size (2 against 10,000 backends), algorithms (new
                  connections/s of each algorithm next to RR), maglev (table build time and
                  disruption), callgrind
  --help          this help
)";

Options ParseOptions(int argc, char** argv) {
  Options options;
  std::set<std::string> given;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (!given.insert(arg).second) {
      Fail(absl::InvalidArgumentError(arg + " is given twice (give it once)"));
    }
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) Fail(absl::InvalidArgumentError(arg + " needs a value"));
      return argv[++i];
    };
    // A whole number in [1, most], or the run stops before it starts.
    const auto count = [&](absl::string_view text, int most) {
      int parsed = 0;
      if (!absl::SimpleAtoi(text, &parsed) || parsed < 1 || parsed > most) {
        Fail(absl::InvalidArgumentError(
            absl::StrCat(arg, " \"", text, "\" is not valid: a whole number from 1 to ", most)));
      }
      return parsed;
    };
    if (arg == "--rounds") {
      options.rounds = count(value(), 100);
    } else if (arg == "--seconds") {
      options.duration = absl::Seconds(count(value(), 600));
    } else if (arg == "--threads") {
      options.threads.clear();
      for (absl::string_view t : absl::StrSplit(value(), ',')) {
        options.threads.push_back(count(t, 64));
      }
    } else if (arg == "--no-callgrind") {
      options.sections.erase("callgrind");
    } else if (arg == "--sections") {
      options.sections.clear();
      for (absl::string_view section : absl::StrSplit(value(), ',')) {
        if (std::find(std::begin(kSections), std::end(kSections), section) == std::end(kSections)) {
          Fail(absl::InvalidArgumentError(
              absl::StrCat("--sections: unknown section \"", section,
                           "\" (valid: ", absl::StrJoin(kSections, ", "), ")")));
        }
        options.sections.insert(std::string(section));
      }
    } else {
      Fail(absl::InvalidArgumentError(
          absl::StrCat("unknown argument \"", arg,
                       "\" (valid: --rounds N, --seconds S, --threads 1,2, --no-callgrind, "
                       "--sections LIST, --help)")));
    }
  }
  return options;
}

std::string Machine() {
  utsname name{};
  uname(&name);
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return absl::StrCat(std::thread::hardware_concurrency(), " cores (", model, "), Linux ",
                      name.release);
}

// Every workload, or (new_connections_only) the new connection per request alone.
void Measure(const Proxy& proxy, const Options& options, Samples& samples, int threads,
             bool new_connections_only) {
  std::map<int, std::vector<double>>& out = samples[threads][proxy.system];
  // The proxy's CPU time per request: the load generator and the backends share the cores, so
  // requests/s of proxies that cost differently can come out level; this tells them apart.
  const std::vector<pid_t> pids = proxy.WorkingPids();
  const auto http = [&](bool new_connections, int cpu_metric) {
    const double cpu_before = CpuSeconds(pids);
    const HttpResult result = OrFail(RunWrk(proxy.http_port, options.duration, new_connections));
    // One sample per round (0 when no request completed), so that rounds pair up.
    if (!pids.empty()) {
      out[cpu_metric].push_back(
          result.requests > 0 ? (CpuSeconds(pids) - cpu_before) * 1e6 / result.requests : 0);
    }
    return result;
  };
  if (new_connections_only) {
    out[kNewConnectionRps].push_back(http(true, kNewConnectionCpu).requests_per_second);
    std::fprintf(stderr, "  %-7s threads=%d  new-conn %.0f/s  %.2f us/request\n",
                 SystemName(proxy.system).c_str(), threads, out[kNewConnectionRps].back(),
                 out[kNewConnectionCpu].empty() ? 0.0 : out[kNewConnectionCpu].back());
    return;
  }
  const HttpResult keep_alive = http(false, kKeepAliveCpu);
  out[kKeepAliveRps].push_back(keep_alive.requests_per_second);
  out[kKeepAliveP50].push_back(keep_alive.p50_ms);
  out[kKeepAliveP99].push_back(keep_alive.p99_ms);
  out[kNewConnectionRps].push_back(http(true, kNewConnectionCpu).requests_per_second);
  out[kBulkUp].push_back(OrFail(RunIperf(proxy.bulk_port, options.duration, false)));
  out[kBulkDown].push_back(OrFail(RunIperf(proxy.bulk_port, options.duration, true)));
  if (proxy.system != System::kDirect) {
    out[kIdleBytes].push_back(OrFail(IdleBytesPerConnection(proxy, options.idle_connections)));
  }
  std::fprintf(stderr,
               "  %-7s threads=%d  keep-alive %.0f/s  new-conn %.0f/s  bulk %.1f/%.1f Gbit/s\n",
               SystemName(proxy.system).c_str(), threads, keep_alive.requests_per_second,
               out[kNewConnectionRps].back(), out[kBulkUp].back(), out[kBulkDown].back());
}

std::string Ratio(double plby, double other) {
  if (other <= 0) return "-";
  return absl::StrFormat("%.2fx", plby / other);
}

void PrintTable(const Samples& samples, const Options& options) {
  std::printf(
      "\n| workload | threads | direct | plby | HAProxy | nginx | plby/HAProxy | "
      "plby/nginx | plby/direct |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& [threads, systems] : samples) {
    for (int metric = 0; metric < kMetricCount; ++metric) {
      std::map<System, double> median;
      for (System system : {System::kDirect, System::kPlby, System::kHaproxy, System::kNginx}) {
        auto it = systems.find(system);
        if (it == systems.end()) continue;
        auto values = it->second.find(metric);
        if (values != it->second.end()) median[system] = Median(values->second);
      }
      if (median.empty()) continue;  // a workload this section does not run
      // The direct figures are the same whatever the proxies' threads: measured with threads 1.
      if (median.count(System::kDirect) == 0) {
        auto direct = samples.begin()->second.find(System::kDirect);
        if (direct != samples.begin()->second.end() && direct->second.count(metric)) {
          median[System::kDirect] = Median(direct->second.at(metric));
        }
      }
      const auto cell = [&](System system) {
        return median.count(system) && median[system] > 0
                   ? absl::StrFormat("%.*f", kMetrics[metric].decimals, median[system])
                   : std::string("-");
      };
      std::printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", kMetrics[metric].name,
                  threads, cell(System::kDirect).c_str(), cell(System::kPlby).c_str(),
                  cell(System::kHaproxy).c_str(), cell(System::kNginx).c_str(),
                  Ratio(median[System::kPlby], median[System::kHaproxy]).c_str(),
                  Ratio(median[System::kPlby], median[System::kNginx]).c_str(),
                  Ratio(median[System::kPlby], median[System::kDirect]).c_str());
    }
  }
  std::printf(
      "\nMedians of %d round(s) of %lld s per measurement; in each round the proxies' order "
      "rotates.\n",
      options.rounds, static_cast<long long>(absl::ToInt64Seconds(options.duration)));
}

// The ratio of plby to each peer within each round, whose measurements are seconds apart, and
// the median of those: on a machine whose speed drifts over minutes this is steadier than the
// ratio of medians taken over the whole run.
void PrintRoundRatios(const Samples& samples) {
  for (const auto& [threads, systems] : samples) {
    for (int metric : {kNewConnectionRps, kNewConnectionCpu}) {
      for (System peer : {System::kHaproxy, System::kNginx}) {
        const auto values = [&](System system) -> std::vector<double> {
          auto it = systems.find(system);
          if (it == systems.end()) return {};
          auto found = it->second.find(metric);
          return found == it->second.end() ? std::vector<double>{} : found->second;
        };
        const std::vector<double> plby = values(System::kPlby), other = values(peer);
        std::vector<double> ratios;
        for (size_t round = 0; round < plby.size() && round < other.size(); ++round) {
          if (other[round] > 0 && plby[round] > 0) ratios.push_back(plby[round] / other[round]);
        }
        if (ratios.empty()) continue;
        std::sort(ratios.begin(), ratios.end());
        std::printf("%s, %d thread(s), plby/%s within each round: median %.2fx (%.2f-%.2f)\n",
                    kMetrics[metric].name, threads, SystemName(peer).c_str(), Median(ratios),
                    ratios.front(), ratios.back());
      }
    }
  }
}

// plby, HAProxy and nginx in front of the same backends (and the backends directly), every
// round in an order that rotates, so that none always goes first.
void CompareProxies(const Options& options, const Backends& backends, const testing::TempDir& dir,
                    bool new_connections_only) {
  if (new_connections_only) std::fprintf(stderr, "new connections\n");
  Samples samples;
  std::vector<System> order = {System::kPlby, System::kHaproxy, System::kNginx};
  for (int round = 0; round < options.rounds; ++round) {
    std::fprintf(stderr, "round %d of %d\n", round + 1, options.rounds);
    {
      const Proxy direct = OrFail(StartProxy(System::kDirect, {}, backends, dir));
      Measure(direct, options, samples, options.threads.front(), new_connections_only);
    }
    for (int threads : options.threads) {
      for (System system : order) {
        const Proxy proxy = OrFail(StartProxy(system, {.threads = threads}, backends, dir));
        Measure(proxy, options, samples, threads, new_connections_only);
      }
    }
    std::rotate(order.begin(), order.begin() + 1, order.end());
  }
  PrintTable(samples, options);
  if (new_connections_only) PrintRoundRatios(samples);
  std::fflush(stdout);
}

void PoolChurnSection(const Options& options, const Backends& backends,
                      const testing::TempDir& dir) {
  std::fprintf(stderr, "pool updates during keep-alive\n");
  // plby alone, one worker: what changes cost.
  std::vector<double> quiet, churned;
  int64_t updates = 0;
  double churn_seconds = 0;
  for (int round = 0; round < options.rounds; ++round) {
    const Proxy plby = OrFail(StartProxy(System::kPlby, {.threads = 1}, backends, dir));
    const auto run_quiet = [&] {
      quiet.push_back(OrFail(RunWrk(plby.http_port, options.duration, false)).requests_per_second);
    };
    const auto run_churned = [&] {
      PoolChurn churn(plby.control_port, "http",
                      absl::StrCat("127.0.0.1:", backends.http_ports[1]));
      const auto started = std::chrono::steady_clock::now();
      churned.push_back(
          OrFail(RunWrk(plby.http_port, options.duration, false)).requests_per_second);
      churn_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      updates += churn.updates();
    };
    // Which goes first alternates, so that neither is always the node's first run.
    if (round % 2 == 0) {
      run_quiet();
      run_churned();
    } else {
      run_churned();
      run_quiet();
    }
  }
  std::printf(
      "\nPool updates (plby, 1 worker, keep-alive): %.0f requests/s quiet, %.0f with %.0f "
      "updates/s through the control service: %.1f%% less.\n",
      Median(quiet), Median(churned), updates / churn_seconds,
      100.0 * (1 - Median(churned) / Median(quiet)));
  std::fflush(stdout);
}

void PoolSizeSection(const Options& options, const Backends& backends,
                     const testing::TempDir& dir) {
  std::fprintf(stderr, "pool of 2 against pool of 10,000\n");
  std::vector<double> small_pool, large_pool;
  for (int round = 0; round < options.rounds; ++round) {
    for (int size : {2, 10000}) {
      const Proxy plby = OrFail(StartProxy(
          System::kPlby, {.threads = 1, .plby_http_backends = size, .plby_health_checks = false},
          backends, dir));
      (size == 2 ? small_pool : large_pool)
          .push_back(OrFail(RunWrk(plby.http_port, options.duration, true)).requests_per_second);
    }
  }
  std::printf(
      "\nPool size (plby, 1 worker, new connection per request): %.0f requests/s with 2 "
      "backends, %.0f with 10,000 (%.2fx).\n",
      Median(small_pool), Median(large_pool), Median(large_pool) / Median(small_pool));
  std::fflush(stdout);
}

// New connections per second for each algorithm, plby with one worker, the algorithms in an
// order that rotates from round to round.
void AlgorithmsSection(const Options& options, const Backends& backends,
                       const testing::TempDir& dir) {
  std::fprintf(stderr, "algorithms\n");
  std::map<std::string, std::vector<double>> rates, cpu;
  std::vector<std::string> order(std::begin(kAlgorithms), std::end(kAlgorithms));
  for (int round = 0; round < options.rounds; ++round) {
    for (const std::string& algorithm : order) {
      const Proxy plby = OrFail(StartProxy(
          System::kPlby, {.threads = 1, .plby_health_checks = false, .plby_algorithm = algorithm},
          backends, dir));
      const std::vector<pid_t> pids = plby.WorkingPids();
      const double cpu_before = CpuSeconds(pids);
      const HttpResult result = OrFail(RunWrk(plby.http_port, options.duration, true));
      rates[algorithm].push_back(result.requests_per_second);
      if (result.requests > 0) {
        cpu[algorithm].push_back((CpuSeconds(pids) - cpu_before) * 1e6 / result.requests);
      }
      std::fprintf(stderr, "  %-17s %.0f/s\n", algorithm.c_str(), result.requests_per_second);
    }
    std::rotate(order.begin(), order.begin() + 1, order.end());
  }
  std::printf(
      "\n| algorithm (plby, 1 worker, a new connection per request) | requests/s | vs RR | vs RR "
      "within each round: median (range) | proxy CPU us/request |\n|---|---|---|---|---|\n");
  const double round_robin = Median(rates["RR"]);
  for (const char* algorithm : kAlgorithms) {
    // Each round runs every algorithm once, seconds apart: the ratio within a round is steadier
    // than the ratio of medians on a machine whose speed drifts.
    std::vector<double> ratios;
    for (size_t round = 0; round < rates[algorithm].size() && round < rates["RR"].size(); ++round) {
      if (rates["RR"][round] > 0) ratios.push_back(rates[algorithm][round] / rates["RR"][round]);
    }
    if (ratios.empty()) ratios.push_back(0);  // no round completed: shown as 0
    std::sort(ratios.begin(), ratios.end());
    std::printf("| %s | %.0f | %.3fx | %.3fx (%.2f-%.2f) | %.2f |\n", algorithm,
                Median(rates[algorithm]), Median(rates[algorithm]) / round_robin, Median(ratios),
                ratios.front(), ratios.back(), Median(cpu[algorithm]));
  }
  std::fflush(stdout);
}

// Maglev's table: how long a build takes (the control path pays it when the backend set
// changes; health changes reuse the table), and how many keys move when one backend goes.
void MaglevSection() {
  std::fprintf(stderr, "maglev\n");
  std::printf(
      "\n| maglev, %llu entries | build ms (median of 9) | removing one backend moves | ideal "
      "(its share) | ratio |\n|---|---|---|---|---|\n",
      static_cast<unsigned long long>(balance::kDefaultMaglevTableSize));
  for (int n : {10, 100, 1000}) {
    balance::MaglevTable::Members all;
    for (int i = 0; i < n; ++i) {
      all.emplace_back(absl::StrCat("10.", i / 65536, ".", i / 256 % 256, ".", i % 256, ":8080"),
                       1);
    }
    std::sort(all.begin(), all.end());
    std::vector<double> milliseconds;
    for (int run = 0; run < 9; ++run) {
      const auto started = std::chrono::steady_clock::now();
      const balance::MaglevTable table(all, balance::kDefaultMaglevTableSize);
      milliseconds.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count());
    }
    const balance::MaglevTable before(all, balance::kDefaultMaglevTableSize);
    balance::MaglevTable::Members fewer = all;
    const std::string removed = fewer[n / 2].first;
    fewer.erase(fewer.begin() + n / 2);
    const balance::MaglevTable after(fewer, balance::kDefaultMaglevTableSize);
    uint64_t moved = 0;
    for (uint64_t e = 0; e < before.size(); ++e) {
      moved += before.members()[before.at(e)].first != after.members()[after.at(e)].first;
    }
    const double fraction = static_cast<double>(moved) / static_cast<double>(before.size());
    std::printf("| %d backends | %.2f | %.4f | %.4f | %.2fx |\n", n, Median(milliseconds), fraction,
                1.0 / n, fraction * n);
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace plby::bench

int main(int argc, char** argv) {
  using namespace plby::bench;
  const Options options = ParseOptions(argc, argv);
  plby::testing::RaiseDescriptorLimit();
  plby::testing::TempDir dir;
  std::fprintf(stderr, "machine: %s\n", Machine().c_str());
  const Backends backends = OrFail(StartBackends(dir));

  std::printf("# plby-bench\n\nMachine: %s\n", Machine().c_str());
  if (options.runs("proxies")) CompareProxies(options, backends, dir, false);
  if (options.runs("new-connections")) CompareProxies(options, backends, dir, true);
  if (options.runs("churn")) PoolChurnSection(options, backends, dir);
  if (options.runs("pool-size")) PoolSizeSection(options, backends, dir);
  if (options.runs("algorithms")) AlgorithmsSection(options, backends, dir);
  if (options.runs("maglev")) MaglevSection();
  if (options.runs("callgrind")) {
    std::fprintf(stderr, "callgrind\n");
    const double keep_alive = OrFail(InstructionsPerRequest(backends, dir, true, 2));
    const double per_connection = OrFail(InstructionsPerRequest(backends, dir, false, 2));
    const double per_connection_large = OrFail(InstructionsPerRequest(backends, dir, false, 10000));
    std::printf(
        "\nInstructions per relayed request (callgrind, plby workers only): %.0f "
        "keep-alive, %.0f with a new connection each (%.0f with a pool of 10,000 "
        "backends).\n",
        keep_alive, per_connection, per_connection_large);
    std::printf(
        "\n| algorithm | instructions per new connection (callgrind) | vs RR |\n|---|---|---|\n");
    double round_robin = 0;
    for (const char* algorithm : kAlgorithms) {
      const double count = OrFail(InstructionsPerRequest(backends, dir, false, 2, algorithm));
      if (round_robin == 0) round_robin = count;
      std::printf("| %s | %.0f | %.3fx |\n", algorithm, count, count / round_robin);
      std::fflush(stdout);
    }
  }
  return 0;
}
