#include "render.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "balance/algorithm.h"
#include "control/algorithm_wire.h"
#include "json/json_writer.h"

namespace plby::ctl {
namespace {

using json::JsonWriter;
using Row = std::vector<std::string>;

// "unresolved" while the backend has no address, else its checked health.
std::string Health(const v1::Backend& backend) {
  if (!backend.unresolved().empty()) return "unresolved";
  switch (backend.health()) {
    case v1::HEALTH_HEALTHY:
      return "healthy";
    case v1::HEALTH_UNHEALTHY:
      return "unhealthy";
    default:
      return "unknown";
  }
}

std::string State(v1::BackendState state) {
  return state == v1::BACKEND_STATE_DRAINING ? "draining" : "active";
}

std::string Algorithm(v1::Algorithm algorithm) {
  const std::optional<balance::Algorithm> known = control::FromWire(algorithm);
  return known ? std::string(balance::AlgorithmName(*known)) : "?";
}

std::string Uptime(uint64_t seconds) {
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrCat(seconds / 60, "m", seconds % 60, "s");
  if (seconds < 86400) return absl::StrCat(seconds / 3600, "h", (seconds % 3600) / 60, "m");
  return absl::StrCat(seconds / 86400, "d", (seconds % 86400) / 3600, "h");
}

// What an apply last recorded: "sha256:0123abcd… (pools.toml, 5m ago)", or "never" (since the
// node started), saying so when ready_after_sync holds its traffic back until then.
std::string SyncedText(const v1::GetStatusResponse& status) {
  if (!status.has_sync())
    return status.ready_after_sync() ? "never (no traffic until then: ready_after_sync)" : "never";
  const v1::SyncMark& mark = status.sync();
  const absl::Duration ago =
      absl::Now() - absl::FromUnixMillis(static_cast<int64_t>(mark.synced_unix_ms()));
  return absl::StrCat(
      mark.content_hash().substr(0, 19), "… (", mark.source(), ", ",
      Uptime(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Seconds(ago)))), " ago)");
}

// Where a pool's backends come from: "list" (config and control service), or "dns NAME:PORT
// every 5s" with the last lookup's error, if it failed.
std::string SourceText(const v1::PoolSummary& pool) {
  if (pool.discover_dns().empty()) return "list";
  return absl::StrCat(
      "dns ", pool.discover_dns(), " every ",
      absl::FormatDuration(absl::Milliseconds(static_cast<int64_t>(pool.discover_every_ms()))),
      pool.discovery_error().empty() ? ""
                                     : absl::StrCat(" (failing: ", pool.discovery_error(), ")"));
}

