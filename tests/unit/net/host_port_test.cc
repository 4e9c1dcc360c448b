#include "net/host_port.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/socket_address.h"

namespace plby::net {
namespace {

using ::testing::HasSubstr;

TEST(HostPortTest, ParsesIPv4IPv6AndNames) {
  auto v4 = ParseHostPort("127.0.0.1:8080", PortZero::kRefuse);
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->kind, HostPort::Kind::kIPv4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);

  auto v6 = ParseHostPort("[::1]:443", PortZero::kRefuse);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->kind, HostPort::Kind::kIPv6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:443");

  auto name = ParseHostPort("Backend-1.Example.org:80", PortZero::kRefuse);
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->kind, HostPort::Kind::kName);
  EXPECT_EQ(name->ToString(), "backend-1.example.org:80");
}

TEST(HostPortTest, PortZeroOnlyWhereAllowed) {
  EXPECT_TRUE(ParseHostPort("0.0.0.0:0", PortZero::kAllow).ok());
  auto refused = ParseHostPort("10.0.0.1:0", PortZero::kRefuse);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("port 0 is out of range (valid: 1-65535)"));
}

struct BadAddress {
  const char* text;
  const char* why;
};

class BadHostPortTest : public ::testing::TestWithParam<BadAddress> {};

TEST_P(BadHostPortTest, IsRefusedWithTheReason) {
  auto parsed = ParseHostPort(GetParam().text, PortZero::kRefuse);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr(GetParam().why));
  EXPECT_THAT(parsed.status().message(), HasSubstr(std::string("\"") + GetParam().text + "\""));
  EXPECT_THAT(parsed.status().message(), HasSubstr("(valid: "));
}

INSTANTIATE_TEST_SUITE_P(
    All, BadHostPortTest,
    ::testing::Values(BadAddress{"", "empty"}, BadAddress{"127.0.0.1", "missing \":PORT\""},
                      BadAddress{"127.0.0.1:", "missing port"}, BadAddress{":8080", "missing host"},
                      BadAddress{"127.0.0.1:65536", "port 65536 is out of range (valid: 1-65535)"},
                      BadAddress{"127.0.0.1:99999999999", "out of range"},
                      BadAddress{"127.0.0.1:http", "port \"http\" is not a number"},
                      BadAddress{"127.0.0.1:-1", "port \"-1\" is not a number"},
                      BadAddress{"127.0.0.1:80x", "port \"80x\" is not a number"},
                      BadAddress{"::1:8080", "must be written in brackets"},
                      BadAddress{"[::1:8080", "missing ']'"},
                      BadAddress{"[::1]8080", "missing \":PORT\" after ']'"},
                      BadAddress{"[not-v6]:80", "\"not-v6\" is not an IPv6 address"},
                      BadAddress{"300.1.1.1:80", "\"300.1.1.1\" is not an IPv4 address"},
                      BadAddress{"bad_host!:80", "is not an IP address or host name"},
                      BadAddress{"-bad.example:80", "is not an IP address or host name"}));

TEST(SocketAddressTest, ResolvesLiteralsWithoutTheResolver) {
  auto v4 = SocketAddress::Resolve(*ParseHostPort("10.1.2.3:99", PortZero::kRefuse));
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ToString(), "10.1.2.3:99");
  EXPECT_FALSE(v4->IsWildcard());
  auto v6 = SocketAddress::Resolve(*ParseHostPort("[::]:80", PortZero::kRefuse));
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->ToString(), "[::]:80");
  EXPECT_TRUE(v6->IsWildcard());
}

TEST(SocketAddressTest, ResolvesLocalhost) {
  auto address = SocketAddress::Resolve(*ParseHostPort("localhost:8080", PortZero::kRefuse));
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->port(), 8080);
  EXPECT_TRUE(address->ToString() == "127.0.0.1:8080" || address->ToString() == "[::1]:8080")
      << address->ToString();
}

}  // namespace
}  // namespace plby::net
