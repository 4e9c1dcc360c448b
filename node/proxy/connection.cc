#include "proxy/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "balance/client_key.h"
#include "inspect/client_hello.h"
#include "inspect/proxy_header.h"
#include "log/log.h"
#include "net/socket_ops.h"
#include "proxy/backend_outcome.h"
#include "proxy/connection_pool.h"

namespace plby::proxy {
namespace {

// Reads per direction before a connection yields to the others (960 KiB with 60 KiB reads).
constexpr int kReadsPerTurn = 16;
constexpr uint32_t kEdgeTriggered = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
// TLS alert descriptions (RFC 8446 6.2) sent in clear to a refused passthrough client.
constexpr int kAlertDecodeError = 50;
constexpr int kAlertUnrecognizedName = 112;
static_assert(static_cast<size_t>(tls::HandshakeFailure::kCount) <= stats::kMaxHandshakeFailures,
              "a counter for each handshake failure, and kMaxHandshakeFailures for timeouts");

}  // namespace

void Connection::Endpoint::OnEvents(uint32_t events) { owner->OnEndpointEvents(*this, events); }

void Connection::Start(WorkerContext* context, net::UniqueFd client, const Listener* listener,
                       const net::SocketAddress& peer) {
  context_ = context;
  client_ = {};
  backend_ = {};
  client_.owner = this;
  backend_.owner = this;
  client_.fd = std::move(client);
  // A client usually sends right after its connect: its first bytes may be there already, and
  // inspection or SendEarly() tries them. A read that finds nothing clears this; the next edge
  // sets it.
  client_.readable = true;
  upstream_ = {};
  downstream_ = {};
  listener_ = listener;
  client_address_ = peer;
  local_address_ = {};
  server_name_.clear();
  view_ = nullptr;
  snapshot_ = nullptr;
  backend_info_ = nullptr;
  tried_count_ = 0;
  backend_handshaking_ = false;
  loaded_ = false;
  counted_ = false;
  failed_ = nullptr;
  last_activity_ms_ = context_->loop->now_ms();
  expect_proxy_ = listener_->Trusts(peer);
  peer_trusted_ = expect_proxy_;
  tls_context_.reset();
  expect_hello_ = listener_->reads_client_hello;
  // Without a ClientHello to read, an untrusted client's first bytes are looked at as they are
  // relayed: waiting for them would stall protocols in which the server speaks first. (HTTP
  // mode needs no screen: its parser refuses a PROXY header as a request, and nothing the
  // client sends reaches a backend unparsed.)
  screen_proxy_ =
      listener_->accept_proxy && !expect_proxy_ && !expect_hello_ && listener_->http == nullptr;
  screen_since_ms_ = 0;
  phase_ = Phase::kInspecting;
  context_->stats->active.Add();
  if (absl::Status added = context_->loop->Add(client_.fd.get(), kEdgeTriggered, &client_);
      !added.ok()) {
    PLBY_LOG(kError, "cannot watch client connection: ", added.message());
    Close();
    return;
  }
  if (!expect_proxy_ && !expect_hello_) return Route();
  context_->loop->ArmTimer(connect_timer_,
                           expect_proxy_ ? kProxyHeaderTimeoutMs : listener_->handshake_timeout_ms);
  Inspect();
}

void Connection::Inspect() {
  // What the parsers can need at most: a PROXY header and a whole ClientHello, and one byte
  // more, to tell "too long" apart.
  constexpr size_t kPeekBytes = inspect::kMaxProxyHeader + inspect::kMaxClientHello + 1;
  static_assert(kPeekBytes <= kRelayChunkBytes, "the scratch buffer takes the peek");
  while (phase_ == Phase::kInspecting) {
    const std::span<char> scratch = context_->scratch;
    const ssize_t n = ::recv(client_.fd.get(), scratch.data(), kPeekBytes, MSG_PEEK);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;  // the next edge says when more arrives
      return Close();               // a reset: nothing to refuse, nobody to tell
    }
    if (n == 0) {
      if (expect_proxy_) return RefuseProxyHeader(stats::ProxyHeaderResult::kTruncated, "");
      return RefuseClientHello(stats::ClientHelloResult::kTruncated, "", 0);
    }
    last_activity_ms_ = context_->loop->now_ms();
    const bool had_proxy_header = expect_proxy_;
    if (ExamineInspected(absl::string_view(scratch.data(), static_cast<size_t>(n)))) return;
    // The PROXY header was taken off: what came with it (a ClientHello, say) is in the socket
    // already, and no new edge will announce it. Look again.
    if (had_proxy_header && !expect_proxy_) continue;
    // Incomplete. What is peeked stays in the socket, so an edge comes only with new bytes; a
    // client that ended (FIN) will send none.
    if (client_.peer_closed) {
      if (expect_proxy_) return RefuseProxyHeader(stats::ProxyHeaderResult::kTruncated, "");
      return RefuseClientHello(stats::ClientHelloResult::kTruncated, "", 0);
    }
    return;
  }
}