// Columns padded to their widest cell, two spaces apart; the last column is not padded.
std::string Table(const std::vector<Row>& rows) {
  std::vector<size_t> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const Row& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      out += row[c];
      if (c + 1 < row.size()) out.append(widths[c] - row[c].size() + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

// A ramping backend's weight shows what it balances with now: "4 (now 1.3)".
std::string Weight(const v1::Backend& backend) {
  const double now = backend.current_weight();
  if (now > 0 && now < static_cast<double>(backend.weight()) - 1e-9) {
    return absl::StrFormat("%u (now %.1f)", backend.weight(), now);
  }
  return absl::StrCat(backend.weight());
}

Row BackendCells(const v1::Backend& backend) {
  return {backend.address(),
          Weight(backend),
          Health(backend),
          State(backend.state()),
          absl::StrCat(backend.active_connections()),
          absl::StrCat(backend.total_connections())};
}

std::string ChangeText(const Invocation& invocation, const NodeResult& result) {
  const v1::Backend& backend = result.backend;
  switch (invocation.command) {
    case Command::kBackendsAdd:
      return absl::StrCat(result.unchanged ? "already there: " : "added ", backend.address(),
                          " (weight ", backend.weight(), ")");
    case Command::kBackendsRemove:
      return absl::StrCat("removed ", backend.address());
    case Command::kBackendsSet:
      return absl::StrCat("set ", backend.address(), " weight ", backend.weight());
    case Command::kBackendsDrain:
      return absl::StrCat("draining ", backend.address());
    case Command::kBackendsUndrain:
      return absl::StrCat("active ", backend.address());
    case Command::kPoolsSet: {
      if (result.pools.empty()) return "";
      const v1::PoolSummary& pool = result.pools.front();
      std::string settings = Algorithm(pool.algorithm());
      if (pool.slow_start_ms() > 0) {
        absl::StrAppend(&settings, " slow_start ",
                        absl::FormatDuration(absl::Milliseconds(pool.slow_start_ms())));
      }
      // The node reports each only where it decides something (balance::UsesHash).
      if (!pool.hash().empty()) absl::StrAppend(&settings, " hash ", pool.hash());
      if (pool.maglev_table_size() > 0) {
        absl::StrAppend(&settings, " maglev_table_size ", pool.maglev_table_size());
      }
      return absl::StrCat(result.unchanged ? "already so: " : "set ", settings);
    }
    default:
      return "";
  }
}

void WriteBackend(JsonWriter& json, const v1::Backend& backend) {
  json.BeginObject()
      .Key("address")
      .String(backend.address())
      .Key("weight")
      .Unsigned(backend.weight())
      .Key("health")
      .String(Health(backend))
      .Key("state")
      .String(State(backend.state()))
      .Key("active_connections")
      .Unsigned(backend.active_connections())
      .Key("total_connections")
      .Unsigned(backend.total_connections());
  if (!backend.unresolved().empty()) json.Key("unresolved").String(backend.unresolved());
  const double now = backend.current_weight();
  if (now > 0 && now < static_cast<double>(backend.weight()) - 1e-9) {
    json.Key("current_weight").Double(now);
  }
  if (backend.table_entries() > 0) json.Key("table_entries").Unsigned(backend.table_entries());
  json.EndObject();
}

// `listen`, deprecated in the proto, is still written (the first of `listeners`), from the
// field itself when a node older than shared pools filled only that.
std::string LegacyListen(const v1::PoolSummary& pool) {
  if (!pool.listeners().empty()) return pool.listeners(0);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return pool.listen();
#pragma GCC diagnostic pop
}

void WritePool(JsonWriter& json, const v1::PoolSummary& pool) {
  json.BeginObject()
      .Key("name")
      .String(pool.name())
      .Key("listen")
      .String(LegacyListen(pool))
      .Key("listeners")
      .BeginArray();
  for (const std::string& listener : pool.listeners()) json.String(listener);
  json.EndArray()
      .Key("algorithm")
      .String(Algorithm(pool.algorithm()))
      .Key("slow_start_ms")
      .Unsigned(pool.slow_start_ms());
  if (!pool.hash().empty()) json.Key("hash").String(pool.hash());
  if (pool.maglev_table_size() > 0) {
    json.Key("maglev_table_size").Unsigned(pool.maglev_table_size());
  }
  json.Key("version")
      .Unsigned(pool.version())
      .Key("backend_count")
      .Unsigned(pool.backend_count())
      .Key("active_connections")
      .Unsigned(pool.active_connections());
  if (!pool.discover_dns().empty()) {
    json.Key("discover")
        .BeginObject()
        .Key("dns")
        .String(pool.discover_dns())
        .Key("every_ms")
        .Unsigned(pool.discover_every_ms())
        .Key("failures")
        .Unsigned(pool.discovery_failures())
        .Key("error")
        .String(pool.discovery_error())
        .EndObject();
  }
  json.EndObject();
}

void WriteBackends(JsonWriter& json, const std::vector<v1::Backend>& backends) {
  json.Key("backends").BeginArray();
  for (const v1::Backend& backend : backends) WriteBackend(json, backend);
  json.EndArray();
}

}  // namespace

std::string RenderTable(const Invocation& invocation, const std::vector<NodeResult>& results) {
  std::vector<Row> rows;
  switch (invocation.command) {
    case Command::kStatus:
      rows.push_back(
          {"NODE", "VERSION", "UPTIME", "WORKERS", "ACCEPTED", "ACTIVE", "SYNCED", "POOLS"});
      for (const NodeResult& r : results) {
        if (!r.error.ok()) continue;
        std::vector<std::string> pools;
        for (const v1::PoolSummary& pool : r.status.pools()) {
          pools.push_back(absl::StrCat(pool.name(), " (v", pool.version(), ", ",
                                       pool.backend_count(), " backends)"));
        }
        rows.push_back({r.node, r.status.node_version(), Uptime(r.status.uptime_seconds()),
                        absl::StrCat(r.status.workers()),
                        absl::StrCat(r.status.accepted_connections()),
                        absl::StrCat(r.status.active_connections()), SyncedText(r.status),
                        absl::StrJoin(pools, ", ")});
      }
      break;
    case Command::kCertsList:
    case Command::kCertsReload:
      rows.push_back({"NODE", "LISTENER", "CERTIFICATE", "NAMES", "EXPIRES", "SHA256", "RELOAD"});
      for (const NodeResult& r : results) {
        if (!r.error.ok() && r.certificates.certificates().empty()) continue;
        for (const v1::CertificateInfo& certificate : r.certificates.certificates()) {
          std::string reload = invocation.command == Command::kCertsList ? "" : "same";
          for (const v1::CertificateReload& done : r.certificates.reloads()) {
            if (done.listener() != certificate.listener()) continue;
            reload = !done.error().empty() ? "refused" : done.changed() ? "reloaded" : "same";
          }
          rows.push_back(
              {r.node, certificate.listener(),
               absl::StrCat(certificate.file(), certificate.is_default() ? " (default)" : ""),
               absl::StrJoin(certificate.names(), ","),
               absl::FormatTime("%Y-%m-%d %H:%M UTC",
                                absl::FromUnixSeconds(certificate.not_after_unix()),
                                absl::UTCTimeZone()),
               certificate.fingerprint_sha256().substr(0, 16), reload});
        }
      }
      break;
    case Command::kPoolsList:
      rows.push_back(
          {"NODE", "POOL", "LISTENERS", "ALGORITHM", "VERSION", "BACKENDS", "ACTIVE", "SOURCE"});
      for (const NodeResult& r : results) {
        if (!r.error.ok()) continue;
        for (const v1::PoolSummary& pool : r.pools) {
          std::string algorithm = Algorithm(pool.algorithm());
          if (pool.slow_start_ms() > 0) {
            absl::StrAppend(&algorithm, " slow_start ",
                            absl::FormatDuration(absl::Milliseconds(pool.slow_start_ms())));
          }
          if (!pool.hash().empty()) absl::StrAppend(&algorithm, " hash ", pool.hash());
          rows.push_back(
              {r.node, pool.name(),
               pool.listeners().empty() ? "(none)" : absl::StrJoin(pool.listeners(), ","),
               algorithm, absl::StrCat(pool.version()), absl::StrCat(pool.backend_count()),
               absl::StrCat(pool.active_connections()), SourceText(pool)});
        }
      }
      break;
    case Command::kBackendsList: {
      // Pools with a lookup table (maglev) show each backend's share of it.
      const bool tables = std::any_of(results.begin(), results.end(), [](const NodeResult& r) {
        return r.error.ok() &&
               std::any_of(r.backends.begin(), r.backends.end(),
                           [](const v1::Backend& backend) { return backend.table_entries() > 0; });
      });
      rows.push_back({"NODE", "POOL", "LISTENERS", "ALGORITHM", "VERSION", "ADDRESS", "WEIGHT",
                      "HEALTH", "STATE", "ACTIVE", "TOTAL"});
      if (tables) rows.front().push_back("TABLE");
      for (const NodeResult& r : results) {
        if (!r.error.ok()) continue;
        const std::string listeners =
            r.listeners.empty() ? "(none)" : absl::StrJoin(r.listeners, ",");
        if (r.backends.empty()) {
          rows.push_back({r.node, r.pool, listeners, Algorithm(r.algorithm),
                          absl::StrCat(r.version), "(no backends)"});
        }
        uint64_t entries = 0;
        for (const v1::Backend& backend : r.backends) entries += backend.table_entries();
        for (const v1::Backend& backend : r.backends) {
          Row row{r.node, r.pool, listeners, Algorithm(r.algorithm), absl::StrCat(r.version)};
          const Row cells = BackendCells(backend);
          row.insert(row.end(), cells.begin(), cells.end());
          if (tables && entries > 0) {
            row.push_back(
                absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(backend.table_entries()) /
                                              static_cast<double>(entries)));
          }
          rows.push_back(std::move(row));
        }
      }
    } break;
    default:
      rows.push_back({"NODE", "POOL", "VERSION", "RESULT"});
      for (const NodeResult& r : results) {
        if (!r.error.ok()) continue;
        rows.push_back({r.node, r.pool, absl::StrCat(r.version), ChangeText(invocation, r)});
      }
      break;
  }
  if (rows.size() == 1) return "";  // every node failed: the errors say it all
  return Table(rows);
}

