#include "desired_pools.h"

#include "absl/strings/str_cat.h"
#include "tls/digest.h"

namespace plby::ctl {

absl::StatusOr<DesiredPools> LoadDesiredPools(const std::string& path) {
  absl::StatusOr<std::string> text = config::ReadConfigText(path);
  if (!text.ok()) return text.status();
  return ParseDesiredPools(*text, path);
}

absl::StatusOr<DesiredPools> ParseDesiredPools(absl::string_view text, const std::string& source) {
  absl::StatusOr<config::Config> parsed =
      config::ParseConfig(text, source, {.touch_the_world = false, .desired_pools = true});
  if (!parsed.ok()) return parsed.status();
  DesiredPools desired{.source = source,
                       .content_hash = absl::StrCat("sha256:", tls::Sha256Hex(text)),
                       .pools = std::move(parsed->pools),
                       .notes = std::move(parsed->warnings)};
  const config::PoolConfig defaults;
  for (const config::PoolConfig& pool : desired.pools) {
    if (pool.discover) {
      desired.notes.push_back(absl::StrCat(
          source, ":", pool.line, ":1: pool \"", pool.name, "\" discovers its backends (dns ",
          pool.discover->dns.ToString(),
          "): apply sets its balancing only; its backends are what the name resolves to on "
          "each node"));
    }
    if (pool.connect_timeout != defaults.connect_timeout ||
        pool.idle_timeout != defaults.idle_timeout || !(pool.health == defaults.health) ||
        pool.send_proxy != defaults.send_proxy || pool.tls.has_value()) {
      desired.notes.push_back(absl::StrCat(
          source, ":", pool.line, ":1: pool \"", pool.name,
          "\": its timeouts, health checks, send_proxy and tls are start settings: a node "
          "takes them when it "
          "starts with this file; apply does not change them on running nodes"));
    }
  }
  return desired;
}

}  // namespace plby::ctl
