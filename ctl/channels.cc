#include "channels.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace plby::ctl {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  if (!file || text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " \"", path, "\": ", !file ? "cannot read it" : "not PEM (no \"-----BEGIN\" block)"));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<ChannelFactory> ChannelFactory::Create(const TlsFiles& tls) {
  ChannelFactory factory;
  factory.tls_ = tls.enabled();
  factory.server_name_ = tls.server_name;
  for (auto [flag, path, pem] : {std::tuple{"--ca", &tls.ca, &factory.ca_pem_},
                                 std::tuple{"--cert", &tls.cert, &factory.cert_pem_},
                                 std::tuple{"--key", &tls.key, &factory.key_pem_}}) {
    absl::StatusOr<std::string> text = ReadPem(flag, *path);
    if (!text.ok()) return text.status();
    *pem = *std::move(text);
  }
  return factory;
}

std::shared_ptr<grpc::Channel> ChannelFactory::ChannelTo(const std::string& node,
                                                         const std::string& name) const {
  grpc::ChannelArguments arguments;
  // Each invocation is short-lived: fail fast instead of retrying a dead node until the
  // deadline, so that its error names the cause.
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  if (!tls_) {
    return grpc::CreateCustomChannel(node, grpc::InsecureChannelCredentials(), arguments);
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_cert_chain = cert_pem_;
  options.pem_private_key = key_pem_;
  const std::string& expected = !server_name_.empty() ? server_name_ : name;
  if (!expected.empty()) arguments.SetSslTargetNameOverride(expected);
  return grpc::CreateCustomChannel(node, grpc::SslCredentials(options), arguments);
}

}  // namespace plby::ctl
