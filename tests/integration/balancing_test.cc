// Pools of their own and the algorithms that balance by load and by key, with real plby-node
// processes, real backends and plbyctl: least connections against held connections, maglev
// agreeing across a fleet, UpdatePool at runtime and across SIGKILL, a pool two servers share.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "balance/client_key.h"
#include "balance/maglev.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;

std::string BackendList(const std::vector<Backend>& backends) {
  std::string text = "[\n";
  for (const Backend& backend : backends) {
    absl::StrAppend(&text, "  { address = \"", backend.address(), "\" },\n");
  }
  return text + "]";
}

// A node with one [[pool]] "app" of `backends` (listed in this order) and a server forwarding
// to it.
std::string PoolConfig(const std::string& pool_extra, const std::vector<Backend>& backends,
                       const std::string& control_extra = "") {
  // pool_extra last: it may open a sub-table such as [pool.health].
  return absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n", control_extra,
                      "\n[[pool]]\nname = \"app\"\nbackends = ", BackendList(backends), "\n",
                      pool_extra,
                      "\n[[server]]\nname = \"front\"\nlisten = \"127.0.0.1:0\"\n"
                      "[[server.forward]]\npool = \"app\"\n");
}

// One connection from `source` (a 127.x.y.z address) to 127.0.0.1:port: sends a line, reads
// the answer to the end.
absl::StatusOr<std::string> ExchangeFrom(const std::string& source, uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  timeval timeout{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect from ", source, ": ", strerror(errno)));
  }
  absl::Status sent = SendAll(fd, "hello");
  shutdown(fd, SHUT_WR);
  absl::StatusOr<std::string> answer = sent.ok() ? ReadToEnd(fd) : sent;
  close(fd);
  return answer;
}

// Opens a connection through `port` and waits until it is relayed both ways (an echo backend
// answered), so that the node counts it; the descriptor stays open.
absl::StatusOr<int> HoldConnection(uint16_t port) {
  absl::StatusOr<int> fd = Connect(port);
  if (!fd.ok()) return fd.status();
  if (absl::Status sent = SendAll(*fd, "x"); !sent.ok()) return sent;
  char byte = 0;
  if (recv(*fd, &byte, 1, 0) != 1) return absl::UnavailableError("no echo");
  return *fd;
}

// The active connections of each backend of `pool`, from `plbyctl backends list -o json`.
std::map<std::string, int> ActiveConnections(const Node& node, const std::string& pool) {
  std::map<std::string, int> active;
  absl::StatusOr<RunResult> list =
      Ctl({"--node", node.control_address(), "backends", "list", "--pool", pool, "-o", "json"});
  if (!list.ok()) return active;
  static const std::regex kBackend(
      "\\{\"address\":\"([^\"]+)\",[^}]*\"active_connections\":(\\d+)");
  for (std::sregex_iterator it(list->output.begin(), list->output.end(), kBackend), end; it != end;
       ++it) {
    active[(*it)[1]] = std::stoi((*it)[2]);
  }
  return active;
}

class BalancingTest : public ::testing::Test {
 protected:
  void StartBackends(int count, const std::string& mode = "hi") {
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<Backend> backend = StartBackend(mode);
      ASSERT_TRUE(backend.ok()) << backend.status();
      backends_.push_back(*std::move(backend));
    }
  }

  TempDir dir_;
  std::vector<Backend> backends_;
};

