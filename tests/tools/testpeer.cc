// plby-testpeer: the backends and the client of the demo and the integration tests.
//
//   plby-testpeer hi --listen ADDR          answers "Hi from server PORT", like the PLBY seed's
//                                           server.py (and a small HTTP response to HTTP)
//   plby-testpeer echo --listen ADDR        echoes every byte; passes a half-close back
//   plby-testpeer send-first --listen ADDR --bytes N --seed S
//                                           sends N pattern bytes and half-closes, then reads
//                                           to the end and prints "received bytes=B digest=D"
//   plby-testpeer blackhole --listen ADDR   listens with a backlog of 0 and never accepts, so
//                                           connects beyond the first hang (timeout tests)
//   plby-testpeer stall --listen ADDR       accepts and never reads (backpressure tests)
//   plby-testpeer request --connect ADDR [--count N] [--message TEXT]
//                                           sends TEXT on N new connections, prints each answer
//
// Servers print "listening HOST:PORT" once they accept connections (port 0 picks a free port)
// and run until killed. Single-threaded, epoll, level-triggered: simple over fast.
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/host_port.h"
#include "net/socket_address.h"
#include "pattern.h"

namespace {

using plby::net::SocketAddress;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "plby-testpeer: %s\n", message.c_str());
  std::exit(2);
}

struct Options {
  std::string mode;
  std::string listen;
  std::string connect;
  std::string message = "hello from plby-testpeer";
  uint64_t bytes = 0;
  uint64_t seed = 1;
  int count = 1;
};

constexpr char kUsage[] = R"(Usage: plby-testpeer MODE [options]

The backends and the client of plby's demo and integration tests.

Modes:
  hi --listen ADDR          answers "Hi from server PORT", like the PLBY seed's
                            server.py (and a small HTTP response to HTTP)
  echo --listen ADDR        echoes every byte; passes a half-close back
  send-first --listen ADDR --bytes N --seed S
                            sends N pattern bytes and half-closes, then reads to the
                            end and prints "received bytes=B digest=D"
  blackhole --listen ADDR   listens with a backlog of 0 and never accepts, so
                            connects beyond the first hang (timeout tests)
  stall --listen ADDR       accepts and never reads (backpressure tests)
  request --connect ADDR [--count N] [--message TEXT]
                            sends TEXT on N new connections, prints each answer

Servers print "listening HOST:PORT" once they accept connections (port 0 picks
a free port) and run until killed. Exit codes: 0 done, 1 a request failed,
2 bad command line.
)";

uint64_t NumberOrDie(const std::string& flag, const std::string& value, uint64_t max) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long number = std::strtoull(value.c_str(), &end, 10);
  if (value.empty() || value[0] == '-' || *end != '\0' || errno != 0 || number > max) {
    Die(flag + " \"" + value + "\" is not valid (valid: a whole number from 0 to " +
        std::to_string(max) + ")");
  }
  return number;
}

Options ParseOptions(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
  }
  if (argc < 2) Die("no MODE given (see plby-testpeer --help)");
  Options options;
  options.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Die(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--listen") {
      options.listen = value;
    } else if (flag == "--connect") {
      options.connect = value;
    } else if (flag == "--message") {
      options.message = value;
    } else if (flag == "--bytes") {
      options.bytes = NumberOrDie(flag, value, UINT64_MAX);
    } else if (flag == "--seed") {
      options.seed = NumberOrDie(flag, value, UINT64_MAX);
    } else if (flag == "--count") {
      options.count = static_cast<int>(NumberOrDie(flag, value, 1'000'000));
    } else {
      Die("unknown flag " + flag + " (see plby-testpeer --help)");
    }
  }
  return options;
}

SocketAddress ResolveOrDie(const std::string& text, plby::net::AddressUse use) {
  auto parsed = plby::net::ParseHostPort(text, use);
  if (!parsed.ok()) Die(std::string(parsed.status().message()));
  auto address = SocketAddress::Resolve(*parsed);
  if (!address.ok()) Die(std::string(address.status().message()));
  return *address;
}

