// [control]: the gRPC control service, its mTLS files and the state file.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/validator.h"
#include "text/quote.h"
#include "tls/certificates.h"

namespace plby::config::detail {

void Validator::ReadControl(const toml::table& root, ControlConfig& control) {
  // The default is a literal, so it always parses and resolves.
  control.listen = *net::ParseHostPort(kDefaultControlListen, net::AddressUse::kListen);
  control.listen_address = *net::SocketAddress::Resolve(control.listen);
  const toml::node* node = root.get("control");
  if (node == nullptr) return;
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    Error(node->source(),
          absl::StrCat("control: expected a table ([control]), got a ", TypeName(*node)));
    return;
  }
  CheckKeys(*table, "[control]",
            {"listen", "health_listen", "tls_cert", "tls_key", "tls_client_ca",
             "allow_insecure_remote", "state_file", "ready_after_sync"});
  if (auto state =
          GetString(*table, "state_file", "control.state_file", "/var/lib/plby/state.toml")) {
    if (state->empty()) {
      Error(table->get("state_file")->source(),
            "control.state_file: empty (leave the key out to keep changes in memory only)");
    } else {
      control.state_file = ResolveRelative(*state);
    }
  }
  net::SocketAddress resolved;
  if (auto listen =
          GetAddress(*table, "listen", "control.listen", net::AddressUse::kListen, &resolved)) {
    control.listen = *listen;
    control.listen_address = resolved;
  }
  if (auto health = GetAddress(*table, "health_listen", "control.health_listen",
                               net::AddressUse::kListen, &resolved)) {
    control.health_listen = *health;
    control.health_listen_address = resolved;
  }
  if (auto insecure = GetBool(*table, "allow_insecure_remote", "control.allow_insecure_remote")) {
    control.allow_insecure_remote = *insecure;
  }
  if (auto after_sync = GetBool(*table, "ready_after_sync", "control.ready_after_sync")) {
    control.ready_after_sync = *after_sync;
  }
  ReadControlTls(*table, control);
  const bool loopback = control.listen_address.IsLoopback();
  if (!control.tls && !loopback && !control.allow_insecure_remote) {
    const toml::node* listen = table->get("listen");
    Error(listen != nullptr ? listen->source() : table->source(),
          absl::StrCat("control.listen \"", control.listen.ToString(),
                       "\" is not a loopback address, and the control service (which can "
                       "change where traffic goes) has no TLS: set tls_cert, tls_key and "
                       "tls_client_ca for mTLS, or allow_insecure_remote = true to accept "
                       "plaintext control from the network"));
  }
}

void Validator::ReadControlTls(const toml::table& table, ControlConfig& control) {
  struct File {
    absl::string_view key;
    std::string* path;
    std::string* pem;
  };
  ControlTls tls;
  const File files[] = {{"tls_cert", &tls.cert_file, &tls.cert_pem},
                        {"tls_key", &tls.key_file, &tls.key_pem},
                        {"tls_client_ca", &tls.client_ca_file, &tls.client_ca_pem}};
  int present = 0;
  bool ok = true;
  for (const File& file : files) {
    std::optional<std::string> path =
        GetString(table, file.key, absl::StrCat("control.", file.key), "/etc/plby/tls.pem");
    if (!path) {
      ok = ok && table.get(ToStd(file.key)) == nullptr;
      continue;
    }
    ++present;
    *file.path = ResolveRelative(*path);
    const toml::source_region& where = table.get(ToStd(file.key))->source();
    absl::StatusOr<std::string> pem =
        options_.touch_the_world ? ReadSmallFile(*file.path)
                                 : absl::StatusOr<std::string>("-----BEGIN (not read)-----");
    if (!pem.ok()) {
      Error(where, absl::StrCat("control.", file.key, " ", text::Quote(*path), ": ",
                                pem.status().message()));
      ok = false;
    } else if (pem->find("-----BEGIN ") == std::string::npos) {
      Error(where, absl::StrCat("control.", file.key, " ", text::Quote(*path),
                                ": not PEM (expected a \"-----BEGIN ...\" block)"));
      ok = false;
    } else {
      *file.pem = *std::move(pem);
    }
  }
  if (present == 0) return;
  if (present != 3) {
    Error(table.source(),
          "[control]: tls_cert, tls_key and tls_client_ca go together: the "
          "control service takes TLS only with client certificates (mTLS)");
    return;
  }
  if (ok && options_.touch_the_world) ok = CheckControlTls(table, tls);
  if (ok) control.tls = std::move(tls);
}

bool Validator::CheckControlTls(const toml::table& table, const ControlTls& tls) {
  const auto where = [&](absl::string_view key) { return table.get(ToStd(key))->source(); };
  // Named as written in the file.
  const auto named = [&](absl::string_view key) {
    return absl::StrCat("control.", key, " ",
                        text::Quote(table.get(ToStd(key))->as_string()->get()));
  };
  bool ok = true;
  const absl::Time now = absl::Now();
  absl::StatusOr<std::vector<tls::CertificateFacts>> chain = tls::ReadCertificates(tls.cert_pem);
  if (!chain.ok()) {
    Error(where("tls_cert"), absl::StrCat(named("tls_cert"), ": ", chain.status().message()));
    ok = false;
  } else if (std::string warning = tls::ExpiryWarning(chain->front(), now); !warning.empty()) {
    Warn(where("tls_cert"), absl::StrCat(named("tls_cert"), ": ", warning));
  }
  if (absl::Status key = tls::CheckPrivateKey(tls.key_pem, chain.ok() ? tls.cert_pem : "");
      !key.ok()) {
    Error(where("tls_key"), absl::StrCat(named("tls_key"), ": ", key.message()));
    ok = false;
  }
  if (absl::StatusOr<std::vector<tls::CertificateFacts>> cas = tls::ReadCaBundle(tls.client_ca_pem);
      !cas.ok()) {
    Error(where("tls_client_ca"),
          absl::StrCat(named("tls_client_ca"), ": ", cas.status().message()));
    ok = false;
  } else {
    for (const tls::CertificateFacts& ca : *cas) {
      if (std::string warning = tls::ExpiryWarning(ca, now); !warning.empty()) {
        Warn(where("tls_client_ca"), absl::StrCat(named("tls_client_ca"), ": ", warning));
      }
    }
  }
  return ok;
}

}  // namespace plby::config::detail
