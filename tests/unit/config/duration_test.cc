#include "config/duration.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::config {
namespace {

TEST(DurationTest, ParsesEachUnit) {
  EXPECT_EQ(*ParseDuration("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDuration("3s"), absl::Seconds(3));
  EXPECT_EQ(*ParseDuration("2m"), absl::Minutes(2));
  EXPECT_EQ(*ParseDuration("1h"), absl::Hours(1));
}

TEST(DurationTest, RefusesWhatIsNotANumberAndAUnit) {
  for (const char* bad : {"", "3", "s", "3 s", "1.5s", "-1s", "3sec", "3S"}) {
    auto parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(), ::testing::HasSubstr("valid: a whole number and a unit"))
        << bad;
  }
}

}  // namespace
}  // namespace plby::config
