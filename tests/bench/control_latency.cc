// plby-bench-control-latency: how long after `plbyctl backends add` returns does the first
// connection reach the new backend? One client opens connections through a plby-node back to
// back; the main thread adds a backend with plbyctl, notes when plbyctl exits, and finds the
// first connection answered by the new backend. Each round removes it again. Prints the median.
//
//   build/tests/plby-bench-control-latency [ROUNDS]
//
// "Returned" is when the bench saw plbyctl exit (waitpid), so the node has published the change
// a little before it: a negative figure means the first connection to the new backend was opened
// before plbyctl's exit was seen. "Launched" adds plbyctl's own start, connect and call. Both
// include the client's connection cadence, which is printed too.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace {

using Clock = std::chrono::steady_clock;
using plby::testing::Backend;
using plby::testing::Node;

struct Answer {
  Clock::time_point started;  // when the connection was opened
  std::string text;
};

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * (values.size() - 1))];
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "plby-bench-control-latency: %s\n", message.c_str());
  return 1;
}

}  // namespace

constexpr char kUsage[] = R"(Usage: plby-bench-control-latency [ROUNDS]

How soon a change reaches traffic: one client opens connections through a plby-node back to
back, plbyctl adds a backend, and the first connection answered by it is found. ROUNDS
(1-1000, default 21) repeats it; the medians are printed.
)";

int main(int argc, char** argv) {
  int rounds = 21;
  if (argc > 2) return Fail("one argument at most: ROUNDS (see --help)");
  if (argc == 2) {
    const std::string arg = argv[1];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    char* end = nullptr;
    const long parsed = std::strtol(arg.c_str(), &end, 10);
    if (arg.empty() || *end != '\0' || parsed < 1 || parsed > 1000) {
      return Fail("ROUNDS \"" + arg + "\" is not valid (valid: a whole number from 1 to 1000)");
    }
    rounds = static_cast<int>(parsed);
  }
  std::vector<Backend> backends(3);
  for (Backend& backend : backends) {
    auto started = plby::testing::StartBackend("hi");
    if (!started.ok()) return Fail(started.status().ToString());
    backend = *std::move(started);
  }
  const Backend& added = backends[2];
  plby::testing::TempDir dir;
  auto node = plby::testing::StartNode(
      dir, plby::testing::OnePoolConfig({{backends[0].address()}, {backends[1].address()}}),
      {"--workers", "1"});
  if (!node.ok()) return Fail(node.status().ToString());

  std::mutex mutex;
  std::vector<Answer> answers;  // guarded by mutex
  std::atomic<bool> running{true};
  std::atomic<uint64_t> connections{0};
  std::thread client([&] {
    while (running) {
      const Clock::time_point started = Clock::now();
      absl::StatusOr<std::string> answer = plby::testing::Exchange(node->port(), "x");
      ++connections;
      std::lock_guard<std::mutex> lock(mutex);
      answers.push_back({started, answer.ok() ? *answer : "error"});
    }
  });

  const std::string hi = plby::testing::Hi(added);
  std::vector<double> after_return_ms;  // negative: before plbyctl's exit was seen
  std::vector<double> after_launch_ms;
  const Clock::time_point bench_start = Clock::now();
  for (int round = 0; round < rounds; ++round) {
    const Clock::time_point launched = Clock::now();
    auto add = plby::testing::RunToExit(
        plby::testing::CtlBinary(),
        {"--node", node->control_address(), "backends", "add", added.address()});
    const Clock::time_point returned = Clock::now();
    if (!add.ok() || add->exit_code != 0) return Fail("plbyctl add failed");
    // Wait for the first answer from the new backend among connections opened after `returned`
    // or still in flight then; the client keeps going meanwhile.
    std::optional<Clock::time_point> first;
    while (!first) {
      std::lock_guard<std::mutex> lock(mutex);
      for (const Answer& answer : answers) {
        if (answer.text == hi) {
          first = answer.started;
          break;
        }
      }
      if (!first && Clock::now() - returned > std::chrono::seconds(10)) {
        return Fail("the new backend never answered");
      }
    }
    after_return_ms.push_back(std::chrono::duration<double, std::milli>(*first - returned).count());
    after_launch_ms.push_back(std::chrono::duration<double, std::milli>(*first - launched).count());
    auto remove = plby::testing::RunToExit(
        plby::testing::CtlBinary(),
        {"--node", node->control_address(), "backends", "remove", added.address()});
    if (!remove.ok() || remove->exit_code != 0) return Fail("plbyctl remove failed");
    std::lock_guard<std::mutex> lock(mutex);
    answers.clear();
  }
  running = false;
  client.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - bench_start).count();
  std::printf("rounds %d, client connections %.0f/s (one every %.3f ms)\n", rounds,
              connections / seconds, 1000.0 * seconds / connections);
  std::printf(
      "plbyctl add returned -> first connection to the new backend: median %.3f ms, "
      "p90 %.3f ms, max %.3f ms (negative: opened before plbyctl's exit was seen)\n",
      Percentile(after_return_ms, 0.5), Percentile(after_return_ms, 0.9),
      Percentile(after_return_ms, 1.0));
  std::printf(
      "plbyctl add launched -> first connection to the new backend: median %.3f ms, "
      "p90 %.3f ms, max %.3f ms\n",
      Percentile(after_launch_ms, 0.5), Percentile(after_launch_ms, 0.9),
      Percentile(after_launch_ms, 1.0));
  return 0;
}
