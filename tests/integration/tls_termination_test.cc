// TLS termination with real clients (openssl s_client, curl) in front of a plaintext nginx:
// the certificate chosen by SNI, ALPN, TLS 1.2 and 1.3, min_version, sessions resumed on
// another node that shares the ticket keys, a route that passes TLS through on the same
// listener, and handshakes that fail, each counted by its reason.
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
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
constexpr char kPython[] = "/usr/bin/python3";
// Each test's peers listen on addresses of its own, 127.0.17.N (nginx, the plaintext backend,
// port 18080) and 127.0.18.N (openssl s_server, port 18443): ctest runs tests at the same time.
const std::map<std::string, int>& PeerOctets() {
  static const auto* octets = new std::map<std::string, int>{
      {"ChoosesTheCertificateBySniAndSpeaksBothVersions", 1},
      {"AListenerMayTerminateSomeRoutesAndPassOthersThrough", 2},
      {"SessionsResumeOnAnotherNodeWithTheSameTicketKeys", 3},
      {"HandshakesThatFailCostTheirConnectionAndAreCounted", 4},
      {"ReEncryptsToABackendThatChecksItsClientCertificate", 5},
      {"CertificatesRotateLiveAndABadOneIsRefused", 6},
      {"LargeTransfersFlowBothWaysThroughTls", 7},
      {"WithoutInotifyInstancesNodesStartAndPollTheirFiles", 8},
      {"CiphersSuitesAndGroupsAreWhatTheConfigSays", 9},
      {"OcspResponsesAreStapledWhileTheyAreValid", 10},
      {"TestsslFindsNothingNotOkButTheTestCertificatesTrust", 11},
      {"AClientThatLeavesAfterItsHandshakeCostsNoBackendConnection", 12}};
  return *octets;
}

class TlsTerminationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const auto octet = PeerOctets().find(test);
    ASSERT_NE(octet, PeerOctets().end()) << "give " << test << " its own addresses in PeerOctets";
    nginx_ip_ = absl::StrCat("127.0.17.", octet->second);
    tls_backend_ip_ = absl::StrCat("127.0.18.", octet->second);
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult certs,
        RunToExit("/bin/bash", {PLBY_SOURCE_DIR "/tests/tools/make-test-certs.sh", dir_.path()}));
    ASSERT_EQ(certs.exit_code, 0) << certs.output;
    // Two keys: the first seals tickets, both open them (the file a fleet shares).
    dir_.Write("tickets.key", std::string(107, 'A') + "=\n" + std::string(107, 'E') + "=\n");
    const std::string config = dir_.Write(
        "nginx.conf",
        absl::StrCat("worker_processes 1;\ndaemon off;\nmaster_process off;\nuser root;\n", "pid ",
                     dir_.path(), "/nginx.pid;\nerror_log stderr warn;\n",
                     "events { worker_connections 1024; }\n",
                     "http {\n  access_log off;\n  server {\n    listen ", nginx_ip_, ":18080;\n",
                     "    root ", dir_.path(), ";\n",
                     "    location = / { return 200 \"plain backend\\n\"; }\n  }\n}\n"));
    PLBY_ASSERT_OK_AND_ASSIGN(
        nginx_, StartPeer("/usr/sbin/nginx", {"-p", dir_.path(), "-c", config}, nginx_ip_, 18080));
  }

  std::string Cert(const std::string& file) const { return dir_.path() + "/" + file; }

  // An openssl s_server on this test's backend address, with CERT.pem and CERT.key and the
  // `mode` flags ("-www": a status page naming the cipher).
  absl::StatusOr<std::unique_ptr<Process>> StartTlsBackend(const std::string& cert,
                                                           std::vector<std::string> mode) {
    std::vector<std::string> args = {"s_server",
                                     "-accept",
                                     absl::StrCat(tls_backend_ip_, ":18443"),
                                     "-cert",
                                     Cert(cert + ".pem"),
                                     "-key",
                                     Cert(cert + ".key")};
    args.insert(args.end(), mode.begin(), mode.end());
    args.push_back("-quiet");
    return StartPeer(kOpenssl, args, tls_backend_ip_, 18443);
  }

  // node.pem with its issuer after it (what an OCSP response is checked against), written as
  // node-chain.pem.
  void WriteNodeChain() {
    std::string chain;
    for (const char* part : {"node.pem", "ca.pem"}) {
      std::ifstream in(Cert(part));
      chain.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    dir_.Write("node-chain.pem", chain);
  }

  // An OCSP response for node.pem, signed by the test CA, written as `out`, with
  // make-ocsp-response.py's `extra` flags.
  void MakeOcsp(const std::string& out, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {PLBY_SOURCE_DIR "/tests/tools/make-ocsp-response.py",
                                     Cert("node.pem"), Cert("ca.pem"), Cert("ca.key"), Cert(out)};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<RunResult> made = RunToExit(kPython, args);
    ASSERT_TRUE(made.ok()) << made.status();
    ASSERT_EQ(made->exit_code, 0) << made->output;
  }

  // A node terminating TLS with node.pem (the default) and api.pem, passing *.example.org
  // through to an openssl s_server.
  std::string Config(const std::string& tls_extra = "") const {
    return absl::StrCat(
        "[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n", "[server.tls]\n",
        "certificates = [ { cert = \"node.pem\", key = \"node.key\" }, ",
        "{ cert = \"api.pem\", key = \"api.key\" } ]\n", "alpn = [\"http/1.1\"]\n",
        "session_ticket_keys = \"tickets.key\"\n", tls_extra,
        "[[server.forward]]\nsni = [\"*.example.org\"]\ntls = \"passthrough\"\n",
        "backends = [ { address = \"", tls_backend_ip_, ":18443\" } ]\n",
        "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n");
  }

  // openssl s_client to `port` with `args`; its whole output. Its input ends at once: it
  // handshakes, prints what it found and goes. With "-sess_out FILE" it stays until the server's
  // session ticket is in FILE (a TLS 1.3 ticket comes after the handshake): a loop in its input's
  // shell waits for the file, 20 s at most.
  std::string Client(uint16_t port, const std::vector<std::string>& args) {
    std::string input = "true";
    std::string command =
        absl::StrCat(kOpenssl, " s_client -connect 127.0.0.1:", port, " -CAfile ", Cert("ca.pem"));
    for (size_t i = 0; i < args.size(); ++i) {
      absl::StrAppend(&command, " ", args[i]);
      if (args[i] == "-sess_out" && i + 1 < args.size()) {
        input = absl::StrCat("for i in $(seq 400); do grep -q 'END SSL SESSION' ", args[i + 1],
                             " 2>/dev/null && break; sleep 0.05; done");
      }
    }
    absl::StatusOr<RunResult> run =
        RunToExit("/bin/sh", {"-c", absl::StrCat("(", input, ") | ", command, " 2>&1")});
    return run.ok() ? run->output : run.status().ToString();
  }

  uint64_t Handshakes(const Node& node, const std::string& result, uint64_t at_least) {
    return WaitForMetric(
               node,
               absl::StrCat("plby_tls_handshakes_total{listener=\"tls\",result=\"", result, "\"}"),
               at_least)
        .value_or(0);
  }

  TempDir dir_;
  std::string nginx_ip_;        // this test's nginx address (port 18080)
  std::string tls_backend_ip_;  // this test's openssl s_server address (port 18443)
  std::unique_ptr<Process> nginx_;
};

