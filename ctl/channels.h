// Channels to the nodes' control services: plaintext, or TLS with the files named on the
// command line (read once, before any node is contacted).
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli.h"

namespace plby::ctl {

class ChannelFactory {
 public:
  // Reads the TLS files, if any, and checks them before any node is dialed: each must hold
  // what its flag says (a CA, a certificate that is valid now and allows client
  // authentication, that certificate's key). An error names the flag, the file and the problem.
  static absl::StatusOr<ChannelFactory> Create(const TlsFiles& tls);

  // After a call to `node` failed in the TLS handshake (UNAVAILABLE, which gRPC reports with
  // little detail): what is wrong with the node's certificate as this client sees it, or OK
  // when nothing is (or TLS is off). Makes a handshake of its own, within `timeout`.
  absl::Status DiagnoseHandshake(const std::string& node, const std::string& name,
                                 absl::Duration timeout) const;

  bool tls() const { return tls_; }

  // A channel to `node` (HOST:PORT). Connecting happens on the first call. With TLS, the node's
  // certificate is checked against --tls-server-name, else `name` (the fleet's name, for a node
  // found through one), else the node's own host.
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& node,
                                           const std::string& name = "") const;

 private:
  static absl::Status CheckFiles(const TlsFiles& tls, const ChannelFactory& factory);

  bool tls_ = false;
  std::string ca_pem_;
  std::string cert_pem_;
  std::string key_pem_;
  std::string server_name_;
};

}  // namespace plby::ctl
