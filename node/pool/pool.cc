#include "pool/pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "net/event_loop.h"

namespace plby::pool {

namespace {

bool FailOpen(const PoolSettings& settings) {
  return settings.health.when_all_unhealthy == config::AllUnhealthyPolicy::kFailOpen;
}

}  // namespace

state::PoolRecord SavedRecord(const std::string& name, const PoolContent& content) {
  state::PoolRecord record{
      .name = name, .version = content.version, .backends = {}, .balance = std::nullopt};
  for (const Backend& backend : content.backends) {
    record.backends.push_back({backend.address.ToString(), backend.weight, backend.draining});
  }
  if (content.balance_set) record.balance = content.balance;
  return record;
}

Pool::Pool(PoolSettings settings, std::vector<Backend> backends, ChangeFeed* changes, int workers,
           uint64_t version)
    : settings_(std::move(settings)),
      changes_(changes),
      balance_(settings_.balance),
      balance_set_(settings_.balance_set),
      snapshot_(std::make_shared<const PoolSnapshot>(InputsFor(version, 1, nullptr),
                                                     std::move(backends))),
      counters_(workers),
      workers_(workers) {}

absl::Status Pool::AtVersion(uint64_t version, absl::FunctionRef<absl::Status()> fn) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  if (absl::Status current = CheckVersion(version, snapshot()->version()); !current.ok()) {
    return current;
  }
  return fn();
}

void Pool::RecordLookup(const absl::Status& outcome, size_t addresses) {
  std::lock_guard<std::mutex> lock(discovery_mutex_);
  ++discovery_.lookups;
  if (outcome.ok()) {
    discovery_.last_answer = absl::Now();
    discovery_.last_error.clear();
    discovery_.addresses = addresses;
  } else {
    ++discovery_.failures;
    discovery_.last_error = std::string(outcome.message());
  }
}

DiscoveryStatus Pool::discovery() const {
  std::lock_guard<std::mutex> lock(discovery_mutex_);
  return discovery_;
}

absl::StatusOr<std::shared_ptr<const PoolSnapshot>> Pool::Update(
    std::optional<uint64_t> expected_version, Edit edit, Commit commit) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  std::shared_ptr<const PoolSnapshot> current = snapshot_.Load();
  if (absl::Status version = CheckVersion(expected_version, current->version()); !version.ok()) {
    return version;
  }
  std::vector<Backend> backends = current->backends();
  absl::StatusOr<bool> changed = edit(backends);
  if (!changed.ok()) return changed.status();
  if (!*changed) return current;
  const PoolContent content{.version = current->version() + 1,
                            .backends = backends,
                            .balance = balance_,
                            .balance_set = balance_set_};
  if (absl::Status committed = commit(content); !committed.ok()) return committed;
  return PublishLocked(current->version() + 1, std::move(backends));
}

absl::StatusOr<std::shared_ptr<const PoolSnapshot>> Pool::UpdateBalance(
    std::optional<uint64_t> expected_version, const BalanceSettings& balance, Commit commit) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  std::shared_ptr<const PoolSnapshot> current = snapshot_.Load();
  if (absl::Status version = CheckVersion(expected_version, current->version()); !version.ok()) {
    return version;
  }
  if (balance == balance_) return current;
  const PoolContent content{.version = current->version() + 1,
                            .backends = current->backends(),
                            .balance = balance,
                            .balance_set = true};
  if (absl::Status committed = commit(content); !committed.ok()) return committed;
  std::lock_guard<std::mutex> publish(publish_mutex_);
  balance_ = balance;
  balance_set_ = true;
  return PublishUnderPublishLock(current->version() + 1, current->backends());
}

bool Pool::balance_set() const {
  std::lock_guard<std::mutex> lock(publish_mutex_);
  return balance_set_;
}

std::shared_ptr<const PoolSnapshot> Pool::Publish(std::vector<Backend> backends) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  const uint64_t version = snapshot_.Load()->version() + 1;
  return PublishLocked(version, std::move(backends));
}

std::shared_ptr<const PoolSnapshot> Pool::RefreshHealth() {
  // Only the publish lock: the backend list cannot change under it (a writer publishes under
  // it too), and health is read afresh when the snapshot is built.
  std::lock_guard<std::mutex> lock(publish_mutex_);
  std::shared_ptr<const PoolSnapshot> current = snapshot_.Load();
  return PublishUnderPublishLock(current->version(), current->backends());
}

Pool::Resolution Pool::RecordResolution(const BackendRuntime* runtime,
                                        const absl::StatusOr<net::SocketAddress>& address) {
  // The writer lock, not the publish lock alone: the backend list itself changes, and a writer
  // editing a copy meanwhile would publish over it.
  std::lock_guard<std::mutex> lock(writer_mutex_);
  std::shared_ptr<const PoolSnapshot> current = snapshot_.Load();
  std::vector<Backend> backends = current->backends();
  const auto it = std::find_if(backends.begin(), backends.end(),
                               [&](const Backend& b) { return b.runtime.get() == runtime; });
  if (it == backends.end() || it->unresolved.empty()) return {};
  std::string reason;
  if (!address.ok()) {
    reason = std::string(address.status().message());
  } else if (const std::optional<size_t> other = AddressesOf(backends).FindResolved(*address)) {
    reason = net::BackendAddresses::AlreadyResolvedMessage(*address,
                                                           backends[*other].address.ToString());
  }
  if (!reason.empty()) {
    const bool changed = reason != it->unresolved;
    if (changed) {
      it->unresolved = reason;
      PublishLocked(current->version(), std::move(backends));
    }
    return {.outcome = Resolution::Outcome::kUnresolved,
            .reason = std::move(reason),
            .reason_changed = changed};
  }
  it->socket_address = *address;
  it->unresolved.clear();
  PublishLocked(current->version(), std::move(backends));
  return {.outcome = Resolution::Outcome::kResolved, .reason = "", .reason_changed = false};
}

absl::Status Pool::CheckVersion(std::optional<uint64_t> expected, uint64_t current) const {
  if (!expected || *expected == current) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("pool \"", settings_.name, "\" is at version ", current,
                                         ", not the expected version ", *expected,
                                         ": someone else changed it; read it again and retry"));
}

PoolSnapshot::Inputs Pool::InputsFor(uint64_t version, uint64_t generation,
                                     const PoolSnapshot* previous) const {
  return {.version = version,
          .generation = generation,
          .balance = balance_,
          .fail_open = FailOpen(settings_),
          .now_ms = net::MonotonicMs(),
          .previous = previous};
}

std::shared_ptr<const PoolSnapshot> Pool::PublishLocked(uint64_t version,
                                                        std::vector<Backend> backends) {
  std::lock_guard<std::mutex> lock(publish_mutex_);
  return PublishUnderPublishLock(version, std::move(backends));
}

std::shared_ptr<const PoolSnapshot> Pool::PublishUnderPublishLock(uint64_t version,
                                                                  std::vector<Backend> backends) {
  const uint64_t generation = generation_.load(std::memory_order_relaxed) + 1;
  const std::shared_ptr<const PoolSnapshot> previous = snapshot_.Load();
  auto next = std::make_shared<const PoolSnapshot>(InputsFor(version, generation, previous.get()),
                                                   std::move(backends));
  // Snapshot first, generation second: a reader that sees the new generation finds the new
  // snapshot.
  snapshot_.Store(next);
  generation_.store(generation, std::memory_order_release);
  if (changes_ != nullptr) changes_->Notify();
  return next;
}

}  // namespace plby::pool
