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
  const RouteTable table({{.server_names = {"*.example.com"}},
                          {.server_names = {}},
                          {.server_names = {"api.example.com", "api.example.org"}}});
  EXPECT_THAT(table.Match({.server_name = "api.example.com"}), Optional(0u));
  EXPECT_THAT(table.Match({.server_name = "api.example.org"}), Optional(2u));
  EXPECT_THAT(table.Match({.server_name = "other.test"}), Optional(1u));
  EXPECT_THAT(table.Match({.server_name = ""}), Optional(1u));
  EXPECT_THAT(table.default_route(), Optional(1u));

  const RouteTable no_default({{.server_names = {"a.test"}}});
  EXPECT_THAT(no_default.Match({.server_name = "a.test"}), Optional(0u));
  EXPECT_EQ(no_default.Match({.server_name = "b.test"}), std::nullopt);
  EXPECT_EQ(no_default.Match({.server_name = ""}), std::nullopt);
}

}  // namespace
}  // namespace plby::route
