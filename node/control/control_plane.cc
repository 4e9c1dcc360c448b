#include "control/control_plane.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/event_loop.h"
#include "net/host_port.h"
#include "text/quote.h"

namespace plby::control {
namespace {

// At most this many names are listed in a "valid: ..." hint.
constexpr size_t kNamesInHint = 10;

template <typename Range, typename Name>
std::string NameList(const Range& items, Name name) {
  std::vector<std::string> names;
  for (const auto& item : items) {
    if (names.size() == kNamesInHint) {
      names.push_back(absl::StrCat("and ", items.size() - kNamesInHint, " more"));
      break;
    }
    names.push_back(name(item));
  }
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

BackendStatus StatusOf(const pool::Backend& backend) {
  return {.address = backend.address.ToString(),
          .weight = backend.weight,
          .draining = backend.draining,
          .health = backend.runtime->health(),
          .unresolved = backend.unresolved,
          .active_connections = backend.runtime->active(),
          .total_connections = backend.runtime->total(),
          .connect_failures = backend.runtime->connect_failures(),
          .bytes_sent = backend.runtime->bytes_sent(),
          .bytes_received = backend.runtime->bytes_received(),
          .current_weight = static_cast<double>(backend.weight),
          .table_entries = 0};
}

absl::Status CheckWeight(std::optional<int64_t> weight) {
  if (!weight) return absl::OkStatus();
  return balance::ValidateWeight(*weight);
}

std::vector<pool::Backend>::iterator FindIn(std::vector<pool::Backend>& backends,
                                            const std::string& address) {
  return std::find_if(backends.begin(), backends.end(), [&](const pool::Backend& backend) {
    return backend.address.ToString() == address;
  });
}

absl::Status NoSuchBackend(const std::string& pool, const std::string& address,
                           const std::vector<pool::Backend>& backends) {
  return absl::NotFoundError(absl::StrCat(
      "no backend ", text::Quote(address), " in pool ", text::Quote(pool), " (backends: ",
      NameList(backends, [](const pool::Backend& b) { return b.address.ToString(); }), ")"));
}

absl::Status CheckDrainTimeout(std::optional<absl::Duration> timeout) {
  if (!timeout) return absl::OkStatus();
  if (*timeout <= absl::ZeroDuration() || *timeout > kMaxDrainTimeout) {
    return absl::InvalidArgumentError(absl::StrCat("drain timeout ", absl::FormatDuration(*timeout),
                                                   " is out of range (valid: more than 0, up to ",
                                                   absl::FormatDuration(kMaxDrainTimeout), ")"));
  }
  return absl::OkStatus();
}

// Timeouts are checked to be at most kMaxDrainTimeout, so this cannot overflow.
int64_t DeadlineAfter(absl::Duration timeout) {
  return net::MonotonicMs() + absl::ToInt64Milliseconds(std::min(timeout, kMaxDrainTimeout));
}

void NothingElse() {}

// What an update asks for, in words, for the audit log.
std::string Asked(const UpdateBackendArgs& args) {
  std::vector<std::string> parts;
  if (args.weight) parts.push_back(absl::StrCat("weight ", *args.weight));
  if (args.draining) parts.push_back(*args.draining ? "drain" : "undrain");
  if (args.drain_timeout) {
    parts.push_back(absl::StrCat("drain timeout ", absl::FormatDuration(*args.drain_timeout)));
  }
  if (args.expected_version)
    parts.push_back(absl::StrCat("if at version ", *args.expected_version));
  return parts.empty() ? "nothing" : absl::StrJoin(parts, ", ");
}

}  // namespace

ControlPlane::ControlPlane(pool::PoolRegistry& pools, NodeFacts facts, state::StateFile* state_file)
    : pools_(pools), facts_(std::move(facts)), state_file_(state_file) {}

void ControlPlane::SetOwnListeners(net::OwnListeners listeners) {
  own_listeners_.Store(std::make_shared<const net::OwnListeners>(std::move(listeners)));
}

NodeStatus ControlPlane::Status() const {
  NodeStatus status;
  status.version = facts_.version;
  status.uptime = absl::Now() - facts_.started;
  status.workers = facts_.workers;
  status.accepted_connections = facts_.accepted_connections ? facts_.accepted_connections() : 0;
  status.active_connections = facts_.active_connections ? facts_.active_connections() : 0;
  if (facts_.counters) status.counters = facts_.counters();
  if (facts_.listener_counters) status.listeners = facts_.listener_counters();
  status.pools = ListPools();
  status.control = audit_.counts();
  status.open_watches = open_watches_.load(std::memory_order_relaxed);
  status.sync = sync_mark();
  status.ready_after_sync = facts_.ready_after_sync;
  return status;
}

std::vector<CertificateStatus> ControlPlane::Certificates() const {
  return facts_.certificates ? facts_.certificates() : std::vector<CertificateStatus>{};
}

std::vector<CertificateReloadStatus> ControlPlane::ReloadCertificates() {
  return facts_.reload_certificates ? facts_.reload_certificates()
                                    : std::vector<CertificateReloadStatus>{};
}

std::vector<std::string> ControlPlane::ListenersOf(const pool::Pool& pool) const {
  std::vector<std::string> listeners;
  for (const NodeFacts::Listener& listener : facts_.listeners) {
    if (listener.pool == pool.name()) listeners.push_back(listener.address.ToString());
  }
  return listeners;
}

PoolSummary ControlPlane::SummaryOf(const pool::Pool& pool) const {
  const std::shared_ptr<const pool::PoolSnapshot> snapshot = pool.snapshot();
  PoolSummary summary{.name = pool.name(),
                      .listeners = ListenersOf(pool),
                      .balance = snapshot->balance(),
                      .version = snapshot->version(),
                      .backend_count = snapshot->backends().size(),
                      .active_connections = pool.active_connections(),
                      .discovery = std::nullopt};
  if (const std::optional<config::DiscoverConfig>& discover = pool.settings().discover) {
    summary.discovery = DiscoverySummary{
        .dns = discover->dns.ToString(), .every = discover->every, .status = pool.discovery()};
  }
  return summary;
}

std::vector<PoolSummary> ControlPlane::ListPools() const {
  std::vector<PoolSummary> summaries;
  for (const auto& pool : pools_.pools()) summaries.push_back(SummaryOf(*pool));
  return summaries;
}

absl::StatusOr<pool::Pool*> ControlPlane::FindPool(absl::string_view name) const {
  const std::string valid =
      NameList(pools_.pools(), [](const std::unique_ptr<pool::Pool>& p) { return p->name(); });
  if (name.empty()) {
    // (One pool would have been taken: see WithPoolNamed.)
    return absl::InvalidArgumentError(
        pools_.pools().empty()
            ? std::string("no pool named, and the node has none")
            : absl::StrCat("no pool named; the node has: ", valid, " (name one)"));
  }
  pool::Pool* pool = pools_.Find(name);
  if (pool == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no pool ", text::Quote(name), " on this node (pools: ", valid, ")"));
  }
  return pool;
}

absl::StatusOr<net::HostPort> ControlPlane::ParseAddress(absl::string_view address) const {
  if (address.empty()) {
    return absl::InvalidArgumentError(
        "address is empty (valid: HOST:PORT, e.g. 127.0.0.1:8080, [::1]:8080 or "
        "backend.example:8080)");
  }
  return net::ParseHostPort(address, net::AddressUse::kConnect);
}

PoolState ControlPlane::StateOf(const pool::Pool& pool, const pool::PoolSnapshot& snapshot) const {
  PoolState state{.pool = pool.name(),
                  .version = snapshot.version(),
                  .algorithm = snapshot.balance().algorithm,
                  .listeners = ListenersOf(pool),
                  .backends = {}};
  const std::vector<uint32_t> entries = snapshot.TableEntries();
  for (size_t i = 0; i < snapshot.backends().size(); ++i) {
    BackendStatus status = StatusOf(snapshot.backends()[i]);
    status.current_weight = static_cast<double>(snapshot.effective_weights()[i]) /
                            static_cast<double>(balance::kWeightScale);
    if (i < entries.size()) status.table_entries = entries[i];
    state.backends.push_back(std::move(status));
  }
  return state;
}

absl::StatusOr<PoolState> ControlPlane::ListBackends(absl::string_view name) const {
  absl::StatusOr<pool::Pool*> pool =
      FindPool(name.empty() && pools_.pools().size() == 1 ? pools_.pools()[0]->name() : name);
  if (!pool.ok()) return pool.status();
  return StateOf(**pool, *(*pool)->snapshot());
}

absl::Status ControlPlane::Commit(const pool::Pool& pool, const pool::PoolContent& content,
                                  absl::FunctionRef<bool()> cancelled,
                                  absl::FunctionRef<void()> applied) {
  if (cancelled()) {
    return absl::CancelledError(
        "the call was cancelled or its deadline passed before the change was applied; nothing "
        "changed");
  }
  if (state_file_ != nullptr) {
    if (absl::Status saved = state_file_->Save(pool::SavedRecord(pool.name(), content));
        !saved.ok()) {
      audit_.RecordSaveFailure(pool.name(), saved);
      return saved;
    }
  }
  // Still under the pool's writer lock, and the publish that follows cannot fail: what goes
  // with the change (a drain deadline) is set exactly when the change is made.
  applied();
  return absl::OkStatus();
}

template <typename Change>
absl::StatusOr<Change> ControlPlane::Audited(Mutation mutation, const Caller& caller,
                                             absl::string_view pool, absl::string_view backend,
                                             std::string asked, absl::StatusOr<Change> change) {
  AuditLog::Entry entry{.mutation = mutation,
                        .caller = &caller,
                        .pool = pool,
                        .backend = backend,
                        .asked = std::move(asked),
                        .result = change.status(),
                        .changed = change.ok() && change->changed,
                        .version_before = 0,
                        .version_after = 0};
  if (change.ok()) {
    entry.version_after = change->version;
    entry.version_before = change->changed ? change->version - 1 : change->version;
  } else if (const pool::Pool* found = pools_.Find(pool); found != nullptr) {
    entry.version_before = found->version();
  }
  audit_.Record(entry);
  return change;
}

absl::StatusOr<BackendChange> ControlPlane::AddBackend(const AddBackendArgs& request,
                                                       absl::FunctionRef<bool()> cancelled) {
  const auto args = WithPoolNamed(request);
  return Audited(
      Mutation::kAddBackend, args.caller, args.pool, args.address,
      absl::StrCat(
          "add, weight ", args.weight.value_or(1), args.if_absent ? ", if absent" : "",
          args.expected_version ? absl::StrCat(", if at version ", *args.expected_version) : ""),
      Add(args, cancelled));
}

absl::StatusOr<BackendChange> ControlPlane::RemoveBackend(const RemoveBackendArgs& request,
                                                          absl::FunctionRef<bool()> cancelled) {
  const auto args = WithPoolNamed(request);
  return Audited(
      Mutation::kRemoveBackend, args.caller, args.pool, args.address,
      absl::StrCat(
          "remove",
          args.drain_timeout
              ? absl::StrCat(", drain timeout ", absl::FormatDuration(*args.drain_timeout))
              : "",
          args.expected_version ? absl::StrCat(", if at version ", *args.expected_version) : ""),
      Remove(args, cancelled));
}

absl::StatusOr<BackendChange> ControlPlane::UpdateBackend(const UpdateBackendArgs& request,
                                                          absl::FunctionRef<bool()> cancelled) {
  const auto args = WithPoolNamed(request);
  return Audited(Mutation::kUpdateBackend, args.caller, args.pool, args.address, Asked(args),
                 Update(args, cancelled));
}

absl::StatusOr<PoolChange> ControlPlane::UpdatePool(const UpdatePoolArgs& request,
                                                    absl::FunctionRef<bool()> cancelled) {
  const auto args = WithPoolNamed(request);
  std::vector<std::string> asked;
  if (args.algorithm)
    asked.push_back(absl::StrCat("algorithm ", balance::AlgorithmName(*args.algorithm)));
  if (args.slow_start) {
    asked.push_back(absl::StrCat("slow_start ", absl::FormatDuration(*args.slow_start)));
  }
  if (args.hash) asked.push_back(absl::StrCat("hash ", balance::HashKeyName(*args.hash)));
  if (args.maglev_table_size) {
    asked.push_back(absl::StrCat("maglev_table_size ", *args.maglev_table_size));
  }
  if (args.expected_version) {
    asked.push_back(absl::StrCat("if at version ", *args.expected_version));
  }
  return Audited(Mutation::kUpdatePool, args.caller, args.pool, "", absl::StrJoin(asked, ", "),
                 SetBalance(args, cancelled));
}

absl::StatusOr<PoolChange> ControlPlane::SetBalance(const UpdatePoolArgs& args,
                                                    absl::FunctionRef<bool()> cancelled) {
  if (!args.algorithm && !args.slow_start && !args.hash && !args.maglev_table_size) {
    return absl::InvalidArgumentError(
        "nothing to change: set at least one of algorithm, slow_start, hash and "
        "maglev_table_size");
  }
  absl::StatusOr<pool::Pool*> pool = FindPool(args.pool);
  if (!pool.ok()) return pool.status();
  if (args.maglev_table_size) {
    if (absl::Status valid = balance::ValidateMaglevTableSize(*args.maglev_table_size);
        !valid.ok()) {
      return valid;
    }
  }
  // What the pool will balance with: today's settings with the asked ones replaced. A writer
  // in between is caught by the expected version, or overwritten field by field as asked.
  pool::BalanceSettings balance = (*pool)->snapshot()->balance();
  if (args.algorithm) balance.algorithm = *args.algorithm;
  if (args.slow_start) balance.slow_start = *args.slow_start;
  if (args.hash) balance.hash = *args.hash;
  if (args.maglev_table_size) balance.maglev_table_size = *args.maglev_table_size;
  if (absl::Status valid = balance::CheckSlowStart(balance.algorithm, balance.slow_start);
      !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        valid.message(),
        args.slow_start ? ""
                        : absl::StrCat("; pool ", text::Quote(args.pool),
                                       " has that slow_start: set slow_start 0 in the same call")));
  }
  bool changed = false;  // the pool asks for a commit only when something changes
  absl::StatusOr<std::shared_ptr<const pool::PoolSnapshot>> snapshot =
      (*pool)->UpdateBalance(args.expected_version, balance, [&](const pool::PoolContent& content) {
        changed = true;
        return Commit(**pool, content, cancelled, NothingElse);
      });
  if (!snapshot.ok()) return snapshot.status();
  if (changed) NotifyChanged();
  return PoolChange{.pool = args.pool,
                    .version = (*snapshot)->version(),
                    .summary = SummaryOf(**pool),
                    .changed = changed};
}