TEST_F(TlsTerminationTest, ChoosesTheCertificateBySniAndSpeaksBothVersions) {
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, Config()));
  EXPECT_THAT(Client(node.port(), {"-servername", "api.example.com"}),
              HasSubstr("subject=CN = api.example.com"));
  EXPECT_THAT(Client(node.port(), {"-servername", "API.example.com"}),
              HasSubstr("subject=CN = api.example.com"));
  // No match, or no SNI: the first certificate.
  EXPECT_THAT(Client(node.port(), {"-servername", "other.test"}),
              HasSubstr("subject=CN = plby node"));
  EXPECT_THAT(Client(node.port(), {"-noservername"}), HasSubstr("subject=CN = plby node"));
  // ALPN: what the listener offers, or nothing when the client wants something else.
  EXPECT_THAT(Client(node.port(), {"-alpn", "h2,http/1.1"}), HasSubstr("ALPN protocol: http/1.1"));
  EXPECT_THAT(Client(node.port(), {"-alpn", "h2"}), HasSubstr("No ALPN negotiated"));
  EXPECT_THAT(Client(node.port(), {"-tls1_2"}), HasSubstr("New, TLSv1.2"));
  EXPECT_THAT(Client(node.port(), {"-tls1_3"}), HasSubstr("New, TLSv1.3"));

  // curl, verifying the certificate, through to the plaintext backend.
  const std::string authority = absl::StrCat("api.example.com:", node.port());
  for (const char* max_version : {"1.2", "1.3"}) {
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult curl,
        RunToExit("/usr/bin/curl",
                  {"-sS", "--max-time", "20", "--tls-max", max_version, "--cacert", Cert("ca.pem"),
                   "--resolve", authority + ":127.0.0.1", "https://" + authority + "/"}));
    EXPECT_EQ(curl.exit_code, 0) << curl.output;
    EXPECT_THAT(curl.output, HasSubstr("plain backend"));
  }
  EXPECT_GE(Handshakes(node, "ok", 10), 10u);
  EXPECT_GE(WaitForMetric(node,
                          "plby_tls_handshakes_by_version_total{listener=\"tls\",version="
                          "\"TLSv1.2\"}")
                .value_or(0),
            2u);
}

