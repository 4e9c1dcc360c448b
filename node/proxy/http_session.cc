#include "proxy/http_session.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "balance/client_key.h"
#include "http/forward.h"
#include "inspect/proxy_header.h"
#include "json/json_writer.h"
#include "log/log.h"
#include "net/socket_ops.h"
#include "proxy/backend_outcome.h"
#include "proxy/connection.h"
#include "route/route_table.h"

namespace plby::proxy {
namespace {

constexpr uint32_t kEdgeTriggered = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
// Reads per direction before the session yields to the other connections of its worker.
constexpr int kReadsPerTurn = 16;
// How long a refused client may go on sending before it is closed: long enough for its
// request to arrive whole (so that closing sends a FIN, not a reset that could destroy the
// answer in flight), short enough not to be held by a client that never stops.
constexpr int64_t kLingerMs = 2000;
// A backend's response head is bounded too (HAProxy's whole buffer is 16 KiB).
constexpr size_t kMaxResponseHead = 32 * 1024;

int64_t Ms(absl::Duration duration) { return absl::ToInt64Milliseconds(duration); }

}  // namespace

HttpBuffer* HttpSession::Acquire(Bytes& bytes) {
  if (!bytes.buffer) {
    bytes.buffer = context_->http_buffers->Acquire();
    bytes.begin = bytes.end = 0;
  }
  return bytes.buffer.get();
}

void HttpSession::Drop(Bytes& bytes) {
  context_->http_buffers->Release(std::move(bytes.buffer));
  bytes.begin = bytes.end = 0;
}

void HttpSession::Start(WorkerContext* context, const Listener* listener, Transport* client,
                        SessionHost* host, const SessionFacts& facts) {
  context_ = context;
  listener_ = listener;
  client_ = client;
  host_ = host;
  facts_ = facts;
  client_ip_ = facts.client.ToString();
  // "192.0.2.1:5000" -> "192.0.2.1"; "[2001:db8::1]:5000" -> "2001:db8::1".
  if (const size_t colon = client_ip_.rfind(':'); colon != std::string::npos) {
    client_ip_.resize(colon);
    if (!client_ip_.empty() && client_ip_.front() == '[') {
      client_ip_ = client_ip_.substr(1, client_ip_.size() - 2);
    }
  }
  state_ = State::kReading;
  last_activity_ms_ = context_->loop->now_ms();
  // The first request's head is bounded from the connection's start.
  head_started_ms_ = idle_since_ms_ = last_activity_ms_;
  first_request_ = true;
  draining_ = false;
  logged_ = true;
  head_incomplete_ = false;
  exchange_deadline_ms_ = 0;
  routed_ = false;
  method_ = http::Method::kGet;
  client_keep_alive_ = true;
  ArmTimer();
  Run();
}

void HttpSession::Stop() {
  if (state_ == State::kIdle) return;
  context_->loop->CancelTimer(timer_);
  ReleaseUpstream(false);
  ReleaseRequest();
  Drop(in_);
  Drop(up_head_);
  Drop(down_);
  Drop(out_head_);
  state_ = State::kIdle;
}

void HttpSession::Close() {
  LogAccess(response_head_done_ ? response_status_ : 0);  // an exchange cut short, if any
  Stop();
  host_->EndSession();
}

void HttpSession::OnClientEvents(uint32_t events) {
  if (state_ == State::kIdle) return;
  if ((events & EPOLLERR) != 0 && state_ != State::kExchanging) return Close();
  Run();
}

void HttpSession::OnUpstreamEvents(uint32_t events) {
  if (upstream_ == nullptr) return;
  Transport& up = upstream_->transport;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up.readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) up.writable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up.peer_closed = true;
  if (state_ == State::kConnecting) {
    if (handshaking_) return BackendHandshake();
    int error = net::TakeSocketError(up.fd.get());
    if (error == 0 && (events & (EPOLLERR | EPOLLHUP))) error = ECONNREFUSED;
    if (error != 0) return OnConnectFailed(error, "");
    if ((events & EPOLLOUT) == 0) return;
    return OnConnected();
  }
  Run();
}

void HttpSession::Run() {
  RunSteps();
  // Every turn of the session ends here: the one place that keeps the host's idle mark true.
  host_->SetIdle(state_ == State::kReading && in_.size() == 0);
}

void HttpSession::RunSteps() {
  // Each step moves what it can; the loop ends when a step changed nothing (everything waits
  // for an event) or, after many, yields to the worker's other connections.
  reads_this_turn_ = 0;
  for (int step = 0; step < 64; ++step) {
    const State before = state_;
    const uint64_t progress = progress_;
    switch (state_) {
      case State::kIdle:
      case State::kConnecting:
        return;
      case State::kReading:
        ReadRequest();
        break;
      case State::kExchanging:
        Exchange();
        break;
      case State::kResponding:
        WriteAnswer();
        break;
      case State::kLingering:
        DrainLingering();
        break;
    }
    if (state_ == before && progress_ == progress) return;
  }
  host_->DeferSession();
}

void HttpSession::WriteAnswer() {
  if (out_head_.size() > 0) {
    if (!client_->writable) return;
    if (!WriteFrom(*client_, out_head_)) return Close();
    if (out_head_.size() > 0) return;  // EPOLLOUT says when to go on
  }
  Drop(out_head_);
  if (close_after_ || draining_) return Linger();
  ++progress_;
  routed_ = false;
  method_ = http::Method::kGet;
  state_ = State::kReading;
  idle_since_ms_ = head_started_ms_ = context_->loop->now_ms();
  ArmTimer();
}

void HttpSession::DrainLingering() {
  // Read and drop until the client ends or the timer fires.
  while (client_->readable) {
    const ssize_t n = client_->Read(context_->scratch.data(), context_->scratch.size());
    if (n == 0) return Close();
    if (n < 0) {
      if (errno == EAGAIN) {
        client_->readable = false;
        return;
      }
      if (errno == EINTR) continue;
      return Close();
    }
  }
}

// --- Reading requests ---