absl::Status ControlPlane::CheckNotDiscovered(const pool::Pool& pool, absl::string_view what) {
  const std::optional<config::DiscoverConfig>& discover = pool.settings().discover;
  if (!discover) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "pool ", text::Quote(pool.name()),
      " takes its backends from DNS (discover dns = ", text::Quote(discover->dns.ToString()),
      ", every ", absl::FormatDuration(discover->every), "): they are not ", what,
      " through the control service; drains and weights may be set, and they survive "
      "re-resolution"));
}

absl::StatusOr<BackendChange> ControlPlane::Add(const AddBackendArgs& args,
                                                absl::FunctionRef<bool()> cancelled) {
  absl::StatusOr<net::HostPort> address = ParseAddress(args.address);
  if (!address.ok()) return address.status();
  if (absl::Status weight = CheckWeight(args.weight); !weight.ok()) return weight;
  absl::StatusOr<pool::Pool*> pool = FindPool(args.pool);
  if (!pool.ok()) return pool.status();
  if (absl::Status listed = CheckNotDiscovered(**pool, "added"); !listed.ok()) return listed;
  const std::shared_ptr<const net::OwnListeners> own = own_listeners_.Load();
  if (own == nullptr) {
    return absl::UnavailableError("the node is still starting: try again in a moment");
  }
  const std::string key = address->ToString();
  absl::StatusOr<net::SocketAddress> resolved =
      own->ResolveBackend(*address, net::LocalAddresses::Read());
  if (!resolved.ok()) {
    return absl::Status(resolved.status().code(), absl::StrCat("backend ", text::Quote(key), ": ",
                                                               resolved.status().message()));
  }

  const int64_t weight = args.weight.value_or(1);
  std::string existing;  // if_absent: the spelling under which it is already there
  absl::StatusOr<std::shared_ptr<const pool::PoolSnapshot>> snapshot = (*pool)->Update(
      args.expected_version,
      [&](std::vector<pool::Backend>& backends) -> absl::StatusOr<bool> {
        if (const std::optional<size_t> other =
                pool::AddressesOf(backends).Find(*address, &*resolved)) {
          const pool::Backend& backend = backends[*other];
          if (args.if_absent && backend.weight == weight && !backend.draining) {
            existing = backend.address.ToString();
            return false;  // already there as asked: nothing to change
          }
          return absl::AlreadyExistsError(absl::StrCat(
              "backend ", text::Quote(key), " is already in pool ", text::Quote(args.pool),
              backend.address.ToString() == key
                  ? ""
                  : absl::StrCat(" as \"", backend.address.ToString(), "\""),
              " (weight ", backend.weight, backend.draining ? ", draining" : "", ")",
              args.if_absent ? absl::StrCat(", not as asked (weight ", weight, ", not draining)")
                             : "",
              "; change it with UpdateBackend"));
        }
        if (backends.size() >= kMaxBackendsPerPool) {
          return absl::ResourceExhaustedError(
              absl::StrCat("pool ", text::Quote(args.pool), " is full: it has ", backends.size(),
                           " backends, the most a pool may hold is ", kMaxBackendsPerPool));
        }
        backends.push_back({.address = *address,
                            .socket_address = *resolved,
                            .weight = weight,
                            .draining = false,
                            .unresolved = "",
                            .runtime = pools_.NewBackendRuntime()});
        return true;
      },
      [&](const pool::PoolContent& content) {
        return Commit(**pool, content, cancelled, NothingElse);
      });
  if (!snapshot.ok()) return snapshot.status();
  if (!existing.empty()) {
    return BackendChange{.pool = args.pool,
                         .version = (*snapshot)->version(),
                         .backend = StatusOf(*(*snapshot)->Find(existing)),
                         .changed = false};
  }
  NotifyChanged();
  return BackendChange{.pool = args.pool,
                       .version = (*snapshot)->version(),
                       .backend = StatusOf(*(*snapshot)->Find(key))};
}