bool Connection::ExamineInspected(absl::string_view bytes) {
  if (expect_proxy_) {
    const inspect::ProxyParse parsed = inspect::ParseProxyHeader(bytes);
    switch (parsed.state) {
      case inspect::ProxyParseState::kNeedMore:
        return false;
      case inspect::ProxyParseState::kInvalid:
        RefuseProxyHeader(parsed.too_long ? stats::ProxyHeaderResult::kTooLong
                          : inspect::MatchProxySignature(bytes) != inspect::SignatureMatch::kNone
                              ? stats::ProxyHeaderResult::kMalformed
                              : stats::ProxyHeaderResult::kMissing,
                          parsed.error);
        return true;
      case inspect::ProxyParseState::kComplete:
        break;
    }
    // Taken off the socket: what follows is the client's own.
    const ssize_t taken =
        ::recv(client_.fd.get(), context_->scratch.data(), parsed.header.length, 0);
    if (taken != static_cast<ssize_t>(parsed.header.length)) {
      Close();  // it was peeked whole: only a reset gets here
      return true;
    }
    listener_->counters->proxy_header(stats::ProxyHeaderResult::kAccepted).Add();
    if (!parsed.header.local && parsed.header.source.valid()) {
      client_address_ = parsed.header.source;
      local_address_ = parsed.header.destination;
    }
    expect_proxy_ = false;
    if (expect_hello_) context_->loop->ArmTimer(connect_timer_, listener_->handshake_timeout_ms);
    // The bytes after it were copied from the socket by the peek; look at them afresh.
    bytes = absl::string_view();
    if (expect_hello_) return false;
  }
  if (expect_hello_) {
    if (bytes.empty()) return false;
    const inspect::ClientHelloParse parsed = inspect::ParseClientHello(bytes);
    switch (parsed.state) {
      case inspect::ClientHelloState::kNeedMore:
        return false;
      case inspect::ClientHelloState::kNotTls:
        // Plaintext to a TLS port: a TLS alert would mean nothing to such a client.
        RefuseClientHello(stats::ClientHelloResult::kNotTls, parsed.error, 0);
        return true;
      case inspect::ClientHelloState::kInvalid:
        RefuseClientHello(parsed.too_long ? stats::ClientHelloResult::kTooLong
                                          : stats::ClientHelloResult::kMalformed,
                          parsed.error, kAlertDecodeError);
        return true;
      case inspect::ClientHelloState::kComplete:
        break;
    }
    server_name_.assign(parsed.hello.server_name);
    expect_hello_ = false;
  }
  Route();
  return true;
}

void Connection::DrainPeeked() {
  // Inspection peeks: the bytes are still in the socket, and closing a socket with unread bytes
  // sends a reset, which would discard an alert just sent and tell the client less.
  (void)!::recv(client_.fd.get(), context_->scratch.data(), context_->scratch.size(), 0);
}

void Connection::RefuseProxyHeader(stats::ProxyHeaderResult result, absl::string_view why) {
  listener_->counters->proxy_header(result).Add();
  DrainPeeked();
  uint64_t suppressed = 0;
  if (context_->inspect_log->Allow(context_->loop->now_ms(), &suppressed)) {
    PLBY_LOG(kWarn, "closing client=", client_address_.ToString(), " listener=", listener_->name,
             ": PROXY header ", stats::kProxyHeaderResultLabels[static_cast<size_t>(result)],
             why.empty() ? "" : ": ", why, log::SuppressedSuffix(suppressed));
  }
  Close();
}

void Connection::RefuseClientHello(stats::ClientHelloResult result, absl::string_view why,
                                   int alert) {
  listener_->counters->client_hello(result).Add();
  DrainPeeked();
  if (alert != 0) {
    // Best effort, in clear (no handshake has happened): the client learns why at once instead
    // of seeing a bare close.
    const std::string record = inspect::PlaintextAlert(static_cast<uint8_t>(alert));
    (void)!::write(client_.fd.get(), record.data(), record.size());
  }
  uint64_t suppressed = 0;
  if (context_->inspect_log->Allow(context_->loop->now_ms(), &suppressed)) {
    PLBY_LOG(kWarn, "closing client=", client_address_.ToString(), " listener=", listener_->name,
             ": ClientHello ", stats::kClientHelloResultLabels[static_cast<size_t>(result)],
             why.empty() ? "" : ": ", why, log::SuppressedSuffix(suppressed));
  }
  Close();
}

