#include "net/host_port.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/socket_address.h"

namespace plby::net {
namespace {

using ::testing::HasSubstr;

TEST(HostPortTest, ParsesIPv4IPv6AndNames) {
  auto v4 = ParseHostPort("127.0.0.1:8080", AddressUse::kConnect);
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->kind, HostPort::Kind::kIPv4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);

  auto v6 = ParseHostPort("[::1]:443", AddressUse::kConnect);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->kind, HostPort::Kind::kIPv6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:443");

  auto name = ParseHostPort("Backend-1.Example.org:80", AddressUse::kConnect);
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->kind, HostPort::Kind::kName);
  EXPECT_EQ(name->ToString(), "backend-1.example.org:80");
}

TEST(HostPortTest, PortZeroOnlyWhereAllowed) {
  EXPECT_TRUE(ParseHostPort("0.0.0.0:0", AddressUse::kListen).ok());
  auto refused = ParseHostPort("10.0.0.1:0", AddressUse::kConnect);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("port 0 is out of range (valid: 1-65535)"));
}

// One grammar, the same everywhere: the forms below are what an operator may write, each with
// its one canonical spelling.
TEST(HostPortTest, TheGrammarAndItsCanonicalForms) {
  struct Good {
    const char* text;
    HostPort::Kind kind;
    const char* canonical;
  };
  const Good good[] = {
      {"10.0.0.1:80", HostPort::Kind::kIPv4, "10.0.0.1:80"},
      {"[0:0::1]:80", HostPort::Kind::kIPv6, "[::1]:80"},
      {"[2001:DB8::1]:80", HostPort::Kind::kIPv6, "[2001:db8::1]:80"},
      // An IPv4-mapped IPv6 address is the IPv4 address it stands for.
      {"[::ffff:127.0.0.1]:21080", HostPort::Kind::kIPv4, "127.0.0.1:21080"},
      // Zones, for link-local addresses: by interface name or index.
      {"[fe80::1%lo]:80", HostPort::Kind::kIPv6, "[fe80::1%lo]:80"},
      {"[fe80::1%2]:80", HostPort::Kind::kIPv6, "[fe80::1%2]:80"},
      // Container and compose names use underscores.
      {"a_b.example:80", HostPort::Kind::kName, "a_b.example:80"},
      {"my_service_1:8080", HostPort::Kind::kName, "my_service_1:8080"},
      {"3com.example:80", HostPort::Kind::kName, "3com.example:80"},
      {"backend.example.:80", HostPort::Kind::kName, "backend.example.:80"},
      {"10.0.0.1:65535", HostPort::Kind::kIPv4, "10.0.0.1:65535"},
  };
  for (const Good& g : good) {
    auto parsed = ParseHostPort(g.text, AddressUse::kConnect);
    ASSERT_TRUE(parsed.ok()) << g.text << ": " << parsed.status();
    EXPECT_EQ(parsed->kind, g.kind) << g.text;
    EXPECT_EQ(parsed->ToString(), g.canonical) << g.text;
  }
}

struct BadAddress {
  const char* text;
  const char* why;
};

class BadHostPortTest : public ::testing::TestWithParam<BadAddress> {};

