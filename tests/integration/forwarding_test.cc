// The forwarder as a client sees it: the real plby-node in front of real backend processes.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness.h"
#include "pattern.h"

namespace plby::testing {
namespace {

class ForwardingTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(ForwardingTest, RoundRobinOrderSeenByClient) {
  std::vector<Backend> backends(3);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{backends[0].address()},
                                                                      {backends[1].address()},
                                                                      {backends[2].address()}},
                                                                     "RR")));
  for (int i = 0; i < 9; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "hello"));
    EXPECT_EQ(answer, Hi(backends[i % 3])) << "request " << i;
  }
}

TEST_F(ForwardingTest, SeedFormatWithoutWeightsGoesRoundRobin) {
  std::vector<Backend> backends(3);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  // The PLBY seed's layout: no name, WRR, backends without weights.
  const std::string config = absl::StrCat(
      "[[server]]\n\nlisten = \"127.0.0.1:0\"\n\n[[server.forward]]\n\nalgorithm = \"WRR\"\n\n"
      "backends = [\n    { address = \"",
      backends[0].address(), "\"},\n    { address = \"", backends[1].address(),
      "\"},\n    { address = \"", backends[2].address(),
      "\"},\n]\n[control]\nlisten = ", "\"127.0.0.1:0\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  for (int i = 0; i < 6; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "hello"));
    EXPECT_EQ(answer, Hi(backends[i % 3])) << "request " << i;
  }
}

TEST_F(ForwardingTest, SmoothWeightedRoundRobinInterleaves) {
  std::vector<Backend> backends(3);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  PLBY_ASSERT_OK_AND_ASSIGN(Node node,
                            StartNode(dir_, OnePoolConfig({{backends[0].address(), 5},
                                                           {backends[1].address(), 1},
                                                           {backends[2].address(), 1}})));
  // nginx's order for 5,1,1: a a b a c a a, then again.
  const int expected[] = {0, 0, 1, 0, 2, 0, 0};
  for (int i = 0; i < 14; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "hello"));
    EXPECT_EQ(answer, Hi(backends[expected[i % 7]])) << "request " << i;
  }
}

TEST_F(ForwardingTest, WeightsThreeToOneOver400Connections) {
  std::vector<Backend> backends(2);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, OnePoolConfig({{backends[0].address(), 3}, {backends[1].address(), 1}})));
  std::map<std::string, int> answers;
  for (int i = 0; i < 400; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "hello"));
    ++answers[answer];
  }
  EXPECT_EQ(answers[Hi(backends[0])], 300);
  EXPECT_EQ(answers[Hi(backends[1])], 100);
}

// The client sends megabytes and half-closes; the echo keeps flowing back after the FIN.
TEST_F(ForwardingTest, EchoesMegabytesBothWaysAfterClientHalfClose) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{echo.address()}})));
  constexpr int kConnections = 4;
  constexpr size_t kBytes = 8 << 20;
  std::vector<std::thread> clients;
  std::vector<std::string> errors(kConnections);
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&, c] {
      const std::string payload = PatternStream(100 + c).Take(kBytes);
      absl::StatusOr<int> fd = Connect(node.port());
      if (!fd.ok()) {
        errors[c] = fd.status().ToString();
        return;
      }
      std::thread writer([&] {
        if (SendAll(*fd, payload).ok()) shutdown(*fd, SHUT_WR);
      });
      absl::StatusOr<std::string> echoed = ReadToEnd(*fd);
      writer.join();
      close(*fd);
      if (!echoed.ok()) {
        errors[c] = echoed.status().ToString();
      } else if (*echoed != payload) {
        errors[c] =
            absl::StrCat("echo differs: sent ", payload.size(), " bytes, got ", echoed->size());
      }
    });
  }
  for (std::thread& client : clients) client.join();
  for (int c = 0; c < kConnections; ++c) EXPECT_EQ(errors[c], "") << "connection " << c;
}

