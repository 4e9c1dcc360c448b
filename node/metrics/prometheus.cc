#include "metrics/prometheus.h"

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "balance/algorithm.h"
#include "balance/settings.h"
#include "metrics/exposition.h"
#include "tls/tls_session.h"

namespace plby::metrics {
namespace {

constexpr const char* kStatusClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

// mode = "http": answers per route and status class, durations per pool, backend connections.
void WriteHttp(const std::vector<stats::ListenerTotals>& listeners, ExpositionWriter& out) {
  out.Family("plby_http_responses_total", "counter",
             "HTTP answers by listener, route (its index and conditions), pool and status class "
             "(plby's own answers included: 404 and 421 have route=\"none\").");
  for (const stats::ListenerTotals& listener : listeners) {
    if (!listener.http) continue;
    const std::string prefix = absl::StrCat("listener=\"", LabelValue(listener.name), "\"");
    for (size_t r = 0; r < listener.routes.size(); ++r) {
      const stats::ListenerTotals::Route& route = listener.routes[r];
      for (size_t c = 0; c < route.responses.size(); ++c) {
        out.Sample("plby_http_responses_total",
                   absl::StrCat(prefix, ",route=\"", r, "\",match=\"", LabelValue(route.match),
                                "\",pool=\"", LabelValue(route.pool), "\",class=\"",
                                kStatusClasses[c], "\""),
                   route.responses[c]);
      }
    }
    for (size_t c = 0; c < listener.http_unrouted.size(); ++c) {
      out.Sample("plby_http_responses_total",
                 absl::StrCat(prefix, ",route=\"none\",match=\"\",pool=\"\",class=\"",
                              kStatusClasses[c], "\""),
                 listener.http_unrouted[c]);
    }
  }
  // Per pool, over every route of every listener that uses it.
  struct Durations {
    std::array<uint64_t, stats::kLatencyBuckets> buckets{};
    uint64_t sum_ms = 0;
  };
  std::map<std::string, Durations> pools;
  for (const stats::ListenerTotals& listener : listeners) {
    if (!listener.http) continue;
    for (const stats::ListenerTotals::Route& route : listener.routes) {
      Durations& durations = pools[route.pool];
      for (size_t i = 0; i < route.latency.size(); ++i) durations.buckets[i] += route.latency[i];
      durations.sum_ms += route.latency_sum_ms;
    }
  }
  out.Family("plby_http_request_duration_seconds", "histogram",
             "How long HTTP requests took, per pool: from the first byte of the request head to "
             "the last byte of the answer (millisecond resolution).");
  for (const auto& [pool, durations] : pools) {
    const std::string label = absl::StrCat("pool=\"", LabelValue(pool), "\"");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < stats::kLatencyBuckets; ++i) {
      cumulative += durations.buckets[i];
      const std::string bound =
          i < stats::kLatencyBucketsMs.size()
              ? absl::StrCat(static_cast<double>(stats::kLatencyBucketsMs[i]) / 1000.0)
              : std::string("+Inf");
      out.Sample("plby_http_request_duration_seconds_bucket",
                 absl::StrCat(label, ",le=\"", bound, "\""), cumulative);
    }
    out.Sample("plby_http_request_duration_seconds_sum", label,
               static_cast<double>(durations.sum_ms) / 1000.0);
    out.Sample("plby_http_request_duration_seconds_count", label, cumulative);
  }
  out.Family("plby_http_upstream_connections_total", "counter",
             "Backend connections HTTP requests went on: new (opened for it) or reused (idle "
             "from an earlier exchange).");
  out.Family("plby_http_retries_total", "counter",
             "HTTP requests sent again to another backend (idempotent, without a body) after a "
             "reset or close before any answer, or a 503: retries made, and those the pool's "
             "retry budget refused (result=over_budget).");
  for (const stats::ListenerTotals& listener : listeners) {
    if (!listener.http) continue;
    const std::string prefix = absl::StrCat("listener=\"", LabelValue(listener.name), "\"");
    out.Sample("plby_http_upstream_connections_total", absl::StrCat(prefix, ",outcome=\"new\""),
               listener.http_upstream_new);
    out.Sample("plby_http_upstream_connections_total", absl::StrCat(prefix, ",outcome=\"reused\""),
               listener.http_upstream_reused);
    out.Sample("plby_http_retries_total", absl::StrCat(prefix, ",result=\"made\""),
               listener.http_retries);
    out.Sample("plby_http_retries_total", absl::StrCat(prefix, ",result=\"over_budget\""),
               listener.http_retries_over_budget);
  }
}

std::string PoolLabel(const PoolReport& pool) {
  return absl::StrCat("pool=\"", LabelValue(pool.state.pool), "\"");
}

std::string BackendLabels(const PoolReport& pool, const control::BackendStatus& backend) {
  return absl::StrCat(PoolLabel(pool), ",backend=\"", LabelValue(backend.address), "\"");
}

}  // namespace

