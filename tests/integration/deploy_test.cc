// The Kubernetes manifests in deploy/: rendered by `kubectl kustomize` (offline, no cluster),
// checked for what a production rollout needs, and the ConfigMap's config.toml validated by the
// real plby-node.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKubectl[] = "/usr/bin/kubectl";

// The rendered documents, split at "---" lines.
std::vector<std::string> Render(const std::string& kustomization) {
  EXPECT_TRUE(std::filesystem::exists(kKubectl)) << kKubectl << " is missing";
  absl::StatusOr<RunResult> run =
      RunToExit(kKubectl, {"kustomize", absl::StrCat(PLBY_SOURCE_DIR, "/deploy/", kustomization)});
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return {};
  EXPECT_EQ(run->exit_code, 0) << run->output;
  std::vector<std::string> documents;
  for (absl::string_view document : absl::StrSplit(run->output, "\n---\n")) {
    documents.emplace_back(document);
  }
  return documents;
}

std::string OfKind(const std::vector<std::string>& documents, const std::string& kind,
                   const std::string& name = "") {
  for (const std::string& document : documents) {
    if (!absl::StrContains(document, absl::StrCat("\nkind: ", kind, "\n")) &&
        !absl::StartsWith(document, absl::StrCat("kind: ", kind, "\n"))) {
      continue;
    }
    if (name.empty() || absl::StrContains(document, absl::StrCat("  name: ", name, "\n"))) {
      return document;
    }
  }
  ADD_FAILURE() << "no " << kind << " " << name << " rendered";
  return "";
}

// The ConfigMap that carries the file `name` (generated names have a hash suffix).
std::string ConfigMapWith(const std::vector<std::string>& documents, const std::string& name) {
  for (const std::string& document : documents) {
    if (absl::StrContains(document, "kind: ConfigMap\n") &&
        absl::StrContains(document, absl::StrCat("  ", name, ": |\n"))) {
      return document;
    }
  }
  ADD_FAILURE() << "no ConfigMap carries " << name;
  return "";
}

// The lines under the first `key:` line of `document` (more indented than it), unindented by
// that line's indentation: a YAML mapping's value, without a YAML library. `top_level`: only a
// key that is not indented counts.
std::string Block(const std::string& document, const std::string& key, bool top_level = false) {
  std::string block;
  size_t indent = std::string::npos;
  for (absl::string_view line : absl::StrSplit(document, '\n')) {
    const size_t depth = line.find_first_not_of(' ');
    if (indent == std::string::npos) {
      if (depth != absl::string_view::npos && line.substr(depth) == key + ":" &&
          (!top_level || depth == 0)) {
        indent = depth;
      }
      continue;
    }
    // A sequence may sit at its key's own indentation ("containers:" then "- name: ...").
    const bool sequence_item = depth == indent && absl::StartsWith(line.substr(depth), "- ");
    if (depth == absl::string_view::npos || depth < indent || (depth == indent && !sequence_item)) {
      break;
    }
    absl::StrAppend(&block, line.substr(indent + 2), "\n");
  }
  EXPECT_NE(indent, std::string::npos) << "no \"" << key << ":\" in\n" << document;
  return block;
}

// The value of a ConfigMap's `NAME: |` block (a file it carries), unindented.
std::string FileOf(const std::string& config_map, const std::string& name = "config.toml") {
  std::string toml;
  bool inside = false;
  for (absl::string_view line : absl::StrSplit(config_map, '\n')) {
    if (!inside) {
      inside = absl::StripLeadingAsciiWhitespace(line) == name + ": |";
      continue;
    }
    if (!line.empty() && !absl::StartsWith(line, "    ")) break;  // the block ended
    toml += std::string(line.substr(std::min<size_t>(4, line.size()))) + "\n";
  }
  return toml;
}

