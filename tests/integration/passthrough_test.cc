// TLS passthrough: plby reads the ClientHello without decrypting it, routes by its server name
// and replays the bytes to backends that terminate TLS themselves (openssl s_server), for real
// clients (openssl s_client, curl). What is not a ClientHello is refused cheaply, with an alert
// where one applies, and counted.
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kOpenssl[] = "/usr/bin/openssl";

// A ClientHello as small as TLS allows, with `server_name` as its SNI: enough for plby to route
// by, built here so that tests can send part of it, or break it.
std::string MinimalClientHello(const std::string& server_name) {
  const auto u16 = [](size_t n) {
    return std::string{static_cast<char>(n >> 8), static_cast<char>(n & 0xff)};
  };
  const std::string sni_entry = std::string(1, '\0') + u16(server_name.size()) + server_name;
  const std::string sni_list = u16(sni_entry.size()) + sni_entry;
  const std::string extensions = u16(0) + u16(sni_list.size()) + sni_list;      // type 0: SNI
  std::string body = "\x03\x03" + std::string(32, 'r') + std::string(1, '\0');  // no session
  body += u16(2) + "\x13\x01";                                                  // one suite
  body += std::string{'\x01', '\x00'};  // compression: null only
  body += u16(extensions.size()) + extensions;
  const std::string handshake = std::string{'\x01', '\0'} + u16(body.size()) + body;
  return std::string{'\x16', '\x03', '\x01'} + u16(handshake.size()) + handshake;
}

// Everything the peer sends until it closes (or 20 s pass).
std::string SendAndRead(uint16_t port, const std::string& bytes, bool half_close = true) {
  return SendAndReadAll("127.0.0.1", port, bytes, "", half_close);
}

std::string Alert(int description) {
  return std::string{
      '\x15', '\x03', '\x03', '\x00', '\x02', '\x02', static_cast<char>(description)};
}

class PassthroughTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult certs,
        RunToExit("/bin/bash", {PLBY_SOURCE_DIR "/tests/tools/make-test-certs.sh", dir_.path()}));
    ASSERT_EQ(certs.exit_code, 0) << certs.output;
  }

  // openssl s_server on `ip`:18443 with the certificate `name`.pem, answering HTTP (-www).
  void StartTlsBackend(const std::string& ip, const std::string& name) {
    PLBY_ASSERT_OK_AND_ASSIGN(
        std::unique_ptr<Process> server,
        StartPeer(kOpenssl,
                  {"s_server", "-accept", ip + ":18443", "-cert", Cert(name + ".pem"), "-key",
                   Cert(name + ".key"), "-www", "-quiet"},
                  ip, 18443));
    backends_.push_back(std::move(server));
  }

  std::string Cert(const std::string& file) const { return dir_.path() + "/" + file; }

  // The subject of the certificate a client sending `server_name` is shown.
  std::string SubjectSeenWith(uint16_t port, const std::string& server_name) {
    std::vector<std::string> args = {"s_client", "-connect", absl::StrCat("127.0.0.1:", port),
                                     "-CAfile", Cert("ca.pem")};
    if (server_name.empty()) {
      args.push_back("-noservername");
    } else {
      args.insert(args.end(), {"-servername", server_name});
    }
    absl::StatusOr<RunResult> run = RunToExit(kOpenssl, args);
    if (!run.ok()) return run.status().ToString();
    const size_t at = run->output.find("subject=");
    if (at == std::string::npos) return "(no certificate seen)\n" + run->output;
    return run->output.substr(at, run->output.find('\n', at) - at);
  }

  TempDir dir_;
  std::vector<std::unique_ptr<Process>> backends_;
};

TEST_F(PassthroughTest, RoutesByServerNameToBackendsThatTerminateTls) {
  ASSERT_NO_FATAL_FAILURE(StartTlsBackend("127.0.15.1", "api"));
  ASSERT_NO_FATAL_FAILURE(StartTlsBackend("127.0.15.2", "wild"));
  ASSERT_NO_FATAL_FAILURE(StartTlsBackend("127.0.15.3", "node"));
  const std::string config =
      absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
                   "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n",
                   "[[server.forward]]\nsni = [\"api.example.com\"]\ntls = \"passthrough\"\n",
                   "backends = [ { address = \"127.0.15.1:18443\" } ]\n",
                   "[[server.forward]]\ntls = \"passthrough\"\n",
                   "backends = [ { address = \"127.0.15.3:18443\" } ]\n",
                   "[[server.forward]]\nsni = [\"*.example.org\"]\ntls = \"passthrough\"\n",
                   "backends = [ { address = \"127.0.15.2:18443\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));

  EXPECT_THAT(SubjectSeenWith(node.port(), "api.example.com"), HasSubstr("CN = api.example.com"));
  EXPECT_THAT(SubjectSeenWith(node.port(), "API.Example.COM"), HasSubstr("CN = api.example.com"));
  EXPECT_THAT(SubjectSeenWith(node.port(), "www.example.org"),
              HasSubstr("CN = wildcard example.org"));
  // One label only: a.b.example.org is not *.example.org's, and goes to the default route.
  EXPECT_THAT(SubjectSeenWith(node.port(), "a.b.example.org"), HasSubstr("CN = plby node"));
  EXPECT_THAT(SubjectSeenWith(node.port(), "other.test"), HasSubstr("CN = plby node"));
  EXPECT_THAT(SubjectSeenWith(node.port(), ""), HasSubstr("CN = plby node"));

  // curl verifies the backend's certificate through plby: the bytes arrive unchanged.
  const std::string authority = absl::StrCat("api.example.com:", node.port());
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult curl, RunToExit("/usr/bin/curl",
                                {"-sS", "--max-time", "20", "--cacert", Cert("ca.pem"), "--resolve",
                                 authority + ":127.0.0.1", "https://" + authority + "/"}));
  EXPECT_EQ(curl.exit_code, 0) << curl.output;
  EXPECT_THAT(curl.output, HasSubstr("Ciphers supported in s_server binary"));
}

