// What a listener counts about the connections it inspects before routing them: PROXY headers
// (accept_proxy), ClientHellos (passthrough routes) and the route each connection took. One
// block per worker (stats::PerWorker), written only by that worker.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "stats/counter.h"

namespace plby::stats {

// What became of a PROXY header a listener expected (X: enumerator, metric label).
#define PLBY_PROXY_HEADER_RESULTS(X)                                             \
  X(kAccepted, "accepted")   /* a header from a trusted source */                \
  X(kMissing, "missing")     /* a trusted source sent other bytes first */       \
  X(kMalformed, "malformed") /* a header that breaks the spec */                 \
  X(kTooLong, "too_long")    /* over inspect::kMaxProxyHeader */                 \
  X(kTruncated, "truncated") /* the client closed before the header was whole */ \
  X(kTimeout, "timeout")     /* not whole within kProxyHeaderTimeout */          \
  X(kUntrusted, "untrusted") /* a header from a source not in trusted */

// What became of a ClientHello a passthrough listener read.
#define PLBY_CLIENT_HELLO_RESULTS(X)                                                \
  X(kRouted, "routed")       /* read, and a route took it */                        \
  X(kNotTls, "not_tls")      /* the first bytes are no TLS handshake (plaintext) */ \
  X(kMalformed, "malformed") /* a TLS record, but a broken ClientHello */           \
  X(kTooLong, "too_long")    /* over inspect::kMaxClientHello */                    \
  X(kTruncated, "truncated") /* the client closed before the hello was whole */     \
  X(kTimeout, "timeout")     /* not whole within the handshake timeout */           \
  X(kNoRoute, "no_route")    /* no route matches its server name, and no default */

#define PLBY_ENUMERATOR(name, label) name,
#define PLBY_LABEL(name, label) label,
enum class ProxyHeaderResult : size_t { PLBY_PROXY_HEADER_RESULTS(PLBY_ENUMERATOR) kCount };
enum class ClientHelloResult : size_t { PLBY_CLIENT_HELLO_RESULTS(PLBY_ENUMERATOR) kCount };
inline constexpr std::array<absl::string_view, static_cast<size_t>(ProxyHeaderResult::kCount)>
    kProxyHeaderResultLabels{PLBY_PROXY_HEADER_RESULTS(PLBY_LABEL)};
inline constexpr std::array<absl::string_view, static_cast<size_t>(ClientHelloResult::kCount)>
    kClientHelloResultLabels{PLBY_CLIENT_HELLO_RESULTS(PLBY_LABEL)};
#undef PLBY_ENUMERATOR
#undef PLBY_LABEL

// The most routes a listener counts (config::kMaxRoutesPerServer).
inline constexpr size_t kMaxCountedRoutes = 256;

// Handshake failure kinds counted (tls::HandshakeFailure has fewer).
inline constexpr size_t kMaxHandshakeFailures = 8;

// TLS termination, per listener.
struct HandshakeCounters {
  Counter done;     // handshakes that completed
  Counter resumed;  // ... of which resumed a session
  Counter tls12;    // ... by version
  Counter tls13;
  Counter timeouts;                                     // not done within handshake_timeout
  std::array<Counter, kMaxHandshakeFailures> failures;  // by tls::HandshakeFailure
};

// HTTP request durations (first byte of the head to the answer's last byte): Prometheus'
// default buckets, in milliseconds; the last counts the rest (+Inf).
inline constexpr std::array<uint64_t, 11> kLatencyBucketsMs = {5,   10,   25,   50,   100,  250,
                                                               500, 1000, 2500, 5000, 10000};
inline constexpr size_t kLatencyBuckets = kLatencyBucketsMs.size() + 1;

// Where a duration falls: the first bucket whose bound it does not exceed.
inline size_t LatencyBucket(uint64_t ms) {
  size_t bucket = 0;
  while (bucket < kLatencyBucketsMs.size() && ms > kLatencyBucketsMs[bucket]) ++bucket;
  return bucket;
}

// HTTP mode, per route: answers by status class (1xx-5xx, plby's own included) and how long
// requests took.
struct RouteHttpCounters {
  std::array<Counter, 5> responses;
  std::array<Counter, kLatencyBuckets> latency;  // not cumulative: one bucket per request
  Counter latency_sum_ms;
};

struct ListenerCounters {
  HandshakeCounters handshakes;
  std::array<Counter, static_cast<size_t>(ProxyHeaderResult::kCount)> proxy_headers;
  std::array<Counter, static_cast<size_t>(ClientHelloResult::kCount)> client_hellos;
  std::array<Counter, kMaxCountedRoutes> routed;  // connections each route took
  // HTTP mode: per route; answers to requests no route took (404, 421, and refusals before
  // routing) by status class; backend connections opened and reused; requests sent again.
  std::array<RouteHttpCounters, kMaxCountedRoutes> http_routes;
  std::array<Counter, 5> http_unrouted;
  Counter http_upstream_new;
  Counter http_upstream_reused;
  Counter http_retries;
  Counter http_retries_over_budget;  // retries not made: the pool's budget was spent

  Counter& proxy_header(ProxyHeaderResult result) {
    return proxy_headers[static_cast<size_t>(result)];
  }
  Counter& client_hello(ClientHelloResult result) {
    return client_hellos[static_cast<size_t>(result)];
  }
};

// A listener's counters summed over the workers, for the metrics.
struct ListenerTotals {
  struct Route {
    std::string pool;
    std::string server_names;  // the route's sni patterns, comma-separated; empty: the default
    uint64_t connections = 0;
    // HTTP mode: its conditions ("host=a.example path_prefix=/api/"; empty: the default),
    // answers by status class, and request durations.
    std::string match;
    std::array<uint64_t, 5> responses{};
    std::array<uint64_t, kLatencyBuckets> latency{};
    uint64_t latency_sum_ms = 0;
  };
  std::string name;
  bool accept_proxy = false;
  bool reads_client_hello = false;
  std::array<uint64_t, static_cast<size_t>(ProxyHeaderResult::kCount)> proxy_headers{};
  std::array<uint64_t, static_cast<size_t>(ClientHelloResult::kCount)> client_hellos{};
  std::vector<Route> routes;
  bool terminates_tls = false;
  struct Certificate {
    std::string file;
    std::string names;             // comma-separated
    double not_after_seconds = 0;  // Unix time
  };
  std::vector<Certificate> certificates;
  uint64_t tls_reloads = 0;          // certificate reloads that took effect
  uint64_t tls_reload_failures = 0;  // ... that were refused (the old ones stayed)
  struct Handshakes {
    uint64_t done = 0, resumed = 0, tls12 = 0, tls13 = 0, timeouts = 0;
    std::array<uint64_t, kMaxHandshakeFailures> failures{};
  } handshakes;
  // HTTP mode.
  bool http = false;
  std::array<uint64_t, 5> http_unrouted{};
  uint64_t http_upstream_new = 0;
  uint64_t http_upstream_reused = 0;
  uint64_t http_retries = 0;
  uint64_t http_retries_over_budget = 0;
};

}  // namespace plby::stats