std::string RenderJson(const Invocation& invocation, const std::vector<NodeResult>& results) {
  const bool all_ok =
      std::all_of(results.begin(), results.end(), [](const NodeResult& r) { return r.error.ok(); });
  JsonWriter json;
  json.BeginObject()
      .Key("command")
      .String(invocation.command_name)
      .Key("ok")
      .Bool(all_ok)
      .Key("nodes")
      .BeginArray();
  for (const NodeResult& r : results) {
    json.BeginObject().Key("node").String(r.node).Key("ok").Bool(r.error.ok());
    if (!r.error.ok()) {
      json.Key("error")
          .BeginObject()
          .Key("code")
          .String(absl::StatusCodeToString(r.error.code()))
          .Key("message")
          .String(r.error.message())
          .EndObject()
          .EndObject();
      continue;
    }
    switch (invocation.command) {
      case Command::kStatus:
        json.Key("version")
            .String(r.status.node_version())
            .Key("uptime_seconds")
            .Unsigned(r.status.uptime_seconds())
            .Key("workers")
            .Unsigned(r.status.workers())
            .Key("accepted_connections")
            .Unsigned(r.status.accepted_connections())
            .Key("active_connections")
            .Unsigned(r.status.active_connections())
            .Key("ready_after_sync")
            .Bool(r.status.ready_after_sync())
            .Key("sync");
        if (r.status.has_sync()) {
          json.BeginObject()
              .Key("content_hash")
              .String(r.status.sync().content_hash())
              .Key("source")
              .String(r.status.sync().source())
              .Key("synced_unix_ms")
              .Unsigned(r.status.sync().synced_unix_ms())
              .Key("by")
              .String(r.status.sync().by())
              .EndObject();
        } else {
          json.Null();
        }
        json.Key("pools").BeginArray();
        for (const v1::PoolSummary& pool : r.status.pools()) WritePool(json, pool);
        json.EndArray();
        break;
      case Command::kPoolsList:
        json.Key("pools").BeginArray();
        for (const v1::PoolSummary& pool : r.pools) WritePool(json, pool);
        json.EndArray();
        break;
      case Command::kCertsList:
      case Command::kCertsReload:
        json.Key("certificates").BeginArray();
        for (const v1::CertificateInfo& certificate : r.certificates.certificates()) {
          json.BeginObject()
              .Key("listener")
              .String(certificate.listener())
              .Key("file")
              .String(certificate.file())
              .Key("names")
              .BeginArray();
          for (const std::string& name : certificate.names()) json.String(name);
          json.EndArray()
              .Key("not_after_unix")
              .Number(certificate.not_after_unix())
              .Key("fingerprint_sha256")
              .String(certificate.fingerprint_sha256())
              .Key("default")
              .Bool(certificate.is_default())
              .EndObject();
        }
        json.EndArray().Key("reloads").BeginArray();
        for (const v1::CertificateReload& reload : r.certificates.reloads()) {
          json.BeginObject()
              .Key("listener")
              .String(reload.listener())
              .Key("changed")
              .Bool(reload.changed())
              .Key("error")
              .String(reload.error())
              .EndObject();
        }
        json.EndArray();
        break;
      case Command::kBackendsList:
        json.Key("pool").String(r.pool).Key("listeners").BeginArray();
        for (const std::string& listener : r.listeners) json.String(listener);
        json.EndArray()
            .Key("algorithm")
            .String(Algorithm(r.algorithm))
            .Key("version")
            .Unsigned(r.version);
        WriteBackends(json, r.backends);
        break;
      case Command::kPoolsSet:
        json.Key("unchanged").Bool(r.unchanged).Key("pool");
        if (!r.pools.empty()) WritePool(json, r.pools.front());
        break;
      default:
        json.Key("pool").String(r.pool).Key("version").Unsigned(r.version);
        if (invocation.command == Command::kBackendsAdd) json.Key("unchanged").Bool(r.unchanged);
        json.Key("backend");
        WriteBackend(json, r.backend);
        break;
    }
    json.EndObject();
  }
  json.EndArray().EndObject();
  return json.text() + "\n";
}