TEST_F(PassthroughTest, RefusesWhatIsNotAClientHelloAndCountsWhy) {
  ASSERT_NO_FATAL_FAILURE(StartTlsBackend("127.0.15.11", "api"));
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
      "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\nhandshake_timeout = \"300ms\"\n",
      "[[server.forward]]\nsni = [\"api.example.com\"]\ntls = \"passthrough\"\n",
      "backends = [ { address = \"127.0.15.11:18443\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  const std::string hello = MinimalClientHello("api.example.com");

  // Plaintext to a TLS port: closed without a word (a TLS alert would mean nothing to it).
  EXPECT_EQ(SendAndRead(node.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  // A handshake record whose ClientHello is broken: a decode_error alert.
  std::string broken = hello;
  broken[9 + 2 + 32] = 40;  // a session id longer than the 32 bytes allowed
  EXPECT_EQ(SendAndRead(node.port(), broken), Alert(50));
  // One that announces more than 16 KiB.
  EXPECT_EQ(SendAndRead(node.port(), std::string("\x16\x03\x01\x40\x00\x01\x00\x50\x00", 9)),
            Alert(50));
  // Half a hello, then the client is gone.
  EXPECT_EQ(SendAndRead(node.port(), hello.substr(0, 20)), "");
  // Half a hello, and then nothing: closed when handshake_timeout passes.
  EXPECT_EQ(SendAndRead(node.port(), hello.substr(0, 20), /*half_close=*/false), "");
  // A server name no route takes, and no default route: unrecognized_name, which openssl names.
  EXPECT_EQ(SendAndRead(node.port(), MinimalClientHello("nope.test")), Alert(112));
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult refused,
      RunToExit(kOpenssl, {"s_client", "-connect", absl::StrCat("127.0.0.1:", node.port()),
                           "-servername", "nope.test"}));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("unrecognized name"));
  // None of it cost more than its own connection.
  EXPECT_THAT(SubjectSeenWith(node.port(), "api.example.com"), HasSubstr("CN = api.example.com"));

  // Each refusal counted by its reason (and logged, rate-limited).
  for (const auto& [result, expected] :
       std::vector<std::pair<std::string, uint64_t>>{{"not_tls", 1},
                                                     {"malformed", 1},
                                                     {"too_long", 1},
                                                     {"truncated", 1},
                                                     {"timeout", 1},
                                                     {"no_route", 2},
                                                     {"routed", 1}}) {
    EXPECT_EQ(WaitForMetric(node,
                            absl::StrCat("plby_tls_client_hellos_total{listener=\"tls\",result=\"",
                                         result, "\"}"),
                            expected),
              expected)
        << result;
  }
  EXPECT_TRUE(
      node.process->WaitForLine(std::regex("closing client=127.0.0.1:\\d+ listener=tls: "
                                           "ClientHello not_tls")));
}

TEST_F(PassthroughTest, AClientHelloRightBehindAProxyHeaderIsRead) {
  // HAProxy's send-proxy-v2 in front of a passthrough listener: the header and the ClientHello
  // often arrive in one segment. The hello is looked at as soon as the header is taken off.
  const std::string config =
      absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n",
                   "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\naccept_proxy = true\n",
                   "trusted = [\"127.0.0.1\"]\n",
                   "[[server.forward]]\nsni = [\"api.example.com\"]\ntls = \"passthrough\"\n",
                   "backends = [ { address = \"127.0.15.21:18443\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  EXPECT_EQ(SendAndRead(
                node.port(),
                "PROXY TCP4 192.0.2.1 198.51.100.1 40000 443\r\n" + MinimalClientHello("nope.test"),
                /*half_close=*/false),
            Alert(112));
}

}  // namespace
}  // namespace plby::testing