TEST_F(TlsTerminationTest, AListenerMayTerminateSomeRoutesAndPassOthersThrough) {
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> tls_backend,
                            StartTlsBackend("wild", {"-www"}));
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, Config()));
  // *.example.org is the backend's own certificate: plby did not terminate it.
  EXPECT_THAT(Client(node.port(), {"-servername", "www.example.org"}),
              HasSubstr("subject=CN = wildcard example.org"));
  EXPECT_THAT(Client(node.port(), {"-servername", "api.example.com"}),
              HasSubstr("subject=CN = api.example.com"));
}

TEST_F(TlsTerminationTest, SessionsResumeOnAnotherNodeWithTheSameTicketKeys) {
  PLBY_ASSERT_OK_AND_ASSIGN(Node first, StartNode(dir_, Config()));
  PLBY_ASSERT_OK_AND_ASSIGN(Node second, StartNode(dir_, Config()));
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    const std::string session = Cert(absl::StrCat("session", version, ".pem"));
    ASSERT_THAT(
        Client(first.port(), {version, "-servername", "api.example.com", "-sess_out", session}),
        HasSubstr("New, TLSv1."));
    EXPECT_THAT(
        Client(second.port(), {version, "-servername", "api.example.com", "-sess_in", session}),
        HasSubstr("Reused, TLSv1."))
        << version;
  }
  EXPECT_EQ(WaitForMetric(second, "plby_tls_resumed_handshakes_total{listener=\"tls\"}", 2), 2u);

  // A node with other keys cannot open the ticket: a full handshake, nothing worse.
  TempDir other;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult certs,
                            RunToExit("/bin/cp", {"-r", dir_.path() + "/.", other.path()}));
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  other.Write("tickets.key", std::string(107, 'I') + "=\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node stranger, StartNode(other, Config()));
  EXPECT_THAT(Client(stranger.port(), {"-tls1_3", "-servername", "api.example.com", "-sess_in",
                                       Cert("session-tls1_3.pem")}),
              HasSubstr("New, TLSv1.3"));
}