// The backend sends megabytes and half-closes first; the client's bytes still reach it.
TEST_F(ForwardingTest, BackendHalfClosesFirstAndClientKeepsSending) {
  constexpr size_t kDownBytes = 6 << 20;
  constexpr size_t kUpBytes = 5 << 20;
  PLBY_ASSERT_OK_AND_ASSIGN(
      Backend sender,
      StartBackend("send-first", {"--bytes", std::to_string(kDownBytes), "--seed", "7"}));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{sender.address()}})));
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
  PLBY_ASSERT_OK_AND_ASSIGN(std::string received, ReadToEnd(fd));  // ends at the backend's FIN
  EXPECT_TRUE(received == PatternStream(7).Take(kDownBytes)) << "got " << received.size();

  const std::string upload = PatternStream(9).Take(kUpBytes);
  ASSERT_TRUE(SendAll(fd, upload).ok());
  shutdown(fd, SHUT_WR);
  Digest digest;
  digest.Update(upload.data(), upload.size());
  // Health checks connect too (and send nothing): the client's is the connection with bytes.
  const auto line =
      sender.process->WaitForLine(std::regex(R"(received bytes=([1-9]\d*) digest=(\w+))"));
  ASSERT_TRUE(line) << sender.process->Output();
  EXPECT_EQ((*line)[1], std::to_string(kUpBytes));
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(digest.hash()));
  EXPECT_EQ((*line)[2], hex);
  close(fd);
}

TEST_F(ForwardingTest, ThousandConcurrentConnections) {
  RaiseDescriptorLimit();
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{echo.address()}})));
  constexpr int kConnections = 1000;
  std::vector<int> fds;
  for (int i = 0; i < kConnections; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
    fds.push_back(fd);
  }
  // All are open at once; now each carries its own message through and back.
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_TRUE(SendAll(fds[i], absl::StrCat("message ", i, ";")).ok()) << i;
  }
  for (int i = 0; i < kConnections; ++i) {
    const std::string expected = absl::StrCat("message ", i, ";");
    std::string got(expected.size(), '\0');
    ASSERT_EQ(recv(fds[i], got.data(), got.size(), MSG_WAITALL),
              static_cast<ssize_t>(expected.size()))
        << "connection " << i;
    EXPECT_EQ(got, expected);
  }
  for (int fd : fds) close(fd);
  PLBY_ASSERT_OK_AND_ASSIGN(std::string after, Exchange(node.port(), "still there?"));
  EXPECT_EQ(after, "still there?");
}

// Resident memory of a process, from /proc.
int64_t ResidentKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// A backend that never reads: the node must stop reading the client once the backend side is
// full, holding at most one relay buffer per direction, instead of soaking the upload up.
TEST_F(ForwardingTest, BackpressureStopsReadingAndBoundsMemory) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend stall, StartBackend("stall"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{stall.address()}})));
  const int64_t rss_before = ResidentKiB(node.process->pid());
  constexpr int kConnections = 20;
  constexpr size_t kUpload = 64 << 20;
  const std::string chunk(1 << 20, 'x');
  std::vector<pollfd> fds;
  std::vector<size_t> sent(kConnections, 0);
  for (int c = 0; c < kConnections; ++c) {
    PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fds.push_back({.fd = fd, .events = POLLOUT, .revents = 0});
  }
  // Push on every connection until the whole path is full: no connection has taken a byte for
  // 300 ms (the node stopped reading, the kernel buffers on the way are full).
  while (true) {
    for (int c = 0; c < kConnections; ++c) {
      while (sent[c] < kUpload) {
        const ssize_t n = send(fds[c].fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent[c] += static_cast<size_t>(n);
      }
      if (sent[c] >= kUpload) fds[c].events = 0;  // everything went: nothing held it back
    }
    if (poll(fds.data(), fds.size(), 300) == 0) break;
  }
  for (int c = 0; c < kConnections; ++c) {
    // What the path holds is the kernel's socket buffers (some MiB) plus one relay buffer: far
    // below what the client tried to send.
    EXPECT_LT(sent[c], kUpload / 2) << "connection " << c;
  }
  const int64_t rss_after = ResidentKiB(node.process->pid());
  EXPECT_LT(rss_after - rss_before, 16 * 1024)
      << "node grew from " << rss_before << " KiB to " << rss_after << " KiB";
  for (const pollfd& fd : fds) close(fd.fd);
}

TEST_F(ForwardingTest, RefusingBackendIsSkippedWithoutClientFailure) {
  RefusedPort refused;
  std::vector<Backend> backends(2);
  for (Backend& backend : backends) {
    PLBY_ASSERT_OK_AND_ASSIGN(backend, StartBackend("hi"));
  }
  // Health checks and passive marks off: this is about failover on connect alone (health has
  // its own tests).
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node,
      StartNode(dir_, OnePoolConfig(
                          {{refused.address()}, {backends[0].address()}, {backends[1].address()}},
                          "WRR", "[server.health]\ncheck = \"none\"\npassive_failures = 0\n")));
  std::map<std::string, int> answers;
  for (int i = 0; i < 30; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "hello"));
    ++answers[answer];
  }
  // The refused backend's turns go to the one after it in the list.
  EXPECT_EQ(answers[Hi(backends[0])], 20);
  EXPECT_EQ(answers[Hi(backends[1])], 10);
  EXPECT_EQ(answers.size(), 2u);
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("backend connect failed pool=web backend=" + refused.address())));
}

