#include "inspect/proxy_header.h"

#include <netinet/in.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/host_port.h"

namespace plby::inspect {
namespace {

using ::testing::HasSubstr;

net::SocketAddress Address(absl::string_view text) {
  absl::StatusOr<net::HostPort> host_port = net::ParseHostPort(text, net::AddressUse::kListen);
  EXPECT_TRUE(host_port.ok()) << host_port.status();
  absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Resolve(*host_port);
  EXPECT_TRUE(address.ok()) << address.status();
  return *address;
}

std::string U16(size_t value) {
  return std::string{static_cast<char>(value >> 8), static_cast<char>(value & 0xff)};
}

// A v2 header: the signature, then the given ver_cmd and fam bytes, the length of `rest`, and
// `rest`.
std::string V2(uint8_t ver_cmd, uint8_t family, const std::string& rest) {
  return std::string(kProxyV2Signature) + static_cast<char>(ver_cmd) + static_cast<char>(family) +
         U16(rest.size()) + rest;
}

std::string Tlv(uint8_t type, const std::string& value) {
  return static_cast<char>(type) + U16(value.size()) + value;
}

// 192.0.2.1:56324 -> 198.51.100.7:443, as a v2 address block.
const std::string kV4Block = std::string("\xc0\x00\x02\x01\xc6\x33\x64\x07\xdc\x04\x01\xbb", 12);

// 2001:db8::1:1234 -> 2001:db8::2:443.
std::string V6Block() {
  std::string block(36, '\0');
  block[0] = '\x20', block[1] = '\x01', block[2] = '\x0d', block[3] = '\xb8', block[15] = 1;
  block[16] = '\x20', block[17] = '\x01', block[18] = '\x0d', block[19] = '\xb8', block[31] = 2;
  block[32] = '\x12', block[33] = '\x34', block[34] = '\x01', block[35] = '\xbb';
  return block;
}

ProxyParse Parse(const std::string& bytes) { return ParseProxyHeader(bytes); }

TEST(ProxyHeaderTest, V1Tcp4) {
  const std::string header = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
  const ProxyParse parse = Parse(header + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(parse.state, ProxyParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.header.version, 1);
  EXPECT_FALSE(parse.header.local);
  EXPECT_EQ(parse.header.source, Address("192.0.2.1:56324"));
  EXPECT_EQ(parse.header.destination, Address("198.51.100.7:443"));
  EXPECT_EQ(parse.header.length, header.size());
  EXPECT_EQ(parse.header.alpn, "");
  EXPECT_EQ(parse.header.authority, "");
}

TEST(ProxyHeaderTest, V1Tcp6) {
  const std::string header = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
  const ProxyParse parse = Parse(header);
  ASSERT_EQ(parse.state, ProxyParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.header.source, Address("[2001:db8::1]:65535"));
  EXPECT_EQ(parse.header.destination, Address("[::1]:0"));
  EXPECT_EQ(parse.header.length, header.size());
  // Upper-case hex and the long form are literals too; the mapped form is the IPv4 address.
  const ProxyParse mapped = Parse("PROXY TCP6 ::ffff:192.0.2.1 2001:DB8:0:0:0:0:0:2 1 2\r\n");
  ASSERT_EQ(mapped.state, ProxyParseState::kComplete) << mapped.error;
  EXPECT_EQ(mapped.header.source, Address("192.0.2.1:1"));
  EXPECT_EQ(mapped.header.destination, Address("[2001:db8::2]:2"));
}

TEST(ProxyHeaderTest, V1Unknown) {
  for (const std::string header :
       {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"}) {
    const ProxyParse parse = Parse(header + "data");
    ASSERT_EQ(parse.state, ProxyParseState::kComplete) << header << ": " << parse.error;
    EXPECT_EQ(parse.header.version, 1);
    EXPECT_TRUE(parse.header.local);
    EXPECT_FALSE(parse.header.source.valid());
    EXPECT_FALSE(parse.header.destination.valid());
    EXPECT_EQ(parse.header.length, header.size());
  }
}

TEST(ProxyHeaderTest, V1Limits) {
  // 107 bytes with the CRLF: the longest line.
  const std::string longest = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  ASSERT_EQ(longest.size(), kProxyV1MaxLength);
  EXPECT_EQ(Parse(longest).state, ProxyParseState::kComplete);
  const std::string over = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  EXPECT_EQ(Parse(over.substr(0, 106)).state, ProxyParseState::kNeedMore);
  const ProxyParse refused = Parse(over);
  EXPECT_EQ(refused.state, ProxyParseState::kInvalid);
  EXPECT_THAT(refused.error, HasSubstr("too long"));
  EXPECT_TRUE(refused.too_long);
  EXPECT_FALSE(Parse(longest).too_long);
  // 107 bytes in and no CRLF is enough to know.
  EXPECT_THAT(Parse(over.substr(0, 107)).error, HasSubstr("too long"));

  // Two of the longest IPv6 literals do not fit in 107 bytes.
  const std::string v6 = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  const std::string wide = "PROXY TCP6 " + v6 + " " + v6 + " 65535 65535\r\n";
  EXPECT_EQ(Parse(wide.substr(0, 106)).state, ProxyParseState::kNeedMore);
  EXPECT_THAT(Parse(wide).error, HasSubstr("too long"));
  EXPECT_TRUE(Parse(wide).too_long);
  EXPECT_EQ(Parse("PROXY TCP6 " + v6 + " ::1 65535 65535\r\n").state, ProxyParseState::kComplete);
}

TEST(ProxyHeaderTest, V2Local) {
  const std::string header = V2(0x20, 0x00, "");
  const ProxyParse parse = Parse(header + "\x16\x03\x01");
  ASSERT_EQ(parse.state, ProxyParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.header.version, 2);
  EXPECT_TRUE(parse.header.local);
  EXPECT_FALSE(parse.header.source.valid());
  EXPECT_EQ(parse.header.length, 16u);
  // The spec has the receiver discard a LOCAL block unread, whatever family it names.
  const ProxyParse with_block = Parse(V2(0x20, 0x11, "abc"));
  ASSERT_EQ(with_block.state, ProxyParseState::kComplete) << with_block.error;
  EXPECT_TRUE(with_block.header.local);
  EXPECT_EQ(with_block.header.length, 19u);
}

TEST(ProxyHeaderTest, V2Tcp4WithTlvs) {
  // An SSL TLV (with its own sub-TLVs inside), a NOOP and a vendor TLV are walked over.
  const std::string ssl = Tlv(0x20, std::string("\x07\x00\x00\x00\x00", 5) + Tlv(0x21, "TLSv1.3"));
  const std::string tlvs = Tlv(0x01, "h2") + ssl + Tlv(0x02, "api.example.com") + Tlv(0x04, "") +
                           Tlv(0xea, std::string(10, '\x01'));
  const std::string header = V2(0x21, 0x11, kV4Block + tlvs);
  const ProxyParse parse = Parse(header + "client bytes");
  ASSERT_EQ(parse.state, ProxyParseState::kComplete) << parse.error;
  EXPECT_EQ(parse.header.version, 2);
  EXPECT_FALSE(parse.header.local);
  EXPECT_EQ(parse.header.source, Address("192.0.2.1:56324"));
  EXPECT_EQ(parse.header.destination, Address("198.51.100.7:443"));
  EXPECT_EQ(parse.header.alpn, "h2");
  EXPECT_EQ(parse.header.authority, "api.example.com");
  EXPECT_EQ(parse.header.length, header.size());
}

TEST(ProxyHeaderTest, V2Tcp6AndUdp) {
  const ProxyParse tcp6 = Parse(V2(0x21, 0x21, V6Block()));
  ASSERT_EQ(tcp6.state, ProxyParseState::kComplete) << tcp6.error;
  EXPECT_EQ(tcp6.header.source, Address("[2001:db8::1]:4660"));
  EXPECT_EQ(tcp6.header.destination, Address("[2001:db8::2]:443"));
  EXPECT_EQ(tcp6.header.length, 16u + 36);

  const ProxyParse udp6 = Parse(V2(0x21, 0x22, V6Block()));
  ASSERT_EQ(udp6.state, ProxyParseState::kComplete) << udp6.error;
  EXPECT_EQ(udp6.header.source, Address("[2001:db8::1]:4660"));
  const ProxyParse udp4 = Parse(V2(0x21, 0x12, kV4Block));
  ASSERT_EQ(udp4.state, ProxyParseState::kComplete) << udp4.error;
  EXPECT_EQ(udp4.header.destination, Address("198.51.100.7:443"));
}

TEST(ProxyHeaderTest, V2WithoutIpAddresses) {
  // PROXY with UNSPEC or UNIX: not local, but no address to use either.
  for (const std::string& header :
       {V2(0x21, 0x00, Tlv(0x02, "a.example")), V2(0x21, 0x31, std::string(216, 'u')),
        V2(0x21, 0x32, std::string(216, 'u') + Tlv(0x01, "h2"))}) {
    const ProxyParse parse = Parse(header);
    ASSERT_EQ(parse.state, ProxyParseState::kComplete) << parse.error;
    EXPECT_FALSE(parse.header.local);
    EXPECT_FALSE(parse.header.source.valid());
    EXPECT_FALSE(parse.header.destination.valid());
    EXPECT_EQ(parse.header.length, header.size());
  }
  EXPECT_EQ(Parse(V2(0x21, 0x00, Tlv(0x02, "a.example"))).header.authority, "a.example");
}

TEST(ProxyHeaderTest, V2Limits) {
  // The announced length is judged with the 16 fixed bytes alone.
  const std::string at_limit = V2(0x21, 0x11, kV4Block + Tlv(0xee, std::string(4096 - 31, 'x')));
  ASSERT_EQ(at_limit.size(), kMaxProxyHeader);
  EXPECT_EQ(Parse(at_limit.substr(0, 16)).state, ProxyParseState::kNeedMore);
  const ProxyParse whole = Parse(at_limit);
  ASSERT_EQ(whole.state, ProxyParseState::kComplete) << whole.error;
  EXPECT_EQ(whole.header.length, kMaxProxyHeader);

  const std::string over = V2(0x21, 0x11, kV4Block + Tlv(0xee, std::string(4096 - 30, 'x')));
  const ProxyParse refused = Parse(over.substr(0, 16));
  EXPECT_EQ(refused.state, ProxyParseState::kInvalid);
  EXPECT_THAT(refused.error, HasSubstr("v2: too long (4097 bytes announced, at most 4096"));
  EXPECT_TRUE(refused.too_long);
  EXPECT_THAT(Parse(std::string(kProxyV2Signature) + "\x21\x11\xff\xff").error,
              HasSubstr("too long (65551 bytes"));
}

// Every proper prefix of a valid header is a valid beginning; the whole one is complete, and
// the bytes after it change nothing.
TEST(ProxyHeaderTest, EveryPrefixNeedsMore) {
  const std::vector<std::string> headers = {
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
      "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n",
      "PROXY UNKNOWN\r\n",
      "PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n",
      V2(0x20, 0x00, ""),
      V2(0x21, 0x11, kV4Block + Tlv(0x01, "h2") + Tlv(0x02, "api.example.com")),
      V2(0x21, 0x21, V6Block()),
  };
  for (const std::string& header : headers) {
    for (size_t size = 0; size < header.size(); ++size) {
      const ProxyParse parse = Parse(header.substr(0, size));
      ASSERT_EQ(parse.state, ProxyParseState::kNeedMore)
          << "prefix of " << size << " bytes: " << parse.error;
    }
    const ProxyParse whole = Parse(header + "PROXY more");
    ASSERT_EQ(whole.state, ProxyParseState::kComplete) << whole.error;
    EXPECT_EQ(whole.header.length, header.size());
  }
}

struct Refusal {
  std::string bytes;
  std::string says;
};

void ExpectRefusals(const std::vector<Refusal>& refusals) {
  for (const Refusal& refusal : refusals) {
    const ProxyParse parse = Parse(refusal.bytes);
    EXPECT_EQ(parse.state, ProxyParseState::kInvalid) << refusal.says;
    EXPECT_THAT(parse.error, HasSubstr(refusal.says));
    EXPECT_LT(parse.error.size(), 200u) << parse.error;
    EXPECT_FALSE(parse.too_long) << refusal.says;  // malformed, not too long
  }
}

TEST(ProxyHeaderTest, NotAProxyHeader) {
  ExpectRefusals({
      {"GET / HTTP/1.1\r\n", "not a PROXY header: the connection starts with \"GET / HT\"..."},
      {"PROXX", "not a PROXY header"},
      {"proxy ", "not a PROXY header"},
      {std::string("\x16\x03\x01\x02\x00", 5), "\"\\x16\\x03\\x01\\x02\\x00\""},
      {"\r\n\r\n\x01", "not a PROXY header"},
      {"\xff\xfe\x80", "\"\\xff\\xfe\\x80\""},
  });
}

TEST(ProxyHeaderTest, V1Refusals) {
  ExpectRefusals({
      // Refused before the line ends: no more bytes could make these valid.
      {"PROXY TCP5 ", "v1: bad protocol \"TCP5 \" (valid: TCP4, TCP6 or UNKNOWN)"},
      {"PROXY tcp4", "v1: bad protocol \"tcp4\""},
      {"PROXY UNKNOWNX", "bad protocol"},
      {"PROXY  TCP4", "bad protocol \" TCP4\""},
      {"PROXY TCP4 1.2.3.4x", "v1: bad source address \"1.2.3.4x\""},
      {"PROXY TCP4 ::1 ::1 1 2\r\n", "v1: bad source address \":\""},
      {"PROXY TCP4  1.2.3.4", "v1: no source address"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 01", "v1: bad source port \"01\" (valid: 0-65535 without"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 123456", "bad source port \"123456\""},
      {"PROXY TCP4 1234567890123456", "bad source address"},
      {"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "v1: bad source address \"fe80::1%\""},
      {"PROXY TCP6 [::1] ::1 1 2\r\n", "v1: bad source address \"[\""},
      // Refused once the field is whole.
      {"PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n",
       "v1: bad source address \"256.1.1.1\" (valid: an "
       "IPv4 address, as TCP4 says)"},
      {"PROXY TCP4 1.2.3.4 01.2.3.4 1 2\r\n", "v1: bad destination address \"01.2.3.4\""},
      {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "bad source address \"1.2.3\""},
      {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "v1: bad source address \"1.2.3.4\" (valid: an IPv6"},
      {"PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 1 2\r\n", "v1: bad destination address"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n", "v1: bad source port \"99999\" (valid: 0-65535)"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "v1: bad destination port \"65536\""},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "v1: CRLF expected after the destination port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1: a field is missing after the source port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n", "v1: no source port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "v1: no destination port"},
      {"PROXY UNKNOWNx\r\n", "v1: bad protocol \"UNKNOWNx\""},
      {"PROXY TCP4x", "v1: bad protocol \"TCP4x\""},
      {"PROXY TCP4\n", "v1: TCP4 without addresses"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "CRLF expected after the destination port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1: bad destination port \"2\\x0a\""},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "carriage return not followed by a line feed"},
      {"PROXY TCP4\r\n", "v1: TCP4 without addresses"},
      {"PROXY UNKNOWN\n", "v1: a line feed without a carriage return"},
      {"PROXY UNKNOWN x\ry\r\n", "carriage return not followed by a line feed"},
  });
}

TEST(ProxyHeaderTest, V2Refusals) {
  ExpectRefusals({
      {V2(0x11, 0x11, kV4Block), "v2: version 1 in byte 0x11 (valid: 2)"},
      {std::string(kProxyV2Signature) + "\x31", "v2: version 3"},
      {std::string(kProxyV2Signature) + "\x22", "v2: command 2 (valid: 0 LOCAL, 1 PROXY)"},
      {std::string(kProxyV2Signature) + "\x2f", "v2: command 15"},
      {std::string(kProxyV2Signature) + "\x21\x13", "v2: address family and protocol 0x13"},
      {std::string(kProxyV2Signature) + "\x20\x41", "address family and protocol 0x41"},
      {V2(0x21, 0x11, kV4Block.substr(0, 11)),
       "v2: length 11 is shorter than the 12 bytes of a TCP4 address block"},
      {V2(0x21, 0x21, kV4Block), "v2: length 12 is shorter than the 36 bytes of a TCP6"},
      {V2(0x21, 0x31, std::string(215, 'u')), "shorter than the 216 bytes of a UNIX stream"},
      {V2(0x21, 0x11, kV4Block + std::string("\x01\x00", 2)),
       "v2: 2 bytes after the last TLV, too few"},
      {V2(0x21, 0x11, kV4Block + Tlv(0x01, "h2") + "\x01"), "1 bytes after the last TLV"},
      {V2(0x21, 0x11,
          kV4Block + std::string("\x02\x00\x05"
                                 "abcd",
                                 7)),
       "v2: TLV 0x02 of 5 bytes overruns the header (4 left)"},
      {V2(0x21, 0x11, kV4Block + Tlv(0x01, "h2") + Tlv(0x01, "http/1.1")), "v2: two ALPN TLVs"},
      {V2(0x21, 0x11, kV4Block + Tlv(0x02, "a") + Tlv(0x02, "b")), "v2: two AUTHORITY TLVs"},
  });
}

TEST(ProxyHeaderTest, MatchProxySignature) {
  const std::string v2(kProxyV2Signature);
  // Every proper prefix of either signature is a piece of one: the screen holds it.
  for (size_t length = 0; length < 6; ++length) {
    EXPECT_EQ(MatchProxySignature(std::string("PROXY ").substr(0, length)),
              SignatureMatch::kPartial)
        << length;
  }
  for (size_t length = 0; length < v2.size(); ++length) {
    EXPECT_EQ(MatchProxySignature(v2.substr(0, length)), SignatureMatch::kPartial) << length;
  }
  for (const std::string& bytes : std::vector<std::string>{
           "PROXY ", "PROXY TCP4 1.2.3.4", "PROXY UNKNOWN\r\n", v2, V2(0x20, 0x00, "")}) {
    EXPECT_EQ(MatchProxySignature(bytes), SignatureMatch::kWhole) << bytes;
  }
  for (const std::string& bytes :
       std::vector<std::string>{"GET / HTTP/1.1", "\x16\x03\x01", "PROXX", "PROXYTCP4", "proxy ",
                                "\r\n\r\r", " PROXY", std::string("\r\n\r\n\0\r\nQUIX", 11)}) {
    EXPECT_EQ(MatchProxySignature(bytes), SignatureMatch::kNone) << bytes;
  }
}

TEST(ProxyHeaderTest, BuildV1) {
  EXPECT_EQ(BuildProxyV1({Address("192.0.2.1:56324"), Address("198.51.100.7:443"), "h2", "x"}),
            "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n");
  EXPECT_EQ(BuildProxyV1({Address("[2001:db8::1]:1"), Address("[::1]:0"), "", ""}),
            "PROXY TCP6 2001:db8::1 ::1 1 0\r\n");
  // A zone is not part of what v1 can say.
  sockaddr_in6 link_local{};
  link_local.sin6_family = AF_INET6;
  link_local.sin6_port = htons(80);
  link_local.sin6_addr.s6_addr[0] = 0xfe;
  link_local.sin6_addr.s6_addr[1] = 0x80;
  link_local.sin6_addr.s6_addr[15] = 1;
  link_local.sin6_scope_id = 1;
  const net::SocketAddress zoned = net::SocketAddress::FromSockaddr(
      reinterpret_cast<const sockaddr*>(&link_local), sizeof(link_local));
  EXPECT_EQ(BuildProxyV1({zoned, Address("[::1]:8080"), "", ""}),
            "PROXY TCP6 fe80::1 ::1 80 8080\r\n");
  // Two families, or no address: UNKNOWN.
  EXPECT_EQ(BuildProxyV1({Address("192.0.2.1:1"), Address("[::1]:2"), "", ""}),
            "PROXY UNKNOWN\r\n");
  EXPECT_EQ(BuildProxyV1({}), "PROXY UNKNOWN\r\n");
}

TEST(ProxyHeaderTest, BuildV2) {
  EXPECT_EQ(BuildProxyV2(
                {Address("192.0.2.1:56324"), Address("198.51.100.7:443"), "h2", "api.example.com"}),
            V2(0x21, 0x11, kV4Block + Tlv(0x01, "h2") + Tlv(0x02, "api.example.com")));
  EXPECT_EQ(BuildProxyV2({Address("[2001:db8::1]:4660"), Address("[2001:db8::2]:443"), "", ""}),
            V2(0x21, 0x21, V6Block()));
  EXPECT_EQ(BuildProxyV2({Address("192.0.2.1:1"), Address("[::1]:2"), "", "a.example"}),
            V2(0x21, 0x00, Tlv(0x02, "a.example")));
  EXPECT_EQ(BuildProxyV2({}), V2(0x21, 0x00, ""));
  // A TLV the receiver would refuse as too long is left out.
  const std::string long_authority(5000, 'a');
  const std::string built =
      BuildProxyV2({Address("192.0.2.1:1"), Address("192.0.2.2:2"), "h2", long_authority});
  EXPECT_EQ(built, V2(0x21, 0x11,
                      kV4Block.substr(0, 4) + std::string("\xc0\x00\x02\x02", 4) + U16(1) + U16(2) +
                          Tlv(0x01, "h2")));
}

TEST(ProxyHeaderTest, BuildLocal) {
  EXPECT_EQ(BuildProxyLocal(1), "PROXY UNKNOWN\r\n");
  EXPECT_EQ(BuildProxyLocal(2),
            std::string(kProxyV2Signature) + std::string("\x20\x00\x00\x00", 4));
  for (const int version : {1, 2}) {
    const ProxyParse parse = Parse(BuildProxyLocal(version));
    ASSERT_EQ(parse.state, ProxyParseState::kComplete) << parse.error;
    EXPECT_EQ(parse.header.version, version);
    EXPECT_TRUE(parse.header.local);
    EXPECT_EQ(parse.header.length, BuildProxyLocal(version).size());
  }
}

TEST(ProxyHeaderTest, RoundTrips) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"192.0.2.1:56324", "198.51.100.7:443"},
      {"0.0.0.0:0", "255.255.255.255:65535"},
      {"[2001:db8::1]:1", "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
      {"[::]:0", "[::1]:80"},
  };
  for (const auto& [source, destination] : pairs) {
    const ProxyHeaderFields fields{Address(source), Address(destination), "http/1.1",
                                   "api.example.com"};
    for (const std::string& built : {BuildProxyV1(fields), BuildProxyV2(fields)}) {
      const ProxyParse parse = Parse(built + "rest");
      ASSERT_EQ(parse.state, ProxyParseState::kComplete) << source << ": " << parse.error;
      EXPECT_FALSE(parse.header.local);
      EXPECT_EQ(parse.header.source, fields.source);
      EXPECT_EQ(parse.header.destination, fields.destination);
      EXPECT_EQ(parse.header.length, built.size());
      if (parse.header.version == 2) {
        EXPECT_EQ(parse.header.alpn, "http/1.1");
        EXPECT_EQ(parse.header.authority, "api.example.com");
      }
    }
  }
}

}  // namespace
}  // namespace plby::inspect