void HttpSession::ReadRequest() {
  const config::HttpListenerConfig& config = *listener_->http;
  while (state_ == State::kReading) {
    if (in_.size() > 0 && !head_incomplete_) {
      std::span<http::Header> storage = context_->headers;
      const http::RequestParse parsed =
          http::ParseRequestHead(absl::string_view(in_.data(), in_.size()), config.limits, storage);
      if (parsed.state == http::ParseState::kComplete) return HandleRequest(parsed.head);
      head_incomplete_ = parsed.state == http::ParseState::kNeedMore;
      if (parsed.state == http::ParseState::kError) {
        uint64_t suppressed = 0;
        if (context_->inspect_log->Allow(context_->loop->now_ms(), &suppressed)) {
          PLBY_LOG(kWarn, "refusing request client=", facts_.client.ToString(),
                   " listener=", listener_->name, ": ", parsed.status, " ", parsed.error,
                   log::SuppressedSuffix(suppressed));
        }
        method_ = http::Method::kGet;
        return Respond(parsed.status, parsed.error, true);
      }
    }
    if (!client_->readable) return;
    // Room for more: move what is there to the front first (a head is parsed from its start).
    Acquire(in_);
    if (in_.begin > 0) {
      std::memmove(in_.buffer->bytes.data(), in_.data(), in_.size());
      in_.end -= in_.begin;
      in_.begin = 0;
    }
    const bool was_empty = in_.size() == 0;
    const uint32_t before = in_.end;
    bool ended = false;
    if (!ReadInto(*client_, in_, &ended)) return Close();
    if (ended) {
      // A client that is done: quietly, between requests; a 400 for half a head.
      if (in_.size() == 0) return Close();
      return Respond(400, "the connection ended inside a request head", true);
    }
    if (in_.size() == 0) {
      Drop(in_);
      return;
    }
    if (in_.end == before) return;  // no room, or nothing came
    ++progress_;
    // Parsed again only when a line may have ended (or the limit is reached): a client that
    // sends its head a byte at a time must not make every byte cost a parse of all before it.
    if (std::memchr(in_.buffer->bytes.data() + before, '\n', in_.end - before) != nullptr ||
        in_.size() >= config.limits.max_head_bytes) {
      head_incomplete_ = false;
    }
    if (was_empty) {
      head_started_ms_ = context_->loop->now_ms();
      ArmTimer();
    }
  }
}

void HttpSession::HandleRequest(const http::RequestHead& head) {
  const config::HttpListenerConfig& config = *listener_->http;
  ++progress_;
  first_request_ = false;
  head_incomplete_ = false;  // whatever follows this head is looked at afresh
  last_activity_ms_ = context_->loop->now_ms();
  method_ = head.method_kind;
  client_minor_ = head.minor_version;
  client_keep_alive_ = head.keep_alive && !draining_;
  expect_continue_ = head.expect_continue;
  // Only WebSocket is tunnelled: any other upgrade (h2c, say) would turn the connection into a
  // raw relay past every per-request rule; such a request goes on as a plain one.
  const http::Header* upgrade = http::FindHeader(head.headers, "upgrade");
  upgrade_ = head.upgrade && upgrade != nullptr && http::ListHasToken(upgrade->value, "websocket");
  routed_ = false;
  const bool has_body = head.framing != http::Framing::kNone;
  bytes_to_client_ = 0;
  if (config.access_log) {
    log_method_.assign(head.method.data(), head.method.size());
    log_host_.assign(head.host.data(), head.host.size());
    log_path_.assign(head.target.data(), head.target.size());
    logged_ = false;
  }
  if (head.method_kind == http::Method::kConnect) {
    return Respond(501, "CONNECT is not supported (plby forwards HTTP requests, not tunnels)",
                   true);
  }
  if (config.max_body_bytes && head.framing == http::Framing::kContentLength &&
      head.content_length > *config.max_body_bytes) {
    return Respond(413,
                   absl::StrCat("the body is ", head.content_length,
                                " bytes; this listener takes at most ", *config.max_body_bytes),
                   true);
  }

  // Route by the request's host (the target's authority in absolute-form) and path.
  absl::string_view host = http::AbsoluteFormAuthority(head.target);
  if (host.empty()) host = head.host;
  route::NormalizeRequestHost(host, context_->host_scratch);
  const std::optional<size_t> route = listener_->routes->MatchRequest(
      {.host = context_->host_scratch,
       .path = http::PathOf(head.target.front() == '/'
                                ? head.target
                                : http::RewriteTarget(head.target, "", context_->target_scratch)),
       .method = head.method,
       .headers = head.headers});
  if (!route) {
    bool covered = facts_.certificate_names.empty();
    for (const std::string& name : facts_.certificate_names) {
      covered |= route::SniMatches(name, context_->host_scratch);
    }
    // The client reused a connection whose certificate is not for this host: 421 tells it to
    // connect again (RFC 9110 15.5.20).
    const bool close = has_body || !head.keep_alive;
    in_.begin += static_cast<uint32_t>(head.head_length);
    if (!covered) {
      return Respond(421, "this connection's certificate is not for the requested host", close);
    }
    return Respond(404, "no route matches this request", close);
  }
  route_ = *route;
  routed_ = true;
  const config::HttpRouteConfig& route_config = listener_->http_route(route_);

  // The head as forwarded, built once: a retry sends it again as it is.
  Acquire(up_head_);
  const route::HttpMatch& match = listener_->routes->route(route_).http;
  const absl::string_view target = http::RewriteTarget(
      head.target, route_config.strip_prefix ? absl::string_view(match.path) : "",
      context_->target_scratch);
  http::SpanWriter writer(std::span<char>(up_head_.buffer->bytes));
  const bool written =
      http::WriteForwardedRequest(head,
                                  {.target = target,
                                   .client_ip = client_ip_,
                                   .proto = facts_.tls ? "https" : "http",
                                   .trust_forwarded = facts_.trusted,
                                   .keep_underscores = config.underscores_in_headers,
                                   .upgrade = upgrade_,
                                   .host = http::AbsoluteFormAuthority(head.target),
                                   .add = route_config.add_request_headers,
                                   .remove = route_config.remove_request_headers,
                                   .routed_fields = match.headers},
                                  writer);
  if (!written) {
    in_.begin += static_cast<uint32_t>(head.head_length);
    return Respond(431, "the request head is too large once forwarded", true);
  }
  up_head_.begin = 0;
  up_head_.end = static_cast<uint32_t>(writer.size());
  up_head_sent_ = 0;
  in_.begin += static_cast<uint32_t>(head.head_length);

  request_body_ = {};
  request_body_.framing = head.framing;
  request_body_.left = head.content_length;
  request_body_.done = !has_body;
  response_body_ = {};
  response_body_.done = false;
  exchange_deadline_ms_ =
      route_config.timeout ? context_->loop->now_ms() + Ms(*route_config.timeout) : 0;
  StartExchange(head.headers);
}