absl::StatusOr<BackendChange> ControlPlane::Remove(const RemoveBackendArgs& args,
                                                   absl::FunctionRef<bool()> cancelled) {
  absl::StatusOr<net::HostPort> address = ParseAddress(args.address);
  if (!address.ok()) return address.status();
  if (absl::Status timeout = CheckDrainTimeout(args.drain_timeout); !timeout.ok()) return timeout;
  absl::StatusOr<pool::Pool*> pool = FindPool(args.pool);
  if (!pool.ok()) return pool.status();
  if (absl::Status listed = CheckNotDiscovered(**pool, "removed"); !listed.ok()) return listed;
  const std::string key = address->ToString();
  BackendStatus removed;
  std::shared_ptr<pool::BackendRuntime> removed_runtime;
  absl::StatusOr<std::shared_ptr<const pool::PoolSnapshot>> snapshot = (*pool)->Update(
      args.expected_version,
      [&](std::vector<pool::Backend>& backends) -> absl::StatusOr<bool> {
        auto it = FindIn(backends, key);
        if (it == backends.end()) return NoSuchBackend(args.pool, key, backends);
        removed = StatusOf(*it);
        removed_runtime = it->runtime;
        backends.erase(it);
        return true;
      },
      [&](const pool::PoolContent& content) {
        return Commit(**pool, content, cancelled, [&] {
          // Its open connections hold the runtime; workers close them once this has passed.
          if (args.drain_timeout) {
            removed_runtime->set_close_deadline_ms(DeadlineAfter(*args.drain_timeout));
          }
        });
      });
  if (!snapshot.ok()) return snapshot.status();
  NotifyChanged();
  return BackendChange{.pool = args.pool, .version = (*snapshot)->version(), .backend = removed};
}