TEST(DeployTest, BaseRendersEveryPart) {
  const std::vector<std::string> documents = Render("base");
  const std::string deployment = OfKind(documents, "Deployment", "plby");
  // Probes on the plaintext health listener, through the node's gRPC health service.
  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    EXPECT_THAT(Block(deployment, probe), HasSubstr("grpc:\n  port: 9101\n")) << probe;
  }
  // Ready once the pools have backends; alive whatever they hold.
  EXPECT_THAT(Block(Block(deployment, "readinessProbe"), "grpc"),
              HasSubstr("service: plby.traffic\n"));
  EXPECT_THAT(Block(Block(deployment, "livenessProbe"), "grpc"), Not(HasSubstr("service:")));
  const std::string resources = Block(deployment, "resources");
  EXPECT_THAT(Block(resources, "limits"), HasSubstr("cpu: \"2\"\nmemory: 512Mi\n"));
  EXPECT_THAT(Block(resources, "requests"), HasSubstr("cpu: 250m\nmemory: 64Mi\n"));
  const std::string pod = Block(Block(deployment, "template"), "spec", /*top_level=*/true);
  const std::string pod_security = Block(pod, "securityContext", /*top_level=*/true);
  EXPECT_THAT(pod_security, HasSubstr("runAsNonRoot: true\n"));
  const std::string container_security = Block(Block(pod, "containers"), "securityContext");
  EXPECT_THAT(container_security, HasSubstr("readOnlyRootFilesystem: true\n"));
  EXPECT_THAT(container_security, HasSubstr("allowPrivilegeEscalation: false\n"));
  EXPECT_EQ(Block(container_security, "capabilities"), "drop:\n- ALL\n");  // nothing added
  EXPECT_THAT(deployment, HasSubstr("terminationGracePeriodSeconds: 35\n"));
  EXPECT_THAT(deployment, HasSubstr("mountPath: /var/lib/plby\n"));
  EXPECT_THAT(deployment, HasSubstr("image: plby:0.1.0\n"));

  EXPECT_THAT(OfKind(documents, "Service", "plby"), HasSubstr("port: 8200"));
  const std::string control = OfKind(documents, "Service", "plby-control");
  EXPECT_THAT(control, HasSubstr("clusterIP: None"));  // headless: a DNS record per pod
  EXPECT_THAT(control, HasSubstr("port: 9100"));
  // The budget and the policy select exactly the Deployment's pods: a missing selector would
  // make the budget protect nothing and the policy close every pod of the namespace.
  const std::string pod_labels = Block(Block(deployment, "selector"), "matchLabels");
  ASSERT_THAT(pod_labels, HasSubstr("app.kubernetes.io/name: plby\n"));
  const std::string budget = OfKind(documents, "PodDisruptionBudget");
  EXPECT_THAT(budget, HasSubstr("maxUnavailable: 1"));
  EXPECT_EQ(Block(Block(budget, "selector"), "matchLabels"), pod_labels);
  const std::string policy = OfKind(documents, "NetworkPolicy");
  const std::string policy_spec = Block(policy, "spec", /*top_level=*/true);
  EXPECT_EQ(Block(Block(policy_spec, "podSelector", /*top_level=*/true), "matchLabels"),
            pod_labels);
  // The control port admits pods labelled as control clients, and only by that label.
  const std::string control_rule = Block(Block(policy_spec, "ingress", /*top_level=*/true), "from");
  EXPECT_THAT(control_rule, HasSubstr("key: plby.dev/control-client\n"));
  EXPECT_THAT(control_rule, Not(HasSubstr("app.kubernetes.io")));

  // The grace period covers the preStop pause and the node's drain deadline.
  const std::string toml = FileOf(ConfigMapWith(documents, "config.toml"));
  EXPECT_THAT(toml, HasSubstr("drain_timeout = \"25s\""));
  EXPECT_THAT(Block(deployment, "preStop"), HasSubstr("sleep:\n  seconds: 5\n"));
}

// The controller: one replica of plbyctl reconcile on the plby-pools ConfigMap, labelled as the
// control client the NetworkPolicy admits, never selected by the plby Services; and the
// nodes wait for it before taking traffic.
TEST(DeployTest, TheReconcilerKeepsTheFleetAtThePoolsConfigMap) {
  const std::vector<std::string> documents = Render("base");
  const std::string reconciler = OfKind(documents, "Deployment", "plby-reconciler");
  EXPECT_THAT(reconciler, HasSubstr("replicas: 1\n"));
  const std::string pod = Block(Block(reconciler, "template"), "metadata");
  EXPECT_THAT(Block(pod, "labels"), HasSubstr("plby.dev/control-client: \"true\"\n"));
  EXPECT_THAT(Block(pod, "labels"), HasSubstr("app.kubernetes.io/component: reconciler\n"));
  for (const char* arg : {"- reconcile\n", "- /etc/plby-pools/pools.toml\n", "- --fleet\n",
                          "- plby-control:9100\n", "- 0.0.0.0:9180\n"}) {
    EXPECT_THAT(reconciler, HasSubstr(arg));
  }
  EXPECT_THAT(reconciler, HasSubstr("mountPath: /etc/plby-pools\n"));
  EXPECT_THAT(Block(reconciler, "readinessProbe"), HasSubstr("path: /healthz\n"));
  EXPECT_THAT(Block(Block(reconciler, "containers"), "securityContext"),
              HasSubstr("readOnlyRootFilesystem: true\n"));
  // Updated in place (no name suffix), so the mounted file changes under the reconciler.
  const std::string pools = ConfigMapWith(documents, "pools.toml");
  EXPECT_THAT(pools, ::testing::EndsWith("  name: plby-pools"));
  // The Services select the nodes only.
  for (const char* service : {"plby", "plby-control"}) {
    EXPECT_THAT(Block(OfKind(documents, "Service", service), "selector"),
                HasSubstr("app.kubernetes.io/component: load-balancer\n"))
        << service;
  }
  EXPECT_THAT(FileOf(ConfigMapWith(documents, "config.toml")),
              HasSubstr("ready_after_sync = true"));
  // The file is valid for plbyctl: it gets as far as the (absent) node, not exit 2.
  const std::string toml = FileOf(pools, "pools.toml");
  ASSERT_THAT(toml, HasSubstr("[[pool]]"));
  TempDir dir;
  RefusedPort nobody;
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult apply, RunToExit(CtlBinary(), {"--node", nobody.address(), "--timeout", "200ms",
                                               "apply", "-f", dir.Write("pools.toml", toml)}));
  EXPECT_EQ(apply.exit_code, 1) << apply.output;
  EXPECT_THAT(apply.output, HasSubstr("UNAVAILABLE"));
}

