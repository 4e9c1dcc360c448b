#include "metrics/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "log/log.h"
#include "net/socket_ops.h"

namespace plby::metrics {
namespace {

absl::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
  }
  return "Error";
}

// This listener serves only its own page, style sheet, script and data: the browser is told to
// load nothing else (no inline script, no other origin, no framing) and to trust the
// content types as sent.
constexpr absl::string_view kSecurityHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n";

HttpResponse Plain(int status, std::string body) {
  return {.status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(body)};
}

}  // namespace

class HttpServer::Acceptor final : public net::EventHandler {
 public:
  explicit Acceptor(HttpServer* server) : server_(server) {}
  void OnEvents(uint32_t) override { server_->AcceptAll(); }

 private:
  HttpServer* server_;
};

// One connection: read the request head, answer, close.
class HttpServer::Exchange final : public net::EventHandler,
                                   public net::TimerHandler,
                                   public net::DeferredTask {
 public:
  Exchange(HttpServer* server, net::UniqueFd fd) : server_(server), fd_(std::move(fd)) {}
  ~Exchange() { server_->loop_->CancelTimer(timer_); }

  absl::Status Start() {
    server_->loop_->ArmTimer(timer_, kHeadTimeoutMs);
    return server_->loop_->Add(fd_.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this);
  }

  // Still waiting for the whole request head (a slow client, maybe a hostile one).
  bool waiting_for_head() const { return !finished_ && answer_.empty(); }
  // Dropped to make room for a newer client.
  void Evict() { Finish(); }

  void OnEvents(uint32_t events) override {
    if (finished_) return;
    if (events & EPOLLERR) return Finish();
    if (written_out_) return DiscardInput();
    if (answer_.empty()) ReadRequest();
    if (!answer_.empty()) WriteAnswer();
  }

  void OnTimer() override {
    if (answer_.empty()) {
      Answer("GET", Plain(408, "the request did not arrive in time\n"));
      WriteAnswer();
    }
    Finish();  // still not written out after the whole timeout: give up
  }

  void RunDeferred() override { server_->Finish(this); }

 private:
  void ReadRequest() {
    char buffer[2048];
    while (true) {
      const ssize_t n = ::read(fd_.get(), buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) Finish();
        return;
      }
      if (n == 0) return Finish();  // gone before asking anything
      request_.append(buffer, static_cast<size_t>(n));
      if (request_.find("\r\n\r\n") != std::string::npos) return Respond();
      if (request_.size() > kMaxRequestBytes) {
        return Answer("GET", Plain(431, absl::StrCat("the request head is longer than ",
                                                     kMaxRequestBytes, " bytes\n")));
      }
    }
  }

  void Respond() {
    const absl::string_view request_line(request_.data(), request_.find("\r\n"));
    const std::vector<absl::string_view> parts = absl::StrSplit(request_line, ' ');
    if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
      return Answer("GET", Plain(400, "not an HTTP/1.x request\n"));
    }
    const absl::string_view method = parts[0];
    if (method != "GET" && method != "HEAD") {
      HttpResponse refused = Plain(405, "only GET and HEAD are served here\n");
      return Answer(method, std::move(refused), "Allow: GET, HEAD\r\n");
    }
    const absl::string_view target = parts[1];
    const std::string path(target.substr(0, target.find('?')));
    Answer(method, server_->handler_(path));
  }

  void Answer(absl::string_view method, HttpResponse response,
              absl::string_view extra_headers = "") {
    server_->loop_->ArmTimer(timer_, kAnswerTimeoutMs);
    answer_ = absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status),
                           "\r\nContent-Type: ", response.content_type,
                           "\r\nContent-Length: ", response.body.size(),
                           "\r\nCache-Control: no-store\r\nConnection: close\r\n", kSecurityHeaders,
                           extra_headers, "\r\n");
    if (method != "HEAD") answer_ += response.body;
  }

  void WriteAnswer() {
    while (written_ < answer_.size()) {
      const ssize_t n =
          ::send(fd_.get(), answer_.data() + written_, answer_.size() - written_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) Finish();
        return;  // EAGAIN: the next EPOLLOUT edge goes on
      }
      written_ += static_cast<size_t>(n);
    }
    ::shutdown(fd_.get(), SHUT_WR);
    written_out_ = true;
    DiscardInput();
  }

  // Closing with unread input would send a reset, which may destroy the answer before the
  // client has read it (a request refused before its end, say): read to the client's end of
  // the stream first, a bounded amount, within the exchange's timeout.
  void DiscardInput() {
    char buffer[2048];
    while (true) {
      const ssize_t n = ::read(fd_.get(), buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;  // the next edge goes on
      if (n <= 0) return Finish();           // the client's end, or an error
      discarded_ += static_cast<size_t>(n);
      if (discarded_ > kMaxDiscardedBytes) return Finish();
    }
  }

  // The exchange is deleted after the current batch of events, which may still name it.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    --server_->open_exchanges_;
    server_->loop_->CancelTimer(timer_);
    fd_.reset();
    server_->loop_->Defer(this);
  }

  HttpServer* server_;
  net::UniqueFd fd_;
  net::Timer timer_{this};
  std::string request_;
  std::string answer_;
  size_t written_ = 0;
  bool written_out_ = false;  // the answer is out and the write side shut down
  size_t discarded_ = 0;
  bool finished_ = false;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const net::SocketAddress& address,
                                                              Handler handler) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->handler_ = std::move(handler);
  absl::StatusOr<std::vector<net::UniqueFd>> listeners =
      net::OpenListeners(address, 1, &server->address_);
  if (!listeners.ok()) return listeners.status();
  server->listener_ = std::move(listeners->front());
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  server->loop_ = *std::move(loop);
  server->acceptor_ = std::make_unique<Acceptor>(server.get());
  if (absl::Status added =
          server->loop_->Add(server->listener_.get(), EPOLLIN | EPOLLET, server->acceptor_.get());
      !added.ok()) {
    return added;
  }
  server->thread_ = std::thread([raw = server.get()] {
    if (absl::Status run = raw->loop_->Run(); !run.ok()) {
      PLBY_LOG(kError, "metrics listener stopped: ", run.message());
    }
  });
  return server;
}

HttpServer::~HttpServer() {
  if (thread_.joinable()) {
    loop_->Stop();
    thread_.join();
  }
  exchanges_.clear();  // their timers are cancelled while the loop still exists
}

void HttpServer::AcceptAll() {
  while (true) {
    net::UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) {
        // Out of descriptors, most likely: the next connection's edge tries again.
        PLBY_LOG(kWarn, "metrics listener: accept failed: ", std::strerror(errno));
      }
      return;
    }
    if (!MakeRoom()) continue;  // closed at once: every open exchange is being answered
    auto exchange = std::make_unique<Exchange>(this, std::move(fd));
    if (!exchange->Start().ok()) continue;
    exchanges_.push_back(std::move(exchange));
    ++open_exchanges_;
  }
}

bool HttpServer::MakeRoom() {
  if (open_exchanges_ < kMaxOpenExchanges) return true;
  for (const std::unique_ptr<Exchange>& exchange : exchanges_) {
    if (exchange->waiting_for_head()) {
      exchange->Evict();
      return true;
    }
  }
  return false;
}

void HttpServer::Finish(Exchange* exchange) {
  const auto it = std::find_if(exchanges_.begin(), exchanges_.end(),
                               [exchange](const auto& open) { return open.get() == exchange; });
  if (it != exchanges_.end()) exchanges_.erase(it);
}

}  // namespace plby::metrics