TEST_F(TlsTerminationTest, HandshakesThatFailCostTheirConnectionAndAreCounted) {
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node node, StartNode(dir_, Config("min_version = \"1.3\"\nhandshake_timeout = \"500ms\"\n")));
  // Below min_version: a protocol_version alert.
  EXPECT_THAT(Client(node.port(), {"-tls1_2"}), HasSubstr("alert protocol version"));
  EXPECT_EQ(Handshakes(node, "protocol_version", 1), 1u);
  // No cipher in common.
  EXPECT_THAT(Client(node.port(), {"-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"}),
              HasSubstr("alert handshake failure"));
  EXPECT_EQ(Handshakes(node, "no_shared_cipher", 1), 1u);
  // A real ClientHello, and then nothing more from the client: closed at the timeout.
  std::ifstream file(PLBY_SOURCE_DIR "/tests/fuzz/seeds/client_hello/openssl_tls13");
  std::stringstream hello;
  hello << file.rdbuf();
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(node.port()));
  ASSERT_TRUE(SendAll(fd, hello.str()).ok());
  absl::StatusOr<std::string> answer = ReadToEnd(fd);  // the server's flight, then the close
  close(fd);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->empty());
  EXPECT_EQ(Handshakes(node, "timeout", 1), 1u);
  // Plaintext to the TLS port: closed, counted with the ClientHellos.
  PLBY_ASSERT_OK_AND_ASSIGN(std::string plain,
                            Exchange(node.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(plain, "");
  EXPECT_EQ(
      WaitForMetric(node, "plby_tls_client_hellos_total{listener=\"tls\",result=\"not_tls\"}"), 1u);
  // And the listener serves the next client as ever.
  EXPECT_THAT(Client(node.port(), {"-servername", "api.example.com"}), HasSubstr("New, TLSv1.3"));
  EXPECT_TRUE(node.process->WaitForLine(std::regex("TLS handshake failed \\(protocol_version\\)")));
}

TEST_F(TlsTerminationTest, ReEncryptsToABackendThatChecksItsClientCertificate) {
  // s_server asks for a client certificate signed by ca.pem (-Verify) and refuses others.
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> backend,
                            StartTlsBackend("api", {"-Verify", "1", "-verify_return_error",
                                                    "-CAfile", Cert("ca.pem"), "-www"}));
  const std::string pool_tls =
      absl::StrCat("backends = [ { address = \"", tls_backend_ip_, ":18443\" } ]\n",
                   "[pool.tls]\nenabled = true\n", "ca = \"ca.pem\"\n");
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n",
      "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n",
      "[server.tls]\ncertificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n",
      "[[server.forward]]\npool = \"secure\"\n",
      "[[server]]\nname = \"wrong-name\"\nlisten = \"127.0.0.1:0\"\n[[server.forward]]\n",
      "pool = \"wrong-name\"\n", "[[server]]\nname = \"no-cert\"\nlisten = \"127.0.0.1:0\"\n",
      "[[server.forward]]\npool = \"no-cert\"\n", "[[pool]]\nname = \"secure\"\n", pool_tls,
      "server_name = \"api.example.com\"\ncert = \"client.pem\"\nkey = \"client.key\"\n",
      "[[pool]]\nname = \"wrong-name\"\n", pool_tls,
      "server_name = \"www.example.com\"\ncert = \"client.pem\"\nkey = \"client.key\"\n",
      "[[pool]]\nname = \"no-cert\"\n", pool_tls, "server_name = \"api.example.com\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));

  // curl -> plby (TLS with node.pem) -> s_server (TLS with api.pem, plby's client.pem).
  const std::string authority = absl::StrCat("localhost:", node.ports["tls"]);
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult curl, RunToExit("/usr/bin/curl",
                                {"-sS", "--max-time", "20", "--cacert", Cert("ca.pem"), "--resolve",
                                 authority + ":127.0.0.1", "https://" + authority + "/"}));
  EXPECT_EQ(curl.exit_code, 0) << curl.output;
  EXPECT_THAT(curl.output, HasSubstr("Ciphers supported in s_server binary"));

  // A backend whose certificate is not for the name checked: the connect fails, and the health
  // check says why.
  EXPECT_THAT(Exchange(node.ports["wrong-name"], "GET / HTTP/1.0\r\n\r\n").value_or(""),
              Not(HasSubstr("s_server")));
  EXPECT_TRUE(node.process->WaitForLine(std::regex(
      absl::StrCat("backend ", tls_backend_ip_,
                   ":18443 of pool wrong-name is unhealthy .*TLS handshake: certificate verify "
                   "failed: hostname mismatch"))));
  // Without the client certificate the backend asks for, nothing gets through. (Under TLS 1.3
  // the backend refuses it after the client's side of the handshake is done, so only the first
  // read sees it: the health check cannot.)
  EXPECT_THAT(Exchange(node.ports["no-cert"], "GET / HTTP/1.0\r\n\r\n").value_or(""),
              Not(HasSubstr("s_server")));
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex(absl::StrCat("backend ", tls_backend_ip_, ":18443 of pool secure is healthy"))));
}

TEST_F(TlsTerminationTest, LargeTransfersFlowBothWaysThroughTls) {
  // 4 MiB from nginx through a terminating listener: plby writes it to the client through
  // TLS, far more than one 16 KiB record at a time.
  const std::string big(4 << 20, 'x');
  dir_.Write("big", big);
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, Config()));
  const std::string authority = absl::StrCat("localhost:", node.port());
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult curl,
      RunToExit("/usr/bin/curl", {"-sS", "--max-time", "20", "--cacert", Cert("ca.pem"), "-o",
                                  Cert("got"), "-w", "%{size_download}", "--resolve",
                                  authority + ":127.0.0.1", "https://" + authority + "/big"}));
  EXPECT_EQ(curl.exit_code, 0) << curl.output;
  EXPECT_EQ(curl.output, absl::StrCat(big.size()));

  // 1 MiB to a TLS backend (openssl s_server -rev answers each line reversed): plby writes it
  // to the backend through TLS.
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> reverser, StartTlsBackend("api", {"-rev"}));
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n[[server]]\nname = \"plain\"\nlisten = "
      "\"127.0.0.1:0\"\n",
      "[[server.forward]]\npool = \"reverse\"\n[[pool]]\nname = \"reverse\"\n",
      "backends = [ { address = \"", tls_backend_ip_, ":18443\" } ]\n",
      "[pool.tls]\nenabled = true\nca = \"ca.pem\"\nserver_name = \"api.example.com\"\n",
      "[pool.health]\ncheck = \"none\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node plain, StartNode(dir_, config));
  std::string lines;
  for (int i = 0; i < 65536; ++i) lines += "0123456789abcde\n";
  PLBY_ASSERT_OK_AND_ASSIGN(int fd, Connect(plain.port()));
  ASSERT_TRUE(SendAll(fd, lines).ok());
  std::string answer;
  char buffer[65536];
  while (answer.size() < lines.size()) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  ASSERT_EQ(answer.size(), lines.size());
  EXPECT_EQ(answer.substr(0, 32), "edcba9876543210\nedcba9876543210\n");
}