TEST_P(BadHostPortTest, IsRefusedWithTheReason) {
  auto parsed = ParseHostPort(GetParam().text, AddressUse::kConnect);
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
                      BadAddress{"127.0.0.1:+80", "port \"+80\" is not a number"},
                      // Leading zeros: "080" is not 80 to every reader (octal).
                      BadAddress{"127.0.0.1:080", "port \"080\" has a leading zero"},
                      BadAddress{"127.0.0.1:021300", "port \"021300\" has a leading zero"},
                      BadAddress{"::1:8080", "must be written in brackets"},
                      BadAddress{"[::1:8080", "missing ']'"},
                      BadAddress{"[::1]8080", "missing \":PORT\" after ']'"},
                      BadAddress{"[not-v6]:80", "\"not-v6\" is not an IPv6 address"},
                      BadAddress{"300.1.1.1:80", "\"300.1.1.1\" is not an IPv4 address"},
                      // The legacy forms inet_aton takes: dotted-quad only.
                      BadAddress{"127.1:86", "\"127.1\" is not an IPv4 address"},
                      BadAddress{"0x7f.1:85", "\"0x7f.1\" is not an IPv4 address"},
                      BadAddress{"0x7f000001:85", "its last label is a number"},
                      BadAddress{"010.0.0.1:80", "\"010.0.0.1\" is not an IPv4 address"},
                      BadAddress{"2130706433:80", "is not an IPv4 address"},
                      BadAddress{"bad_host!:80", "is not an IP address or host name"},
                      BadAddress{"-bad.example:80", "may not start or end with '-'"},
                      BadAddress{"a..b:80", "1-63 characters"},
                      // Zones: link-local only, and a real interface name or index.
                      BadAddress{"[::1%lo]:80", "applies to link-local addresses (fe80::/10) only"},
                      BadAddress{"[fe80::1%]:80", "is not an interface name or index"},
                      BadAddress{"[fe80::1%a/b]:80", "is not an interface name or index"},
                      BadAddress{"[::ffff:10.0.0.1%lo]:80", "an IPv4-mapped address has no zone"},
                      // Nothing can be connected to at these.
                      BadAddress{"0.0.0.0:80", "the unspecified address"},
                      BadAddress{"[::]:80", "the unspecified address"},
                      BadAddress{"255.255.255.255:80", "the broadcast address"},
                      BadAddress{"224.0.0.1:80", "a multicast address (224.0.0.0/4)"},
                      BadAddress{"239.255.255.250:1900", "a multicast address"},
                      BadAddress{"[ff02::1]:80", "a multicast address (ff00::/8)"}));

TEST(HostPortTest, ListenersMayBeWildcards) {
  EXPECT_TRUE(ParseHostPort("0.0.0.0:8200", AddressUse::kListen).ok());
  EXPECT_TRUE(ParseHostPort("[::]:8200", AddressUse::kListen).ok());
}

TEST(HostPortTest, AHugeValueIsQuotedInPart) {
  const std::string huge(100'000, 'a');
  auto parsed = ParseHostPort(huge + ":80x", AddressUse::kConnect);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.status().message().size(), 600u);
  EXPECT_THAT(parsed.status().message(), HasSubstr("(100004 characters, the first 100 shown)"));
}

TEST(SocketAddressTest, ResolvesLiteralsWithoutTheResolver) {
  auto v4 = SocketAddress::Resolve(*ParseHostPort("10.1.2.3:99", AddressUse::kConnect));
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ToString(), "10.1.2.3:99");
  EXPECT_FALSE(v4->IsWildcard());
  auto v6 = SocketAddress::Resolve(*ParseHostPort("[::]:80", AddressUse::kListen));
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->ToString(), "[::]:80");
  EXPECT_TRUE(v6->IsWildcard());
  auto zoned = SocketAddress::Resolve(*ParseHostPort("[fe80::1%lo]:80", AddressUse::kConnect));
  ASSERT_TRUE(zoned.ok()) << zoned.status();
  EXPECT_EQ(zoned->ToString(), "[fe80::1%lo]:80");
  auto no_such_interface =
      SocketAddress::Resolve(*ParseHostPort("[fe80::1%nosuch0]:80", AddressUse::kConnect));
  EXPECT_THAT(no_such_interface.status().message(),
              HasSubstr("zone \"nosuch0\": no network interface of that name here"));
}

TEST(SocketAddressTest, ResolvesLocalhost) {
  auto address = SocketAddress::Resolve(*ParseHostPort("localhost:8080", AddressUse::kConnect));
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->port(), 8080);
  EXPECT_TRUE(address->ToString() == "127.0.0.1:8080" || address->ToString() == "[::1]:8080")
      << address->ToString();
}

}  // namespace
}  // namespace plby::net