Connection::Screen Connection::ScreenUntrusted() {
  // Peeked, not read: bytes that may still become a signature stay in the socket, and the next
  // edge comes with what follows them (a header split over reads must not slip through).
  char first[inspect::kProxyV2Signature.size()];
  ssize_t n;
  do {
    n = ::recv(client_.fd.get(), first, sizeof(first), MSG_PEEK);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) {
    client_.readable = false;
    return Screen::kHold;
  }
  // An end or an error: the read that follows meets it too, and handles it.
  if (n <= 0) return Screen::kClear;
  switch (inspect::MatchProxySignature(absl::string_view(first, static_cast<size_t>(n)))) {
    case inspect::SignatureMatch::kNone:
      break;
    case inspect::SignatureMatch::kPartial:
      // A client that ended cannot complete a signature: what it sent is its own.
      if (client_.peer_closed) break;
      if (screen_since_ms_ == 0) screen_since_ms_ = context_->loop->now_ms();
      client_.readable = false;
      return Screen::kHold;
    case inspect::SignatureMatch::kWhole:
      RefuseProxyHeader(stats::ProxyHeaderResult::kUntrusted,
                        "this source is not in the listener's trusted networks");
      return Screen::kRefused;
  }
  screen_proxy_ = false;  // only the first bytes can be a header
  screen_since_ms_ = 0;
  return Screen::kClear;
}

void Connection::Route() {
  if (listener_->http != nullptr) {
    // Requests are routed one by one, by the session.
    if (listener_->tls_slot == nullptr) {
      context_->loop->CancelTimer(connect_timer_);
      return StartHttp();
    }
    const std::shared_ptr<const tls::ServerContext>& tls = listener_->CurrentTls();
    certificate_ = tls->Select(server_name_);
    tls_context_ = tls;
    client_.tls = tls->NewSession(tls, context_->worker_index, certificate_, client_.fd.get());
    if (!client_.tls.valid()) {
      context_->stats->resource_errors.Add();
      return Close();
    }
    phase_ = Phase::kHandshaking;
    return Handshake();
  }
  const std::optional<size_t> index = listener_->routes->Match({.server_name = server_name_});
  if (!index) {
    RefuseClientHello(stats::ClientHelloResult::kNoRoute,
                      server_name_.empty()
                          ? "no server name was sent, and no route is the default"
                          : absl::StrCat("no route matches server name \"", server_name_,
                                         "\", and none is the default"),
                      kAlertUnrecognizedName);
    return;
  }
  if (listener_->reads_client_hello) {
    listener_->counters->client_hello(stats::ClientHelloResult::kRouted).Add();
  }
  listener_->counters->routed[*index].Add();
  route_ = *index;
  if (listener_->route_tls[route_] != config::RouteTls::kTerminate) {
    context_->loop->CancelTimer(connect_timer_);
    return ConnectRoute();
  }
  // The handshake timer, armed when inspection started, bounds the handshake too.
  const std::shared_ptr<const tls::ServerContext>& tls = listener_->CurrentTls();
  client_.tls =
      tls->NewSession(tls, context_->worker_index, tls->Select(server_name_), client_.fd.get());
  if (!client_.tls.valid()) {
    context_->stats->resource_errors.Add();
    return Close();
  }
  phase_ = Phase::kHandshaking;
  Handshake();
}

void Connection::Handshake() {
  const tls::IoResult result = client_.tls.Handshake();
  switch (result.status) {
    case tls::IoStatus::kWantRead:
    case tls::IoStatus::kWantWrite:
      return;  // the client's next event moves it on
    case tls::IoStatus::kEnd:
      return RefuseHandshake(static_cast<size_t>(tls::HandshakeFailure::kClosed),
                             "the client closed the connection");
    case tls::IoStatus::kError:
      return RefuseHandshake(static_cast<size_t>(client_.tls.failure()), client_.tls.error());
    case tls::IoStatus::kOk:
      break;
  }
  context_->loop->CancelTimer(connect_timer_);
  stats::HandshakeCounters& counters = listener_->counters->handshakes;
  counters.done.Add();
  if (client_.tls.resumed()) counters.resumed.Add();
  (client_.tls.version() == "TLSv1.3" ? counters.tls13 : counters.tls12).Add();
  // Decrypted bytes may already wait in OpenSSL: the relay reads until it says there are none.
  client_.readable = true;
  if (listener_->http != nullptr) return StartHttp();
  if (LeftAfterHandshake()) return Close();
  ConnectRoute();
}

bool Connection::LeftAfterHandshake() {
  // The read the relay would make first, made before connecting: its bytes stay for the relay.
  char first;
  const tls::IoResult peeked = client_.tls.Peek(&first, 1);
  switch (peeked.status) {
    case tls::IoStatus::kWantRead:
      client_.readable = false;  // nothing decrypted waits: the next edge brings it
      return false;
    case tls::IoStatus::kOk:
    case tls::IoStatus::kWantWrite:
      return false;
    case tls::IoStatus::kEnd:
    case tls::IoStatus::kError:
      return true;
  }
  return false;
}

void Connection::StartHttp() {
  phase_ = Phase::kHttp;
  client_.writable = true;
  SessionFacts facts{.client = client_address_,
                     .trusted = peer_trusted_,
                     .tls = client_.tls.valid(),
                     .certificate_names = {}};
  if (tls_context_ != nullptr) {
    facts.certificate_names = tls_context_->certificates()[certificate_].facts.names;
  }
  http_.Start(context_, listener_, &client_, this, facts);
}

