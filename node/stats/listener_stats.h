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

struct ListenerCounters {
  HandshakeCounters handshakes;
  std::array<Counter, static_cast<size_t>(ProxyHeaderResult::kCount)> proxy_headers;
  std::array<Counter, static_cast<size_t>(ClientHelloResult::kCount)> client_hellos;
  std::array<Counter, kMaxCountedRoutes> routed;  // connections each route took

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
};

}  // namespace plby::stats