// The way a Kubernetes Secret volume changes: each version in a directory of its own, "..data"
// a symlink to the current one, and the files symlinks through it; an update swaps "..data".
class SecretVolume {
 public:
  SecretVolume(const TempDir& dir, const std::string& name) : root_(dir.path() + "/" + name) {
    std::filesystem::create_directories(root_);
  }
  // Makes `cert` and `key` (paths) the volume's tls.crt and tls.key.
  void Publish(const std::string& cert, const std::string& key) {
    const std::string version = absl::StrCat("v", ++versions_);
    std::filesystem::create_directories(root_ + "/" + version);
    std::filesystem::copy_file(cert, root_ + "/" + version + "/tls.crt");
    std::filesystem::copy_file(key, root_ + "/" + version + "/tls.key");
    std::filesystem::create_directory_symlink(version, root_ + "/..data_tmp");
    std::filesystem::rename(root_ + "/..data_tmp", root_ + "/..data");
    if (versions_ == 1) {
      std::filesystem::create_symlink("..data/tls.crt", root_ + "/tls.crt");
      std::filesystem::create_symlink("..data/tls.key", root_ + "/tls.key");
    }
  }

 private:
  std::string root_;
  int versions_ = 0;
};

TEST_F(TlsTerminationTest, CertificatesRotateLiveAndABadOneIsRefused) {
  SecretVolume secret(dir_, "secret");
  secret.Publish(Cert("node.pem"), Cert("node.key"));
  const std::string config =
      absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
                   "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n", "[server.tls]\n",
                   "certificates = [ { cert = \"secret/tls.crt\", key = \"secret/tls.key\" } ]\n",
                   "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  // A client that stays connected across the rotation.
  PLBY_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Process> held,
      Process::Start("/bin/sh", {"-c", absl::StrCat("sleep 60 | ", kOpenssl,
                                                    " s_client -connect 127.0.0.1:", node.port(),
                                                    " -servername localhost 2>&1")}));
  ASSERT_TRUE(held->WaitForLine(std::regex("subject=CN = plby node")));

  secret.Publish(Cert("api.pem"), Cert("api.key"));
  ASSERT_TRUE(node.process->WaitForLine(std::regex("certificates of listener tls reloaded")));
  EXPECT_THAT(Client(node.port(), {"-servername", "localhost"}),
              HasSubstr("subject=CN = api.example.com"));
  // The open connection was not touched.
  EXPECT_FALSE(held->WaitForExit(milliseconds(0)).has_value());
  EXPECT_GE(WaitForMetric(node, "plby_connections_active").value_or(0), 1u);

  // The status page lists the listener's certificates.
  EXPECT_THAT(Exchange(node.metrics_port, "GET /status.json HTTP/1.0\r\n\r\n").value_or(""),
              HasSubstr("\"names\":\"api.example.com\""));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult listed,
                            Ctl({"--node", node.control_address(), "certs", "list"}));
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr("secret/tls.crt (default)"));
  EXPECT_THAT(listed.output, HasSubstr("api.example.com"));

  // A key that is not the certificate's: refused, logged, counted; the last good one stays.
  secret.Publish(Cert("node.pem"), Cert("api.key"));
  ASSERT_TRUE(node.process->WaitForLine(std::regex(
      "certificates of listener tls not reloaded \\(a file changed\\): .*tls.key: the private "
      "key does not belong to the certificate CN=plby node .*; the ones loaded before stay in "
      "use")));
  EXPECT_THAT(Client(node.port(), {"-servername", "localhost"}),
              HasSubstr("subject=CN = api.example.com"));
  EXPECT_EQ(
      WaitForMetric(node, "plby_tls_certificate_reloads_total{listener=\"tls\",result=\"failed\"}"),
      1u);
  // The same through the control service: refused again, exit 1, the file named.
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult reload,
                            Ctl({"--node", node.control_address(), "certs", "reload"}));
  EXPECT_EQ(reload.exit_code, 1) << reload.output;
  EXPECT_THAT(reload.output, HasSubstr("tls.key: the private key does not belong"));
  // Fixed, and reloaded on request (the file watch may have been first: either is fine).
  secret.Publish(Cert("node.pem"), Cert("node.key"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult fixed,
                            Ctl({"--node", node.control_address(), "certs", "reload"}));
  EXPECT_EQ(fixed.exit_code, 0) << fixed.output;
  EXPECT_THAT(Client(node.port(), {"-servername", "localhost"}),
              HasSubstr("subject=CN = plby node"));
}