std::string RenderPrometheus(const Report& report) {
  ExpositionWriter out;
  const control::NodeStatus& node = report.node;
  const stats::WorkerTotals& counters = node.counters;

  out.Family("plby_build_info", "gauge", "The plby-node version, as a label; always 1.");
  out.Sample("plby_build_info", absl::StrCat("version=\"", LabelValue(node.version), "\""),
             uint64_t{1});
  out.Family("plby_uptime_seconds", "gauge", "Seconds since the node started.");
  out.Sample("plby_uptime_seconds", "", absl::ToDoubleSeconds(node.uptime));
  out.Family("plby_workers", "gauge", "Worker threads forwarding connections.");
  out.Sample("plby_workers", "", static_cast<uint64_t>(node.workers));
  out.Family("plby_connections_accepted_total", "counter", "Client connections accepted.");
  out.Sample("plby_connections_accepted_total", "", counters.accepted);
  out.Family("plby_connections_active", "gauge", "Client connections open now.");
  out.Sample("plby_connections_active", "", counters.active);
  out.Family("plby_errors_total", "counter",
             "Errors by kind: accept (accept(2) failed), resource (a client closed for lack of "
             "descriptors, memory or ports), no_backend (a client closed because no backend "
             "could be reached), backend_connect (a connect to a backend failed).");
  for (const auto& [kind, value] : {std::pair{"accept", counters.accept_errors},
                                    std::pair{"resource", counters.resource_errors},
                                    std::pair{"no_backend", counters.no_backend},
                                    std::pair{"backend_connect", counters.connect_failures}}) {
    out.Sample("plby_errors_total", absl::StrCat("kind=\"", kind, "\""), value);
  }
  out.Family("plby_connections_closed_total", "counter",
             "Connections the node closed itself, by reason: idle_timeout (the pool's idle "
             "timeout passed), drain_timeout (the backend's drain timeout passed), "
             "idle_for_new_client (an HTTP client idle between requests, closed to make room "
             "for a new one when out of descriptors or at max_connections).");
  out.Sample("plby_connections_closed_total", "reason=\"idle_timeout\"", counters.idle_timeouts);
  out.Sample("plby_connections_closed_total", "reason=\"drain_timeout\"", counters.drain_closes);
  out.Sample("plby_connections_closed_total", "reason=\"idle_for_new_client\"",
             counters.idle_evictions);

  // Inspection and routing, per listener ([[server]]).
  const auto listener_label = [](const stats::ListenerTotals& listener) {
    return absl::StrCat("listener=\"", LabelValue(listener.name), "\"");
  };
  out.Family("plby_proxy_headers_total", "counter",
             "PROXY protocol headers of listeners with accept_proxy, by result: accepted, "
             "missing (a trusted source sent other bytes), malformed, too_long, truncated, "
             "timeout, untrusted (a header from a source not in trusted); all but accepted "
             "closed the connection.");
  for (const stats::ListenerTotals& listener : node.listeners) {
    if (!listener.accept_proxy) continue;
    for (size_t i = 0; i < listener.proxy_headers.size(); ++i) {
      out.Sample("plby_proxy_headers_total",
                 absl::StrCat(listener_label(listener), ",result=\"",
                              stats::kProxyHeaderResultLabels[i], "\""),
                 listener.proxy_headers[i]);
    }
  }
  out.Family("plby_tls_client_hellos_total", "counter",
             "ClientHellos read by listeners that pass TLS through or terminate it, by result: "
             "routed, not_tls "
             "(plaintext), malformed, too_long, truncated, timeout, no_route (no route for its "
             "server name and no default); all but routed closed the connection.");
  for (const stats::ListenerTotals& listener : node.listeners) {
    if (!listener.reads_client_hello) continue;
    for (size_t i = 0; i < listener.client_hellos.size(); ++i) {
      out.Sample("plby_tls_client_hellos_total",
                 absl::StrCat(listener_label(listener), ",result=\"",
                              stats::kClientHelloResultLabels[i], "\""),
                 listener.client_hellos[i]);
    }
  }
  out.Family("plby_tls_handshakes_total", "counter",
             "TLS handshakes of listeners that terminate TLS, by result: ok, timeout, or why "
             "it failed (protocol_version, no_shared_cipher, peer_alert, closed, other).");
  for (const stats::ListenerTotals& listener : node.listeners) {
    if (!listener.terminates_tls) continue;
    const std::string labels = listener_label(listener);
    out.Sample("plby_tls_handshakes_total", absl::StrCat(labels, ",result=\"ok\""),
               listener.handshakes.done);
    out.Sample("plby_tls_handshakes_total", absl::StrCat(labels, ",result=\"timeout\""),
               listener.handshakes.timeouts);
    for (size_t i = 0; i < static_cast<size_t>(tls::HandshakeFailure::kCount); ++i) {
      out.Sample(
          "plby_tls_handshakes_total",
          absl::StrCat(labels, ",result=\"",
                       tls::HandshakeFailureLabel(static_cast<tls::HandshakeFailure>(i)), "\""),
          listener.handshakes.failures[i]);
    }
  }
  out.Family("plby_tls_certificate_expiry_seconds", "gauge",
             "When each certificate of a listener that terminates TLS expires (Unix time).");
  for (const stats::ListenerTotals& listener : node.listeners) {
    for (const stats::ListenerTotals::Certificate& certificate : listener.certificates) {
      out.Sample(
          "plby_tls_certificate_expiry_seconds",
          absl::StrCat(listener_label(listener), ",certificate=\"", LabelValue(certificate.file),
                       "\",names=\"", LabelValue(certificate.names), "\""),
          certificate.not_after_seconds);
    }
  }
  out.Family("plby_tls_certificate_reloads_total", "counter",
             "Certificate reloads of a listener (its files changed, or ReloadCertificates), by "
             "result: ok (new handshakes use them), failed (refused; the old ones stay).");
  for (const stats::ListenerTotals& listener : node.listeners) {
    if (!listener.terminates_tls) continue;
    out.Sample("plby_tls_certificate_reloads_total",
               absl::StrCat(listener_label(listener), ",result=\"ok\""), listener.tls_reloads);
    out.Sample("plby_tls_certificate_reloads_total",
               absl::StrCat(listener_label(listener), ",result=\"failed\""),
               listener.tls_reload_failures);
  }
  out.Family("plby_tls_resumed_handshakes_total", "counter",
             "Completed handshakes that resumed a session (a ticket).");
  for (const stats::ListenerTotals& listener : node.listeners) {
    if (!listener.terminates_tls) continue;
    out.Sample("plby_tls_resumed_handshakes_total", listener_label(listener),
               listener.handshakes.resumed);
  }
  out.Family("plby_tls_handshakes_by_version_total", "counter",
             "Completed handshakes by the TLS version agreed.");
  for (const stats::ListenerTotals& listener : node.listeners) {
    if (!listener.terminates_tls) continue;
    out.Sample("plby_tls_handshakes_by_version_total",
               absl::StrCat(listener_label(listener), ",version=\"TLSv1.2\""),
               listener.handshakes.tls12);
    out.Sample("plby_tls_handshakes_by_version_total",
               absl::StrCat(listener_label(listener), ",version=\"TLSv1.3\""),
               listener.handshakes.tls13);
  }
  out.Family("plby_route_connections_total", "counter",
             "Connections each route ([[server.forward]]) took; sni is its server names, "
             "empty for the default route.");
  for (const stats::ListenerTotals& listener : node.listeners) {
    for (size_t r = 0; r < listener.routes.size(); ++r) {
      const stats::ListenerTotals::Route& route = listener.routes[r];
      out.Sample(
          "plby_route_connections_total",
          absl::StrCat(listener_label(listener), ",route=\"", r, "\",sni=\"",
                       LabelValue(route.server_names), "\",pool=\"", LabelValue(route.pool), "\""),
          route.connections);
    }
  }

  WriteHttp(node.listeners, out);

  out.Family("plby_pool_version", "gauge", "The pool's version: it grows with every change.");
  for (const PoolReport& pool : report.pools) {
    out.Sample("plby_pool_version", PoolLabel(pool), pool.state.version);
  }
  out.Family("plby_pool_info", "gauge",
             "How the pool balances, as labels (algorithm; for maglev also hash and "
             "table_size, for p2c hash when it names a request field or cookie); always 1.");
  for (const PoolReport& pool : report.pools) {
    const balance::Settings& balance = pool.summary.balance;
    std::string labels = absl::StrCat(
        PoolLabel(pool), ",algorithm=\"", balance::AlgorithmName(balance.algorithm),
        "\",slow_start_seconds=\"", absl::ToInt64Milliseconds(balance.slow_start) / 1000.0, "\"");
    if (balance::UsesHash(balance)) {
      absl::StrAppend(&labels, ",hash=\"", balance::HashKeyName(balance.hash), "\"");
    }
    if (balance::UsesTableSize(balance)) {
      absl::StrAppend(&labels, ",table_size=\"", balance.maglev_table_size, "\"");
    }
    out.Sample("plby_pool_info", labels, uint64_t{1});
  }
  out.Family("plby_discovery_lookups_total", "counter",
             "DNS lookups of pools that discover their backends.");
  for (const PoolReport& pool : report.pools) {
    if (!pool.summary.discovery) continue;
    out.Sample("plby_discovery_lookups_total", PoolLabel(pool),
               pool.summary.discovery->status.lookups);
  }
  out.Family("plby_discovery_failures_total", "counter",
             "DNS lookups that got no answer (a timeout, SERVFAIL): the last set was kept.");
  for (const PoolReport& pool : report.pools) {
    if (!pool.summary.discovery) continue;
    out.Sample("plby_discovery_failures_total", PoolLabel(pool),
               pool.summary.discovery->status.failures);
  }
  out.Family("plby_discovery_last_answer_timestamp_seconds", "gauge",
             "When a DNS lookup of the pool last got an answer (Unix time); 0: never.");
  for (const PoolReport& pool : report.pools) {
    if (!pool.summary.discovery) continue;
    const std::optional<absl::Time>& at = pool.summary.discovery->status.last_answer;
    out.Sample("plby_discovery_last_answer_timestamp_seconds", PoolLabel(pool),
               at ? absl::ToDoubleSeconds(*at - absl::UnixEpoch()) : 0.0);
  }
  out.Family("plby_pool_backends", "gauge", "Backends listed in the pool.");
  for (const PoolReport& pool : report.pools) {
    out.Sample("plby_pool_backends", PoolLabel(pool),
               static_cast<uint64_t>(pool.state.backends.size()));
  }

  // Per backend: one family at a time, every backend of every pool in it.
  const auto per_backend = [&](absl::string_view name, absl::string_view type,
                               absl::string_view help,
                               const std::function<uint64_t(const control::BackendStatus&)>& get) {
    out.Family(name, type, help);
    for (const PoolReport& pool : report.pools) {
      for (const control::BackendStatus& backend : pool.state.backends) {
        out.Sample(name, BackendLabels(pool, backend), get(backend));
      }
    }
  };
  per_backend("plby_backend_connections_total", "counter",
              "Connections established to the backend.",
              [](const auto& b) { return b.total_connections; });
  per_backend("plby_backend_connections_active", "gauge", "Connections open to the backend now.",
              [](const auto& b) { return b.active_connections; });
  per_backend("plby_backend_sent_bytes_total", "counter",
              "Bytes relayed from clients to the backend.",
              [](const auto& b) { return b.bytes_sent; });
  per_backend("plby_backend_received_bytes_total", "counter",
              "Bytes relayed from the backend to clients.",
              [](const auto& b) { return b.bytes_received; });
  per_backend("plby_backend_connect_failures_total", "counter",
              "Connects to the backend that were refused, timed out or failed.",
              [](const auto& b) { return b.connect_failures; });
  per_backend("plby_backend_weight", "gauge", "The backend's weight.",
              [](const auto& b) { return static_cast<uint64_t>(b.weight); });
  out.Family("plby_backend_effective_weight", "gauge",
             "The weight the backend balances with now: below its weight while a slow-start "
             "ramp lifts it.");
  for (const PoolReport& pool : report.pools) {
    for (const control::BackendStatus& backend : pool.state.backends) {
      out.Sample("plby_backend_effective_weight", BackendLabels(pool, backend),
                 backend.current_weight);
    }
  }
  out.Family("plby_backend_table_entries", "gauge",
             "Maglev pools: the lookup table entries the backend holds (its share of the keys "
             "before health is considered).");
  for (const PoolReport& pool : report.pools) {
    if (!balance::Describe(pool.summary.balance.algorithm).needs_key) continue;
    for (const control::BackendStatus& backend : pool.state.backends) {
      out.Sample("plby_backend_table_entries", BackendLabels(pool, backend), backend.table_entries);
    }
  }
  per_backend("plby_backend_draining", "gauge",
              "1 when the backend is drained (takes no new connections).",
              [](const auto& b) { return uint64_t{b.draining ? 1u : 0u}; });
  out.Family("plby_backend_health", "gauge",
             "The backend's health: 1 for its state (healthy, unhealthy, unknown when not "
             "checked yet or health checks are off, unresolved while its name gives no usable "
             "address), 0 for the others.");
  for (const PoolReport& pool : report.pools) {
    for (const control::BackendStatus& backend : pool.state.backends) {
      const absl::string_view shown = control::ShownHealth(backend);
      for (const absl::string_view state : {"healthy", "unhealthy", "unknown", "unresolved"}) {
        out.Sample("plby_backend_health",
                   absl::StrCat(BackendLabels(pool, backend), ",state=\"", state, "\""),
                   uint64_t{shown == state ? 1u : 0u});
      }
    }
  }

  const control::AuditCounts& control = node.control;
  out.Family("plby_control_changes_total", "counter",
             "Mutation calls of the control service, by call and result: applied (a new "
             "version), unchanged (nothing to do), refused (an error; nothing changed).");
  for (size_t m = 0; m < control::kMutations; ++m) {
    for (size_t o = 0; o < control::kOutcomes; ++o) {
      out.Sample("plby_control_changes_total",
                 absl::StrCat("call=\"", control::MutationLabel(static_cast<control::Mutation>(m)),
                              "\",result=\"",
                              control::OutcomeName(static_cast<control::Outcome>(o)), "\""),
                 control.changes[m][o]);
    }
  }
  out.Family("plby_state_save_failures_total", "counter",
             "Changes refused because the state file could not be written.");
  out.Sample("plby_state_save_failures_total", "", control.save_failures);
  out.Family("plby_control_unauthenticated_total", "counter",
             "Control calls refused for want of a valid client certificate (mTLS).");
  out.Sample("plby_control_unauthenticated_total", "", control.unauthenticated);
  out.Family("plby_control_watches", "gauge", "WatchBackends streams open now.");
  out.Sample("plby_control_watches", "", static_cast<uint64_t>(node.open_watches));
  out.Family("plby_sync_info", "gauge",
             "The content hash of the file of desired pools an apply last recorded (plbyctl "
             "apply), as a label; absent before the first apply since the node started.");
  if (node.sync) {
    out.Sample("plby_sync_info",
               absl::StrCat("content_hash=\"", LabelValue(node.sync->content_hash), "\",source=\"",
                            LabelValue(node.sync->source), "\""),
               uint64_t{1});
  }
  out.Family("plby_sync_timestamp_seconds", "gauge",
             "When the last apply was recorded (Unix time); 0 before the first.");
  out.Sample("plby_sync_timestamp_seconds", "",
             node.sync ? absl::ToDoubleSeconds(node.sync->at - absl::UnixEpoch()) : 0.0);
  return out.Take();
}

}  // namespace plby::metrics
