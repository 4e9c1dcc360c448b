// HttpServer: a small HTTP/1.1 server on its own thread and event loop, for the metrics and the
// status page. It answers GET and HEAD, one request per connection (Connection: close), with a
// body built by the handler. Requests are capped in size, time and number at once, so a slow or
// hostile client cannot tie it up or grow its memory; it never touches the forwarding workers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "net/event_loop.h"
#include "net/socket_address.h"
#include "net/unique_fd.h"

namespace plby::metrics {

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

class HttpServer {
 public:
  // Called on the server's thread with the request's path (without the query).
  using Handler = std::function<HttpResponse(const std::string& path)>;

  // Limits per connection and overall. A scraper sends its request at once: a head that has
  // not arrived within kHeadTimeoutMs is a slow or hostile client. At kMaxOpenExchanges the
  // oldest exchange still waiting for its head is dropped for the newcomer, so that clients
  // which send half a request and hold on cannot lock the port: a scrape always gets in.
  static constexpr size_t kMaxRequestBytes = 8 * 1024;
  static constexpr int64_t kHeadTimeoutMs = 2'000;         // from accept to the end of the head
  static constexpr int64_t kAnswerTimeoutMs = 10'000;      // then, to write the answer out
  static constexpr size_t kMaxDiscardedBytes = 64 * 1024;  // read after the answer, then closed
  static constexpr size_t kMaxOpenExchanges = 256;

  // Binds `address` (refusing one in use) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const net::SocketAddress& address,
                                                           Handler handler);
  ~HttpServer();

  // The address actually bound (the kernel's port when asked for 0).
  const net::SocketAddress& address() const { return address_; }

 private:
  class Exchange;
  class Acceptor;

  HttpServer() = default;
  void AcceptAll();
  // Room for one more exchange: true when under the cap, or after dropping the oldest one
  // whose request head is still incomplete.
  bool MakeRoom();
  void Finish(Exchange* exchange);

  net::SocketAddress address_;
  Handler handler_;
  net::UniqueFd listener_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<Acceptor> acceptor_;
  // In accept order, oldest first; finished ones stay until the end of their event batch. The
  // loop's thread only.
  std::vector<std::unique_ptr<Exchange>> exchanges_;
  size_t open_exchanges_ = 0;  // in exchanges_ and not finished
  std::thread thread_;
};

}  // namespace plby::metrics
