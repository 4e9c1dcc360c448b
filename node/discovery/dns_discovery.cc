#include "discovery/dns_discovery.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "log/log.h"
#include "net/socket_address.h"
#include "text/quote.h"

namespace plby::discovery {

DnsDiscovery::DnsDiscovery(pool::PoolRegistry& pools, net::OwnListeners own,
                           state::StateFile* state_file, std::function<void()> changed)
    : pools_(pools), own_(std::move(own)), state_file_(state_file), changed_(std::move(changed)) {}

DnsDiscovery::~DnsDiscovery() { Stop(); }

void DnsDiscovery::Start() {
  bool any = false;
  for (const auto& pool : pools_.pools()) {
    if (!pool->settings().discover) continue;
    any = true;
    LookUp(*pool);
    due_[pool.get()] = absl::Now() + pool->settings().discover->every;
  }
  if (any) thread_ = std::thread([this] { Run(); });
}

void DnsDiscovery::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool DnsDiscovery::SleepUntil(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return stopping_; });
}

void DnsDiscovery::Run() {
  while (true) {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [pool, due] : due_) next = std::min(next, due);
    if (!SleepUntil(next)) return;
    const absl::Time now = absl::Now();
    for (auto& [pool, due] : due_) {
      if (due > now) continue;
      LookUp(*const_cast<pool::Pool*>(pool));
      due = absl::Now() + pool->settings().discover->every;
    }
  }
}

void DnsDiscovery::LookUp(pool::Pool& pool) {
  const config::DiscoverConfig& discover = *pool.settings().discover;
  const std::string where =
      absl::StrCat("discovery pool=", text::Quote(pool.name()), " dns=", discover.dns.ToString());
  // A failed lookup is said once per distinct error; the addresses left out, once per change
  // of that list.
  const auto warn_failure = [&](const std::string& text) {
    std::string& last = failure_warned_[&pool];
    if (last == text) return;
    last = text;
    PLBY_LOG(kWarn, where, ": ", text);
  };
  absl::StatusOr<std::vector<net::SocketAddress>> found =
      net::SocketAddress::LookUpAll(discover.dns);
  std::vector<net::SocketAddress> addresses;
  const absl::Time now = absl::Now();
  if (found.ok()) {
    addresses = *std::move(found);
    last_records_[&pool] = now;
    if (holding_.erase(&pool) > 0) {
      PLBY_LOG(kInfo, where, ": the name has records again (", addresses.size(), ")");
    }
  } else if (found.status().code() != absl::StatusCode::kNotFound) {
    pool.RecordLookup(found.status(), 0);
    warn_failure(absl::StrCat("no answer, keeping the last set of ",
                              pool.snapshot()->backends().size(),
                              " backends: ", found.status().message()));
    return;
  } else if (const size_t kept = pool.snapshot()->backends().size(); kept > 0) {
    // NOT_FOUND: the name has no records. The last good set stays for hold_nx after the last
    // answer that had records, then the pool is emptied.
    const auto last = last_records_.find(&pool);
    const absl::Time until = (last != last_records_.end() ? last->second : now) + discover.hold_nx;
    if (now < until) {
      pool.RecordLookup(found.status(), 0);
      if (holding_.insert(&pool).second) {
        PLBY_LOG(kWarn, where, ": the name has no records (", found.status().message(),
                 "); keeping the last set of ", kept, " backends until ",
                 absl::FormatTime("%H:%M:%S", until, absl::UTCTimeZone()),
                 " UTC (hold_nx=", absl::FormatDuration(discover.hold_nx), ")");
      }
      return;
    }
    holding_.erase(&pool);
    PLBY_LOG(kWarn, where,
             ": the name still has no records, hold_nx=", absl::FormatDuration(discover.hold_nx),
             " after its last answer: emptying the pool");
  }
  // (NOT_FOUND past hold_nx: the name has no records, and the pool is emptied.)
  const net::LocalAddresses local = net::LocalAddresses::Read();
  std::vector<net::SocketAddress> usable;
  std::vector<std::string> left_out;
  for (const net::SocketAddress& address : addresses) {
    if (absl::Status unicast = net::CheckUnicast(address); !unicast.ok()) {
      left_out.push_back(absl::StrCat(address.ToString(), " (", unicast.message(), ")"));
    } else if (own_.ReachedBy(address, local) != nullptr) {
      left_out.push_back(absl::StrCat(address.ToString(), " (one of this node's own listeners)"));
    } else if (usable.size() >= pool::kMaxBackendsPerPool) {
      left_out.push_back(absl::StrCat("every address past the first ", pool::kMaxBackendsPerPool,
                                      " (the most a pool holds)"));
      break;
    } else {
      usable.push_back(address);
    }
  }
  pool.RecordLookup(absl::OkStatus(), usable.size());
  failure_warned_[&pool].clear();
  if (std::vector<std::string>& before = left_out_[&pool]; before != left_out) {
    if (!left_out.empty()) PLBY_LOG(kWarn, where, ": left out ", absl::StrJoin(left_out, ", "));
    before = left_out;
  }
  size_t added = 0, removed = 0;
  absl::StatusOr<std::shared_ptr<const pool::PoolSnapshot>> published = pool.Update(
      std::nullopt,
      [&](std::vector<pool::Backend>& backends) -> absl::StatusOr<bool> {
        std::set<std::string> wanted;
        for (const net::SocketAddress& address : usable) wanted.insert(address.ToString());
        std::set<std::string> kept;
        std::vector<pool::Backend> next;
        // Backends that stay keep their entry (weight, drain, counters), in their order.
        for (pool::Backend& backend : backends) {
          const std::string key = backend.address.ToString();
          if (wanted.contains(key) && kept.insert(key).second) {
            next.push_back(std::move(backend));
          } else {
            ++removed;
          }
        }
        for (const net::SocketAddress& address : usable) {
          const std::string key = address.ToString();
          if (!kept.insert(key).second) continue;
          ++added;
          next.push_back({.address = *net::ParseHostPort(key, net::AddressUse::kConnect),
                          .socket_address = address,
                          .weight = 1,
                          .draining = false,
                          .unresolved = "",
                          .runtime = pools_.NewBackendRuntime()});
        }
        backends = std::move(next);
        return added > 0 || removed > 0;
      },
      [&](const pool::PoolContent& content) -> absl::Status {
        if (state_file_ == nullptr) return absl::OkStatus();
        return state_file_->Save(pool::SavedRecord(pool.name(), content));
      });
  if (!published.ok()) {
    warn_failure(absl::StrCat("the new set could not be saved, so it is not used: ",
                              published.status().message()));
    return;
  }
  if (added == 0 && removed == 0) return;
  PLBY_LOG(kInfo, where, ": ", usable.size(), " backends (", added, " added, ", removed,
           " removed)", usable.empty() ? ", the name has no records now" : "",
           " version=", (*published)->version());
  if (changed_) changed_();
}

}  // namespace plby::discovery
