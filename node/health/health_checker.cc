#include "health/health_checker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "http/parser.h"
#include "inspect/proxy_header.h"
#include "log/log.h"
#include "net/socket_ops.h"
#include "tls/tls_session.h"

namespace plby::health {

// One backend's checks: a non-blocking connect, which succeeds or fails within the timeout; then
// the pool's TLS handshake, and with check = "http" a request whose status must be expected.
class HealthChecker::Probe final : public net::EventHandler, public net::TimerHandler {
 public:
  Probe(HealthChecker* checker, pool::Pool& pool, const pool::Backend& backend)
      : checker_(checker),
        pool_(pool),
        tracker_(pool.settings().health.rise, pool.settings().health.fall),
        runtime_(backend.runtime),
        address_(backend.address.ToString()),
        socket_address_(backend.socket_address),
        host_(backend.address.host) {}
  ~Probe() {
    checker_->loop_->CancelTimer(timer_);
    checker_->loop_->CancelTimer(cooldown_.timer);
    fd_.reset();
  }

  // Without active checks: the passive mark is undone after the pool's cooldown.
  void StartCooldown() {
    checker_->loop_->ArmTimer(cooldown_.timer,
                              absl::ToInt64Milliseconds(pool_.settings().health.passive_cooldown));
  }

  bool in_flight() const { return fd_.valid(); }
  pool::Pool& pool() const { return pool_; }
  pool::BackendRuntime& runtime() const { return *runtime_; }
  HealthTracker& tracker() { return tracker_; }
  const std::string& address() const { return address_; }
  // Why the last check failed, when errno cannot say (a TLS handshake, an HTTP status); else
  // empty.
  const std::string& detail() const { return tls_error_; }