int ListenOn(const SocketAddress& address, int backlog) {
  const int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, address.sockaddr_ptr(), address.length()) != 0) {
    Die("cannot listen on " + address.ToString() + ": " + std::strerror(errno));
  }
  if (listen(fd, backlog) != 0) Die(std::string("listen: ") + std::strerror(errno));
  auto local = SocketAddress::LocalOf(fd);
  std::printf("listening %s\n", local->ToString().c_str());
  std::fflush(stdout);
  return fd;
}

struct Peer {
  int fd = -1;
  std::string out;  // bytes waiting to be written
  size_t out_offset = 0;
  bool read_ended = false;
  bool write_shut = false;
  bool answered = false;          // hi
  std::string request_start;      // hi: the first bytes, to tell HTTP from raw TCP
  uint64_t left_to_generate = 0;  // send-first
  std::unique_ptr<plby::testing::PatternStream> pattern;
  plby::testing::Digest received;  // send-first
};

class Server {
 public:
  Server(const Options& options) : options_(options) {}

  [[noreturn]] void Run() {
    const SocketAddress address = ResolveOrDie(options_.listen, plby::net::AddressUse::kListen);
    port_ = address.port();
    listener_ = ListenOn(address, 4096);
    port_ = SocketAddress::LocalOf(listener_)->port();
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    Watch(listener_, EPOLLIN, EPOLL_CTL_ADD);
    epoll_event events[256];
    while (true) {
      const int n = epoll_wait(epoll_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listener_) {
          AcceptAll();
        } else if (auto it = peers_.find(fd); it != peers_.end()) {
          Serve(it->second, events[i].events);
        }
      }
    }
  }

 private:
  void Watch(int fd, uint32_t events, int op) {
    epoll_event event{.events = events, .data = {.fd = fd}};
    epoll_ctl(epoll_, op, fd, &event);
  }

  void AcceptAll() {
    while (true) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      Peer& peer = peers_[fd];
      peer.fd = fd;
      if (options_.mode == "send-first") {
        peer.left_to_generate = options_.bytes;
        peer.pattern = std::make_unique<plby::testing::PatternStream>(options_.seed);
      }
      Watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
      Serve(peer, EPOLLIN | EPOLLOUT);
    }
  }

  void Serve(Peer& peer, uint32_t events) {
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (!ReadFrom(peer)) return Close(peer);
    }
    if (!WriteTo(peer)) return Close(peer);
    const bool done_writing = peer.write_shut;
    if (peer.read_ended && done_writing) return Close(peer);
    const bool want_out = !peer.out.empty() || peer.left_to_generate > 0;
    Watch(peer.fd, (peer.read_ended ? 0u : uint32_t{EPOLLIN}) | (want_out ? EPOLLOUT : 0u),
          EPOLL_CTL_MOD);
  }

  bool ReadFrom(Peer& peer) {
    char buffer[65536];
    while (!peer.read_ended) {
      const ssize_t n = read(peer.fd, buffer, sizeof(buffer));
      if (n < 0) return errno == EAGAIN;
      if (n == 0) {
        peer.read_ended = true;
        if (options_.mode == "send-first") {
          std::printf("received bytes=%" PRIu64 " digest=%016" PRIx64 "\n", peer.received.bytes(),
                      peer.received.hash());
          std::fflush(stdout);
        }
        break;
      }
      if (options_.mode == "echo") peer.out.append(buffer, static_cast<size_t>(n));
      if (options_.mode == "send-first") peer.received.Update(buffer, static_cast<size_t>(n));
      if (options_.mode == "hi") {
        peer.request_start.assign(buffer, std::min<size_t>(static_cast<size_t>(n), 4));
        break;
      }
    }
    if (options_.mode == "hi" && !peer.answered) {
      peer.answered = true;
      peer.out = HiAnswer(peer.request_start);
    }
    return true;
  }

  std::string HiAnswer(std::string_view start) {
    const std::string body = "Hi from server " + std::to_string(port_);
    for (std::string_view method : {"GET ", "HEAD", "POST", "PUT "}) {
      if (start == method) {
        return "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
               std::to_string(body.size() + 1) + "\r\nConnection: close\r\n\r\n" + body + "\n";
      }
    }
    return body;
  }

  bool WriteTo(Peer& peer) {
    while (true) {
      if (peer.out_offset == peer.out.size() && peer.left_to_generate > 0) {
        const size_t size = std::min<uint64_t>(peer.left_to_generate, 65536);
        peer.out = peer.pattern->Take(size);
        peer.out_offset = 0;
        peer.left_to_generate -= size;
      }
      if (peer.out_offset == peer.out.size()) break;
      const ssize_t n =
          write(peer.fd, peer.out.data() + peer.out_offset, peer.out.size() - peer.out_offset);
      if (n < 0) return errno == EAGAIN;
      peer.out_offset += static_cast<size_t>(n);
    }
    peer.out.clear();
    peer.out_offset = 0;
    // All written: decide whether this side is finished.
    const bool finished = (options_.mode == "hi" && peer.answered) ||
                          (options_.mode == "echo" && peer.read_ended) ||
                          (options_.mode == "send-first" && peer.left_to_generate == 0);
    if (finished && !peer.write_shut) {
      if (options_.mode == "hi") peer.read_ended = true;  // an answer ends the exchange
      shutdown(peer.fd, SHUT_WR);
      peer.write_shut = true;
    }
    return true;
  }

  void Close(Peer& peer) {
    const int fd = peer.fd;
    close(fd);
    peers_.erase(fd);
  }

  const Options& options_;
  int listener_ = -1;
  int epoll_ = -1;
  uint16_t port_ = 0;
  std::map<int, Peer> peers_;
};

