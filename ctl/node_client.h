// NodeClient: the calls one command makes on one node, within one deadline (--timeout).
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "plby/v1/control.grpc.pb.h"

namespace plby::ctl {

absl::Status ToAbsl(const grpc::Status& status);

// Waits for `channel` to connect, until `deadline`, in slices so that `stopped` (if given)
// ends the wait early. True once connected.
bool WaitForConnected(grpc::Channel& channel, std::chrono::system_clock::time_point deadline,
                      const std::function<bool()>& stopped = nullptr);

// gRPC's words for a call that failed before it left this process: no connection to the node.
bool NeverReachedTheNode(const grpc::Status& status);

class NodeClient {
 public:
  NodeClient(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout);

  // A call that never reached the node waits for the channel to connect, within the deadline,
  // and is made again; it never left this process, so this is safe for changes too. That covers
  // a node that is restarting, and a bug of gRPC 1.51 (Debian 12's): its connect path reads
  // errno after other calls have run, so a connect still in progress can fail at once, as
  // "No such file or directory" (grpc/grpc#35064, fixed in 1.61). A node that does not come up
  // in time gets the first error, which names the cause ("Connection refused", say).
  template <typename Request, typename Response>
  absl::Status Call(grpc::Status (v1::Control::Stub::*method)(grpc::ClientContext*, const Request&,
                                                              Response*),
                    const Request& request, Response* response) {
    std::optional<grpc::Status> first_failure;
    while (true) {
      grpc::ClientContext context;
      context.set_deadline(deadline_);
      grpc::Status status = ((*stub_).*method)(&context, request, response);
      if (!NeverReachedTheNode(status)) return ToAbsl(status);
      if (!first_failure) first_failure = status;
      if (!WaitForConnected(*channel_, deadline_)) return NotConnected(*first_failure);
    }
  }

 private:
  absl::Status NotConnected(const grpc::Status& first_failure) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Control::Stub> stub_;
  absl::Duration timeout_;
  std::chrono::system_clock::time_point deadline_;
};

}  // namespace plby::ctl
