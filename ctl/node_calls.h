// What plbyctl does on one node: the calls behind each command, and their result.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
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
  std::vector<v1::Backend> backends;
  v1::Backend backend;     // the one a change was about
  bool unchanged = false;  // add --if-absent: it was already there
};

// Runs `invocation` (any command but watch) on `node`, within invocation.timeout.
NodeResult RunOnNode(const Invocation& invocation, const std::string& node,
                     const std::shared_ptr<grpc::Channel>& channel);

// Ends every watch at once (Ctrl-C); thread-safe.
class WatchStop {
 public:
  void StopAll();
  bool stopped() const;

 private:
  friend class WatchRegistration;
  mutable std::mutex mutex_;
  bool stopped_ = false;                      // guarded by mutex_
  std::vector<grpc::ClientContext*> active_;  // guarded by mutex_
};

// Follows the pools of `node`, calling `on_update` for each update, until the count or the
// duration of the invocation is reached, `stop` is used (both a normal end), or the stream
// fails. --timeout bounds how long the node may take to connect.
absl::Status WatchNode(const Invocation& invocation, const std::string& node,
                       const std::shared_ptr<grpc::Channel>& channel, WatchStop& stop,
                       const std::function<void(const v1::WatchBackendsResponse&)>& on_update);

}  // namespace plby::ctl