  void Start() {
    tls_error_.clear();
    handshaking_ = false;
    connected_ = false;
    http_sent_ = false;
    http_response_.clear();
    net::UniqueFd fd(
        socket(socket_address_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return Finish(false, errno);
    const bool connected =
        connect(fd.get(), socket_address_.sockaddr_ptr(), socket_address_.length()) == 0;
    if (!connected && errno != EINPROGRESS) return Finish(false, errno);
    // Edge-triggered, both ways: EPOLLOUT ends the connect; a TLS handshake needs both.
    if (!checker_->loop_->Add(fd.get(), EPOLLIN | EPOLLOUT | EPOLLET, this).ok()) {
      return Finish(false, ENOMEM);
    }
    fd_ = std::move(fd);
    checker_->loop_->ArmTimer(timer_, absl::ToInt64Milliseconds(pool_.settings().health.timeout));
    if (connected) Connected();
  }

  void OnEvents(uint32_t events) override {
    if (handshaking_) return Handshake();
    if (connected_) return HttpExchange();  // only an HTTP check goes on after the connect
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    // The connect finished: it worked, or SO_ERROR says why not.
    int error = net::TakeSocketError(fd_.get());
    if (error == 0 && (events & (EPOLLERR | EPOLLHUP))) error = ECONNREFUSED;
    if (error != 0) return Finish(false, error);
    Connected();
  }

  void OnTimer() override { Finish(false, ETIMEDOUT); }

 private:
  // The TCP connect worked: a pool that speaks TLS to its backends checks the handshake too
  // (within the same timeout), so that a backend that accepts connections but cannot serve
  // TLS (a wrong certificate, say) is not healthy.
  void Connected() {
    connected_ = true;
    SayLocal(fd_.get());
    const std::shared_ptr<const tls::ClientContext>& tls = pool_.settings().tls;
    // The last copy of the contexts is the health checker's (PoolRegistry::Create).
    if (tls == nullptr) return pool_.settings().health.http ? HttpExchange() : Finish(true, 0);
    tls_ = tls->NewSession(tls, pool_.worker_count(), host_, fd_.get());
    if (!tls_.valid()) return Finish(false, ENOMEM);
    handshaking_ = true;
    Handshake();
  }

  void Handshake() {
    const tls::IoResult result = tls_.Handshake();
    if (result.status == tls::IoStatus::kWantRead || result.status == tls::IoStatus::kWantWrite) {
      return;
    }
    handshaking_ = false;
    const bool ok = result.status == tls::IoStatus::kOk;
    if (ok && pool_.settings().health.http) return HttpExchange();
    if (ok) tls_.ShutdownWrite();  // close_notify: the backend logs a clean close
    tls_error_ = ok ? ""
                    : absl::StrCat("TLS handshake: ",
                                   tls_.error().empty() ? "the backend closed" : tls_.error());
    Finish(ok, ok ? 0 : EPROTO);
  }

  // check = "http": sends the request (small: one write takes it), then reads until the
  // answer's head is whole, and judges it by its status.
  void HttpExchange() {
    const config::HttpHealthCheck& check = *pool_.settings().health.http;
    if (!http_sent_) {
      const std::string request = absl::StrCat(
          "GET ", check.path, " HTTP/1.1\r\nHost: ", check.host.empty() ? host_ : check.host,
          "\r\nUser-Agent: plby-health-check\r\nConnection: close\r\n\r\n");
      const ssize_t n =
          tls_.valid() ? WriteTls(request) : ::write(fd_.get(), request.data(), request.size());
      if (n != static_cast<ssize_t>(request.size())) {
        if (n < 0 && errno == EAGAIN) return;  // the next EPOLLOUT tries again
        tls_error_ = "HTTP check: the request could not be sent";
        return Finish(false, EPROTO);
      }
      http_sent_ = true;
    }
    char buffer[4096];
    while (true) {
      ssize_t n;
      if (tls_.valid()) {
        const tls::IoResult result = tls_.Read(buffer, sizeof(buffer));
        if (result.status == tls::IoStatus::kWantRead ||
            result.status == tls::IoStatus::kWantWrite) {
          return;
        }
        n = result.status == tls::IoStatus::kOk    ? static_cast<ssize_t>(result.bytes)
            : result.status == tls::IoStatus::kEnd ? 0
                                                   : -1;
      } else {
        n = ::read(fd_.get(), buffer, sizeof(buffer));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      }
      if (n > 0) http_response_.append(buffer, static_cast<size_t>(n));
      std::vector<http::Header> storage(100);
      const http::ResponseParse parsed =
          http::ParseResponseHead(http_response_, http::Method::kGet,
                                  http::HeadLimits{.max_head_bytes = 16 * 1024}, storage);
      if (parsed.state == http::ParseState::kComplete) {
        const int status = parsed.head.status;
        if (status >= check.expect_min && status <= check.expect_max) return Finish(true, 0);
        tls_error_ = absl::StrCat("HTTP check: status ", status, " (expected ", check.expect_min,
                                  "-", check.expect_max, ")");
        return Finish(false, EPROTO);
      }
      if (parsed.state == http::ParseState::kError) {
        tls_error_ = absl::StrCat("HTTP check: not an HTTP answer (", parsed.error, ")");
        return Finish(false, EPROTO);
      }
      if (n <= 0) {
        tls_error_ = n == 0 ? "HTTP check: the backend closed before it answered"
                            : "HTTP check: the connection failed before an answer";
        return Finish(false, EPROTO);
      }
    }
  }

  ssize_t WriteTls(const std::string& bytes) {
    const tls::IoResult result = tls_.Write(bytes.data(), bytes.size());
    if (result.status == tls::IoStatus::kOk) return static_cast<ssize_t>(result.bytes);
    errno = result.status == tls::IoStatus::kWantWrite || result.status == tls::IoStatus::kWantRead
                ? EAGAIN
                : EPIPE;
    return -1;
  }

  // A backend that expects a PROXY header would log a check's bare connect as a broken
  // header: a pool that sends them tells it, with a LOCAL header, that this is the proxy
  // speaking for itself. Fits any socket buffer: one write, whose result changes nothing.
  void SayLocal(int fd) {
    const config::ProxyProtocol version = pool_.settings().send_proxy;
    if (version == config::ProxyProtocol::kNone) return;
    const std::string header =
        inspect::BuildProxyLocal(version == config::ProxyProtocol::kV1 ? 1 : 2);
    (void)!::write(fd, header.data(), header.size());
  }

  void Finish(bool ok, int error) {
    checker_->loop_->CancelTimer(timer_);
    tls_ = {};
    fd_.reset();
    checker_->OnProbeResult(*this, ok, error);
  }

  // The cooldown's own timer (the probe's is for the connect timeout).
  struct Cooldown final : public net::TimerHandler {
    explicit Cooldown(Probe* probe) : probe(probe) {}
    void OnTimer() override { probe->checker_->OnCooldownEnded(*probe); }
    Probe* probe;
    net::Timer timer{this};
  };

  HealthChecker* checker_;
  pool::Pool& pool_;
  HealthTracker tracker_;
  std::shared_ptr<pool::BackendRuntime> runtime_;  // keeps it alive while it is checked
  std::string address_;
  net::SocketAddress socket_address_;
  std::string host_;  // the name or IP literal its certificate is checked against
  net::UniqueFd fd_;
  tls::TlsSession tls_;  // [pool.tls]: the check's handshake
  bool handshaking_ = false;
  bool connected_ = false;     // the TCP connect is done
  std::string tls_error_;      // why the last check failed, when errno cannot say
  bool http_sent_ = false;     // check = "http": the request went
  std::string http_response_;  // ... and what came back so far
  net::Timer timer_{this};
  Cooldown cooldown_{this};
};

// Checks one pool's backends every interval, following the backend list as it changes.
class HealthChecker::PoolTicker final : public net::TimerHandler {
 public:
  PoolTicker(HealthChecker* checker, pool::Pool& pool) : checker_(checker), pool_(pool) {}
  ~PoolTicker() { checker_->loop_->CancelTimer(timer_); }

  pool::Pool& pool() const { return pool_; }
  net::Timer* timer() { return &timer_; }

  void OnTimer() override {
    const std::shared_ptr<const pool::PoolSnapshot> snapshot = pool_.snapshot();
    // Without active checks the ticks only forget removed backends (and their cooldowns):
    // probes exist then only for backends the forwarder marked.
    const bool active = pool_.settings().health.enabled;
    std::map<pool::BackendRuntime*, std::unique_ptr<Probe>> current;
    for (const pool::Backend& backend : snapshot->backends()) {
      if (!backend.unresolved.empty()) continue;  // nothing to check until it has an address
      auto it = probes_.find(backend.runtime.get());
      if (it != probes_.end()) {
        current.insert(probes_.extract(it));
      } else if (active) {
        current.emplace(backend.runtime.get(), std::make_unique<Probe>(checker_, pool_, backend));
      }
    }
    probes_ = std::move(current);  // backends no longer in the pool are no longer checked
    if (active) {
      for (auto& [runtime, probe] : probes_) {
        if (!probe->in_flight()) probe->Start();
      }
    }
    checker_->loop_->ArmTimer(timer_, absl::ToInt64Milliseconds(pool_.settings().health.interval));
  }

  Probe& FindOrAdd(const pool::Backend& backend) {
    std::unique_ptr<Probe>& probe = probes_[backend.runtime.get()];
    if (probe == nullptr) probe = std::make_unique<Probe>(checker_, pool_, backend);
    return *probe;
  }

 private:
  HealthChecker* checker_;
  pool::Pool& pool_;
  std::map<pool::BackendRuntime*, std::unique_ptr<Probe>> probes_;
  net::Timer timer_{this};
};

// Rebuilds the snapshot of each pool with a backend still ramping up, a twentieth of its
// window apart (at least every second, at most every 100 ms), so its weight climbs in steps of
// 4.5% of the full weight (the 90% it gains over 20 steps); shorter steps for windows over
// 20 s, longer ones for windows under 2 s (9% for a 1 s window).
class HealthChecker::RampTicker final : public net::TimerHandler {
 public:
  static constexpr int64_t kTickMs = 100;

  RampTicker(HealthChecker* checker, pool::PoolRegistry& pools)
      : checker_(checker), pools_(pools), last_refresh_ms_(pools.pools().size(), 0) {}
  ~RampTicker() { checker_->loop_->CancelTimer(timer_); }

  net::Timer* timer() { return &timer_; }

  void OnTimer() override {
    const int64_t now = checker_->loop_->now_ms();
    for (size_t i = 0; i < pools_.pools().size(); ++i) {
      pool::Pool& pool = *pools_.pools()[i];
      const std::shared_ptr<const pool::PoolSnapshot> snapshot = pool.snapshot();
      if (!snapshot->ramping()) continue;
      const int64_t step = std::clamp<int64_t>(
          absl::ToInt64Milliseconds(snapshot->balance().slow_start) / 20, kTickMs, 1000);
      if (now - last_refresh_ms_[i] < step) continue;
      last_refresh_ms_[i] = now;
      pool.RefreshHealth();
    }
    checker_->loop_->ArmTimer(timer_, kTickMs);
  }

 private:
  HealthChecker* checker_;
  pool::PoolRegistry& pools_;
  std::vector<int64_t> last_refresh_ms_;
  net::Timer timer_{this};
};

absl::StatusOr<std::unique_ptr<HealthChecker>> HealthChecker::Create(pool::PoolRegistry& pools) {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  std::unique_ptr<HealthChecker> checker = absl::WrapUnique(new HealthChecker(*std::move(loop)));
  for (const auto& pool : pools.pools()) {
    const config::HealthCheckConfig& health = pool->settings().health;
    if (health.enabled || health.passive_failures > 0) {
      checker->tickers_.push_back(std::make_unique<PoolTicker>(checker.get(), *pool));
    }
  }
  checker->ramps_ = std::make_unique<RampTicker>(checker.get(), pools);
  return checker;
}

HealthChecker::HealthChecker(std::unique_ptr<net::EventLoop> loop) : loop_(std::move(loop)) {}

HealthChecker::~HealthChecker() {
  Stop();
  tickers_.clear();  // their timers and probes, before the loop goes
  ramps_.reset();
}

void HealthChecker::Start() {
  for (auto& ticker : tickers_) loop_->ArmTimer(*ticker->timer(), 0);
  loop_->ArmTimer(*ramps_->timer(), RampTicker::kTickMs);
  thread_ = std::thread([this] {
    if (absl::Status s = loop_->Run(); !s.ok()) {
      PLBY_LOG(kError, "health checker stopped: ", s.message());
    }
  });
}

void HealthChecker::Stop() {
  loop_->Stop();
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::OnProbeResult(Probe& probe, bool ok, int error) {
  if (!ok && net::IsLocalResourceShortage(error)) {
    // Out of descriptors, memory or local ports: this says nothing about the backend, so the
    // check does not count either way.
    uint64_t suppressed = 0;
    if (local_shortage_log_.Allow(loop_->now_ms(), &suppressed)) {
      PLBY_LOG(kWarn, "health check of ", probe.address(), " not made: ", std::strerror(error),
               log::SuppressedSuffix(suppressed));
    }
    return;
  }
  const pool::Health before = probe.tracker().health();
  const pool::Health after = probe.tracker().Record(ok);
  if (after == before) return;
  probe.runtime().set_health(after);
  if (after == pool::Health::kHealthy) probe.runtime().ClearPassiveFailures();
  const int rise_or_fall = ok ? probe.tracker().successes() : probe.tracker().failures();
  Changed(probe.pool(), probe, after,
          ok ? absl::StrCat(rise_or_fall, " good checks in a row")
             : absl::StrCat(rise_or_fall, " failed checks in a row, last: ",
                            probe.detail().empty() ? absl::string_view(std::strerror(error))
                                                   : absl::string_view(probe.detail())));
}

void HealthChecker::ReportPassiveFailures(pool::Pool* pool, const pool::Backend& backend,
                                          uint32_t failures) {
  loop_->Post([this, pool, backend, failures] {
    for (auto& ticker : tickers_) {
      if (&ticker->pool() != pool) continue;
      // A backend added since the last tick has no probe yet: it gets one now.
      Probe& probe = ticker->FindOrAdd(backend);
      if (probe.tracker().health() == pool::Health::kUnhealthy) return;
      probe.tracker().MarkUnhealthy();
      backend.runtime->set_health(pool::Health::kUnhealthy);
      const config::HealthCheckConfig& health = pool->settings().health;
      Changed(
          *pool, probe, pool::Health::kUnhealthy,
          absl::StrCat(
              "passive: ", failures, " connect failures or resets in a row seen by the forwarder",
              health.enabled
                  ? ""
                  : absl::StrCat("; tried again in ", absl::FormatDuration(health.passive_cooldown),
                                 ", as there are no active checks")));
      if (!health.enabled) probe.StartCooldown();
    }
  });
}

void HealthChecker::OnCooldownEnded(Probe& probe) {
  // Not checked, so not known to be healthy: unknown, and taking traffic again. The forwarder's
  // next failures in a row mark it again.
  probe.tracker().Forget();
  probe.runtime().ClearPassiveFailures();
  probe.runtime().set_health(pool::Health::kUnknown);
  probe.pool().RefreshHealth();
  PLBY_LOG(kInfo, "backend ", probe.address(), " of pool ", probe.pool().name(),
           " takes traffic again: its passive cooldown of ",
           absl::FormatDuration(probe.pool().settings().health.passive_cooldown),
           " is over (no active checks)");
}

void HealthChecker::Changed(pool::Pool& pool, const Probe& probe, pool::Health health,
                            absl::string_view why) {
  const std::shared_ptr<const pool::PoolSnapshot> snapshot = pool.RefreshHealth();
  if (health == pool::Health::kUnhealthy) {
    PLBY_LOG(kWarn, "backend ", probe.address(), " of pool ", pool.name(), " is unhealthy (", why,
             ")");
  } else {
    PLBY_LOG(kInfo, "backend ", probe.address(), " of pool ", pool.name(), " is healthy (", why,
             ")");
  }
  if (snapshot->all_unhealthy()) {
    PLBY_LOG(kWarn, "pool ", pool.name(), ": every backend is unhealthy; ",
             pool.settings().health.when_all_unhealthy == config::AllUnhealthyPolicy::kFailOpen
                 ? "trying them anyway (when_all_unhealthy = \"fail_open\")"
                 : "refusing new connections (when_all_unhealthy = \"refuse\")");
  }
}

}  // namespace plby::health