int Request(const Options& options) {
  const SocketAddress address = ResolveOrDie(options.connect, plby::net::AddressUse::kConnect);
  int failures = 0;
  for (int i = 0; i < options.count; ++i) {
    const int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{.tv_sec = 5, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
      std::printf("request %d: connect failed: %s\n", i + 1, std::strerror(errno));
      ++failures;
      close(fd);
      continue;
    }
    send(fd, options.message.data(), options.message.size(), MSG_NOSIGNAL);
    std::string answer;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) answer.append(buffer, n);
    close(fd);
    if (n < 0 || answer.empty()) {
      std::printf("request %d: no answer (%s)\n", i + 1,
                  n < 0 ? std::strerror(errno) : "connection closed");
      ++failures;
      continue;
    }
    std::printf("request %d: %s\n", i + 1, answer.c_str());
  }
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const Options options = ParseOptions(argc, argv);
  if (options.mode == "request") {
    if (options.connect.empty()) Die("request needs --connect HOST:PORT");
    return Request(options);
  }
  if (options.listen.empty()) Die(options.mode + " needs --listen HOST:PORT");
  if (options.mode == "blackhole") {
    ListenOn(ResolveOrDie(options.listen, plby::net::AddressUse::kListen), 0);
    while (true) pause();
  }
  if (options.mode == "stall") {
    const int listener =
        ListenOn(ResolveOrDie(options.listen, plby::net::AddressUse::kListen), 4096);
    std::vector<int> accepted;  // kept open, never read
    while (true) {
      pollfd ready{.fd = listener, .events = POLLIN, .revents = 0};
      poll(&ready, 1, -1);
      const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) accepted.push_back(fd);
    }
  }
  if (options.mode != "hi" && options.mode != "echo" && options.mode != "send-first") {
    Die("unknown mode " + options.mode +
        " (valid: hi, echo, send-first, blackhole, stall, request)");
  }
  Server(options).Run();
}