// fs.inotify.max_user_instances (128 by default) counts every instance of every process of a
// user: on a Kubernetes node, all the pods of one UID. A node used to need one to start, even
// with no file to watch. Here a user of its own has every instance taken by another process:
// a node without certificates starts as usual, and one with them polls its files and still
// sees a Secret rotate.
TEST_F(TlsTerminationTest, WithoutInotifyInstancesNodesStartAndPollTheirFiles) {
  const std::string uid = std::to_string(50000 + getpid() % 10000);  // nobody else's
  const std::vector<std::string> as_user = {"/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + uid,
                                            "--clear-groups"};
  // The node's binary, the config and the certificates, where that user can read them.
  const std::string binary = dir_.path() + "/plby-node";
  std::filesystem::copy_file(NodeBinary(), binary);
  SecretVolume secret(dir_, "secret");
  secret.Publish(Cert("node.pem"), Cert("node.key"));
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult readable,
                            RunToExit("/bin/chmod", {"-R", "a+rX", dir_.path()}));
  ASSERT_EQ(readable.exit_code, 0) << readable.output;

  std::vector<std::string> hog_args(as_user.begin() + 1, as_user.end());
  hog_args.insert(hog_args.end(), {kPython, "-c", R"(
import ctypes, errno, time
libc = ctypes.CDLL(None, use_errno=True)
held = []
while True:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    held.append(fd)
print("holding", len(held), "instances, then", errno.errorcode[ctypes.get_errno()], flush=True)
time.sleep(3600)
)"});
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> hog, Process::Start(as_user[0], hog_args));
  const std::optional<std::vector<std::string>> holding =
      hog->WaitForLine(std::regex("holding (\\d+) instances, then (\\w+)"));
  ASSERT_TRUE(holding.has_value()) << hog->Output();
  ASSERT_EQ((*holding)[2], "EMFILE") << hog->Output();

  // No file to watch: no instance needed.
  TempDir plain_dir;
  PLBY_ASSERT_OK_AND_ASSIGN(RunResult plain_readable,
                            RunToExit("/bin/chmod", {"a+rx", plain_dir.path()}));
  ASSERT_EQ(plain_readable.exit_code, 0);
  PLBY_ASSERT_OK_AND_ASSIGN(
      Node plain, StartNode(plain_dir, OnePoolConfig({{absl::StrCat(nginx_ip_, ":18080")}}),
                            {"--workers", "1"}, {}, as_user, binary));
  EXPECT_THAT(Exchange(plain.port(), "GET / HTTP/1.0\r\n\r\n").value_or(""),
              HasSubstr("plain backend"));
  EXPECT_THAT(plain.process->Output(), Not(HasSubstr("inotify")));

  // Certificates to watch: polled, said once, and a rotation is still seen.
  const std::string config =
      absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n",
                   "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n", "[server.tls]\n",
                   "certificates = [ { cert = \"secret/tls.crt\", key = \"secret/tls.key\" } ]\n",
                   "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node,
                            StartNode(dir_, config, {"--workers", "1"}, {}, as_user, binary));
  EXPECT_EQ(node.process->CountLines(std::regex(
                "warn  certificate files are looked at every second for changes \\(no inotify "
                "instance: Too many open files; raise fs.inotify.max_user_instances")),
            1)
      << node.process->Output();
  EXPECT_THAT(Client(node.port(), {"-servername", "localhost"}),
              HasSubstr("subject=CN = plby node"));
  secret.Publish(Cert("api.pem"), Cert("api.key"));
  ASSERT_TRUE(node.process->WaitForLine(std::regex("certificates of listener tls reloaded")))
      << node.process->Output();
  EXPECT_THAT(Client(node.port(), {"-servername", "localhost"}),
              HasSubstr("subject=CN = api.example.com"));
}

