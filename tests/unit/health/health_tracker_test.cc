#include "health/health_tracker.h"

#include "gtest/gtest.h"

namespace plby::health {
namespace {

using pool::Health;

TEST(HealthTrackerTest, FallFailuresInARowMakeUnhealthyRiseSuccessesMakeHealthy) {
  HealthTracker tracker(/*rise=*/2, /*fall=*/3);
  EXPECT_EQ(tracker.health(), Health::kUnknown);
  EXPECT_EQ(tracker.Record(false), Health::kUnknown);
  EXPECT_EQ(tracker.Record(false), Health::kUnknown);
  EXPECT_EQ(tracker.Record(true), Health::kUnknown) << "a success breaks the streak";
  EXPECT_EQ(tracker.Record(true), Health::kHealthy);
  EXPECT_EQ(tracker.Record(false), Health::kHealthy);
  EXPECT_EQ(tracker.Record(false), Health::kHealthy);
  EXPECT_EQ(tracker.Record(false), Health::kUnhealthy);
  EXPECT_EQ(tracker.Record(true), Health::kUnhealthy);
  EXPECT_EQ(tracker.Record(true), Health::kHealthy);
}

TEST(HealthTrackerTest, APassiveMarkNeedsRiseGoodChecksToUndo) {
  HealthTracker tracker(/*rise=*/2, /*fall=*/2);
  tracker.Record(true);
  tracker.Record(true);
  tracker.MarkUnhealthy();
  EXPECT_EQ(tracker.health(), Health::kUnhealthy);
  EXPECT_EQ(tracker.Record(true), Health::kUnhealthy);
  EXPECT_EQ(tracker.Record(true), Health::kHealthy);
}

}  // namespace
}  // namespace plby::health