// `plby-node --check-config` on `toml`, with the state file (a volume in the pod) moved to a
// folder of the test's.
void ExpectValidConfig(const std::string& toml) {
  TempDir dir;
  std::string local = toml;
  const std::string state = "/var/lib/plby/state.toml";
  ASSERT_NE(local.find(state), std::string::npos) << toml;
  local.replace(local.find(state), state.size(), dir.path() + "/state.toml");
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult check,
      RunToExit(NodeBinary(), {"--check-config", dir.Write("config.toml", local)}));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("configuration is valid"));
}

std::string ReadSource(const std::string& path) {
  std::ifstream file(absl::StrCat(PLBY_SOURCE_DIR, "/", path));
  EXPECT_TRUE(file.good()) << path;
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

TEST(DeployTest, TheConfigMapsConfigIsValid) {
  const std::string toml = FileOf(ConfigMapWith(Render("base"), "config.toml"));
  ASSERT_THAT(toml, HasSubstr("[[server]]"));
  ExpectValidConfig(toml);
}

// A container started from the image alone must not offer plaintext control to the network.
TEST(DeployTest, TheImagesOwnConfigIsValidAndKeepsControlOnLoopback) {
  EXPECT_THAT(ReadSource("deploy/Dockerfile"),
              HasSubstr("COPY deploy/image-config.toml /etc/plby/config.toml\n"));
  const std::string toml = ReadSource("deploy/image-config.toml");
  ExpectValidConfig(toml);
  EXPECT_THAT(toml, HasSubstr("\n[control]\n"));
  EXPECT_THAT(toml, HasSubstr("\nlisten = \"127.0.0.1:9100\"\n"));
  EXPECT_THAT(toml, Not(HasSubstr("allow_insecure_remote")));
}

TEST(DeployTest, TheExampleOverlaySetsReplicasAndImage) {
  const std::vector<std::string> documents = Render("overlays/example");
  const std::string deployment = OfKind(documents, "Deployment", "plby");
  EXPECT_THAT(deployment, HasSubstr("replicas: 5"));
  EXPECT_THAT(deployment, HasSubstr("image: registry.example.com/plby:0.1.0"));
  EXPECT_THAT(deployment, HasSubstr("namespace: plby"));
}

// The reference config in docs/configuration.md ("Everything plby adds") is what operators
// copy: it must load as it is, given the files and names it refers to (certificates made here,
// the names from a hosts file).
TEST(DocsTest, TheReferenceConfigIsValid) {
  const std::string page = ReadSource("docs/configuration.md");
  const size_t intro = page.find("Everything plby adds, with the defaults:");
  ASSERT_NE(intro, std::string::npos) << "docs/configuration.md's reference config moved";
  const size_t begin = page.find("```toml\n", intro);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = page.find("```", begin + 8);
  ASSERT_NE(end, std::string::npos);
  const std::string toml = page.substr(begin + 8, end - begin - 8);

  TempDir dir;
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult certs,
      RunToExit("/bin/bash", {PLBY_SOURCE_DIR "/tests/tools/make-test-certs.sh", dir.path()}));
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  // The names the example uses for them.
  for (const auto& [from, to] : {std::pair{"node.pem", "www.pem"}, std::pair{"node.key", "www.key"},
                                 std::pair{"ca.pem", "internal-ca.pem"}}) {
    std::filesystem::copy_file(dir.path() + "/" + from, dir.path() + "/" + to);
  }
  dir.Write("tickets.key", std::string(107, 'A') + "=\n");
  const std::string hosts = dir.Write(
      "hosts", "10.9.9.9 backend-b.internal\n10.9.9.10 catalog.default.svc.cluster.local\n");
  PLBY_ASSERT_OK_AND_ASSIGN(
      RunResult check,
      RunToExit("/usr/bin/env", {"PLBY_HOSTS_FILE=" + hosts, NodeBinary(), "--check-config",
                                 dir.Write("config.toml", toml)}));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("configuration is valid"));
  EXPECT_THAT(check.output, Not(HasSubstr("is used by no server")));
}

}  // namespace
}  // namespace plby::testing
