#include "route/route_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::route {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

TEST(SniPatternTest, NormalizesAndRefuses) {
  EXPECT_EQ(*NormalizeSniPattern("API.Example.COM."), "api.example.com");
  EXPECT_EQ(*NormalizeSniPattern("*.example.com"), "*.example.com");
  for (const char* bad : {"", ".", "a..b", "*", "a.*.com", "*a.example.com", "a+b.com",
                          "exa mple.com", "*.*.example.com"}) {
    absl::StatusOr<std::string> pattern = NormalizeSniPattern(bad);
    EXPECT_FALSE(pattern.ok()) << bad;
    EXPECT_THAT(pattern.status().message(), HasSubstr("valid: a DNS name")) << bad;
  }
  EXPECT_THAT(NormalizeSniPattern(std::string(300, 'a')).status().message(),
              HasSubstr("longer than 253"));
  EXPECT_THAT(NormalizeSniPattern(std::string(64, 'a') + ".com").status().message(),
              HasSubstr("label over 63"));
}

TEST(SniPatternTest, WildcardsStandForOneLabel) {
  EXPECT_TRUE(SniMatches("api.example.com", "api.example.com"));
  EXPECT_FALSE(SniMatches("api.example.com", "www.example.com"));
  EXPECT_TRUE(SniMatches("*.example.com", "a.example.com"));
  EXPECT_FALSE(SniMatches("*.example.com", "example.com"));
  EXPECT_FALSE(SniMatches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(SniMatches("*.example.com", ".example.com"));
  EXPECT_FALSE(SniMatches("*.example.com", "aexample.com"));
}

TEST(RouteTableTest, FirstMatchWinsAndTheDefaultTakesTheRest) {
  const RouteTable table({{.server_names = {"*.example.com"}, .http = {}},
                          {.server_names = {}, .http = {}},
                          {.server_names = {"api.example.com", "api.example.org"}, .http = {}}});
  EXPECT_THAT(table.Match({.server_name = "api.example.com"}), Optional(0u));
  EXPECT_THAT(table.Match({.server_name = "api.example.org"}), Optional(2u));
  EXPECT_THAT(table.Match({.server_name = "other.test"}), Optional(1u));
  EXPECT_THAT(table.Match({.server_name = ""}), Optional(1u));
  EXPECT_THAT(table.default_route(), Optional(1u));

  const RouteTable no_default({{.server_names = {"a.test"}, .http = {}}});
  EXPECT_THAT(no_default.Match({.server_name = "a.test"}), Optional(0u));
  EXPECT_EQ(no_default.Match({.server_name = "b.test"}), std::nullopt);
  EXPECT_EQ(no_default.Match({.server_name = ""}), std::nullopt);
}

RouteTable::Route Http(HttpMatch match) { return {.server_names = {}, .http = std::move(match)}; }

TEST(RouteTableTest, RequestsTakeTheFirstRouteWhoseConditionsAllHold) {
  const http::Header canary[] = {{.name = "X-Canary", .value = "1"}};
  const http::Header other[] = {{.name = "x-canary", .value = "2"}};
  const RouteTable table({
      Http({.hosts = {"api.example.com", "*.api.example.com"},
            .path = "",
            .path_is_prefix = false,
            .methods = {},
            .headers = {}}),
      Http({}),  // the default, wherever it is listed
      Http({.hosts = {}, .path = "/static/", .path_is_prefix = true, .methods = {}, .headers = {}}),
      Http({.hosts = {},
            .path = "/login",
            .path_is_prefix = false,
            .methods = {"POST"},
            .headers = {{"x-canary", "1"}}}),
  });
  const auto match = [&](absl::string_view host, absl::string_view path, absl::string_view method,
                         std::span<const http::Header> headers) {
    return table.MatchRequest({.host = host, .path = path, .method = method, .headers = headers});
  };
  EXPECT_THAT(match("api.example.com", "/static/x", "GET", {}), Optional(0u));
  EXPECT_THAT(match("v2.api.example.com", "/", "GET", {}), Optional(0u));
  EXPECT_THAT(match("other.test", "/static/x", "GET", {}), Optional(2u));
  EXPECT_THAT(match("other.test", "/static", "GET", {}), Optional(1u));
  EXPECT_THAT(match("other.test", "/login", "POST", canary), Optional(3u));
  EXPECT_THAT(match("other.test", "/login", "GET", canary), Optional(1u));
  EXPECT_THAT(match("other.test", "/login", "POST", other), Optional(1u));
  EXPECT_THAT(match("other.test", "/login/x", "POST", canary), Optional(1u));
  EXPECT_THAT(match("other.test", "/login", "post", canary), Optional(1u));  // case-sensitive

  const RouteTable no_default({Http(
      {.hosts = {"a.test"}, .path = "", .path_is_prefix = false, .methods = {}, .headers = {}})});
  EXPECT_EQ(
      no_default.MatchRequest({.host = "b.test", .path = "/", .method = "GET", .headers = {}}),
      std::nullopt);
}

TEST(RouteTableTest, RequestHostsAreNormalized) {
  std::string host;
  for (const auto& [given, normalized] :
       std::vector<std::pair<std::string, std::string>>{{"API.Example.com", "api.example.com"},
                                                        {"api.example.com:8080", "api.example.com"},
                                                        {"api.example.com.", "api.example.com"},
                                                        {"api.example.com.:80", "api.example.com"},
                                                        {"[::1]:8080", "[::1]"},
                                                        {"[::1]", "[::1]"},
                                                        {"", ""}}) {
    NormalizeRequestHost(given, host);
    EXPECT_EQ(host, normalized) << given;
  }
}

}  // namespace
}  // namespace plby::route