TEST_F(BalancingTest, LeastConnectionsSendsNewConnectionsAwayFromTheBusyBackend) {
  StartBackends(3, "echo");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node,
                            StartNode(dir_, PoolConfig("algorithm = \"least_connections\"\n"
                                                       "[pool.health]\ncheck = \"none\"\n",
                                                       backends_)));
  const std::string control = node.control_address();
  // Five long-lived connections to the first backend alone, then the others come back.
  for (size_t i = 1; i < backends_.size(); ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult drained, Ctl({"--node", control, "backends", "drain", backends_[i].address()}));
    ASSERT_EQ(drained.exit_code, 0) << drained.output;
  }
  std::vector<int> held;
  for (int i = 0; i < 5; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(int fd, HoldConnection(node.port()));
    held.push_back(fd);
  }
  for (size_t i = 1; i < backends_.size(); ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(RunResult undrained, Ctl({"--node", control, "backends", "undrain",
                                                        backends_[i].address()}));
    ASSERT_EQ(undrained.exit_code, 0) << undrained.output;
  }
  // Four new ones: round robin would give the busy backend one or two of them.
  for (int i = 0; i < 4; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(int fd, HoldConnection(node.port()));
    held.push_back(fd);
  }
  const std::map<std::string, int> active = ActiveConnections(node, "app");
  EXPECT_EQ(active.at(backends_[0].address()), 5);
  EXPECT_EQ(active.at(backends_[1].address()), 2);
  EXPECT_EQ(active.at(backends_[2].address()), 2);
  for (int fd : held) close(fd);
}

TEST_F(BalancingTest, MaglevSendsEachClientToTheSameBackendOnEveryNode) {
  StartBackends(6);
  constexpr int kNodes = 5;
  constexpr int kClients = 60;
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<Node> nodes;
  std::mt19937 random(20261201);
  for (int n = 0; n < kNodes; ++n) {
    // Each node lists the backends in another order.
    std::vector<Backend*> order;
    for (Backend& backend : backends_) order.push_back(&backend);
    std::shuffle(order.begin(), order.end(), random);
    std::string list = "[\n";
    for (Backend* backend : order)
      absl::StrAppend(&list, "  { address = \"", backend->address(), "\" },\n");
    list += "]";
    dirs.push_back(std::make_unique<TempDir>());
    PLBY_ASSERT_OK_AND_ASSIGN(
        Node node,
        StartNode(*dirs.back(), absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n"
                                             "[[pool]]\nname = \"app\"\nalgorithm = \"RR\"\n"
                                             "backends = ",
                                             list,
                                             "\n[[server]]\nlisten = \"127.0.0.1:0\"\n"
                                             "[[server.forward]]\npool = \"app\"\n")));
    nodes.push_back(std::move(node));
  }
  const auto source = [](int client) {
    return absl::StrCat("127.0.", 10 + client / 200, ".", client % 200 + 1);
  };
  // answers[client]: the backend each client reached, the same on every node.
  const auto reached = [&]() {
    std::vector<std::string> answers(kClients);
    for (int client = 0; client < kClients; ++client) {
      for (int n = 0; n < kNodes; ++n) {
        absl::StatusOr<std::string> answer = ExchangeFrom(source(client), nodes[n].port());
        EXPECT_TRUE(answer.ok()) << answer.status();
        if (!answer.ok()) continue;
        if (n == 0) answers[client] = *answer;
        EXPECT_EQ(*answer, answers[client]) << "client " << source(client) << " on node " << n;
        // Twice on one node: the same too.
        EXPECT_EQ(ExchangeFrom(source(client), nodes[n].port()).value_or("(no answer)"), *answer);
      }
    }
    return answers;
  };
  std::vector<std::string> controls;
  for (const Node& node : nodes) controls.push_back(node.control_address());
  const auto fleet = [&](std::vector<std::string> command) {
    std::vector<std::string> args{"--node", absl::StrJoin(controls, ","), "--pool", "app"};
    args.insert(args.end(), command.begin(), command.end());
    absl::StatusOr<RunResult> result = Ctl(args);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->exit_code, 0) << result->output;
  };

  // The nodes start with RR; one command turns the whole fleet to maglev.
  fleet({"pools", "set", "--algorithm", "maglev"});
  const std::vector<std::string> before = reached();
  std::map<std::string, int> spread;
  for (const std::string& answer : before) ++spread[answer];
  EXPECT_GE(spread.size(), 5u) << "60 clients over 6 backends reach nearly all of them";

  // A drained backend loses exactly its own clients, and gets exactly them back.
  fleet({"backends", "drain", backends_[4].address()});
  const std::vector<std::string> drained = reached();
  for (int client = 0; client < kClients; ++client) {
    if (before[client] == Hi(backends_[4])) {
      EXPECT_NE(drained[client], Hi(backends_[4]));
    } else {
      EXPECT_EQ(drained[client], before[client]) << "client " << source(client) << " moved";
    }
  }
  fleet({"backends", "undrain", backends_[4].address()});
  EXPECT_EQ(reached(), before) << "every client is back where it was";

  // What the documented table and hash (balance/maglev.h, balance/client_key.h) predict for
  // each client from the backend addresses alone: what any implementation of them, on any
  // node, would answer.
  const auto predicted = [&](const std::vector<const Backend*>& set) {
    std::vector<balance::Candidate> candidates;
    std::vector<std::string> identities;
    identities.reserve(set.size());
    for (const Backend* backend : set) {
      identities.push_back(backend->address());
      candidates.push_back({.identity = identities.back(),
                            .weight = 1,
                            .effective_weight = balance::kWeightScale,
                            .eligible = true,
                            .load = nullptr});
    }
    const balance::Maglev maglev({.candidates = candidates}, nullptr);
    std::vector<std::string> answers;
    for (int client = 0; client < kClients; ++client) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      inet_pton(AF_INET, source(client).c_str(), &address.sin_addr);
      const uint64_t key =
          balance::ClientKey(net::SocketAddress::FromSockaddr(
                                 reinterpret_cast<const sockaddr*>(&address), sizeof(address)),
                             balance::HashKey{});
      answers.push_back(Hi(*set[maglev.Pick({.ticket = 0, .key = key, .tried = {}})]));
    }
    return answers;
  };
  std::vector<const Backend*> all;
  for (const Backend& backend : backends_) all.push_back(&backend);
  EXPECT_EQ(before, predicted(all)) << "every node answers as the documented table says";

  // A removed backend's clients move. Maglev's table, rebuilt without it, may also move a few
  // others (about 0.1% of the keys with six backends, by Maglev's design): exactly those the
  // table predicts, on every node alike.
  fleet({"backends", "remove", backends_[2].address()});
  const std::vector<std::string> after = reached();
  std::vector<const Backend*> rest = all;
  rest.erase(rest.begin() + 2);
  EXPECT_EQ(after, predicted(rest));
  int moved = 0;
  int others_moved = 0;
  for (int client = 0; client < kClients; ++client) {
    if (before[client] == Hi(backends_[2])) {
      EXPECT_NE(after[client], Hi(backends_[2]));
      ++moved;
    } else if (after[client] != before[client]) {
      ++others_moved;
    }
  }
  EXPECT_GT(moved, 0) << "the removed backend had clients";
  EXPECT_LE(others_moved, 3) << "of " << kClients - moved << " clients of the other backends";
}

