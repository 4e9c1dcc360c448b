#include "fleet.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"
#include "net/socket_address.h"

namespace plby::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

net::HostPort Name(const std::string& text) {
  return *net::ParseHostPort(text, net::AddressUse::kConnect);
}

// ResolveFleet with names looked up in `hosts_file` (PLBY_HOSTS_FILE), or the system resolver.
absl::StatusOr<std::vector<std::string>> ResolveFleet(const net::HostPort& fleet,
                                                      const std::string& hosts_file) {
  net::UseHostsFile(hosts_file);
  absl::StatusOr<std::vector<std::string>> nodes = plby::ctl::ResolveFleet(fleet);
  net::UseHostsFile("");
  return nodes;
}

TEST(FleetTest, EveryLineNamingTheHostCountsOnce) {
  testing::TempDir dir;
  const std::string hosts =
      dir.Write("hosts",
                "# the fleet\n"
                "127.0.0.2 plby-control.test other\n"
                "127.0.0.3\tPLBY-CONTROL.test  # upper case is the same name\n"
                "127.0.0.4 unrelated\n"
                "::1 plby-control.test\n"
                "127.0.0.2 plby-control.test\n");
  absl::StatusOr<std::vector<std::string>> nodes =
      ResolveFleet(Name("plby-control.test:9100"), hosts);
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  // ::1 too names the host, but IPv4 addresses win: one address per node.
  EXPECT_THAT(*nodes, ElementsAre("127.0.0.2:9100", "127.0.0.3:9100"));

  const std::string v6 = dir.Write("v6", "fd00::7 six.test\nfd00::8 six.test\n");
  absl::StatusOr<std::vector<std::string>> only_v6 = ResolveFleet(Name("six.test:9100"), v6);
  ASSERT_TRUE(only_v6.ok()) << only_v6.status();
  EXPECT_THAT(*only_v6, ElementsAre("[fd00::7]:9100", "[fd00::8]:9100"));
}

TEST(FleetTest, AnUnknownNameOrABadFileIsAnError) {
  testing::TempDir dir;
  const std::string hosts = dir.Write("hosts", "127.0.0.2 a.test\n");
  absl::StatusOr<std::vector<std::string>> missing = ResolveFleet(Name("b.test:9100"), hosts);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("--fleet b.test:9100"));

  const std::string bad = dir.Write("bad", "not-an-ip a.test\n");
  EXPECT_THAT(ResolveFleet(Name("a.test:9100"), bad).status().message(),
              HasSubstr("line 1: \"not-an-ip\" is not an IP address"));
  EXPECT_THAT(ResolveFleet(Name("a.test:9100"), dir.path() + "/none").status().message(),
              HasSubstr("cannot read it"));
}

TEST(FleetTest, AnAddressIsItsOwnFleet) {
  absl::StatusOr<std::vector<std::string>> nodes = ResolveFleet(Name("127.0.0.9:9100"), "");
  ASSERT_TRUE(nodes.ok());
  EXPECT_THAT(*nodes, ElementsAre("127.0.0.9:9100"));
}

TEST(FleetTest, TheSystemResolverIsUsedWithoutAHostsFile) {
  absl::StatusOr<std::vector<std::string>> nodes = ResolveFleet(Name("localhost:9100"), "");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_FALSE(nodes->empty());
  EXPECT_EQ(ResolveFleet(Name("no-such-name.invalid:9100"), "").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace plby::ctl
