// What plbyctl does on one node: the calls behind each command, and their result.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli.h"
#include "plby/v1/control.grpc.pb.h"

namespace plby::ctl {

// One node's answer to a command (which fields are set depends on the command).
struct NodeResult {
  std::string node;
  absl::Status error;  // OK when the node did what was asked
  v1::GetStatusResponse status;
  std::vector<v1::PoolSummary> pools;
  std::string pool;
  uint64_t version = 0;
  v1::Algorithm algorithm = v1::ALGORITHM_UNSPECIFIED;  // backends list: the pool's
  std::vector<std::string> listeners;                   // backends list: the pool's
  std::vector<v1::Backend> backends;
  v1::Backend backend;                    // the one a change was about
  bool unchanged = false;                 // add --if-absent: it was already there
  v1::CertificatesResponse certificates;  // certs list, certs reload
};

// Runs `invocation` (any command but watch) on `node`, within invocation.timeout.
NodeResult RunOnNode(const Invocation& invocation, const std::string& node,
                     const std::shared_ptr<grpc::Channel>& channel);

// Ends every watch at once (Ctrl-C); thread-safe.
class WatchStop {
 public:
  void StopAll();
  bool stopped() const;
  // Waits until `deadline` or StopAll(); true when stopped.
  bool WaitUntil(std::chrono::system_clock::time_point deadline) const;

 private:
  friend class WatchRegistration;
  mutable std::mutex mutex_;
  mutable std::condition_variable stopped_changed_;
  bool stopped_ = false;                      // guarded by mutex_
  std::vector<grpc::ClientContext*> active_;  // guarded by mutex_
};

// How long a watch waits before it reconnects to a node that went away: doubling from the
// first to the longest.
inline constexpr absl::Duration kFirstReconnectDelay = absl::Milliseconds(500);
inline constexpr absl::Duration kLongestReconnectDelay = absl::Seconds(8);

// Follows the pools of `node`, calling `on_update` for each update, until the count or the
// duration of the invocation is reached or `stop` is used (each a normal end). The node must
// answer first within --timeout (or --duration, when shorter); after that, a stream that breaks
// (the node restarted, say) is reconnected with backoff, and `on_note` is told each time
// ("interrupted ..., reconnecting", "resumed").
absl::Status WatchNode(const Invocation& invocation, const std::string& node,
                       const std::shared_ptr<grpc::Channel>& channel, WatchStop& stop,
                       const std::function<void(const v1::WatchBackendsResponse&)>& on_update,
                       const std::function<void(const std::string&)>& on_note);

}  // namespace plby::ctl
