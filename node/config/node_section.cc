// [node] and [metrics]: the process as a whole, and its metrics listener.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/validator.h"
#include "text/quote.h"

namespace plby::config::detail {

void Validator::ReadNode(const toml::table& root, NodeConfig& node) {
  const toml::table* table = GetTable(root, "node", "node");
  if (table == nullptr) return;
  CheckKeys(*table, "[node]", {"drain_timeout", "max_connections"});
  if (auto drain = GetDuration(*table, "drain_timeout", "node.drain_timeout", "30s",
                               absl::ZeroDuration(), absl::Hours(24))) {
    node.drain_timeout = *drain;
  }
  if (auto max = GetInteger(*table, "max_connections", "node.max_connections", 1, 10'000'000)) {
    node.max_connections = *max;
  }
}

void Validator::ReadMetrics(const toml::table& root, MetricsConfig& metrics) {
  const toml::table* table = GetTable(root, "metrics", "metrics");
  if (table == nullptr) return;
  CheckKeys(*table, "[metrics]", {"listen"});
  net::SocketAddress resolved;
  if (auto listen =
          GetAddress(*table, "listen", "metrics.listen", net::AddressUse::kListen, &resolved)) {
    metrics.listen = *listen;
    metrics.listen_address = resolved;
  } else if (table->get("listen") == nullptr) {
    Error(table->source(),
          "[metrics]: missing listen = \"HOST:PORT\" (leave out [metrics] "
          "to serve no metrics)");
  }
}

}  // namespace plby::config::detail