void HttpSession::StartExchange(std::span<const http::Header> headers) {
  view_ = listener_->views[route_];
  snapshot_ = view_->Acquire();
  pool::Pool& pool = view_->pool();
  pool.counters(context_->worker_index).accepted.Add();
  pool.counters(context_->worker_index).active.Add();
  response_started_ = false;
  response_head_done_ = false;
  answer_began_ = false;
  response_incomplete_ = false;
  upstream_ended_ = false;
  request_failed_ = false;
  request_sent_ms_ = 0;
  body_wait_since_ms_ = context_->loop->now_ms();
  response_keep_alive_ = true;
  keep_client_ = client_keep_alive_;
  response_status_ = 0;
  tried_count_ = 0;
  retries_ = 0;
  stale_retried_ = false;
  lost_why_ = {};
  view_->pool().StartRequest();
  if (snapshot_->snapshot->eligible().empty()) {
    context_->stats->no_backend.Add();
    return Respond(503, absl::StrCat("pool ", pool.name(), " has no backend taking requests"),
                   !request_body_.done || !client_keep_alive_);
  }
  ticket_ = pool.TakeTicket();
  const balance::HashKey& hash = snapshot_->snapshot->balance().hash;
  // The request's own key, when the pool hashes a field or cookie (read now: the head's bytes
  // are not kept, and a retry keeps this key).
  request_key_.reset();
  if (hash.source == balance::HashKey::Source::kHeader) {
    if (const http::Header* field = http::FindHeader(headers, hash.name)) {
      request_key_ = balance::ValueKey(field->value);
    }
  } else if (hash.source == balance::HashKey::Source::kCookie) {
    if (const http::CookieLookup cookie = http::FindCookie(headers, hash.name); cookie.found) {
      request_key_ = balance::ValueKey(cookie.value);
    }
  }
  const bool keyed = snapshot_->snapshot->needs_key();
  key_ = keyed ? balance::ClientKey(facts_.client, hash) : 0;
  if (request_key_ && hash.from_request()) {
    // hash = "header:NAME" or "cookie:NAME": maglev maps the value to its backend; p2c draws its
    // two candidates from it, so one user's requests choose between the same two backends.
    if (keyed) key_ = *request_key_;
    if (balance::Describe(snapshot_->snapshot->balance().algorithm).draws_by_request_key) {
      ticket_ = *request_key_;
    }
  }
  ConnectNext();
}

void HttpSession::ConnectNext() {
  const pool::PoolSnapshot& snapshot = *snapshot_->snapshot;
  pool::Pool& pool = view_->pool();
  while (tried_count_ < kMaxAttempts) {
    const uint32_t index = snapshot.Pick(
        {.ticket = ticket_, .key = key_, .tried = std::span(tried_.data(), tried_count_)});
    if (index == balance::kNoBackend) break;
    tried_[tried_count_++] = index;
    backend_ = &snapshot.backends()[index];
    backend_->runtime->AddLoad();
    loaded_ = true;
    // A connection left from an earlier exchange, if one is idle; else a new one. A backend
    // sent PROXY headers gets only new ones (the header is per client).
    if (pool.settings().send_proxy == config::ProxyProtocol::kNone) {
      upstream_ = context_->upstreams->TakeIdle(backend_->runtime.get(), this);
    }
    if (upstream_ != nullptr) {
      upstream_reused_ = true;
      listener_->counters->http_upstream_reused.Add();
      upstream_->transport.writable = true;
      // Nothing to read: it was empty when given back, and anything since (the backend closing
      // it, say) comes as an edge of its own.
      upstream_->transport.readable = false;
      state_ = State::kExchanging;
      ArmTimer();
      return;  // the caller's Run moves it on
    }
    upstream_reused_ = false;
    const int error = StartConnect(*backend_);
    if (error == 0) return;
    if (loaded_) {
      backend_->runtime->RemoveLoad();
      loaded_ = false;
    }
    if (net::IsLocalResourceShortage(error)) {
      context_->stats->resource_errors.Add();
      return Respond(503, "plby is out of local resources (descriptors, memory or ports)", true);
    }
    NoteConnectFailure(*context_, pool, *backend_, error);
  }
  if (!lost_why_.empty()) {
    // The request was sent again after its backend failed, and no other backend took it: the
    // failure it met is the answer.
    return Respond(502, lost_why_, true);
  }
  context_->stats->no_backend.Add();
  Respond(503, absl::StrCat("no backend of pool ", pool.name(), " accepted a connection"),
          !request_body_.done || !client_keep_alive_);
}

int HttpSession::StartConnect(const pool::Backend& backend) {
  net::UniqueFd fd;
  if (const int error = StartBackendConnect(backend.socket_address, fd); error != 0) return error;
  upstream_ = context_->upstreams->New(backend.runtime, &view_->pool(), this);
  // Counted as open from here: UpstreamPool::Close takes it off.
  backend.runtime->worker(context_->worker_index).active.Add();
  if (absl::Status added = context_->loop->Add(fd.get(), kEdgeTriggered, upstream_); !added.ok()) {
    context_->upstreams->Close(upstream_);
    upstream_ = nullptr;
    return ENOMEM;
  }
  upstream_->transport.fd = std::move(fd);
  listener_->counters->http_upstream_new.Add();
  state_ = State::kConnecting;
  handshaking_ = false;
  deadline_ms_ = 0;
  ArmTimer();
  return 0;
}

