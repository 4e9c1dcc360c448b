#include "net/cidr.h"

#include <netinet/in.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/host_port.h"
#include "net/socket_address.h"

namespace plby::net {
namespace {

using ::testing::HasSubstr;

Cidr MustParse(absl::string_view text) {
  absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
  EXPECT_TRUE(cidr.ok()) << cidr.status();
  return cidr.ok() ? *cidr : Cidr();
}

SocketAddress Address(absl::string_view text) {
  absl::StatusOr<HostPort> host_port = ParseHostPort(text, AddressUse::kListen);
  EXPECT_TRUE(host_port.ok()) << host_port.status();
  absl::StatusOr<SocketAddress> address = SocketAddress::Resolve(*host_port);
  EXPECT_TRUE(address.ok()) << address.status();
  return *address;
}

TEST(CidrTest, ParsesNetworksAndSingleAddressesInCanonicalForm) {
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"192.168.1.7", "192.168.1.7/32"},
      {"192.168.1.7/32", "192.168.1.7/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"172.16.0.0/12", "172.16.0.0/12"},
      {"fd00::/8", "fd00::/8"},
      {"::1", "::1/128"},
      {"::/0", "::/0"},
      {"2001:DB8::/32", "2001:db8::/32"},
      {"2001:0db8:0000:0000::/64", "2001:db8::/64"},
      {"fe80::/10", "fe80::/10"},
      // An IPv4-mapped network is the IPv4 one: SocketAddress shows clients that way.
      {"::ffff:10.0.0.0/104", "10.0.0.0/8"},
      {"::ffff:192.0.2.1", "192.0.2.1/32"},
  };
  for (const auto& [text, canonical] : forms) {
    EXPECT_EQ(MustParse(text).ToString(), canonical) << text;
    EXPECT_EQ(MustParse(canonical), MustParse(text)) << text;
  }
  EXPECT_EQ(Cidr().ToString(), "(no network)");
}

TEST(CidrTest, BitsPastThePrefixAreRefusedWithTheNetworkToWrite) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"10.0.0.1/8", "\"10.0.0.1/8\" has bits set past its /8: write 10.0.0.0/8"},
      {"192.168.1.7/24", "write 192.168.1.0/24"},
      {"10.255.0.0/9", "write 10.128.0.0/9"},
      {"1.0.0.0/0", "write 0.0.0.0/0"},
      {"fd00::1/8", "\"fd00::1/8\" has bits set past its /8: write fd00::/8"},
      {"2001:db8::1/127", "write 2001:db8::/127"},
      {"::ffff:10.0.0.0/80", "write ::/80"},
  };
  for (const auto& [text, message] : cases) {
    const absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
    ASSERT_FALSE(cidr.ok()) << text;
    EXPECT_EQ(cidr.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(cidr.status().message(), HasSubstr(message));
  }
}

TEST(CidrTest, RefusesWhatIsNotANetwork) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"10.0.0.0/33", "the prefix /33 is longer than an IPv4 address (valid: 0-32)"},
      {"::/129", "the prefix /129 is longer than an IPv6 address (valid: 0-128)"},
      {"10.0.0.0/08",
       "the prefix \"08\" is not a number of bits (valid: for IPv4, 0-32 without leading zeros)"},
      {"10.0.0.0/+8", "the prefix \"+8\" is not a number of bits"},
      {"10.0.0.0/-1", "the prefix \"-1\""},
      {"10.0.0.0/", "the prefix \"\""},
      {"10.0.0.0/8/8", "the prefix \"8/8\""},
      {"10.0.0.0/ 8", "the prefix \" 8\""},
      {"10.0.0.0/1000", "the prefix \"1000\""},
      {"::/0128", "the prefix \"0128\" is not a number of bits (valid: for IPv6, 0-128"},
      {"/8", "no address"},
      {"10.0.0.1:80", "a port is not part of a network"},
      {"[::1]", "no brackets around IPv6"},
      {"[::1]/128", "no brackets"},
      {"[::1]:80", "no brackets"},
      {"fe80::1%eth0", "a zone is not part of a network"},
      {"fe80::1%eth0/64", "a zone"},
      {"localhost", "not an IP address (names are not resolved here)"},
      {"backend.example/24", "not an IP address"},
      {"127.1", "not an IP address"},
      {"010.0.0.1", "not an IP address"},
      {" 10.0.0.0/8", "not an IP address"},
      {"10.0.0.0 /8", "not an IP address"},
      {std::string("10.0.0.1\0/8", 11), "a NUL byte inside"},
      {std::string("10.0.0.1\0", 9), "a NUL byte inside"},
      {std::string(300, '1'), "not an IP address"},
  };
  for (const auto& [text, why] : cases) {
    const absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
    ASSERT_FALSE(cidr.ok()) << text << " -> " << cidr->ToString();
    EXPECT_EQ(cidr.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(cidr.status().message(), HasSubstr(why));
    // The value, quoted, and what would be valid: the forms, or the range of a prefix.
    EXPECT_THAT(cidr.status().message(), HasSubstr("invalid network \""));
    if (why.find("prefix") == std::string::npos) {
      EXPECT_THAT(cidr.status().message(),
                  HasSubstr("(valid: an IP address or ADDRESS/PREFIX, e.g. 10.0.0.0/8, "
                            "192.168.1.7 or fd00::/8)"));
    } else {
      EXPECT_THAT(cidr.status().message(), HasSubstr("(valid: "));
    }
    EXPECT_LT(cidr.status().message().size(), 400u);
  }
}