absl::StatusOr<BackendChange> ControlPlane::Update(const UpdateBackendArgs& args,
                                                   absl::FunctionRef<bool()> cancelled) {
  absl::StatusOr<net::HostPort> address = ParseAddress(args.address);
  if (!address.ok()) return address.status();
  if (!args.weight && !args.draining) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nothing to change for backend ", text::Quote(address->ToString()), ": set a weight (",
        balance::kMinWeight, "-", balance::kMaxWeight, ") or draining (true or false)"));
  }
  if (absl::Status weight = CheckWeight(args.weight); !weight.ok()) return weight;
  if (args.drain_timeout && args.draining != true) {
    return absl::InvalidArgumentError(
        "a drain timeout goes with draining = true (it closes what is left after draining)");
  }
  if (absl::Status timeout = CheckDrainTimeout(args.drain_timeout); !timeout.ok()) return timeout;
  absl::StatusOr<pool::Pool*> pool = FindPool(args.pool);
  if (!pool.ok()) return pool.status();
  const std::string key = address->ToString();
  std::shared_ptr<pool::BackendRuntime> runtime;
  bool changed = false;
  absl::StatusOr<std::shared_ptr<const pool::PoolSnapshot>> snapshot = (*pool)->Update(
      args.expected_version,
      [&](std::vector<pool::Backend>& backends) -> absl::StatusOr<bool> {
        auto it = FindIn(backends, key);
        if (it == backends.end()) return NoSuchBackend(args.pool, key, backends);
        runtime = it->runtime;
        const pool::Backend before = *it;
        if (args.weight) it->weight = *args.weight;
        if (args.draining) it->draining = *args.draining;
        // A drain timeout given again for a backend already draining is a change too.
        changed = it->weight != before.weight || it->draining != before.draining ||
                  args.drain_timeout.has_value();
        return changed;
      },
      [&](const pool::PoolContent& content) {
        return Commit(**pool, content, cancelled, [&] {
          if (args.draining == true && args.drain_timeout) {
            runtime->set_close_deadline_ms(DeadlineAfter(*args.drain_timeout));
          } else if (args.draining == false) {
            runtime->set_close_deadline_ms(0);
          }
        });
      });
  if (!snapshot.ok()) return snapshot.status();
  if (changed) NotifyChanged();
  return BackendChange{.pool = args.pool,
                       .version = (*snapshot)->version(),
                       .backend = StatusOf(*(*snapshot)->Find(key)),
                       .changed = changed};
}

