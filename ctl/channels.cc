#include "channels.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "files/read_file.h"
#include "net/host_port.h"
#include "node_calls.h"
#include "text/quote.h"
#include "tls/certificates.h"

namespace plby::ctl {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  if (path.empty()) return std::string();
  absl::StatusOr<std::string> text = files::ReadFile(path, files::kMaxPemBytes);
  if (!text.ok() || text->find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", text::Quote(path), ": ",
                     !text.ok() ? absl::StrCat("cannot read it: ", text.status().message())
                                : "not PEM (no \"-----BEGIN\" block)"));
  }
  return text;
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
  if (absl::Status files = CheckFiles(tls, factory); !files.ok()) return files;
  return factory;
}

absl::Status ChannelFactory::CheckFiles(const TlsFiles& tls, const ChannelFactory& factory) {
  const auto named = [](absl::string_view flag, const std::string& path) {
    return absl::StrCat(flag, " ", text::Quote(path), ": ");
  };
  if (!factory.ca_pem_.empty()) {
    if (absl::StatusOr<std::vector<tls::CertificateFacts>> ca = tls::ReadCaBundle(factory.ca_pem_);
        !ca.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(named("--ca", tls.ca), ca.status().message()));
    }
  }
  if (factory.cert_pem_.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<tls::CertificateFacts>> chain =
      tls::ReadCertificates(factory.cert_pem_);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(named("--cert", tls.cert), chain.status().message()));
  }
  const tls::CertificateFacts& leaf = chain->front();
  // Expired or not valid yet: the node would refuse it, so say so now. (Soon to expire is
  // worth no refusal.)
  if (std::string expiry = tls::ExpiryWarning(leaf, absl::Now(), absl::ZeroDuration());
      !expiry.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(named("--cert", tls.cert), expiry));
  }
  if (!leaf.client_auth) {
    return absl::InvalidArgumentError(absl::StrCat(
        named("--cert", tls.cert), "the certificate ", leaf.subject,
        " is not for clients: its extended key usage lacks clientAuth (a server certificate?)"));
  }
  if (absl::Status key = tls::CheckPrivateKey(factory.key_pem_, factory.cert_pem_); !key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(named("--key", tls.key), key.message()));
  }
  return absl::OkStatus();
}

absl::Status ChannelFactory::DiagnoseHandshake(const std::string& node, const std::string& name,
                                               absl::Duration timeout) const {
  if (!tls_) return absl::OkStatus();
  std::string expected = !server_name_.empty() ? server_name_ : name;
  if (expected.empty()) {
    absl::StatusOr<net::HostPort> address = net::ParseHostPort(node, net::AddressUse::kConnect);
    if (address.ok()) expected = address->host;
  }
  return tls::CheckServerCertificate(node, ca_pem_, expected, timeout);
}

std::shared_ptr<grpc::Channel> ChannelFactory::ChannelTo(const std::string& node,
                                                         const std::string& name) const {
  grpc::ChannelArguments arguments;
  // Each invocation is short-lived: fail fast instead of retrying a dead node until the
  // deadline, so that its error names the cause.
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // A watch reconnects to a node that restarted: within seconds, not gRPC's default of up to
  // two minutes between attempts.
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                   static_cast<int>(absl::ToInt64Milliseconds(kFirstReconnectDelay)));
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                   static_cast<int>(absl::ToInt64Milliseconds(kFirstReconnectDelay)));
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                   static_cast<int>(absl::ToInt64Milliseconds(kLongestReconnectDelay)));
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