// ciphers, ciphersuites and groups: by default ECDHE with AEAD only (a client that offers only
// CBC suites finds nothing in common); set, they are what a client and a backend get.
TEST_F(TlsTerminationTest, CiphersSuitesAndGroupsAreWhatTheConfigSays) {
  PLBY_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Process> backend, StartTlsBackend("api", {"-www"}));
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
      "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n",
      "[server.tls]\ncertificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n",
      "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n",
      "[[server]]\nname = \"chosen\"\nlisten = \"127.0.0.1:0\"\n",
      "[server.tls]\ncertificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n",
      "ciphers = \"ECDHE-ECDSA-CHACHA20-POLY1305\"\nciphersuites = \"TLS_AES_256_GCM_SHA384\"\n",
      "groups = \"P-384\"\n[[server.forward]]\nbackends = [ { address = \"", nginx_ip_,
      ":18080\" } ]\n", "[[server]]\nname = \"up\"\nlisten = \"127.0.0.1:0\"\n",
      "[[server.forward]]\npool = \"secure\"\n[[pool]]\nname = \"secure\"\n",
      "backends = [ { address = \"", tls_backend_ip_, ":18443\" } ]\n",
      "[pool.tls]\nenabled = true\nca = \"ca.pem\"\nserver_name = \"api.example.com\"\n",
      "ciphersuites = \"TLS_CHACHA20_POLY1305_SHA256\"\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  const uint16_t tls = node.ports["tls"];
  const uint16_t chosen = node.ports["chosen"];

  const std::string defaults12 = Client(tls, {"-tls1_2"});
  EXPECT_THAT(defaults12, HasSubstr("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"));
  EXPECT_THAT(defaults12, HasSubstr("Server Temp Key: X25519"));
  // Only CBC suites offered (what LUCKY13 is about): none in common.
  EXPECT_THAT(
      Client(tls, {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"}),
      HasSubstr("alert handshake failure"));
  EXPECT_EQ(Handshakes(node, "no_shared_cipher", 1), 1u);
  // Only finite-field groups: none in common either.
  EXPECT_THAT(Client(tls, {"-tls1_3", "-groups", "ffdhe2048"}),
              HasSubstr("alert handshake failure"));

  EXPECT_THAT(Client(chosen, {"-tls1_2"}),
              HasSubstr("New, TLSv1.2, Cipher is ECDHE-ECDSA-CHACHA20-POLY1305"));
  const std::string chosen13 = Client(chosen, {"-tls1_3"});
  EXPECT_THAT(chosen13, HasSubstr("New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"));
  EXPECT_THAT(chosen13, HasSubstr("Server Temp Key: ECDH, secp384r1"));
  EXPECT_THAT(Client(chosen, {"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"}),
              HasSubstr("alert handshake failure"));

  // [pool.tls] ciphersuites: the s_server backend's page names the suite plby's side chose.
  EXPECT_THAT(Exchange(node.ports["up"], "GET / HTTP/1.0\r\n\r\n").value_or(""),
              HasSubstr("Cipher is TLS_CHACHA20_POLY1305_SHA256"));
}

// A certificate entry's OCSP response is stapled to clients that ask (status_request), in TLS
// 1.2 and 1.3, while it is valid; an expired one is not stapled, said once; a new file is
// reloaded with the certificate.
TEST_F(TlsTerminationTest, OcspResponsesAreStapledWhileTheyAreValid) {
  WriteNodeChain();
  ASSERT_NO_FATAL_FAILURE(MakeOcsp("live.ocsp"));
  ASSERT_NO_FATAL_FAILURE(
      MakeOcsp("stale.ocsp", {"--this-update-hours", "-48", "--next-update-hours", "-24"}));
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n",
      "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncertificates = [ { ",
      "cert = \"node-chain.pem\", key = \"node.key\", ocsp = \"live.ocsp\" } ]\n",
      "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n",
      "[[server]]\nname = \"stale\"\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncertificates = [ { ",
      "cert = \"node-chain.pem\", key = \"node.key\", ocsp = \"stale.ocsp\" } ]\n",
      "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    const std::string stapled = Client(node.ports["tls"], {version, "-status"});
    EXPECT_THAT(stapled, HasSubstr("OCSP Response Status: successful")) << version;
    EXPECT_THAT(stapled, HasSubstr("Cert Status: good")) << version;
    EXPECT_THAT(Client(node.ports["stale"], {version, "-status"}),
                HasSubstr("OCSP response: no response sent"))
        << version;
  }
  EXPECT_EQ(node.process->CountLines(std::regex("node-chain.pem: the OCSP response expired on .* "
                                                "it is not stapled; fetch a fresh one")),
            1)
      << node.process->Output();

  // The live one goes stale on disk: reloaded, no longer stapled, and said.
  std::filesystem::copy_file(Cert("stale.ocsp"), Cert("next.ocsp"));
  std::filesystem::rename(Cert("next.ocsp"), Cert("live.ocsp"));
  ASSERT_TRUE(node.process->WaitForLine(std::regex("certificates of listener tls reloaded")))
      << node.process->Output();
  EXPECT_TRUE(node.process->WaitForLine(
      std::regex("certificates of listener tls: .*node-chain.pem: the OCSP response expired on")));
  EXPECT_THAT(Client(node.ports["tls"], {"-status"}), HasSubstr("OCSP response: no response sent"));
}