void HttpSession::OnConnected() {
  pool::Pool& pool = view_->pool();
  Transport& up = upstream_->transport;
  backend_->runtime->worker(context_->worker_index).total.Add();
  if (pool.settings().send_proxy != config::ProxyProtocol::kNone) {
    // In clear, first: the socket is new and empty, it takes the whole header.
    net::SocketAddress local;
    if (absl::StatusOr<net::SocketAddress> own = net::SocketAddress::LocalOf(client_->fd.get());
        own.ok()) {
      local = *own;
    }
    const inspect::ProxyHeaderFields fields{
        .source = facts_.client, .destination = local, .alpn = "", .authority = ""};
    const std::string header = pool.settings().send_proxy == config::ProxyProtocol::kV1
                                   ? inspect::BuildProxyV1(fields)
                                   : inspect::BuildProxyV2(fields);
    if (::write(up.fd.get(), header.data(), header.size()) != static_cast<ssize_t>(header.size())) {
      return OnConnectFailed(errno != 0 ? errno : EIO, "");
    }
  }
  if (pool.settings().tls != nullptr) {
    const std::shared_ptr<const tls::ClientContext>& tls = pool.settings().tls;
    up.tls = tls->NewSession(tls, context_->worker_index, backend_->address.host, up.fd.get());
    if (!up.tls.valid()) return OnConnectFailed(ENOMEM, "");
    handshaking_ = true;
    return BackendHandshake();
  }
  up.writable = true;
  state_ = State::kExchanging;
  ArmTimer();
  Run();
}

void HttpSession::BackendHandshake() {
  Transport& up = upstream_->transport;
  const tls::IoResult result = up.tls.Handshake();
  switch (result.status) {
    case tls::IoStatus::kWantRead:
    case tls::IoStatus::kWantWrite:
      return;
    case tls::IoStatus::kEnd:
    case tls::IoStatus::kError:
      return OnConnectFailed(
          EPROTO, absl::StrCat("TLS handshake: ",
                               up.tls.error().empty() ? "the backend closed" : up.tls.error()));
    case tls::IoStatus::kOk:
      break;
  }
  handshaking_ = false;
  up.writable = true;
  up.readable = true;  // OpenSSL may hold application bytes read with the handshake
  state_ = State::kExchanging;
  ArmTimer();
  Run();
}

void HttpSession::OnConnectFailed(int error, absl::string_view detail) {
  context_->upstreams->Close(upstream_);
  upstream_ = nullptr;
  handshaking_ = false;
  if (loaded_) {
    backend_->runtime->RemoveLoad();
    loaded_ = false;
  }
  NoteConnectFailure(*context_, view_->pool(), *backend_, error, detail);
  // Nothing of the request reached this backend: any method may go to the next one.
  ConnectNext();
  Run();
}

// --- The exchange ---

void HttpSession::Exchange() {
  SendRequest();
  if (state_ != State::kExchanging) return;
  ReceiveResponse();
  if (state_ != State::kExchanging) return;
  SendResponse();
  if (state_ != State::kExchanging) return;
  const bool answered = response_head_done_ && response_body_.done && response_body_.scanned == 0 &&
                        out_head_.size() == 0;
  // An answer that came before the request was sent whole ends the exchange too: the client
  // connection is then closed (keep_client_ is false).
  if (answered && (RequestSent() || !keep_client_)) FinishExchange();
}

bool HttpSession::ScanBody(BodyState& body, const Bytes& input, absl::string_view* error) {
  if (body.done) return true;
  const uint32_t unscanned_begin = input.begin + body.scanned;
  if (unscanned_begin >= input.end) return true;
  const absl::string_view fresh(input.buffer->bytes.data() + unscanned_begin,
                                input.end - unscanned_begin);
  switch (body.framing) {
    case http::Framing::kContentLength: {
      const uint64_t take = std::min<uint64_t>(body.left - body.scanned, fresh.size());
      body.scanned += static_cast<uint32_t>(take);
      if (body.scanned == body.left) body.done = true;
      return true;
    }
    case http::Framing::kChunked: {
      const http::ChunkedDecoder::Result result = body.chunked.Feed(fresh);
      body.scanned += static_cast<uint32_t>(result.consumed);
      if (result.error) {
        *error = result.error_text;
        return false;
      }
      if (result.done) body.done = true;
      return true;
    }
    case http::Framing::kUntilClose:
      body.scanned += static_cast<uint32_t>(fresh.size());
      return true;
    case http::Framing::kNone:
      body.done = true;
      return true;
  }
  return true;
}

void HttpSession::SendRequest() {
  if (request_failed_) return;  // the backend went; what it answered first is still read
  Transport& up = upstream_->transport;
  // The head first.
  if (up_head_sent_ < up_head_.end) {
    if (!up.writable) return;
    const ssize_t n =
        up.Write(up_head_.buffer->bytes.data() + up_head_sent_, up_head_.end - up_head_sent_);
    if (n < 0) {
      if (errno != EAGAIN) return RequestWriteFailed();
      up.writable = false;
      return;
    }
    ++progress_;
    up_head_sent_ += static_cast<uint32_t>(n);
    backend_->runtime->worker(context_->worker_index).bytes_sent.Add(static_cast<uint64_t>(n));
    if (up_head_sent_ < up_head_.end) {
      up.writable = false;
      return;
    }
  }
  // Then the body, from the client's buffer straight on.
  while (!request_body_.done || request_body_.scanned > 0) {
    if (request_body_.scanned > 0) {
      if (!up.writable) return;
      const ssize_t n = up.Write(in_.data(), request_body_.scanned);
      if (n < 0) {
        if (errno != EAGAIN) return RequestWriteFailed();
        up.writable = false;
        return;
      }
      ++progress_;
      in_.begin += static_cast<uint32_t>(n);
      request_body_.scanned -= static_cast<uint32_t>(n);
      if (request_body_.framing == http::Framing::kContentLength) {
        request_body_.left -= static_cast<uint64_t>(n);
      }
      backend_->runtime->worker(context_->worker_index).bytes_sent.Add(static_cast<uint64_t>(n));
      last_activity_ms_ = context_->loop->now_ms();
      if (request_body_.scanned > 0) {
        up.writable = false;
        return;
      }
      // What the client sent is gone on: from here plby waits for the client again.
      body_wait_since_ms_ = last_activity_ms_;
      continue;
    }
    if (in_.size() > 0) {
      absl::string_view error;
      if (!ScanBody(request_body_, in_, &error)) {
        // The backend saw part of a broken body: its connection cannot be used again.
        return Respond(400, absl::StrCat("bad chunked body: ", error), true);
      }
      if (listener_->http->max_body_bytes &&
          request_body_.chunked.data_bytes() > *listener_->http->max_body_bytes) {
        return Respond(413, "the chunked body is larger than this listener takes", true);
      }
      if (request_body_.scanned > 0 || request_body_.done) continue;
    }
    if (!client_->readable) return;
    if (++reads_this_turn_ > kReadsPerTurn) return host_->DeferSession();
    Acquire(in_);
    if (in_.size() == 0) in_.begin = in_.end = 0;
    bool ended = false;
    if (!ReadInto(*client_, in_, &ended)) return Close();
    if (ended && in_.size() == 0) return Close();  // the client went before its body was whole
    if (in_.size() == 0) return;
    ++progress_;
    body_wait_since_ms_ = context_->loop->now_ms();
  }
  if (request_sent_ms_ == 0) {
    // The response timeout runs from here; while the request was going up, inactivity did.
    request_sent_ms_ = context_->loop->now_ms();
    ArmTimer();
  }
}