void Connection::EndSession() { Close(); }

void Connection::SetIdle(bool idle) {
  if (idle == idle_hook_.linked) return;
  if (!idle) return context_->idle_clients->Remove(idle_hook_);
  context_->idle_clients->Add(idle_hook_);
  if (context_->observer != nullptr) context_->observer->OnClientIdle();
}

void Connection::SwitchToRelay(const Handover& handover) {
  // The exchange's snapshot and backend are the relay's now, as if it had connected itself.
  view_ = handover.view;
  snapshot_ = handover.snapshot;
  backend_info_ = handover.backend;
  counted_ = true;  // the upstream connection was counted open when it connected
  UpstreamConnection* upstream = handover.upstream;
  backend_.fd = std::move(upstream->transport.fd);
  backend_.tls = std::move(upstream->transport.tls);
  backend_.peer_closed = upstream->transport.peer_closed;
  context_->upstreams->Detach(upstream);
  const size_t to_client = handover.to_client_head.size() + handover.to_client.size();
  const bool fits = handover.to_backend.size() <= kRelayChunkBytes && to_client <= kRelayChunkBytes;
  if (absl::Status watched = context_->loop->Modify(backend_.fd.get(), kEdgeTriggered, &backend_);
      !watched.ok() || !fits) {
    http_.Stop();
    return Close();
  }
  upstream_ = {};
  downstream_ = {};
  if (!handover.to_backend.empty()) {
    Stash(upstream_, handover.to_backend.data(), handover.to_backend.size());
  }
  downstream_.pending = context_->buffers->Acquire();
  std::memcpy(downstream_.pending->bytes.data(), handover.to_client_head.data(),
              handover.to_client_head.size());
  if (!handover.to_client.empty()) {
    std::memcpy(downstream_.pending->bytes.data() + handover.to_client_head.size(),
                handover.to_client.data(), handover.to_client.size());
  }
  downstream_.begin = 0;
  downstream_.end = static_cast<uint32_t>(to_client);
  http_.Stop();  // frees its buffers, which the bytes above were copied from
  pool::BackendRuntime::WorkerCounters& counters =
      backend_info_->runtime->worker(context_->worker_index);
  upstream_.relayed = &counters.bytes_sent;
  downstream_.relayed = &counters.bytes_received;
  idle_timeout_ms_ = absl::ToInt64Milliseconds(view_->pool().settings().idle_timeout);
  last_activity_ms_ = context_->loop->now_ms();
  backend_.readable = true;
  backend_.writable = true;
  phase_ = Phase::kRelaying;
  DeferOnce();  // relayed once this batch of events is through
}

void Connection::RefuseHandshake(size_t failure, absl::string_view why) {
  stats::HandshakeCounters& counters = listener_->counters->handshakes;
  if (failure == stats::kMaxHandshakeFailures) {
    counters.timeouts.Add();
  } else {
    counters.failures[failure].Add();
  }
  uint64_t suppressed = 0;
  if (context_->inspect_log->Allow(context_->loop->now_ms(), &suppressed)) {
    PLBY_LOG(kWarn, "closing client=", client_address_.ToString(), " listener=", listener_->name,
             ": TLS handshake failed (",
             failure == stats::kMaxHandshakeFailures
                 ? absl::string_view("timeout")
                 : tls::HandshakeFailureLabel(static_cast<tls::HandshakeFailure>(failure)),
             "): ", why, log::SuppressedSuffix(suppressed));
  }
  Close();
}

void Connection::ConnectRoute() {
  view_ = listener_->views[route_];
  snapshot_ = view_->Acquire();
  pool::Pool& pool = view_->pool();
  pool.counters(context_->worker_index).accepted.Add();
  pool.counters(context_->worker_index).active.Add();
  if (snapshot_->snapshot->eligible().empty()) {
    context_->stats->no_backend.Add();
    uint64_t suppressed = 0;
    if (context_->empty_pool_log->Allow(context_->loop->now_ms(), &suppressed)) {
      PLBY_LOG(kWarn, "closing client: pool ", pool.name(), " has no backend taking connections",
               log::SuppressedSuffix(suppressed));
    }
    return Close();  // closing the client is all there is to do
  }
  key_ = snapshot_->snapshot->needs_key()
             ? balance::ClientKey(client_address_, snapshot_->snapshot->balance().hash)
             : 0;
  ticket_ = pool.TakeTicket();
  idle_timeout_ms_ = absl::ToInt64Milliseconds(pool.settings().idle_timeout);
  phase_ = Phase::kConnecting;
  // To a TLS backend the header is written once the TCP connect is done (StartBackendTls).
  if (pool.settings().send_proxy != config::ProxyProtocol::kNone &&
      pool.settings().tls == nullptr && !PrependProxyHeader()) {
    return;  // closed
  }
  ConnectNext();
}