absl::Status ControlPlane::Watch(absl::string_view pool_name,
                                 absl::FunctionRef<bool(const PoolState&)> send,
                                 absl::FunctionRef<bool()> cancelled, absl::Duration poll) const {
  std::vector<pool::Pool*> watched;
  if (pool_name.empty()) {
    for (const auto& pool : pools_.pools()) watched.push_back(pool.get());
  } else {
    pool::Pool* pool = pools_.Find(pool_name);
    if (pool == nullptr) return FindPool(pool_name).status();
    watched.push_back(pool);
  }
  // Counted for as long as it runs; past the cap the newcomer is refused, never an open one.
  if (open_watches_.fetch_add(1, std::memory_order_relaxed) >= kMaxWatches) {
    open_watches_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "this node serves ", kMaxWatches,
        " watch streams already, the most it takes at once: end one, or watch another node"));
  }
  struct Release {
    std::atomic<int>& count;
    ~Release() { count.fetch_sub(1, std::memory_order_relaxed); }
  } release{open_watches_};

  // Generations, not versions: a change of health is news to a watcher too.
  std::vector<uint64_t> sent_generations(watched.size(), 0);  // generations start at 1
  pool::ChangeFeed& changes = pools_.changes();
  // The generation is read before the pools: a change after the read makes the wait below
  // return at once, so none is missed.
  uint64_t generation = changes.generation();
  while (true) {
    for (size_t i = 0; i < watched.size(); ++i) {
      const std::shared_ptr<const pool::PoolSnapshot> snapshot = watched[i]->snapshot();
      if (snapshot->generation() == sent_generations[i]) continue;
      if (!send(StateOf(*watched[i], *snapshot))) return absl::OkStatus();
      sent_generations[i] = snapshot->generation();
    }
    do {
      if (cancelled()) return absl::CancelledError("the watcher went away");
      if (changes.closed()) return absl::UnavailableError("the node is stopping");
    } while (changes.WaitForChange(generation, poll) == generation);
    generation = changes.generation();
  }
}