void HttpSession::RequestWriteFailed() {
  // The backend closed or reset while the request went up. It may have answered first (a 413
  // before the upload ended, say): that answer is read and passed on; only if none comes is
  // it a failure of this exchange.
  request_failed_ = true;
  upstream_->transport.writable = false;
  upstream_->transport.readable = true;
  ++progress_;
}

void HttpSession::ReceiveResponse() {
  Transport& up = upstream_->transport;
  while (true) {
    // Heads: parsed once the previous one (an interim 1xx) has been passed on.
    while (!response_head_done_ && down_.size() > 0 && out_head_.size() == 0 &&
           !response_incomplete_) {
      std::span<http::Header> storage = context_->headers;
      http::HeadLimits limits = listener_->http->limits;
      limits.max_head_bytes = kMaxResponseHead;
      const http::ResponseParse parsed = http::ParseResponseHead(
          absl::string_view(down_.data(), down_.size()), method_, limits, storage);
      if (parsed.state == http::ParseState::kNeedMore) {
        if (upstream_ended_) {
          return Respond(502, "the backend closed the connection inside its response head", true);
        }
        response_incomplete_ = true;
        break;
      }
      if (parsed.state == http::ParseState::kError) {
        NotePassiveFailure();
        LogBadResponse(parsed.error);
        return Respond(502, "the backend's response was not valid HTTP/1.1", true);
      }
      ++progress_;
      HandleResponseHead(parsed.head);
      if (state_ != State::kExchanging) return;
    }
    if (response_head_done_) {
      absl::string_view error;
      if (!ScanBody(response_body_, down_, &error)) {
        NotePassiveFailure();
        LogBadResponse(absl::StrCat("bad chunked body: ", error));
        // Nothing of the answer reached the client yet (its head and first chunk came in one
        // read, say): it gets a 502 like any other bad answer. Else ending the connection is
        // all that is left to say.
        if (!answer_began_)
          return Respond(502, "the backend's response was not valid HTTP/1.1", true);
        return Close();
      }
      // Body bytes wait in down_ until the client takes them; read only into an empty buffer.
      if (response_body_.done || response_body_.scanned > 0 || down_.size() > 0) return;
    } else if (out_head_.size() > 0) {
      return;  // an interim answer is still being passed on
    }
    if (!up.readable) return;
    if (++reads_this_turn_ > kReadsPerTurn) return host_->DeferSession();
    Acquire(down_);
    if (down_.size() == 0) down_.begin = down_.end = 0;
    if (down_.begin > 0) {  // a head is parsed from the buffer's start
      std::memmove(down_.buffer->bytes.data(), down_.data(), down_.size());
      down_.end -= down_.begin;
      down_.begin = 0;
    }
    const uint32_t before = down_.end;
    bool ended = false;
    const bool read_ok = ReadInto(up, down_, &ended);
    if (!response_head_done_ &&
        (std::memchr(down_.buffer->bytes.data() + before, '\n', down_.end - before) != nullptr ||
         down_.size() >= kMaxResponseHead || ended)) {
      response_incomplete_ = false;  // a line may have ended: parse again
    }
    if (!read_ok) {
      if (!response_started_) {
        return OnUpstreamLost("the backend reset the connection before answering");
      }
      NotePassiveFailure();
      return Close();  // an answer cut short: the client must see the connection end
    }
    if (down_.end != before) {
      ++progress_;
      response_started_ = true;
      last_activity_ms_ = context_->loop->now_ms();
    }
    if (ended) {
      response_keep_alive_ = false;
      upstream_ended_ = true;
      if (!response_started_) {
        return OnUpstreamLost("the backend closed the connection before answering");
      }
      if (!response_head_done_) {
        if (down_.size() > 0) continue;  // parse what is there first
        return Respond(502, "the backend closed the connection inside its response head", true);
      }
      if (response_body_.framing == http::Framing::kUntilClose) {
        absl::string_view unused;
        ScanBody(response_body_, down_, &unused);
        response_body_.done = true;
        ++progress_;
        return;
      }
      if (down_.size() == 0 && !response_body_.done) return Close();  // cut short
    } else if (down_.end == before) {
      return;
    }
  }
}