std::string Connection::ProxyHeader() {
  if (!local_address_.valid()) {
    absl::StatusOr<net::SocketAddress> local = net::SocketAddress::LocalOf(client_.fd.get());
    if (local.ok()) local_address_ = *local;
  }
  const inspect::ProxyHeaderFields fields{.source = client_address_,
                                          .destination = local_address_,
                                          .alpn = client_.tls.valid() ? client_.tls.alpn() : "",
                                          .authority = server_name_};
  return view_->pool().settings().send_proxy == config::ProxyProtocol::kV1
             ? inspect::BuildProxyV1(fields)
             : inspect::BuildProxyV2(fields);
}

bool Connection::PrependProxyHeader() {
  const std::string header = ProxyHeader();
  upstream_.pending = context_->buffers->Acquire();
  std::memcpy(upstream_.pending->bytes.data(), header.data(), header.size());
  upstream_.begin = 0;
  upstream_.end = static_cast<uint32_t>(header.size());
  // The client's first bytes, if they are here, go in the same write as the header.
  char* after = upstream_.pending->bytes.data() + header.size();
  const size_t room = kRelayChunkBytes - header.size();
  if (screen_proxy_ && client_.readable) {
    if (ScreenUntrusted() == Screen::kRefused) return false;
  }
  const ssize_t n = client_.readable ? client_.Read(after, room) : -1;
  if (n > 0) {
    upstream_.end += static_cast<uint32_t>(n);
    if (client_.short_read_empties() && static_cast<size_t>(n) < room && !client_.peer_closed) {
      client_.readable = false;
    }
  } else if (n < 0 && errno == EAGAIN) {
    client_.readable = false;
  }  // an end or an error is read again, and handled, once connected
  return true;
}

void Connection::Abort() {
  if (phase_ != Phase::kIdle && phase_ != Phase::kClosed) Close();
}

void Connection::CheckDeadlines(int64_t now_ms) {
  if (phase_ == Phase::kHttp) return http_.CheckDeadlines(now_ms);
  if (phase_ != Phase::kRelaying) return;
  if (screen_since_ms_ != 0 && now_ms - screen_since_ms_ >= listener_->handshake_timeout_ms) {
    // Still a piece of a signature: it cannot be let through (the rest could follow and
    // complete it), so the wait ends in a refusal, as a trusted source's late header does.
    return RefuseProxyHeader(stats::ProxyHeaderResult::kUntrusted,
                             absl::StrCat("its first bytes began a PROXY header and went no "
                                          "further within ",
                                          listener_->handshake_timeout_ms, " ms"));
  }
  const int64_t deadline = backend_info_->runtime->close_deadline_ms();
  if (deadline != 0 && now_ms >= deadline) {
    context_->stats->drain_closes.Add();
    Close();
  } else if (now_ms - last_activity_ms_ >= idle_timeout_ms_) {
    context_->stats->idle_timeouts.Add();
    Close();
  }
}

void Connection::NotePassiveFailure() {
  proxy::NotePassiveFailure(*context_, view_->pool(), *backend_info_);
}

void Connection::ConnectNext() {
  const pool::PoolSnapshot& snapshot = *snapshot_->snapshot;
  while (tried_count_ < kMaxConnectAttempts) {
    const uint32_t index = snapshot.Pick(
        {.ticket = ticket_, .key = key_, .tried = std::span(tried_.data(), tried_count_)});
    if (index == balance::kNoBackend) break;
    tried_[tried_count_++] = index;
    backend_info_ = &snapshot.backends()[index];
    backend_info_->runtime->AddLoad();
    loaded_ = true;
    const int error = StartConnect(*backend_info_);
    if (error == 0) {
      // On loopback the TCP handshake is often done by now. Not for TLS backends: the client's
      // bytes wait for the TLS handshake, which starts at the connect's EPOLLOUT.
      if (view_->pool().settings().tls == nullptr) SendEarly();
      return;
    }
    ReleaseLoad();
    if (net::IsLocalResourceShortage(error)) {
      // Out of descriptors, memory or local ports: no backend is at fault and another would
      // fail the same way. The client is closed, which also frees a descriptor.
      context_->stats->resource_errors.Add();
      uint64_t suppressed = 0;
      if (context_->resource_error_log->Allow(context_->loop->now_ms(), &suppressed)) {
        PLBY_LOG(kWarn, "cannot open a backend connection pool=", view_->pool().name(), " error=\"",
                 std::strerror(error), "\"; closing the client", log::SuppressedSuffix(suppressed));
      }
      Close();
      return;
    }
    NoteConnectFailure(error);
  }
  context_->stats->no_backend.Add();
  PLBY_LOG(kDebug, "closing client: no backend of pool ", view_->pool().name(), " accepted it");
  Close();
}

