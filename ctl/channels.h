// Channels to the nodes' control services: plaintext, or TLS with the files named on the
// command line (read once, before any node is contacted).
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cli.h"

namespace plby::ctl {

class ChannelFactory {
 public:
  // Reads the TLS files, if any; an unreadable file is an error naming it.
  static absl::StatusOr<ChannelFactory> Create(const TlsFiles& tls);

  // A channel to `node` (HOST:PORT). Connecting happens on the first call. With TLS, the node's
  // certificate is checked against --tls-server-name, else `name` (the fleet's name, for a node
  // found through one), else the node's own host.
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& node,
                                           const std::string& name = "") const;

 private:
  bool tls_ = false;
  std::string ca_pem_;
  std::string cert_pem_;
  std::string key_pem_;
  std::string server_name_;
};

}  // namespace plby::ctl
