#include "route/route_table.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace plby::route {
namespace {

constexpr size_t kMaxNameLength = 253;  // RFC 1035, in text form without the trailing dot
constexpr size_t kMaxLabelLength = 63;

// As plby's host names (net/host_port.h): underscores too, for container names.
bool IsLabelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// At most 64 bytes of `text`, quoted, for messages: a pattern comes from the config.
std::string QuoteShort(absl::string_view text) {
  if (text.size() <= 64) return absl::StrCat("\"", text, "\"");
  return absl::StrCat("\"", text.substr(0, 64), "...\"");
}

}  // namespace

absl::StatusOr<std::string> NormalizeSniPattern(absl::string_view text) {
  std::string name = absl::AsciiStrToLower(text);
  if (absl::EndsWith(name, ".")) name.pop_back();
  const auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server name ", QuoteShort(text), " ", why,
        " (valid: a DNS name such as \"api.example.com\", or \"*.example.com\" for one label "
        "in front of example.com)"));
  };
  if (name.empty()) return refuse("is empty");
  if (name.size() > kMaxNameLength) return refuse("is longer than 253 characters");
  bool first = true;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty()) return refuse("has an empty label");
    if (label.size() > kMaxLabelLength) return refuse("has a label over 63 characters");
    if (label == "*") {
      if (!first) return refuse("has a '*' that is not the whole first label");
      if (name.size() == 1) return refuse("is only a wildcard");
    } else {
      for (char c : label) {
        if (c == '*') return refuse("has a '*' that is not the whole first label");
        if (!IsLabelChar(c)) {
          return refuse(absl::StrCat("has the character ", QuoteShort(std::string(1, c)),
                                     ", which a DNS name cannot hold"));
        }
      }
    }
    first = false;
  }
  return name;
}

bool SniMatches(absl::string_view pattern, absl::string_view server_name) {
  if (!absl::StartsWith(pattern, "*.")) return pattern == server_name;
  // "*.example.com": one non-empty label, then ".example.com".
  const absl::string_view suffix = pattern.substr(1);
  if (server_name.size() <= suffix.size() || !absl::EndsWith(server_name, suffix)) return false;
  const absl::string_view label = server_name.substr(0, server_name.size() - suffix.size());
  return !absl::StrContains(label, '.');
}

std::string Describe(const HttpMatch& match) {
  std::vector<std::string> parts;
  if (!match.hosts.empty()) parts.push_back(absl::StrCat("host=", absl::StrJoin(match.hosts, ",")));
  if (!match.path.empty()) {
    parts.push_back(absl::StrCat(match.path_is_prefix ? "path_prefix=" : "path=", match.path));
  }
  if (!match.methods.empty()) {
    parts.push_back(absl::StrCat("methods=", absl::StrJoin(match.methods, ",")));
  }
  if (!match.headers.empty()) {
    parts.push_back(absl::StrCat(
        "headers=", absl::StrJoin(match.headers, ",", [](std::string* out, const auto& header) {
          absl::StrAppend(out, header.first, ":", header.second);
        })));
  }
  return absl::StrJoin(parts, " ");
}

void NormalizeRequestHost(absl::string_view host, std::string& out) {
  if (absl::StartsWith(host, "[")) {
    const size_t close = host.find(']');
    if (close != absl::string_view::npos) host = host.substr(0, close + 1);
  } else if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (absl::EndsWith(host, ".")) host.remove_suffix(1);
  out.assign(host.data(), host.size());
  absl::AsciiStrToLower(&out);
}

RouteTable::RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].server_names.empty() && routes_[i].http.empty() && !default_) default_ = i;
  }
}

namespace {

bool HostMatches(const HttpMatch& match, absl::string_view host) {
  if (match.hosts.empty()) return true;
  for (const std::string& pattern : match.hosts) {
    if (SniMatches(pattern, host)) return true;
  }
  return false;
}

bool PathMatches(const HttpMatch& match, absl::string_view path) {
  if (match.path.empty()) return true;
  return match.path_is_prefix ? absl::StartsWith(path, match.path) : path == match.path;
}

bool MethodMatches(const HttpMatch& match, absl::string_view method) {
  if (match.methods.empty()) return true;
  for (const std::string& allowed : match.methods) {
    if (allowed == method) return true;
  }
  return false;
}

bool HeadersMatch(const HttpMatch& match, std::span<const http::Header> headers) {
  for (const auto& [name, value] : match.headers) {
    bool found = false;
    for (const http::Header& header : headers) {
      if (header.value == value && http::EqualsIgnoreCase(header.name, name)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

std::optional<size_t> RouteTable::MatchRequest(const HttpRequestFacts& facts) const {
  for (size_t i = 0; i < routes_.size(); ++i) {
    const HttpMatch& match = routes_[i].http;
    if (match.empty()) continue;  // the default: taken only when nothing else matches
    if (HostMatches(match, facts.host) && PathMatches(match, facts.path) &&
        MethodMatches(match, facts.method) && HeadersMatch(match, facts.headers)) {
      return i;
    }
  }
  return default_;
}

std::optional<size_t> RouteTable::Match(const RouteFacts& facts) const {
  if (!facts.server_name.empty()) {
    for (size_t i = 0; i < routes_.size(); ++i) {
      for (const std::string& pattern : routes_[i].server_names) {
        if (SniMatches(pattern, facts.server_name)) return i;
      }
    }
  }
  return default_;
}

}  // namespace plby::route