void Connection::ReleaseLoad() {
  if (!loaded_) return;
  backend_info_->runtime->RemoveLoad();
  loaded_ = false;
}

int Connection::StartConnect(const pool::Backend& backend) {
  net::UniqueFd fd;
  if (const int error = StartBackendConnect(backend.socket_address, fd); error != 0) return error;
  // Registered for its whole life with every event, edge-triggered: the first EPOLLOUT says the
  // handshake finished (or failed); later ones say the socket can take more.
  if (absl::Status added = context_->loop->Add(fd.get(), kEdgeTriggered, &backend_); !added.ok()) {
    return ENOMEM;
  }
  backend_.fd = std::move(fd);
  const int64_t timeout_ms = absl::ToInt64Milliseconds(view_->pool().settings().connect_timeout);
  context_->loop->ArmTimer(connect_timer_, timeout_ms);
  return 0;
}

void Connection::NoteConnectFailure(int error, absl::string_view detail) {
  proxy::NoteConnectFailure(*context_, view_->pool(), *backend_info_, error, detail);
}

void Connection::SendEarly() {
  // The client's bytes: what an earlier attempt read already, or its socket's first read. A
  // client that sent nothing yet (or ended) waits for the handshake's EPOLLOUT as usual.
  const char* data = nullptr;
  size_t size = 0;
  if (upstream_.pending) {
    data = upstream_.pending->bytes.data() + upstream_.begin;
    size = upstream_.end - upstream_.begin;
  } else {
    if (screen_proxy_ && client_.readable && ScreenUntrusted() == Screen::kRefused) return;
    if (!client_.readable) return;
    const std::span<char> scratch = context_->scratch;
    const ssize_t n = client_.Read(scratch.data(), scratch.size());
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) client_.readable = false;
      return;  // an end or an error is read again, and handled, once connected
    }
    last_activity_ms_ = context_->loop->now_ms();
    if (client_.short_read_empties() && static_cast<size_t>(n) < scratch.size() &&
        !client_.peer_closed) {
      client_.readable = false;
    }
    data = scratch.data();
    size = static_cast<size_t>(n);
  }
  // Written from where the bytes are: most of the time the kernel takes them all, and no
  // buffer is needed.
  const ssize_t written = ::write(backend_.fd.get(), data, size);
  if (written < 0) {
    // Still connecting: the bytes wait in the buffer for EPOLLOUT. Refused: they go to the
    // next backend tried, none of them having reached this one.
    const int error = errno;
    if (!upstream_.pending) Stash(upstream_, data, size);
    if (error != EAGAIN) OnConnectFailed(error);
    return;
  }
  // The kernel took bytes: the connection is established.
  Established(EPOLLOUT);
  upstream_.relayed->Add(static_cast<uint64_t>(written));
  const size_t left = size - static_cast<size_t>(written);
  if (upstream_.pending) {
    upstream_.begin += static_cast<uint32_t>(written);
    if (left == 0) context_->buffers->Release(std::move(upstream_.pending));
  } else if (left > 0) {
    Stash(upstream_, data + written, left);
  }
  if (left > 0) backend_.writable = false;
  Relay();
}

void Connection::Established(uint32_t events) {
  context_->loop->CancelTimer(connect_timer_);
  phase_ = Phase::kRelaying;
  pool::BackendRuntime::WorkerCounters& counters =
      backend_info_->runtime->worker(context_->worker_index);
  counters.active.Add();
  counters.total.Add();
  counted_ = true;
  upstream_.relayed = &counters.bytes_sent;
  downstream_.relayed = &counters.bytes_received;
  backend_.writable = true;
  backend_.readable = (events & (EPOLLIN | EPOLLRDHUP)) != 0;
  backend_.peer_closed = (events & EPOLLRDHUP) != 0;
}

void Connection::OnBackendConnectEvents(uint32_t events) {
  if (backend_handshaking_) return BackendHandshake();  // a failure shows in the handshake
  int error = net::TakeSocketError(backend_.fd.get());
  if (error == 0 && (events & (EPOLLERR | EPOLLHUP))) error = ECONNREFUSED;
  if (error != 0) {
    OnConnectFailed(error);
    return;
  }
  if ((events & EPOLLOUT) == 0) return;  // not finished yet
  if (view_->pool().settings().tls != nullptr) return StartBackendTls();
  Established(events);
  Relay();
}

void Connection::StartBackendTls() {
  if (view_->pool().settings().send_proxy != config::ProxyProtocol::kNone) {
    // In clear, before the handshake. The socket is new and empty: it takes the whole header.
    const std::string header = ProxyHeader();
    if (::write(backend_.fd.get(), header.data(), header.size()) !=
        static_cast<ssize_t>(header.size())) {
      return OnConnectFailed(errno != 0 ? errno : EIO);
    }
  }
  const std::shared_ptr<const tls::ClientContext>& tls = view_->pool().settings().tls;
  backend_.tls =
      tls->NewSession(tls, context_->worker_index, backend_info_->address.host, backend_.fd.get());
  if (!backend_.tls.valid()) return OnConnectFailed(ENOMEM);
  backend_handshaking_ = true;
  BackendHandshake();
}