TEST_F(BalancingTest, PoolsSetChangesTheAlgorithmAndSurvivesSigkill) {
  StartBackends(3);
  const std::string config =
      PoolConfig("algorithm = \"RR\"\n", backends_, "state_file = \"state.toml\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult set, Ctl({"--node", node.control_address(), "pools", "set", "--algorithm", "maglev",
                          "--hash", "source_ip_port"}));
  ASSERT_EQ(set.exit_code, 0) << set.output;
  EXPECT_THAT(set.output, HasSubstr("set maglev hash source_ip_port maglev_table_size 65537"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult again, Ctl({"--node", node.control_address(), "pools", "set",
                                                  "--algorithm", "maglev"}));
  EXPECT_THAT(again.output, HasSubstr("already so: maglev"));
  // Each backend's share of the table is listed.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult list,
                            Ctl({"--node", node.control_address(), "backends", "list"}));
  EXPECT_THAT(list.output, HasSubstr("TABLE"));
  EXPECT_THAT(list.output,
              ::testing::ContainsRegex("maglev +2 +127\\.0\\.0\\.1:[0-9]+ .* 3[0-9]\\.[0-9]%"));

  node.process->Signal(SIGKILL);
  ASSERT_TRUE(node.process->WaitForExit());
  PLBY_ASSERT_OK_AND_ASSIGN(Node restarted, StartNode(dir_, config));
  EXPECT_TRUE(restarted.process->WaitForLine(
      std::regex("pool \"app\" balances with maglev hash source_ip_port maglev_table_size 65537 "
                 "as the control service set it \\(the state file\\), not with RR")));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult pools, Ctl({"--node", restarted.control_address(), "pools", "list", "-o", "json"}));
  EXPECT_THAT(pools.output, HasSubstr("\"algorithm\":\"maglev\""));
  EXPECT_THAT(pools.output, HasSubstr("\"hash\":\"source_ip_port\""));
  EXPECT_THAT(pools.output, HasSubstr("\"version\":2,"));
}