TEST(CidrTest, ContainsComparesThePrefixOnly) {
  const Cidr ten = MustParse("10.0.0.0/8");
  EXPECT_TRUE(ten.Contains(Address("10.0.0.0:1")));
  EXPECT_TRUE(ten.Contains(Address("10.255.255.255:65535")));
  EXPECT_FALSE(ten.Contains(Address("11.0.0.0:1")));
  EXPECT_FALSE(ten.Contains(Address("9.255.255.255:1")));

  const Cidr half = MustParse("10.0.0.0/9");
  EXPECT_TRUE(half.Contains(Address("10.127.255.255:1")));
  EXPECT_FALSE(half.Contains(Address("10.128.0.0:1")));

  const Cidr one = MustParse("192.168.1.7");
  EXPECT_TRUE(one.Contains(Address("192.168.1.7:0")));
  EXPECT_FALSE(one.Contains(Address("192.168.1.6:0")));

  const Cidr all_v4 = MustParse("0.0.0.0/0");
  EXPECT_TRUE(all_v4.Contains(Address("255.255.255.255:1")));
  EXPECT_FALSE(all_v4.Contains(Address("[::1]:1")));

  const Cidr ula = MustParse("fd00::/8");
  EXPECT_TRUE(ula.Contains(Address("[fd12:3456::1]:443")));
  EXPECT_FALSE(ula.Contains(Address("[fe00::1]:443")));
  EXPECT_FALSE(ula.Contains(Address("10.0.0.1:443")));

  const Cidr odd = MustParse("2001:db8:8000::/33");
  EXPECT_TRUE(odd.Contains(Address("[2001:db8:ffff::1]:1")));
  EXPECT_FALSE(odd.Contains(Address("[2001:db8:7fff::1]:1")));

  const Cidr all_v6 = MustParse("::/0");
  EXPECT_TRUE(all_v6.Contains(Address("[2001:db8::1]:1")));
  EXPECT_FALSE(all_v6.Contains(Address("127.0.0.1:1")));

  const Cidr loopback = MustParse("::1");
  EXPECT_TRUE(loopback.Contains(Address("[::1]:80")));
  EXPECT_FALSE(loopback.Contains(Address("[::2]:80")));

  EXPECT_FALSE(Cidr().Contains(Address("10.0.0.1:1")));
  EXPECT_FALSE(ten.Contains(SocketAddress()));
}

// A client accepted on a dual-stack socket arrives as ::ffff:10.1.2.3; SocketAddress makes it
// 10.1.2.3, which the IPv4 network contains.
TEST(CidrTest, MappedClientsMatchIpv4Networks) {
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  mapped.sin6_addr.s6_addr[10] = 0xff;
  mapped.sin6_addr.s6_addr[11] = 0xff;
  mapped.sin6_addr.s6_addr[12] = 10;
  mapped.sin6_addr.s6_addr[13] = 1;
  mapped.sin6_addr.s6_addr[14] = 2;
  mapped.sin6_addr.s6_addr[15] = 3;
  const SocketAddress client =
      SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&mapped), sizeof(mapped));
  EXPECT_TRUE(MustParse("10.0.0.0/8").Contains(client));
  EXPECT_TRUE(MustParse("::ffff:10.0.0.0/104").Contains(client));
}

}  // namespace
}  // namespace plby::net