void Connection::BackendHandshake() {
  const tls::IoResult result = backend_.tls.Handshake();
  switch (result.status) {
    case tls::IoStatus::kWantRead:
    case tls::IoStatus::kWantWrite:
      return;  // the backend's next event (or the connect timeout) moves it on
    case tls::IoStatus::kEnd:
    case tls::IoStatus::kError:
      return OnConnectFailed(EPROTO, absl::StrCat("TLS handshake: ", backend_.tls.error().empty()
                                                                         ? "the backend closed"
                                                                         : backend_.tls.error()));
    case tls::IoStatus::kOk:
      break;
  }
  backend_handshaking_ = false;
  // OpenSSL may have read application bytes with its last handshake record.
  Established(EPOLLOUT | EPOLLIN);
  Relay();
}

void Connection::OnConnectFailed(int error, absl::string_view detail) {
  context_->loop->CancelTimer(connect_timer_);
  backend_.tls = {};
  backend_handshaking_ = false;
  backend_.fd.reset();  // closing it also removes it from epoll
  backend_.readable = backend_.writable = backend_.peer_closed = false;
  ReleaseLoad();
  NoteConnectFailure(error, detail);
  ConnectNext();
}

void Connection::OnTimer() {
  if (phase_ == Phase::kConnecting) {
    OnConnectFailed(ETIMEDOUT);
  } else if (phase_ == Phase::kHandshaking) {
    RefuseHandshake(stats::kMaxHandshakeFailures,
                    absl::StrCat("not done within ", listener_->handshake_timeout_ms, " ms"));
  } else if (phase_ == Phase::kInspecting) {
    if (expect_proxy_) {
      RefuseProxyHeader(stats::ProxyHeaderResult::kTimeout,
                        absl::StrCat("not whole within ", kProxyHeaderTimeoutMs, " ms"));
    } else {
      RefuseClientHello(stats::ClientHelloResult::kTimeout,
                        absl::StrCat("not whole within ", listener_->handshake_timeout_ms, " ms"),
                        0);
    }
  }
}

void Connection::OnEndpointEvents(Endpoint& endpoint, uint32_t events) {
  if (phase_ == Phase::kClosed || phase_ == Phase::kIdle) return;  // stale event of this batch
  if (&endpoint == &backend_ && phase_ == Phase::kConnecting) {
    OnBackendConnectEvents(events);
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) endpoint.readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) endpoint.writable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) endpoint.peer_closed = true;
  if (phase_ == Phase::kInspecting) {
    if (events & EPOLLERR) return Close();
    return Inspect();
  }
  if (phase_ == Phase::kHandshaking) return Handshake();  // an error shows in the handshake
  if (phase_ == Phase::kHttp) return http_.OnClientEvents(events);
  if (phase_ == Phase::kConnecting) {
    // The client's bytes wait in its socket (or, read early, in the buffer) until a backend
    // is connected; a client that is gone entirely ends the attempt.
    if (events & (EPOLLERR | EPOLLHUP)) Close();
    return;
  }
  Relay();
  // Whatever could still be read was passed on above; an error ends both sides now.
  if (phase_ != Phase::kClosed && (events & EPOLLERR)) {
    Close(&endpoint == &backend_ ? Ending::kBackendFailed : Ending::kOther);
  }
}

void Connection::Relay() {
  // Both directions run even when the first fails: a backend that resets while the client is
  // still uploading may have queued its answer (say, an error status) just before the reset,
  // and that answer is passed on before the pair is closed.
  const Progress up = Transfer(upstream_, client_, backend_);
  if (phase_ == Phase::kClosed) return;  // refused (an untrusted PROXY header)
  const Progress down = Transfer(downstream_, backend_, client_);
  if (up == Progress::kFailed || down == Progress::kFailed) {
    return Close(failed_ == &backend_ ? Ending::kBackendFailed : Ending::kOther);
  }
  if (upstream_.done && downstream_.done) return Close(Ending::kClean);
  if (up == Progress::kMoreToDo || down == Progress::kMoreToDo) DeferOnce();
}