void HttpSession::HandleResponseHead(const http::ResponseHead& head) {
  Acquire(out_head_);
  http::SpanWriter writer(std::span<char>(out_head_.buffer->bytes));
  down_.begin += static_cast<uint32_t>(head.head_length);
  if (head.status == 101) {
    const http::Header* protocol = http::FindHeader(head.headers, "upgrade");
    if (!upgrade_ || protocol == nullptr || !http::ListHasToken(protocol->value, "websocket")) {
      return Respond(502, "the backend switched to a protocol that was not asked for", true);
    }
    // The WebSocket (or other) handshake went through: from here on, bytes as they come.
    if (!http::WriteForwardedResponse(head, client_minor_, true, true, writer)) {
      return Respond(502, "the backend's response head is too large", true);
    }
    CountResponse(101);
    CountDuration();
    bytes_to_client_ += writer.size();
    LogAccess(101);
    if (loaded_) {  // a tunnel is no request in flight: least_connections counts requests
      backend_->runtime->RemoveLoad();
      loaded_ = false;
    }
    // Nor for the retry budget. (The pool's active count and the snapshot go to the relay,
    // which gives them back when it closes.)
    view_->pool().EndRequest();
    if (retry_counted_) view_->pool().EndRetry();
    retry_counted_ = false;
    const SessionHost::Handover handover{
        .upstream = upstream_,
        .view = view_,
        .snapshot = snapshot_,
        .backend = backend_,
        .to_backend = std::span<const char>(in_.buffer ? in_.data() : nullptr, in_.size()),
        .to_client_head = std::span<const char>(out_head_.buffer->bytes.data(), writer.size()),
        .to_client = std::span<const char>(down_.data(), down_.size())};
    upstream_ = nullptr;
    view_ = nullptr;
    snapshot_ = nullptr;
    backend_ = nullptr;
    context_->loop->CancelTimer(timer_);
    host_->SwitchToRelay(handover);  // which stops this session
    return;
  }
  if (head.status < 200) {
    // 100 Continue and other interim answers go to 1.1 clients as they are (a 1.0 client
    // knows none); the final answer follows.
    if (client_minor_ == 1 &&
        http::WriteForwardedResponse(head, client_minor_, true, false, writer)) {
      out_head_.begin = 0;
      out_head_.end = static_cast<uint32_t>(writer.size());
    }
    return;
  }
  if (client_minor_ == 0 && head.framing == http::Framing::kChunked) {
    // The request went as HTTP/1.0, which a server may not answer chunked (RFC 9112 6.1);
    // plby passes bodies on unchanged and does not de-chunk one.
    NotePassiveFailure();
    return Respond(502, "the backend answered an HTTP/1.0 request with a chunked body", true);
  }
  response_head_done_ = true;
  response_status_ = head.status;
  response_keep_alive_ = head.keep_alive;
  // The client connection goes on only if its request was read whole: an early answer (a 413
  // before the upload ended) leaves the rest of the body in the way of the next request.
  keep_client_ = client_keep_alive_ && head.framing != http::Framing::kUntilClose && RequestSent();
  if (head.status >= 500) {
    NotePassiveFailure();
  } else {
    backend_->runtime->ClearPassiveFailures();
  }
  if (head.status == 503 && Resendable() && TryRetry()) {
    // Another backend may serve it. This one's connection goes (its answer is not read).
    response_started_ = false;
    ReleaseUpstream(false);
    return SendAgain();
  }
  if (!http::WriteForwardedResponse(head, client_minor_, keep_client_, false, writer)) {
    return Respond(502, "the backend's response head is too large", true);
  }
  out_head_.begin = 0;
  out_head_.end = static_cast<uint32_t>(writer.size());
  response_body_ = {};
  response_body_.framing = head.framing;
  response_body_.left = head.content_length;
  response_body_.done = head.framing == http::Framing::kNone;
  ArmTimer();
}

void HttpSession::SendResponse() {
  if (out_head_.size() > 0 && out_head_.begin == 0 && response_head_done_ &&
      response_body_.scanned > 0) {
    // The first body bytes go in the same write as the head (one system call, one segment
    // for a small answer, as HAProxy sends it).
    const uint32_t take = std::min<uint32_t>(
        response_body_.scanned, static_cast<uint32_t>(kHttpBufferBytes) - out_head_.end);
    std::memcpy(out_head_.buffer->bytes.data() + out_head_.end, down_.data(), take);
    out_head_.end += take;
    down_.begin += take;
    response_body_.scanned -= take;
    if (response_body_.framing == http::Framing::kContentLength) response_body_.left -= take;
    backend_->runtime->worker(context_->worker_index).bytes_received.Add(take);
  }
  if (out_head_.size() > 0) {
    if (!client_->writable) return;
    const uint32_t before = out_head_.begin;
    if (!WriteFrom(*client_, out_head_)) return Close();
    if (out_head_.begin != before) {
      ++progress_;
      if (response_head_done_ && !answer_began_) {
        // Counted once it is the client's: until then plby may still answer in its place.
        answer_began_ = true;
        CountResponse(response_status_);
      }
    }
    bytes_to_client_ += out_head_.begin - before;
    if (out_head_.size() > 0) return;
  }
  while (response_body_.scanned > 0) {
    if (!client_->writable) return;
    const ssize_t n = client_->Write(down_.data(), response_body_.scanned);
    if (n < 0) {
      if (errno != EAGAIN) return Close();
      client_->writable = false;
      return;
    }
    ++progress_;
    bytes_to_client_ += static_cast<uint64_t>(n);
    down_.begin += static_cast<uint32_t>(n);
    response_body_.scanned -= static_cast<uint32_t>(n);
    if (response_body_.framing == http::Framing::kContentLength) {
      response_body_.left -= static_cast<uint64_t>(n);
    }
    backend_->runtime->worker(context_->worker_index).bytes_received.Add(static_cast<uint64_t>(n));
    last_activity_ms_ = context_->loop->now_ms();
    if (response_body_.scanned > 0) client_->writable = false;
  }
}

bool HttpSession::Resendable() const {
  // The head is kept whole in up_head_; a body is streamed, not kept, so only requests without
  // one can go again (Envoy and HAProxy buffer bodies for this; plby does not, yet).
  return http::IsIdempotent(method_) && request_body_.framing == http::Framing::kNone;
}

bool HttpSession::TryRetry() {
  if (retries_ >= listener_->http_route(route_).retries) return false;
  // Only to a backend not tried yet: is one left?
  if (snapshot_->snapshot->eligible().size() <= tried_count_) return false;
  if (!retry_counted_) {
    if (!view_->pool().TryStartRetry()) {
      listener_->counters->http_retries_over_budget.Add();
      return false;
    }
    retry_counted_ = true;
  }
  ++retries_;
  listener_->counters->http_retries.Add();
  return true;
}

