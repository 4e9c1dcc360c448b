// HttpSession: a client connection of a mode = "http" listener, after its PROXY header and TLS
// handshake (the Connection does those). It reads one request at a time, picks the route and a
// backend for each, leases a backend connection from the worker's UpstreamPool, forwards the
// request head (normalized) and streams the body, then streams the response back; pipelined
// requests wait in the input buffer and are answered in order. plby answers itself what it
// refuses (400, 404, 408, 413, 414, 421, 431, 501, 502, 503, 504, 505).
//
// Buffers (HttpBuffer, from the worker's pool) are held only while an exchange needs them: an
// idle keep-alive client holds none. One exchange at a time per client; each direction has one
// input buffer, and a head buffer that is written before the body bytes, which go from the
// input buffer straight to the other socket.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "http/parser.h"
#include "net/event_loop.h"
#include "net/socket_address.h"
#include "pool/pool_view.h"
#include "proxy/buffer_pool.h"
#include "proxy/listener.h"
#include "proxy/transport.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker_context.h"

namespace plby::proxy {

// What the Connection does for its session.
class SessionHost {
 public:
  // The session is over: close the client connection (and everything with it).
  virtual void EndSession() = 0;
  // A 101 Switching Protocols went through: relay bytes both ways from now on. The host takes
  // the backend connection and the exchange's snapshot (its user count included), copies the
  // bytes read but not yet passed on, and stops the session.
  struct Handover {
    UpstreamConnection* upstream = nullptr;
    pool::PoolView* view = nullptr;
    pool::PoolView::SnapshotRef* snapshot = nullptr;
    const pool::Backend* backend = nullptr;
    std::span<const char> to_backend;      // the client's bytes after the request head
    std::span<const char> to_client_head;  // the 101 as passed on
    std::span<const char> to_client;       // the backend's bytes after its 101
  };
  virtual void SwitchToRelay(const Handover& handover) = 0;
  // Call Resume() after the other connections of this turn had theirs.
  virtual void DeferSession() = 0;
  // Whether the client is idle, waiting for a request with none of it read: the host may then
  // be closed (CloseIdle) to make room for a new client.
  virtual void SetIdle(bool idle) = 0;

 protected:
  ~SessionHost() = default;
};

// What the Connection learned before the first request.
struct SessionFacts {
  net::SocketAddress client;  // the peer, or the client its PROXY header names
  bool trusted = false;       // the peer is in the listener's trusted networks
  bool tls = false;           // the client spoke TLS to us
  // The names of the certificate presented (for 421); empty without TLS.
  std::span<const std::string> certificate_names;
};

class HttpSession final : public UpstreamUser, public net::TimerHandler {
 public:
  HttpSession() = default;
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void Start(WorkerContext* context, const Listener* listener, Transport* client, SessionHost* host,
             const SessionFacts& facts);
  // The client's readiness flags changed (the Connection updates them from epoll).
  void OnClientEvents(uint32_t events);
  void OnUpstreamEvents(uint32_t events) override;
  void OnTimer() override;
  // Gives back everything the session holds; the Connection closes the client socket.
  void Stop();
  // About once a second: closes an exchange whose backend was drained past its deadline.
  void CheckDeadlines(int64_t now_ms);
  // The node is draining: an idle keep-alive client is closed now, a busy one after its
  // current answer (which says "Connection: close").
  void Drain();
  // Runs what a turn left over (a transfer that used up its reads).
  void Resume() { Run(); }
  // Closes a client that is idle between requests, quietly (as its keep-alive timeout would).
  void CloseIdle() { Close(); }

 private:
  enum class State {
    kIdle,        // not started, or stopped
    kReading,     // waiting for (the rest of) a request head
    kConnecting,  // a backend connection is being made (TCP, then TLS)
    kExchanging,  // the request goes up, the response comes down
    kResponding,  // plby's own answer is being written; then close or the next request
    kLingering,   // answered and half-closed: reading what the client still sends, then close
  };

  // One direction's bytes: a buffer and the part of it not yet used.
  struct Bytes {
    std::unique_ptr<HttpBuffer> buffer;
    uint32_t begin = 0;
    uint32_t end = 0;
    size_t size() const { return end - begin; }
    const char* data() const { return buffer->bytes.data() + begin; }
  };

  // How much of a body is still to come, and where the bytes read so far end.
  struct BodyState {
    http::Framing framing = http::Framing::kNone;
    uint64_t left = 0;  // kContentLength: bytes still to forward
    http::ChunkedDecoder chunked;
    uint32_t scanned = 0;  // of the input's unused bytes, these are body, checked
    bool done = true;
  };