Connection::Progress Connection::Transfer(Flow& flow, Endpoint& from, Endpoint& to) {
  if (flow.done) return Progress::kWaiting;
  if (flow.pending) {
    if (!to.writable) return Progress::kWaiting;
    const ssize_t n = to.Write(flow.pending->bytes.data() + flow.begin, flow.end - flow.begin);
    if (n < 0) {
      if (errno != EAGAIN) return Fail(to);
      to.writable = false;
      return Progress::kWaiting;
    }
    last_activity_ms_ = context_->loop->now_ms();
    flow.relayed->Add(static_cast<uint64_t>(n));
    flow.begin += static_cast<uint32_t>(n);
    if (flow.begin < flow.end) {
      to.writable = false;  // the kernel took part: it is full until EPOLLOUT
      return Progress::kWaiting;
    }
    context_->buffers->Release(std::move(flow.pending));
  }

  const std::span<char> scratch = context_->scratch;
  for (int reads = 0; !flow.source_ended && from.readable && to.writable; ++reads) {
    if (reads == kReadsPerTurn) return Progress::kMoreToDo;
    if (screen_proxy_ && &flow == &upstream_) {
      const Screen screen = ScreenUntrusted();
      if (screen == Screen::kRefused) return Progress::kWaiting;  // closed
      if (screen == Screen::kHold) break;
    }
    const ssize_t n = from.Read(scratch.data(), scratch.size());
    if (n < 0) {
      if (errno == EAGAIN) {
        from.readable = false;
        break;
      }
      if (errno == ENOBUFS) {
        // TLS must send before it reads on (a key update): the socket's EPOLLOUT calls again.
        from.writable = false;
        break;
      }
      if (errno == EINTR) continue;
      return Fail(from);
    }
    if (n == 0) {
      flow.source_ended = true;
      break;
    }
    last_activity_ms_ = context_->loop->now_ms();
    // Written straight on: most of the time all of it goes, and no buffer is needed.
    ssize_t written = to.Write(scratch.data(), static_cast<size_t>(n));
    if (written < 0) {
      if (errno != EAGAIN) return Fail(to);
      written = 0;
    }
    flow.relayed->Add(static_cast<uint64_t>(written));
    if (written < n) {
      Stash(flow, scratch.data() + written, static_cast<size_t>(n - written));
      to.writable = false;
    }
    // A short read emptied the socket; reading again would only return EAGAIN. The next edge
    // says when more arrives. After a FIN there is no further edge, so read on to the end.
    if (from.short_read_empties() && static_cast<size_t>(n) < scratch.size() && !from.peer_closed) {
      from.readable = false;
    }
  }

  if (flow.source_ended && !flow.pending) {
    // Pass the half-close on; the other way keeps flowing. When the other way is done too,
    // the close that follows sends the FIN: no shutdown(2) first (HAProxy saves it too).
    const Flow& other = &flow == &upstream_ ? downstream_ : upstream_;
    if (!other.done) to.ShutdownWrite();
    flow.done = true;
  }
  return Progress::kWaiting;
}

Connection::Progress Connection::Fail(Endpoint& endpoint) {
  failed_ = &endpoint;
  return Progress::kFailed;
}

void Connection::Stash(Flow& flow, const char* data, size_t size) {
  flow.pending = context_->buffers->Acquire();
  std::memcpy(flow.pending->bytes.data(), data, size);
  flow.begin = 0;
  flow.end = static_cast<uint32_t>(size);
}

void Connection::Close(Ending ending) {
  if (phase_ == Phase::kClosed || phase_ == Phase::kIdle) return;
  if (counted_) {
    // Passive health counts bad outcomes in a row: a reset by the backend is one; any other end
    // of a connection it accepted (clean, or the client's doing) breaks the streak.
    if (ending == Ending::kBackendFailed) {
      NotePassiveFailure();
    } else {
      backend_info_->runtime->ClearPassiveFailures();
    }
  }
  phase_ = Phase::kClosed;
  context_->idle_clients->Remove(idle_hook_);
  http_.Stop();
  tls_context_.reset();
  context_->loop->CancelTimer(connect_timer_);
  // close(2) also takes the sockets out of epoll. Unread bytes make the kernel send a reset,
  // which tells a peer that was still sending that its data was not delivered.
  client_.tls = {};  // no close_notify: whoever ended the relay has sent it, if anyone
  backend_.tls = {};
  client_.fd.reset();
  backend_.fd.reset();
  context_->buffers->Release(std::move(upstream_.pending));
  context_->buffers->Release(std::move(downstream_.pending));
  if (counted_) backend_info_->runtime->worker(context_->worker_index).active.Subtract();
  ReleaseLoad();
  if (view_ != nullptr) {  // routed: no longer in its pool's count
    view_->pool().counters(context_->worker_index).active.Subtract();
    view_->Release(snapshot_);
    view_ = nullptr;
  }
  snapshot_ = nullptr;
  context_->stats->active.Subtract();
  DeferOnce();  // back to the pool once this batch of events is through
  if (context_->observer != nullptr) context_->observer->OnConnectionClosed();
}

void Connection::DeferOnce() {
  if (deferred_) return;
  deferred_ = true;
  context_->loop->Defer(this);
}

void Connection::RunDeferred() {
  deferred_ = false;
  if (phase_ == Phase::kClosed) {
    phase_ = Phase::kIdle;
    context_->connections->Release(this);
  } else if (phase_ == Phase::kRelaying) {
    Relay();
  } else if (phase_ == Phase::kHttp) {
    http_.Resume();
  }
}

}  // namespace plby::proxy