bool ControlPlane::EveryPoolHasBackends() const {
  for (const auto& pool : pools_.pools()) {
    // A pool no server forwards to takes no traffic: it does not hold readiness back.
    const bool used = std::any_of(
        facts_.listeners.begin(), facts_.listeners.end(),
        [&](const NodeFacts::Listener& listener) { return listener.pool == pool->name(); });
    if (!used) continue;
    const std::shared_ptr<const pool::PoolSnapshot> snapshot = pool->snapshot();
    const std::vector<pool::Backend>& backends = snapshot->backends();
    if (std::none_of(backends.begin(), backends.end(), [](const pool::Backend& backend) {
          return !backend.draining && backend.unresolved.empty();
        })) {
      return false;
    }
  }
  return true;
}

bool ControlPlane::ReadyForTraffic() const {
  if (facts_.ready_after_sync && !sync_mark()) return false;
  return EveryPoolHasBackends();
}

std::optional<SyncMark> ControlPlane::sync_mark() const {
  std::lock_guard<std::mutex> lock(sync_mutex_);
  return sync_;
}

absl::StatusOr<std::pair<SyncMark, bool>> ControlPlane::MarkSynced(const MarkSyncedArgs& args) {
  const auto checked = [&]() -> absl::StatusOr<std::pair<SyncMark, bool>> {
    constexpr absl::string_view kPrefix = "sha256:";
    const absl::string_view digest =
        absl::string_view(args.content_hash)
            .substr(std::min(kPrefix.size(), args.content_hash.size()));
    if (!absl::StartsWith(args.content_hash, kPrefix) || digest.size() != 64 ||
        !std::all_of(digest.begin(), digest.end(),
                     [](char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'); })) {
      return absl::InvalidArgumentError(
          absl::StrCat("content_hash ", text::Quote(args.content_hash),
                       " is not \"sha256:\" and 64 lowercase hex digits"));
    }
    if (args.source.size() > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat("source ", text::Quote(args.source), " is longer than 256 bytes"));
    }
    if (args.pool_versions.empty()) {
      return absl::InvalidArgumentError(
          "pool_versions is empty: name each pool of the file and the version it is at");
    }
    // Checked and recorded under every named pool's writer lock, taken in name order (other
    // writers hold one at a time): no change can come between the check and the mark.
    std::vector<std::pair<pool::Pool*, uint64_t>> pools;
    for (const auto& [name, version] : args.pool_versions) {
      absl::StatusOr<pool::Pool*> pool = FindPool(name);
      if (!pool.ok()) return pool.status();
      pools.emplace_back(*pool, version);
    }
    bool changed = false;
    const std::function<absl::Status(size_t)> hold = [&](size_t i) -> absl::Status {
      if (i < pools.size()) {
        return pools[i].first->AtVersion(pools[i].second, [&] { return hold(i + 1); });
      }
      std::lock_guard<std::mutex> lock(sync_mutex_);
      if (sync_ && sync_->content_hash == args.content_hash) return absl::OkStatus();
      sync_ =
          SyncMark{.content_hash = args.content_hash,
                   .source = args.source,
                   .at = absl::Now(),
                   .by = args.caller.identity.empty() ? args.caller.peer : args.caller.identity};
      changed = true;
      return absl::OkStatus();
    };
    if (absl::Status held = hold(0); !held.ok()) return held;
    std::lock_guard<std::mutex> lock(sync_mutex_);
    return std::pair(*sync_, changed);
  }();
  AuditLog::Entry entry{
      .mutation = Mutation::kMarkSynced,
      .caller = &args.caller,
      .pool = "",
      .backend = "",
      .asked = args.content_hash,  // (the source is in the status: this stays whole)
      .result = checked.status(),
      .changed = checked.ok() && checked->second,
      .version_before = 0,
      .version_after = 0};
  audit_.Record(entry);
  if (checked.ok() && checked->second) NotifyChanged();
  return checked;
}

void ControlPlane::SetChangeListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(listener_mutex_);
  change_listener_ = std::move(listener);
}

void ControlPlane::NotifyChanged() const {
  // Held while the listener runs, so that SetChangeListener({}) returns only once no call of
  // the old listener is in flight.
  std::lock_guard<std::mutex> lock(listener_mutex_);
  if (change_listener_) change_listener_();
}

}  // namespace plby::control
