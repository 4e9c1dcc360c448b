#include "config/config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/toml.h"
#include "config/toml_guard.h"
#include "config/validator.h"
#include "files/read_file.h"

namespace plby::config {

using detail::PlacedListener;
using detail::PlaceListeners;
using detail::ToAbsl;
using detail::ToStd;
using detail::Validator;

bool ServerConfig::reads_client_hello() const {
  if (tls) return true;  // for the route and the certificate
  for (const RouteConfig& route : routes) {
    if (route.tls == RouteTls::kPassthrough) return true;
  }
  return false;
}

const std::string& ServerConfig::pool() const {
  for (const RouteConfig& route : routes) {
    if (route.sni.empty()) return route.pool;
  }
  return routes.front().pool;
}

const PoolConfig* Config::FindPool(absl::string_view name) const {
  for (const PoolConfig& pool : pools) {
    if (pool.name == name) return &pool;
  }
  return nullptr;
}

absl::StatusOr<Config> ParseConfig(absl::string_view toml_text, absl::string_view source_name,
                                   const ParseOptions& options) {
  toml_text = WithoutByteOrderMark(toml_text);
  if (absl::Status guarded = CheckNonAsciiOnlyInComments(toml_text, source_name); !guarded.ok()) {
    return guarded;
  }
  toml::table root;
  try {
    root = toml::parse(ToStd(toml_text), ToStd(source_name));
  } catch (const toml::parse_error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", error.source().begin.line, ":", error.source().begin.column,
                     ": TOML syntax error: ", ToAbsl(error.description())));
  }
  Validator validator(source_name, options);
  Config config = validator.Run(root);
  if (!validator.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(validator.errors(), "\n"));
  }
  config.warnings = std::move(validator.warnings());
  return config;
}

net::OwnListeners OwnListenersOf(const Config& config) {
  net::OwnListeners own;
  for (PlacedListener& placed : PlaceListeners(config, [](const std::string&) { return 0; })) {
    own.Add(std::move(placed.listener));
  }
  return own;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigText(path);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

absl::StatusOr<std::string> ReadConfigText(const std::string& path) {
  absl::StatusOr<std::string> text = files::ReadFile(path, files::kMaxConfigBytes);
  if (!text.ok()) {
    return absl::Status(
        text.status().code(),
        absl::StrCat(path, ": cannot read the configuration file: ", text.status().message()));
  }
  return text;
}

}  // namespace plby::config