void HttpSession::SendAgain() {
  ++progress_;
  up_head_sent_ = 0;
  Drop(down_);
  Drop(out_head_);
  response_started_ = false;
  response_head_done_ = false;
  answer_began_ = false;
  response_incomplete_ = false;
  response_keep_alive_ = true;
  response_body_ = {};
  response_body_.done = false;
  upstream_ended_ = false;
  request_failed_ = false;
  request_sent_ms_ = 0;
  ConnectNext();
}

void HttpSession::OnUpstreamLost(absl::string_view why) {
  const bool resendable = Resendable() && !response_started_;
  const bool was_reused = upstream_reused_;
  ReleaseUpstream(false);
  lost_why_ = why;
  if (resendable && was_reused && !stale_retried_) {
    // A connection kept from an earlier exchange, closed by the backend just as this request
    // went out (an idle timeout race): the same backend, on a new connection, once; no fault
    // of the backend's, and no retry of the route's spent.
    stale_retried_ = true;
    --tried_count_;
    return SendAgain();
  }
  NotePassiveFailure();
  if (resendable && TryRetry()) return SendAgain();
  Respond(502, why, true);
}

void HttpSession::FinishExchange() {
  CountDuration();
  LogAccess(response_status_);
  // Reused only when both messages ended where their framing said: a request not sent whole
  // would leave the backend reading the next client's request as the rest of this body.
  const bool reusable = response_keep_alive_ && !request_failed_ && RequestSent() &&
                        response_body_.done && down_.size() == 0;
  ReleaseUpstream(reusable);
  ReleaseRequest();
  Drop(up_head_);
  Drop(down_);
  Drop(out_head_);
  ++progress_;
  if (!keep_client_ || draining_) return Linger();
  exchange_deadline_ms_ = 0;
  routed_ = false;
  method_ = http::Method::kGet;
  state_ = State::kReading;
  idle_since_ms_ = head_started_ms_ = context_->loop->now_ms();
  if (in_.size() == 0) Drop(in_);
  ArmTimer();
}

void HttpSession::ReleaseUpstream(bool reusable) {
  if (upstream_ != nullptr) {
    if (reusable) {
      context_->upstreams->GiveBack(upstream_);
    } else {
      context_->upstreams->Close(upstream_);
    }
    upstream_ = nullptr;
  }
  handshaking_ = false;
  if (loaded_) {
    backend_->runtime->RemoveLoad();
    loaded_ = false;
  }
}

void HttpSession::ReleaseRequest() {
  if (view_ != nullptr) {
    view_->pool().EndRequest();
    if (retry_counted_) view_->pool().EndRetry();
    retry_counted_ = false;
    view_->pool().counters(context_->worker_index).active.Subtract();
    view_->Release(snapshot_);
    view_ = nullptr;
    snapshot_ = nullptr;
  }
  backend_ = nullptr;
}

void HttpSession::Respond(int status, absl::string_view detail, bool close) {
  // Once the backend's answer has begun towards the client, a second one cannot follow it:
  // ending the connection is all that is left to say.
  if (state_ == State::kExchanging && answer_began_) {
    NotePassiveFailure();
    return Close();
  }
  Acquire(out_head_);
  http::SpanWriter writer(std::span<char>(out_head_.buffer->bytes));
  close = close || !client_keep_alive_;
  http::WriteErrorResponse(status, detail, close, method_ == http::Method::kHead, writer);
  out_head_.begin = 0;
  out_head_.end = static_cast<uint32_t>(writer.size());
  close_after_ = close;
  CountResponse(status);
  CountDuration();
  bytes_to_client_ += out_head_.size();
  LogAccess(status);  // before the exchange lets go of its backend, which the line names
  ReleaseUpstream(false);
  ReleaseRequest();
  Drop(up_head_);
  Drop(down_);
  ++progress_;
  state_ = State::kResponding;
  exchange_deadline_ms_ = 0;
  ArmTimer();
}

void HttpSession::Linger() {
  Drop(in_);
  client_->ShutdownWrite();
  ++progress_;
  if (client_->peer_closed && !client_->readable) return Close();  // it sent all it will
  state_ = State::kLingering;
  deadline_ms_ = context_->loop->now_ms() + kLingerMs;
  context_->loop->ArmTimer(timer_, kLingerMs);
}

void HttpSession::CountResponse(int status) {
  const size_t status_class = static_cast<size_t>(std::clamp(status / 100, 1, 5) - 1);
  if (routed_) {
    listener_->counters->http_routes[route_].responses[status_class].Add();
  } else {
    listener_->counters->http_unrouted[status_class].Add();
  }
}

void HttpSession::LogAccess(int status) {
  if (logged_) return;
  logged_ = true;
  json::JsonWriter line;
  line.BeginObject()
      .Key("time")
      .String(log::NowUtc())
      .Key("listener")
      .String(listener_->name)
      .Key("client")
      .String(facts_.client.ToString())
      .Key("method")
      .String(log_method_)
      .Key("host")
      .String(log_host_)
      .Key("path")
      .String(log_path_)
      .Key("status")
      .Number(status)
      .Key("bytes")
      .Unsigned(bytes_to_client_)
      .Key("duration_ms")
      .Number(context_->loop->now_ms() - head_started_ms_)
      .Key("route");
  if (routed_) {
    line.Unsigned(route_);
  } else {
    line.Null();
  }
  line.Key("backend");
  if (backend_ != nullptr) {
    line.String(backend_->address.ToString());
  } else {
    line.Null();
  }
  line.Key("retries").Number(retries_).EndObject();
  log::WriteLine(absl::StrCat(line.text(), "\n"));
}

void HttpSession::CountDuration() {
  if (!routed_) return;
  const int64_t elapsed = context_->loop->now_ms() - head_started_ms_;
  const uint64_t ms = elapsed > 0 ? static_cast<uint64_t>(elapsed) : 0;
  stats::RouteHttpCounters& counters = listener_->counters->http_routes[route_];
  counters.latency[stats::LatencyBucket(ms)].Add();
  counters.latency_sum_ms.Add(ms);
}

