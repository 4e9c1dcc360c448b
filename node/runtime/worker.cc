#include "runtime/worker.h"

#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <future>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "log/log.h"

namespace plby::runtime {
namespace {

// Accepts per wakeup of a listener, so that a flood of new connections cannot starve the
// established ones of the same worker. The listener is level-triggered: more wake it again.
constexpr int kAcceptsPerWakeup = 64;
// How long accepting pauses when the process is out of file descriptors or memory.
constexpr int64_t kAcceptPauseMs = 100;
// How often idle timeouts and drain deadlines are checked (their resolution).
constexpr int64_t kHousekeepingMs = 1000;

}  // namespace

// Accepts the connections of one listening socket and starts their relay.
class Worker::Acceptor final : public net::EventHandler, public net::TimerHandler {
 public:
  Acceptor(Worker* worker, const proxy::Listener* listener, net::UniqueFd socket)
      : worker_(worker), listener_(listener), socket_(std::move(socket)) {}
  ~Acceptor() { worker_->loop_->CancelTimer(pause_timer_); }
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  absl::Status Watch() { return worker_->loop_->Add(socket_.get(), EPOLLIN, this); }

  // Leaves the SO_REUSEPORT group for good. The object stays: an event already collected in
  // this batch may still point to it.
  void Close() {
    worker_->loop_->CancelTimer(pause_timer_);
    socket_.reset();
  }

  // Accepting again, unless the descriptor pause still holds.
  void Resume() {
    if (!pause_timer_.armed()) Listen(true);
  }

  void OnEvents(uint32_t) override {
    if (!socket_) return;  // closed earlier in this batch
    for (int i = 0; i < kAcceptsPerWakeup; ++i) {
      if (worker_->AtCapacity()) {
        // The wakeup says a client waits (the listener is level-triggered), and it may take an
        // idle client's place. Past the first accept nobody may be waiting: the next wakeup
        // tells.
        if (i > 0) return;
        if (!worker_->MakeRoom(/*for_descriptors=*/false)) {
          // Clients wait in the kernel's accept queue until a connection closes or goes idle.
          worker_->MuteAcceptors(true);
          return;
        }
      }
      sockaddr_storage peer;
      socklen_t peer_length = sizeof(peer);
      const int fd = accept4(socket_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        worker_->stats_.accepted.Add();
        HandOff(net::UniqueFd(fd), reinterpret_cast<const sockaddr*>(&peer), peer_length);
        continue;
      }
      switch (errno) {
        case EAGAIN:
          return;
        case EINTR:
        case ECONNABORTED:  // the client gave up while queued
          continue;
        case EMFILE:
        case ENFILE:
          // The client stays queued: closing idle connections gives it their descriptors.
          if (worker_->MakeRoom(/*for_descriptors=*/true)) continue;
          PauseAccepting(errno);
          return;
        case ENOBUFS:
        case ENOMEM:
          PauseAccepting(errno);
          return;
        default:
          worker_->stats_.accept_errors.Add();
          LogAcceptFailure(errno, "");
          return;
      }
    }
  }

  // Resumes accepting after a pause (unless the connection limit still holds it).
  void OnTimer() override {
    if (!worker_->muted_for_capacity_) Listen(true);
  }

  void Listen(bool on) {
    if (!socket_) return;
    if (absl::Status s = worker_->loop_->Modify(socket_.get(), on ? uint32_t{EPOLLIN} : 0u, this);
        !s.ok()) {
      PLBY_LOG(kError, "cannot ", on ? "resume" : "pause", " accepting server=", listener_->name,
               ": ", s.message());
    }
  }

 private:
  void HandOff(net::UniqueFd client, const sockaddr* peer, socklen_t peer_length) {
    worker_->connections_.Acquire()->Start(&worker_->context_, std::move(client), listener_,
                                           net::SocketAddress::FromSockaddr(peer, peer_length));
  }

  // Out of descriptors or memory: a level-triggered listener would wake the loop again at once
  // and spin a core, so it is muted for a moment while open connections go on being served.
  void PauseAccepting(int error) {
    worker_->stats_.accept_errors.Add();
    LogAcceptFailure(error, absl::StrCat("; accepting paused for ", kAcceptPauseMs, " ms"));
    Listen(false);
    worker_->loop_->ArmTimer(pause_timer_, kAcceptPauseMs);
  }

  void LogAcceptFailure(int error, absl::string_view consequence) {
    uint64_t suppressed = 0;
    if (!worker_->accept_failure_log_.Allow(worker_->loop_->now_ms(), &suppressed)) return;
    PLBY_LOG(kWarn, "accept failed server=", listener_->name, " worker=", worker_->index_,
             " error=\"", std::strerror(error), "\"", consequence,
             log::SuppressedSuffix(suppressed));
  }