  // Moves the session on until nothing more can be done now, and tells the host whether the
  // client is idle then.
  void Run();
  void RunSteps();
  // Reading: parses what arrived; starts the exchange, or queues plby's answer.
  void ReadRequest();
  void HandleRequest(const http::RequestHead& head);
  // Takes the route's snapshot and picks; `headers` (the head's, still in place) give the key
  // of a pool that hashes a field or cookie.
  void StartExchange(std::span<const http::Header> headers);
  // Picks a backend not tried yet and leases or opens a connection to it.
  void ConnectNext();
  int StartConnect(const pool::Backend& backend);
  void OnConnected();
  void BackendHandshake();
  void OnConnectFailed(int error, absl::string_view detail);
  // Moves the exchange on: request bytes up, response bytes down.
  void Exchange();
  void SendRequest();
  // A write of the request failed: stop sending, read what the backend answered first.
  void RequestWriteFailed();
  void ReceiveResponse();
  void HandleResponseHead(const http::ResponseHead& head);
  void SendResponse();
  void WriteAnswer();
  void DrainLingering();
  bool RequestSent() const {
    return up_head_sent_ == up_head_.end && request_body_.done && request_body_.scanned == 0;
  }
  // The upstream failed before its answer began (reset, close): retried when that is safe,
  // else a 502.
  void OnUpstreamLost(absl::string_view why);
  // Whether the request can be sent again whole: idempotent, without a body.
  bool Resendable() const;
  // Spends one of the route's retries, within the pool's budget, when a backend not tried yet
  // is left.
  bool TryRetry();
  // Sends the request again (its head as kept), to the backend the balancer picks next.
  void SendAgain();
  void FinishExchange();
  // Ends the exchange: gives the backend connection back (`reusable`) or closes it.
  void ReleaseUpstream(bool reusable);
  void ReleaseRequest();
  // plby's answer (status, one line why), then the next request, or close when `close`.
  void Respond(int status, absl::string_view detail, bool close);
  void Linger();
  void Close();
  // Scans the input's new body bytes: how many of them may be forwarded now. False: broken.
  static bool ScanBody(BodyState& body, const Bytes& input, absl::string_view* error);
  // Reads into the room after input.end. False: the read failed (a reset).
  bool ReadInto(Transport& from, Bytes& input, bool* ended);
  // Writes what `output` holds. False: the write failed.
  bool WriteFrom(Transport& to, Bytes& output);
  void ArmTimer();
  // kExchanging: when the current wait (for the answer, the client's body, or any byte) ends.
  int64_t ExchangeDeadline() const;
  // The body is still to come and plby waits for the client (not for the backend) to send it.
  bool WaitingForBody() const;
  void CountResponse(int status);
  // The exchange's duration, in its route's histogram (a routed request only).
  void CountDuration();
  // access_log = "json": the exchange's line on stderr (`status` 0: it was cut short).
  void LogAccess(int status);
  void NotePassiveFailure();
  // "bad response pool=... backend=...: why" (rate-limited), for an answer that was not valid.
  void LogBadResponse(absl::string_view error);
  HttpBuffer* Acquire(Bytes& bytes);
  void Drop(Bytes& bytes);

  WorkerContext* context_ = nullptr;
  const Listener* listener_ = nullptr;
  Transport* client_ = nullptr;
  SessionHost* host_ = nullptr;
  SessionFacts facts_;
  std::string client_ip_;  // facts_.client's address without port, for X-Forwarded-For
  State state_ = State::kIdle;
  net::Timer timer_{this};
  int64_t deadline_ms_ = 0;           // what the timer is armed for
  int64_t exchange_deadline_ms_ = 0;  // the route's timeout; 0: none
  int64_t last_activity_ms_ = 0;
  int64_t head_started_ms_ = 0;  // the current request head's first byte (or the connection)
  int64_t idle_since_ms_ = 0;    // the last exchange ended (or the connection opened)
  bool first_request_ = true;
  bool draining_ = false;
  // The bytes in in_ (down_) were parsed as an incomplete head, and none ending a line came
  // since: parsing them again would find the same.
  bool head_incomplete_ = false;
  bool response_incomplete_ = false;
  uint64_t progress_ = 0;  // bumped by every step that moved something

  Bytes in_;        // from the client: the request head, then its body, then the next request
  Bytes up_head_;   // the request head as forwarded (kept whole until the answer begins)
  Bytes down_;      // from the backend
  Bytes out_head_;  // the response head as passed on, or plby's own answer
  BodyState request_body_;
  BodyState response_body_;

  // The exchange.
  size_t route_ = 0;
  bool routed_ = false;
  pool::PoolView* view_ = nullptr;
  pool::PoolView::SnapshotRef* snapshot_ = nullptr;
  const pool::Backend* backend_ = nullptr;
  bool loaded_ = false;
  UpstreamConnection* upstream_ = nullptr;
  bool upstream_reused_ = false;
  bool handshaking_ = false;
  uint64_t ticket_ = 0;
  uint64_t key_ = 0;
  std::optional<uint64_t> request_key_;  // the hashed field's or cookie's value, if sent
  static constexpr uint32_t kMaxAttempts = 32;
  std::array<uint32_t, kMaxAttempts> tried_{};
  uint32_t tried_count_ = 0;
  int64_t retries_ = 0;         // the route's retries spent on this request
  bool retry_counted_ = false;  // ... and it holds a place in the pool's retry budget
  bool stale_retried_ = false;  // sent again after a kept connection turned out closed
  absl::string_view lost_why_;  // static text: why the request had to be sent again
  http::Method method_ = http::Method::kGet;
  int client_minor_ = 1;
  bool client_keep_alive_ = true;
  bool upgrade_ = false;
  bool expect_continue_ = false;
  uint32_t up_head_sent_ = 0;
  bool response_started_ = false;   // a byte of the answer came
  bool upstream_ended_ = false;     // the backend closed its side
  bool request_failed_ = false;     // a write of the request failed (the backend went)
  int64_t request_sent_ms_ = 0;     // when the whole request had gone up; 0: not yet
  int64_t body_wait_since_ms_ = 0;  // plby has waited for the client's body since then
  int reads_this_turn_ = 0;         // reads since Run began, for kReadsPerTurn
  bool response_head_done_ = false;
  // A byte of the final answer's head reached the client: plby can no longer answer instead.
  bool answer_began_ = false;
  bool response_keep_alive_ = true;  // the backend will take another request
  bool keep_client_ = true;          // the client connection goes on after this answer
  int response_status_ = 0;
  // access_log = "json": what the line says of the request (copied: the head's bytes go).
  std::string log_method_;
  std::string log_host_;
  std::string log_path_;
  uint64_t bytes_to_client_ = 0;
  bool logged_ = true;        // the current exchange's line was written (or there is none)
  bool close_after_ = false;  // plby's answer closes the connection
};

}  // namespace plby::proxy