TEST_F(BalancingTest, BadPoolSettingsAreRefusedAndChangeNothing) {
  StartBackends(2);
  PLBY_ASSERT_OK_AND_ASSIGN(Node node,
                            StartNode(dir_, PoolConfig("slow_start = \"30s\"\n", backends_)));
  const std::string control = node.control_address();
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult maglev,
                            Ctl({"--node", control, "pools", "set", "--algorithm", "maglev"}));
  EXPECT_EQ(maglev.exit_code, 1);
  EXPECT_THAT(maglev.output,
              HasSubstr("INVALID_ARGUMENT: slow_start 30s is not valid with algorithm maglev"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult size, Ctl({"--node", control, "pools", "set", "--maglev-table-size", "65536"}));
  EXPECT_EQ(size.exit_code, 2) << "refused before any node is contacted";
  EXPECT_THAT(size.output, HasSubstr("the nearest primes are 65521 and 65537"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult pools,
                            Ctl({"--node", control, "pools", "list", "-o", "json"}));
  EXPECT_THAT(pools.output, HasSubstr("\"algorithm\":\"WRR\",\"slow_start_ms\":30000"));
  EXPECT_THAT(pools.output, HasSubstr("\"version\":1,"));
}

TEST_F(BalancingTest, TwoServersShareOnePoolAndItsTurns) {
  StartBackends(2);
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_,
                absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n[[pool]]\nname = \"app\"\n"
                             "algorithm = \"RR\"\nbackends = ",
                             BackendList(backends_),
                             "\n[[server]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\n"
                             "[[server.forward]]\npool = \"app\"\n"
                             "[[server]]\nname = \"b\"\nlisten = \"127.0.0.1:0\"\n"
                             "[[server.forward]]\npool = \"app\"\n"),
                {"--workers", "1"}));
  ASSERT_EQ(node.ports.size(), 2u);
  // One round robin for both listeners: a, b, a, b reach backend 0, 1, 0, 1.
  for (int i = 0; i < 6; ++i) {
    const uint16_t port = node.ports.at(i % 2 == 0 ? "a" : "b");
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(port, "hello"));
    EXPECT_EQ(answer, Hi(backends_[i % 2])) << "connection " << i;
  }
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult pools,
                            Ctl({"--node", node.control_address(), "pools", "list", "-o", "json"}));
  EXPECT_THAT(pools.output, ::testing::ContainsRegex("\"listeners\":\\[\"127\\.0\\.0\\.1:[0-9]+\","
                                                     "\"127\\.0\\.0\\.1:[0-9]+\"\\]"));
  // A change through the control service reaches both listeners.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult drained, Ctl({"--node", node.control_address(), "backends",
                                                    "drain", backends_[0].address()}));
  ASSERT_EQ(drained.exit_code, 0) << drained.output;
  for (const auto& [server, port] : node.ports) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(port, "hello"));
    EXPECT_EQ(answer, Hi(backends_[1])) << "server " << server;
  }
}

}  // namespace
}  // namespace plby::testing