// A TLS client that handshakes and leaves (its Finished and close_notify in one flight, as TLS
// health probes, scanners and `openssl s_time` do) has nothing to forward and will read
// nothing: no backend connection is opened for it, as HAProxy opens none. One that sends data
// is served as ever.
TEST_F(TlsTerminationTest, AClientThatLeavesAfterItsHandshakeCostsNoBackendConnection) {
  const std::string config =
      absl::StrCat("[control]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
                   "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n",
                   "[server.tls]\ncertificates = [ { cert = \"node.pem\", key = \"node.key\" } ]\n",
                   "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  const std::string client = absl::StrCat(R"(
import socket, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[2])
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        s.sendall(outgoing.read())
        incoming.write(s.recv(65536))
# Done on this side: the Finished waits in `outgoing`; the close_notify joins it, one write.
try:
    tls.unwrap()
except ssl.SSLWantReadError:
    pass
s.sendall(outgoing.read())
while s.recv(65536):
    pass
print("left")
)");
  const std::string script = dir_.Write("leave.py", client);
  for (int i = 0; i < 3; ++i) {
    PLBY_ASSERT_OK_AND_ASSIGN(
        RunResult left, RunToExit(kPython, {script, std::to_string(node.port()), Cert("ca.pem")}));
    EXPECT_EQ(left.output, "left") << left.output;
  }
  EXPECT_EQ(Handshakes(node, "ok", 3), 3u);
  const std::string connections = absl::StrCat(
      "plby_backend_connections_total{pool=\"tls\",backend=\"", nginx_ip_, ":18080\"}");
  EXPECT_EQ(WaitForMetric(node, connections, 0), 0u);
  // A client with something to say reaches the backend.
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult curl, RunToExit("/usr/bin/curl",
                                {"-sS", "--max-time", "20", "--cacert", Cert("ca.pem"), "--resolve",
                                 absl::StrCat("localhost:", node.port(), ":127.0.0.1"),
                                 absl::StrCat("https://localhost:", node.port(), "/")}));
  EXPECT_EQ(curl.output, "plain backend");
  EXPECT_EQ(WaitForMetric(node, connections, 1), 1u);
}

// testssl.sh (Debian's), a battery nobody here wrote, against a listener with the defaults:
// protocols, cipher categories, forward secrecy, server defaults and vulnerabilities. Nothing is
// "NOT ok" but the test certificate's own trust (a private CA, no CRL or OCSP URI); no CBC
// suite, LUCKY13 not vulnerable, OCSP stapled. (Run in the first stage of the test command only:
// it takes about a minute.)
TEST_F(TlsTerminationTest, TestsslFindsNothingNotOkButTheTestCertificatesTrust) {
  WriteNodeChain();
  ASSERT_NO_FATAL_FAILURE(MakeOcsp("node.ocsp"));
  const std::string config = absl::StrCat(
      "[control]\nlisten = \"127.0.0.1:0\"\n",
      "[[server]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncertificates = [ { ",
      "cert = \"node-chain.pem\", key = \"node.key\", ocsp = \"node.ocsp\" } ]\n",
      "[[server.forward]]\nbackends = [ { address = \"", nginx_ip_, ":18080\" } ]\n");
  PLBY_ASSERT_OK_AND_ASSIGN(Node node, StartNode(dir_, config));
  PLBY_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Process> testssl,
      Process::Start("/usr/bin/testssl",
                     {"--quiet", "--color", "0", "--warnings", "off", "-p", "-s", "-f", "-S", "-U",
                      absl::StrCat("127.0.0.1:", node.port())}));
  ASSERT_TRUE(testssl->WaitForExit(milliseconds(240'000)).has_value()) << testssl->Output();
  const std::string report = testssl->Output();
  ASSERT_THAT(report, HasSubstr("Testing vulnerabilities")) << report;
  std::vector<std::string> not_ok;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("NOT ok") == std::string::npos) continue;
    // The test certificate's own trust: a private CA (in the chain), no CRL or OCSP URI.
    if (line.find("Chain of trust") != std::string::npos ||
        line.find("neither CRL nor OCSP URI provided") != std::string::npos) {
      continue;
    }
    not_ok.push_back(line);
  }
  EXPECT_THAT(not_ok, ::testing::IsEmpty()) << report;
  EXPECT_THAT(report, Not(HasSubstr("VULNERABLE"))) << report;
  EXPECT_THAT(report, ::testing::ContainsRegex("Obsolete CBC ciphers \\(AES, ARIA etc.\\) +not "
                                               "offered"))
      << report;
  EXPECT_THAT(report, ::testing::ContainsRegex("LUCKY13 \\(CVE-2013-0169\\), experimental +not "
                                               "vulnerable \\(OK\\)"))
      << report;
  EXPECT_THAT(report, ::testing::ContainsRegex("OCSP stapling +offered")) << report;
  EXPECT_THAT(report, ::testing::ContainsRegex("TLS 1.1 +not offered")) << report;
}

}  // namespace
}  // namespace plby::testing