std::string RenderWatchUpdate(OutputFormat format, const std::string& node,
                              const v1::WatchBackendsResponse& update) {
  const std::vector<v1::Backend> backends(update.backends().begin(), update.backends().end());
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject()
        .Key("node")
        .String(node)
        .Key("pool")
        .String(update.pool())
        .Key("version")
        .Unsigned(update.version());
    WriteBackends(json, backends);
    json.EndObject();
    return json.text() + "\n";
  }
  std::vector<Row> rows{{"  ADDRESS", "WEIGHT", "HEALTH", "STATE", "ACTIVE", "TOTAL"}};
  for (const v1::Backend& backend : backends) {
    Row row = BackendCells(backend);
    row[0] = "  " + row[0];
    rows.push_back(std::move(row));
  }
  return absl::StrCat(node, "  pool ", update.pool(), "  version ", update.version(), "\n",
                      backends.empty() ? "  (no backends)\n" : Table(rows));
}

std::string RenderFailure(const std::string& node, const absl::Status& error) {
  return absl::StrCat("plbyctl: ", node, ": ", absl::StatusCodeToString(error.code()), ": ",
                      error.message(), "\n");
}

std::string RenderSyncTable(const Invocation& invocation, const std::vector<NodeSync>& nodes) {
  const bool apply = invocation.command == Command::kApply;
  std::vector<Row> rows;
  rows.push_back({"NODE", "POOL", "CHANGE", "BACKEND", "FROM", "TO"});
  if (apply) rows.front().push_back("RESULT");
  for (const NodeSync& node : nodes) {
    for (const SyncedChange& synced : node.changes) {
      const PlannedChange& change = synced.change;
      Row row{node.node,
              change.pool,
              ChangeName(change.kind),
              change.backend.empty() ? "-" : change.backend,
              change.from.empty() ? "-" : change.from,
              change.to.empty() ? "-" : change.to};
      if (apply) row.push_back(synced.applied ? "applied" : "not applied");
      rows.push_back(std::move(row));
    }
    const bool marks =
        apply ? node.marked && node.mark_needed : node.mark_needed && node.error.ok();
    if (marks) {
      Row row{node.node,
              "-",
              "mark synced",
              "-",
              node.mark_before.empty() ? "(none)" : node.mark_before.substr(0, 19) + "…",
              invocation.file};
      if (apply) row.push_back("applied");
      rows.push_back(std::move(row));
    }
  }
  if (rows.size() == 1) return "";
  return Table(rows);
}