TEST_F(ForwardingTest, ClientIsClosedWhenEveryBackendRefuses) {
  RefusedPort first;
  RefusedPort second;
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, OnePoolConfig({{first.address()}, {second.address()}}, "WRR", "",
                                               "\n[metrics]\nlisten = \"127.0.0.1:0\"\n")));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> answer = Exchange(node.port(), "hello");
    // Closed without an answer: EOF, or a reset when the node closed before reading.
    EXPECT_TRUE(answer.ok() ? answer->empty()
                            : absl::StrContains(answer.status().message(), "reset by peer"))
        << (answer.ok() ? *answer : answer.status().ToString());
  }
  // Each client was closed because no backend took it, after both were tried and refused.
  EXPECT_EQ(WaitForMetric(node, "plby_errors_total{kind=\"no_backend\"}", 3), 3u);
  for (const RefusedPort* port : {&first, &second}) {
    EXPECT_GE(
        WaitForMetric(node,
                      absl::StrCat("plby_backend_connect_failures_total{pool=\"web\",backend=\"",
                                   port->address(), "\"}"),
                      3)
            .value_or(0),
        3u)
        << port->address();
  }
  EXPECT_FALSE(node.process->WaitForExit(milliseconds(0))) << "the node must keep running";
}

TEST_F(ForwardingTest, EmptyPoolClosesClientsAndSaysSo) {
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({})));
  EXPECT_TRUE(node.process->WaitForLine(std::regex("warn .*pool \"web\" has no backends")));
  absl::StatusOr<std::string> answer = Exchange(node.port(), "anyone?");
  EXPECT_TRUE(answer.ok() ? answer->empty()
                          : absl::StrContains(answer.status().message(), "reset by peer"))
      << (answer.ok() ? *answer : answer.status().ToString());
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("closing client: pool web has no backend taking connections")));
}

TEST_F(ForwardingTest, BackendThatNeverAnswersTimesOutAndIsSkipped) {
  PLBY_ASSERT_OK_AND_ASSIGN(SilentBackend blackhole, StartSilentBackend());
  PLBY_ASSERT_OK_AND_ASSIGN(Backend hi, StartBackend("hi"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, OnePoolConfig({{blackhole.address()}, {hi.address()}}, "RR",
                                               "connect_timeout = \"300ms\"\n")));
  for (int i = 0; i < 4; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "hello"));
    EXPECT_EQ(answer, Hi(hi)) << "request " << i;
  }
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("backend=" + blackhole.address() + R"( error="Connection timed out")")));
}

// The client's first bytes are read as soon as the connect starts (see Connection::SendEarly):
// when that backend then times out, the same bytes, all of them once, reach the next one.
TEST_F(ForwardingTest, BytesReadBeforeAFailedConnectReachTheNextBackend) {
  PLBY_ASSERT_OK_AND_ASSIGN(SilentBackend blackhole, StartSilentBackend());
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, OnePoolConfig({{blackhole.address()}, {echo.address()}}, "RR",
                                               "connect_timeout = \"300ms\"\n")));
  for (int i = 0; i < 4; ++i) {
    const std::string message = "request " + std::to_string(i) + std::string(5000, 'x');
    PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), message));
    EXPECT_EQ(answer, message) << "request " << i;
  }
}

TEST_F(ForwardingTest, ClientResetDoesNotDisturbTheNode) {
  PLBY_ASSERT_OK_AND_ASSIGN(Backend echo, StartBackend("echo"));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, OnePoolConfig({{echo.address()}})));
  for (int i = 0; i < 20; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
    ASSERT_TRUE(SendAll(fd, std::string(100000, 'x')).ok());
    const linger reset{.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
  }
  PLBY_ASSERT_OK_AND_ASSIGN(std::string answer, Exchange(node.port(), "after resets"));
  EXPECT_EQ(answer, "after resets");
}

}  // namespace
}  // namespace plby::testing