  Worker* worker_;
  const proxy::Listener* listener_;
  net::UniqueFd socket_;
  net::Timer pause_timer_{this};
};

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(int index, std::vector<Frontend> frontends,
                                                       Options options) {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  std::unique_ptr<Worker> worker =
      absl::WrapUnique(new Worker(index, *std::move(loop), std::move(options)));
  for (Frontend& frontend : frontends) {
    auto listener = std::make_unique<proxy::Listener>();
    listener->name = frontend.spec->name;
    listener->routes = &frontend.spec->routes;
    listener->accept_proxy = frontend.spec->accept_proxy;
    listener->reads_client_hello = frontend.spec->reads_client_hello;
    listener->handshake_timeout_ms = frontend.spec->handshake_timeout_ms;
    listener->route_tls = frontend.spec->route_tls;
    listener->tls_slot = frontend.spec->tls.get();
    if (frontend.spec->http) listener->http = &*frontend.spec->http;
    listener->http_route_configs = &frontend.spec->http_routes;
    listener->counters = &frontend.spec->counters.worker(index);
    for (pool::Pool* pool : frontend.spec->pools) {
      listener->views.push_back(worker->ViewOf(*pool));
    }
    worker->acceptors_.push_back(
        std::make_unique<Acceptor>(worker.get(), listener.get(), std::move(frontend.listener)));
    worker->listeners_.push_back(std::move(listener));
    if (absl::Status s = worker->acceptors_.back()->Watch(); !s.ok()) return s;
  }
  return worker;
}

pool::PoolView* Worker::ViewOf(pool::Pool& pool) {
  // One view per pool, whichever listeners and routes use it: its snapshots are followed once.
  for (const auto& existing : views_) {
    if (&existing->pool() == &pool) return existing.get();
  }
  views_.push_back(std::make_unique<pool::PoolView>(pool));
  return views_.back().get();
}

Worker::Worker(int index, std::unique_ptr<net::EventLoop> loop, Options options)
    : index_(index),
      max_connections_(options.max_connections),
      loop_(std::move(loop)),
      scratch_(std::make_unique_for_overwrite<proxy::RelayBuffer>()),
      upstreams_(loop_.get(), index),
      on_failure_(std::move(options.on_failure)) {
  context_.worker_index = index_;
  context_.loop = loop_.get();
  context_.buffers = &buffers_;
  context_.connections = &connections_;
  context_.scratch = std::span<char>(scratch_->bytes);
  context_.stats = &stats_;
  context_.connect_failure_log = &connect_failure_log_;
  context_.resource_error_log = &resource_error_log_;
  context_.empty_pool_log = &empty_pool_log_;
  context_.inspect_log = &inspect_log_;
  context_.health = options.health;
  context_.observer = this;
  context_.idle_clients = &idle_clients_;
  context_.http_buffers = &http_buffers_;
  context_.upstreams = &upstreams_;
  context_.headers = std::span<http::Header>(headers_);
}

Worker::~Worker() {
  Stop();
  Join();
  loop_->CancelTimer(housekeeping_);
}

void Worker::Start() {
  loop_->ArmTimer(housekeeping_, kHousekeepingMs);
  thread_ = std::thread([this] { Run(); });
}

void Worker::Stop() { loop_->Stop(); }

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::StopAccepting() {
  std::promise<void> closed;
  loop_->Post([this, &closed] {
    for (auto& acceptor : acceptors_) acceptor->Close();
    // Keep-alive clients would otherwise hold the drain open for their idle timeout.
    connections_.ForEach([](proxy::Connection& connection) { connection.Drain(); });
    upstreams_.CloseAll();
    closed.set_value();
  });
  // Synchronous, so that the caller's count of open connections after this call covers every
  // connection this worker will ever have.
  closed.get_future().wait();
}

void Worker::MuteAcceptors(bool muted) {
  if (muted == muted_for_capacity_) return;
  muted_for_capacity_ = muted;
  for (auto& acceptor : acceptors_) {
    if (muted) {
      acceptor->Listen(false);
    } else {
      acceptor->Resume();
    }
  }
  uint64_t suppressed = 0;
  if (muted && capacity_log_.Allow(loop_->now_ms(), &suppressed)) {
    PLBY_LOG(kWarn, "worker ", index_, " is at its limit of ", max_connections_,
             " open connections; new ones wait until some close",
             log::SuppressedSuffix(suppressed));
  }
}

bool Worker::MakeRoom(bool for_descriptors) {
  proxy::Connection* idle = idle_clients_.Oldest();
  // A new client needs a descriptor for itself and one towards its backend: an idle backend
  // connection is only a cache, and goes first.
  const bool upstream = for_descriptors && upstreams_.CloseOneIdle();
  if (idle == nullptr) return upstream;
  stats_.idle_evictions.Add();
  idle->CloseIdle();  // leaves idle_clients_ as it closes
  uint64_t suppressed = 0;
  if (capacity_log_.Allow(loop_->now_ms(), &suppressed)) {
    PLBY_LOG(kWarn, "worker ", index_,
             for_descriptors
                 ? absl::StrCat(" is out of file descriptors")
                 : absl::StrCat(" is at its limit of ", max_connections_, " open connections"),
             ": closed the HTTP client idle the longest to make room for a new one",
             log::SuppressedSuffix(suppressed));
  }
  return true;
}

void Worker::OnConnectionClosed() {
  if (muted_for_capacity_ && !AtCapacity()) MuteAcceptors(false);
}

void Worker::OnClientIdle() {
  // A client waiting to be accepted may take this one's place: listen again (the listener
  // wakes only if one waits).
  if (muted_for_capacity_) MuteAcceptors(false);
}

void Worker::OnTimer() {
  const int64_t now = loop_->now_ms();
  connections_.ForEach([now](proxy::Connection& connection) { connection.CheckDeadlines(now); });
  upstreams_.Sweep(now);
  loop_->ArmTimer(housekeeping_, kHousekeepingMs);
}

void Worker::Run() {
  const std::string name = absl::StrCat("plby-worker-", index_);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  const absl::Status status = loop_->Run();
  connections_.AbortAll();
  upstreams_.CloseAll();
  if (!status.ok()) {
    PLBY_LOG(kError, "worker ", index_, " event loop failed: ", status.message());
    // Its listeners must not stay in their SO_REUSEPORT groups: the kernel would keep queueing
    // connections on them that nobody accepts.
    for (auto& acceptor : acceptors_) acceptor->Close();
    if (on_failure_) on_failure_(status);
  }
}

}  // namespace plby::runtime
