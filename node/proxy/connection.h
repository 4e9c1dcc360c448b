// Connection: one proxied TCP connection, client <-> backend, owned by one worker for its whole
// life. It inspects what the client sends first where its listener asks (a PROXY header, a TLS
// ClientHello), takes the route that matches, connects to a backend of the route's pool (trying
// the next one when a connect fails; the PROXY header it sends, if any, goes first), then
// relays bytes both ways with backpressure and half-close, and holds no buffer while idle.
//
// Lifetime: Connections live in their worker's ConnectionPool and are reused. Once closed, a
// connection returns to the pool only after the current batch of events, because events later in
// the batch may still point to it.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "health/health_checker.h"
#include "log/rate_limit.h"
#include "net/event_loop.h"
#include "net/socket_address.h"
#include "net/unique_fd.h"
#include "pool/pool_view.h"
#include "proxy/buffer_pool.h"
#include "proxy/http_session.h"
#include "proxy/idle_clients.h"
#include "proxy/listener.h"
#include "proxy/transport.h"
#include "proxy/worker_context.h"
#include "stats/counter.h"
#include "tls/tls_session.h"

namespace plby::proxy {

class Connection final : public net::TimerHandler, public net::DeferredTask, private SessionHost {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The most backends one connection tries before its client is closed (HAProxy retries 3
  // times by default; each failed try may have waited for the connect timeout).
  static constexpr uint32_t kMaxConnectAttempts = 32;

  // Takes a client socket accepted on `listener` from `peer`: inspects it if the listener asks,
  // then routes it and connects it to a backend of the route's pool.
  void Start(WorkerContext* context, net::UniqueFd client, const Listener* listener,
             const net::SocketAddress& peer);

  // Closes both sockets now, if open (worker shutdown).
  void Abort();
  // The node stopped accepting: an HTTP client idle between requests is closed now, a busy one
  // after its answer. Relayed (tcp) connections go on until they end or the drain timeout.
  void Drain() {
    if (phase_ == Phase::kHttp) http_.Drain();
  }
  // An HTTP client idle between requests (in the worker's IdleClients) is closed, to make room
  // for a new client.
  void CloseIdle() {
    if (phase_ == Phase::kHttp) http_.CloseIdle();
  }
  // Closes the connection when it has been idle for its pool's idle timeout, or when its
  // backend was drained or removed with a drain timeout that has now passed. About once a
  // second, from the worker.
  void CheckDeadlines(int64_t now_ms);
  bool open() const { return phase_ != Phase::kIdle && phase_ != Phase::kClosed; }

 private:
  enum class Phase { kIdle, kInspecting, kHandshaking, kConnecting, kRelaying, kHttp, kClosed };

  // One socket of the pair and what epoll has told us about it (edge-triggered: a flag stays set
  // until a system call says otherwise).
  // One socket of the pair, and where its events go.
  struct Endpoint final : public net::EventHandler, public Transport {
    void OnEvents(uint32_t events) override;
    Connection* owner = nullptr;
  };

  // One direction of the relay.
  struct Flow {
    std::unique_ptr<RelayBuffer> pending;  // bytes read but not yet written on
    uint32_t begin = 0;
    uint32_t end = 0;
    bool source_ended = false;          // the source sent FIN
    bool done = false;                  // ... and it was passed on with shutdown(SHUT_WR)
    stats::Counter* relayed = nullptr;  // the backend's bytes this way, this worker's block
  };

  enum class Progress { kWaiting, kMoreToDo, kFailed };

  // How a connection ended, for the backend's passive health.
  enum class Ending {
    kClean,          // both directions finished with a FIN
    kBackendFailed,  // the backend reset or errored
    kOther,          // the client went, a timeout, a drain deadline, shutdown, no backend
  };

  // Looks at what the client sent so far without taking it from the socket (MSG_PEEK), until
  // the PROXY header and ClientHello the listener expects are whole; then takes the header off
  // and routes the connection. A ClientHello stays in the socket: a passthrough route relays
  // it, a terminating one hands it to OpenSSL.
  void Inspect();
  // Looks at the bytes peeked: true when inspection is over (routed, or closed).
  bool ExamineInspected(absl::string_view bytes);
  void RefuseProxyHeader(stats::ProxyHeaderResult result, absl::string_view why);
  // Takes what inspection only peeked at off the socket, so that closing it ends with a FIN.
  void DrainPeeked();
  void RefuseClientHello(stats::ClientHelloResult result, absl::string_view why, int alert);
  // An accept_proxy listener's untrusted client may not send a PROXY header. Before its first
  // bytes are read: kClear when they cannot be one (the screen is over), kHold while they are
  // a piece of a signature (they stay unread; client_.readable is cleared), kRefused (and
  // closed) once they are a whole one.
  enum class Screen { kClear, kHold, kRefused };
  Screen ScreenUntrusted();
  // Takes the route that matches what inspection found: a TLS handshake first if it
  // terminates, then connecting.
  void Route();
  // Moves the client's TLS handshake on; connects to the route's pool once it is done.
  void Handshake();
  // True when a TLS client ended (close_notify or FIN) right after its handshake, without a
  // byte of data: it has nothing to forward and will read nothing, so no backend connection is
  // made for it (TLS health probes and scanners do this; HAProxy makes none either).
  bool LeftAfterHandshake();
  void RefuseHandshake(size_t failure, absl::string_view why);
  // The route's pool: picks a backend and starts connecting.
  void ConnectRoute();
  // mode = "http": the session reads requests from here on.
  void StartHttp();
  // SessionHost.
  void EndSession() override;
  void SwitchToRelay(const Handover& handover) override;
  void DeferSession() override { DeferOnce(); }
  void SetIdle(bool idle) override;
  // The pool sends PROXY headers: puts the header in front of whatever the client sent.
  // False when the client was refused (its bytes were an untrusted PROXY header).
  bool PrependProxyHeader();
  // The PROXY header the pool sends, for this client.
  std::string ProxyHeader();
  // Asks the balancer for a backend this connection has not tried yet and connects to it,
  // until one connects or its handshake is under way; when none is left, closes the client.
  void ConnectNext();
  // The current backend no longer counts this connection in its load.
  void ReleaseLoad();
  // Right after a connect is started: on loopback the handshake has often completed within
  // connect(2) already. The client's first bytes are read and written at once, and a write
  // the kernel takes proves the connection, a turn of the event loop before its EPOLLOUT
  // would (HAProxy does the same). Bytes read but not yet written wait in the upstream
  // buffer, for this backend's EPOLLOUT or, if its connect fails, for the next backend.
  void SendEarly();
  // The backend's connect completed: counts it and starts relaying. `events` are epoll's.
  void Established(uint32_t events);
  // 0 when the connect succeeded or is under way, else the errno of the failure.
  int StartConnect(const pool::Backend& backend);
  // `detail`, when set, says more than errno can (a TLS handshake's failure).
  void NoteConnectFailure(int error, absl::string_view detail = "");
  void OnBackendConnectEvents(uint32_t events);
  void OnConnectFailed(int error, absl::string_view detail = "");
  // [pool.tls]: the TCP connect is done; the PROXY header (in clear), then the handshake.
  void StartBackendTls();
  void BackendHandshake();
  void OnEndpointEvents(Endpoint& endpoint, uint32_t events);
  void Relay();
  Progress Transfer(Flow& flow, Endpoint& from, Endpoint& to);
  void Stash(Flow& flow, const char* data, size_t size);
  // Notes that a system call on `endpoint` failed, and says so.
  Progress Fail(Endpoint& endpoint);
  void Close(Ending ending = Ending::kOther);
  // Counts a failure with the current backend towards marking it unhealthy.
  void NotePassiveFailure();
  void OnTimer() override;
  void RunDeferred() override;
  void DeferOnce();

  WorkerContext* context_ = nullptr;
  Phase phase_ = Phase::kIdle;
  const Listener* listener_ = nullptr;
  // The client: the peer, or the one its PROXY header names. What the hash and logs use.
  net::SocketAddress client_address_;
  // The address the client connected to, when its PROXY header said (else getsockname's).
  net::SocketAddress local_address_;
  std::string server_name_;      // the ClientHello's SNI (its capacity is kept across reuse)
  bool expect_proxy_ = false;    // a PROXY header is still to be read
  bool expect_hello_ = false;    // a ClientHello is still to be read
  bool screen_proxy_ = false;    // the first bytes may not be a PROXY header (untrusted source)
  int64_t screen_since_ms_ = 0;  // they began a signature at this time; 0: they have not
  size_t route_ = 0;             // the route taken
  Endpoint client_;
  Endpoint backend_;
  Flow upstream_;                   // client -> backend
  Flow downstream_;                 // backend -> client
  net::Timer connect_timer_{this};  // the connect timeout; while inspecting, inspection's
  pool::PoolView* view_ = nullptr;
  pool::PoolView::SnapshotRef* snapshot_ = nullptr;
  const pool::Backend* backend_info_ = nullptr;  // in snapshot_, which outlives the connection
  uint64_t ticket_ = 0;
  uint64_t key_ = 0;
  std::array<uint32_t, kMaxConnectAttempts> tried_{};  // indices into the snapshot's backends
  uint32_t tried_count_ = 0;
  bool backend_handshaking_ = false;  // connected, in the backend TLS handshake
  bool loaded_ = false;               // in backend_info_'s load (connecting or connected)
  bool counted_ = false;              // in backend_info_'s active connections
  Endpoint* failed_ = nullptr;        // the side whose system call failed, if one did
  int64_t last_activity_ms_ = 0;
  int64_t idle_timeout_ms_ = 0;
  bool deferred_ = false;
  bool peer_trusted_ = false;  // the peer is in the listener's trusted networks
  size_t certificate_ = 0;     // the certificate presented, when TLS is terminated
  std::shared_ptr<const tls::ServerContext> tls_context_;  // ... and its context
  HttpSession http_;
  IdleClients::Hook idle_hook_{this};  // in context_->idle_clients while idle between requests
};

}  // namespace plby::proxy