std::string RenderSyncSummary(const Invocation& invocation, const std::vector<NodeSync>& nodes) {
  const SyncCounts counts = CountSyncs(nodes);
  const bool apply = invocation.command == Command::kApply;
  return absl::StrCat(invocation.command_name, ": ", nodes.size(),
                      nodes.size() == 1 ? " node, " : " nodes, ", counts.changed,
                      apply ? " changed, " : " differ, ", counts.in_sync, " in sync, ",
                      counts.failed, " failed\n");
}

std::string RenderSyncJson(const Invocation& invocation, const DesiredPools& desired,
                           const std::vector<NodeSync>& nodes) {
  const SyncCounts counts = CountSyncs(nodes);
  JsonWriter json;
  json.BeginObject()
      .Key("command")
      .String(invocation.command_name)
      .Key("ok")
      .Bool(counts.failed == 0)
      .Key("file")
      .String(desired.source)
      .Key("content_hash")
      .String(desired.content_hash)
      .Key("nodes")
      .BeginArray();
  for (const NodeSync& node : nodes) {
    json.BeginObject()
        .Key("node")
        .String(node.node)
        .Key("ok")
        .Bool(node.error.ok())
        .Key("in_sync")
        .Bool(node.error.ok() && node.in_sync())
        .Key("mark_before")
        .String(node.mark_before)
        .Key("marked")
        .Bool(node.marked)
        .Key("reverts_drift")
        .Bool(node.reverts_drift())
        .Key("attempts")
        .Number(node.attempts)
        .Key("notes")
        .BeginArray();
    for (const std::string& note : node.notes) json.String(note);
    json.EndArray().Key("changes").BeginArray();
    for (const SyncedChange& synced : node.changes) {
      json.BeginObject()
          .Key("pool")
          .String(synced.change.pool)
          .Key("change")
          .String(ChangeName(synced.change.kind))
          .Key("backend")
          .String(synced.change.backend)
          .Key("from")
          .String(synced.change.from)
          .Key("to")
          .String(synced.change.to)
          .Key("applied")
          .Bool(synced.applied)
          .EndObject();
    }
    json.EndArray();
    if (!node.error.ok()) {
      json.Key("error")
          .BeginObject()
          .Key("code")
          .String(absl::StatusCodeToString(node.error.code()))
          .Key("message")
          .String(node.error.message())
          .EndObject();
    }
    json.EndObject();
  }
  json.EndArray()
      .Key("summary")
      .BeginObject()
      .Key("nodes")
      .Unsigned(nodes.size())
      .Key(invocation.command == Command::kApply ? "changed" : "differ")
      .Unsigned(counts.changed)
      .Key("in_sync")
      .Unsigned(counts.in_sync)
      .Key("failed")
      .Unsigned(counts.failed)
      .EndObject()
      .EndObject();
  return json.text() + "\n";
}

}  // namespace plby::ctl
