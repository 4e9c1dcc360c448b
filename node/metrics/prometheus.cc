#include "metrics/prometheus.h"

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace plby::metrics {
namespace {

// A label value with \, " and newlines escaped, as the format requires.
std::string LabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Writer {
 public:
  // Starts a metric family: its HELP and TYPE lines. Every sample of it must follow at once.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(absl::string_view name, absl::string_view labels, uint64_t value) {
    Line(name, labels, absl::StrCat(value));
  }
  // Fixed-point: StrCat's %g would print a long uptime as 1.23457e+06, losing seconds.
  void Sample(absl::string_view name, absl::string_view labels, double value) {
    Line(name, labels, absl::StrFormat("%.3f", value));
  }
  std::string Take() { return std::move(out_); }

 private:
  void Line(absl::string_view name, absl::string_view labels, absl::string_view value) {
    if (labels.empty()) {
      absl::StrAppend(&out_, name, " ", value, "\n");
    } else {
      absl::StrAppend(&out_, name, "{", labels, "} ", value, "\n");
    }
  }

  std::string out_;
};

std::string PoolLabel(const PoolReport& pool) {
  return absl::StrCat("pool=\"", LabelValue(pool.state.pool), "\"");
}

std::string BackendLabels(const PoolReport& pool, const control::BackendStatus& backend) {
  return absl::StrCat(PoolLabel(pool), ",backend=\"", LabelValue(backend.address), "\"");
}

}  // namespace

std::string RenderPrometheus(const Report& report) {
  Writer out;
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
             "timeout passed), drain_timeout (the backend's drain timeout passed).");
  out.Sample("plby_connections_closed_total", "reason=\"idle_timeout\"", counters.idle_timeouts);
  out.Sample("plby_connections_closed_total", "reason=\"drain_timeout\"", counters.drain_closes);

  out.Family("plby_pool_version", "gauge", "The pool's version: it grows with every change.");
  for (const PoolReport& pool : report.pools) {
    out.Sample("plby_pool_version", PoolLabel(pool), pool.state.version);
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
  per_backend("plby_backend_draining", "gauge",
              "1 when the backend is drained (takes no new connections).",
              [](const auto& b) { return uint64_t{b.draining ? 1u : 0u}; });
  out.Family("plby_backend_health", "gauge",
             "The backend's health: 1 for its state (healthy, unhealthy, or unknown when not "
             "checked yet or health checks are off), 0 for the others.");
  for (const PoolReport& pool : report.pools) {
    for (const control::BackendStatus& backend : pool.state.backends) {
      for (pool::Health state :
           {pool::Health::kHealthy, pool::Health::kUnhealthy, pool::Health::kUnknown}) {
        out.Sample(
            "plby_backend_health",
            absl::StrCat(BackendLabels(pool, backend), ",state=\"", pool::HealthName(state), "\""),
            uint64_t{backend.health == state ? 1u : 0u});
      }
    }
  }
  return out.Take();
}

}  // namespace plby::metrics