void HttpSession::LogBadResponse(absl::string_view error) {
  uint64_t suppressed = 0;
  if (context_->connect_failure_log->Allow(context_->loop->now_ms(), &suppressed)) {
    PLBY_LOG(kWarn, "bad response pool=", view_->pool().name(),
             " backend=", backend_->address.ToString(), ": ", error,
             log::SuppressedSuffix(suppressed));
  }
}

void HttpSession::NotePassiveFailure() {
  if (backend_ == nullptr || view_ == nullptr) return;
  proxy::NotePassiveFailure(*context_, view_->pool(), *backend_);
}

// --- I/O ---

bool HttpSession::ReadInto(Transport& from, Bytes& input, bool* ended) {
  while (true) {
    const size_t room = kHttpBufferBytes - input.end;
    if (room == 0) return true;
    const ssize_t n = from.Read(input.buffer->bytes.data() + input.end, room);
    if (n > 0) {
      input.end += static_cast<uint32_t>(n);
      if (from.short_read_empties() && static_cast<size_t>(n) < room && !from.peer_closed) {
        from.readable = false;
      }
      return true;
    }
    if (n == 0) {
      *ended = true;
      from.readable = false;
      from.peer_closed = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      from.readable = false;
      return true;
    }
    if (errno == ENOBUFS) {
      from.writable = false;  // TLS must write first; its EPOLLOUT calls again
      return true;
    }
    return false;
  }
}

bool HttpSession::WriteFrom(Transport& to, Bytes& output) {
  const ssize_t n = to.Write(output.data(), output.size());
  if (n < 0) {
    if (errno != EAGAIN) return false;
    to.writable = false;
    return true;
  }
  output.begin += static_cast<uint32_t>(n);
  if (output.size() > 0) to.writable = false;
  return true;
}

// --- Time ---

void HttpSession::ArmTimer() {
  const config::HttpListenerConfig& config = *listener_->http;
  const int64_t now = context_->loop->now_ms();
  int64_t deadline = 0;
  switch (state_) {
    case State::kReading:
      // Once a head has begun (or for the first request), the head timeout; between requests,
      // the keep-alive timeout.
      deadline = in_.size() > 0 || first_request_ ? head_started_ms_ + Ms(config.head_timeout)
                                                  : idle_since_ms_ + Ms(config.keepalive_timeout);
      break;
    case State::kConnecting:
      deadline = now + Ms(view_->pool().settings().connect_timeout);
      break;
    case State::kExchanging:
      deadline = ExchangeDeadline();
      break;
    case State::kResponding:
      deadline = now + Ms(config.response_timeout);
      break;
    case State::kLingering:
    case State::kIdle:
      return;
  }
  if (exchange_deadline_ms_ != 0) deadline = std::min(deadline, exchange_deadline_ms_);
  deadline_ms_ = deadline;
  context_->loop->ArmTimer(timer_, std::max<int64_t>(deadline - now, 0));
}

bool HttpSession::WaitingForBody() const {
  // Bytes of the body are read but not yet taken by the backend: the wait is the backend's.
  return !request_body_.done && request_body_.scanned == 0 && !request_failed_;
}

int64_t HttpSession::ExchangeDeadline() const {
  const config::HttpListenerConfig& config = *listener_->http;
  // Waiting for the answer: the response timeout, from when the whole request had gone.
  if (request_sent_ms_ != 0 && !response_head_done_) {
    return request_sent_ms_ + Ms(config.response_timeout);
  }
  // Waiting for the client's body: the body timeout, from its last bytes (or from when what it
  // sent was taken by the backend). The answer may have begun already (an early 413).
  if (WaitingForBody()) return body_wait_since_ms_ + Ms(config.body_timeout);
  // While the request goes up, or the answer comes down: the pool's idle timeout, from the last
  // byte either way (OnTimer arms again while bytes flow).
  return last_activity_ms_ + Ms(view_->pool().settings().idle_timeout);
}

void HttpSession::OnTimer() {
  const config::HttpListenerConfig& config = *listener_->http;
  const int64_t now = context_->loop->now_ms();
  const bool route_timeout = exchange_deadline_ms_ != 0 && now >= exchange_deadline_ms_;
  switch (state_) {
    case State::kReading:
      // Nothing sent at all (idle between requests, or a connection opened ahead of need, as
      // browsers do): closed without a word, as nginx does. Half a head: 408.
      if (in_.size() == 0) return Close();
      method_ = http::Method::kGet;
      Respond(408, "the request head did not arrive in time", true);
      return Run();
    case State::kConnecting:
      return OnConnectFailed(ETIMEDOUT, "");
    case State::kExchanging: {
      if (!route_timeout && now < ExchangeDeadline()) return ArmTimer();  // bytes moved since
      if (route_timeout) {
        if (response_head_done_) return Close();  // mid-answer: cut
        NotePassiveFailure();
        Respond(504, "the route's timeout passed before the backend answered", true);
        return Run();
      }
      if (WaitingForBody()) {
        // The client stopped sending its body: it is the one that is late.
        if (answer_began_) return Close();
        Respond(408,
                absl::StrCat("the request body stopped arriving (nothing for ",
                             Ms(config.body_timeout), " ms)"),
                true);
        return Run();
      }
      if (!response_head_done_) {
        NotePassiveFailure();
        Respond(504,
                request_sent_ms_ != 0 ? "the backend did not answer in time"
                                      : "the backend did not take the request in time",
                true);
        return Run();
      }
      return Close();  // the answer stalled mid-body
    }
    case State::kResponding:
    case State::kLingering:
      return Close();
    case State::kIdle:
      return;
  }
}

void HttpSession::Drain() {
  if (state_ == State::kIdle) return;
  draining_ = true;
  client_keep_alive_ = false;
  if (state_ == State::kReading && in_.size() == 0) Close();
}

void HttpSession::CheckDeadlines(int64_t now_ms) {
  if (state_ != State::kExchanging || backend_ == nullptr) return;
  const int64_t deadline = backend_->runtime->close_deadline_ms();
  if (deadline != 0 && now_ms >= deadline) {
    context_->stats->drain_closes.Add();
    if (!response_started_) {
      Respond(503, "the backend was drained before it answered", true);
      return Run();
    }
    Close();
  }
}

}  // namespace plby::proxy
