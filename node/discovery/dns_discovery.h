// DnsDiscovery: the backends of pools with `discover = { dns = NAME:PORT, every = D }` are the
// addresses NAME has, looked up again every D (Envoy's STRICT_DNS, HAProxy's server-template,
// nginx's `resolve`): a Kubernetes headless Service is then the backend set.
//
// - An answer publishes a new version when the set changed (watches show it). Backends that
//   stay keep their entry: a drain or weight set through the control service survives.
// - A name that really has no records (NXDOMAIN, NODATA) keeps the last good set for hold_nx
//   (default 30 s) after its last answer with records, said in the log, then empties the pool
//   (at the first lookup past that time). A lookup that got no answer (a timeout, SERVFAIL)
//   keeps the last good set, and is logged (once per distinct error) and counted.
// - Lookups block (getaddrinfo), so they run on a thread of their own, never on a worker or the
//   control service; an address that is one of the node's own listeners, or not unicast, is
//   left out with a warning.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/own_listeners.h"
#include "pool/pool_registry.h"
#include "state/state_file.h"

namespace plby::discovery {

class DnsDiscovery {
 public:
  // `changed` runs (on the discovery thread) after a pool's set changed: readiness may follow.
  // Changes are saved to `state_file` (if any) like the control service's.
  DnsDiscovery(pool::PoolRegistry& pools, net::OwnListeners own, state::StateFile* state_file,
               std::function<void()> changed = {});
  ~DnsDiscovery();
  DnsDiscovery(const DnsDiscovery&) = delete;
  DnsDiscovery& operator=(const DnsDiscovery&) = delete;

  // Looks every discovering pool up once, now (so a node starts with its set), then starts the
  // thread for the next rounds. Nothing when no pool discovers.
  void Start();
  // Stops the thread; a lookup under way is let finish. Idempotent.
  void Stop();

 private:
  void Run();
  void LookUp(pool::Pool& pool);
  // Sleeps until `deadline` or Stop(); false when stopping.
  bool SleepUntil(absl::Time deadline);

  pool::PoolRegistry& pools_;
  const net::OwnListeners own_;
  state::StateFile* const state_file_;
  const std::function<void()> changed_;
  std::map<const pool::Pool*, absl::Time> due_;              // the thread's only
  std::map<const pool::Pool*, std::string> failure_warned_;  // the last failure said, per pool
  std::map<const pool::Pool*, std::vector<std::string>> left_out_;  // the addresses left out
  std::map<const pool::Pool*, absl::Time> last_records_;            // the last answer with records
  std::set<const pool::Pool*> holding_;  // no records now; the last set kept (hold_nx)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace plby::discovery
