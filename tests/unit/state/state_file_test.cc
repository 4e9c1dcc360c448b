#include "state/state_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plby::state {
namespace {

using ::testing::HasSubstr;

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/plby-state-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    chmod(dir_.c_str(), 0755);
    std::filesystem::remove_all(dir_);
  }
  std::string Read(const std::string& path) {
    std::ifstream file(path);
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  }

  std::string dir_;
};

State Sample() {
  return State{
      .pools = {{.name = "web",
                 .version = 7,
                 .backends = {{"127.0.0.1:8080", 3, false}, {"[::1]:8081", 1, true}},
                 .balance = balance::Settings{.algorithm = balance::Algorithm::kMaglev,
                                              .slow_start = absl::ZeroDuration(),
                                              .hash = (balance::HashKey{
                                                  .source = balance::HashKey::Source::kSourceIpPort,
                                                  .name = ""}),
                                              .maglev_table_size = 251}},
                {.name = "empty \"one\"", .version = 2, .backends = {}, .balance = {}}},
      .warnings = {}};
}

TEST_F(StateFileTest, FormatAndParseRoundTrip) {
  absl::StatusOr<State> parsed = ParseState(FormatState(Sample()), "state.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->pools.size(), 2u);
  const PoolRecord* web = parsed->Find("web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->version, 7u);
  ASSERT_EQ(web->backends.size(), 2u);
  EXPECT_EQ(web->backends[0].address, "127.0.0.1:8080");
  EXPECT_EQ(web->backends[0].weight, 3);
  EXPECT_TRUE(web->backends[1].draining);
  ASSERT_TRUE(web->balance.has_value());
  EXPECT_EQ(web->balance->algorithm, balance::Algorithm::kMaglev);
  EXPECT_EQ(web->balance->hash,
            (balance::HashKey{.source = balance::HashKey::Source::kSourceIpPort, .name = ""}));
  EXPECT_EQ(web->balance->maglev_table_size, 251u);
  ASSERT_NE(parsed->Find("empty \"one\""), nullptr);
  EXPECT_FALSE(parsed->Find("empty \"one\"")->balance.has_value());
}

TEST_F(StateFileTest, SavedBalanceSettingsTheNodeWouldRefuseAreLeftOutWithAWarning) {
  absl::StatusOr<State> parsed = ParseState(
      "format = 1\n[[pool]]\nname = \"web\"\nversion = 2\nbackends = []\n"
      "balance = { algorithm = \"maglev\", slow_start = \"30s\", hash = \"source_ip\", "
      "maglev_table_size = 65537 }\n",
      "state.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->pools[0].balance.has_value());
  EXPECT_THAT(parsed->warnings,
              ::testing::ElementsAre(::testing::HasSubstr(
                  "state.toml:6:11: pool \"web\": the saved balance settings are left out "
                  "(slow_start 30s is not valid with algorithm maglev")));
  EXPECT_FALSE(ParseState("format = 1\n[[pool]]\nname = \"web\"\nversion = 2\nbackends = []\n"
                          "balance = { algorithm = \"RR\" }\n",
                          "state.toml")
                   .ok())
      << "a structurally broken entry is refused whole";
}

TEST_F(StateFileTest, AnythingOffIsRefusedWithItsPosition) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"format = 1\n[[pool]\n", "s.toml:2:8: not a valid state file (TOML syntax error"},
      {"format = 2\n", "s.toml:1:10: expected format = 1"},
      {"[[pool]]\nname = \"web\"\n", "s.toml:1:1: expected format = 1"},
      {"format = 1\nextra = true\n", "s.toml:2:1: unknown key \"extra\" in the state file"},
      {"format = 1\n[[pool]]\nname = \"web\"\nbackends = []\n",
       "s.toml:2:1: [[pool]] needs name (a string), version (an integer from 1)"},
      {"format = 1\n[[pool]]\nname = \"web\"\nversion = 1\nbackends = [ { address = "
       "\"127.0.0.1:80\", weight = 1 } ]\n",
       "s.toml:5:14: a backend needs address (a string), weight (an integer) and draining"},
      {"format = 1\n[[pool]]\nname = \"a\"\nversion = 1\nbackends = []\n[[pool]]\nname = "
       "\"a\"\nversion = 1\nbackends = []\n",
       "s.toml:6:1: pool \"a\" is listed twice"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<State> parsed = ParseState(c.text, "s.toml");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.error)) << c.text;
  }
}

// An entry the control API accepted once must never stop a restart: one the node would refuse
// today (the address grammar grew stricter, say) is left out of its pool, with a warning.
TEST_F(StateFileTest, AWellFormedEntryWithRefusedValuesIsLeftOutWithAWarning) {
  const std::string text =
      "format = 1\n[[pool]]\nname = \"web\"\nversion = 3\nbackends = [\n"
      "  { address = \"0x7f.1:85\", weight = 1, draining = false },\n"
      "  { address = \"127.0.0.1:80\", weight = 0, draining = false },\n"
      "  { address = \"127.0.0.1:81\", weight = 1, draining = false },\n"
      "  { address = \"[::ffff:127.0.0.1]:81\", weight = 2, draining = false },\n"
      "  { address = \"backend.example:82\", weight = 1, draining = true },\n"
      "]\n";
  absl::StatusOr<State> parsed = ParseState(text, "s.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const PoolRecord* web = parsed->Find("web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->version, 3u);
  ASSERT_EQ(web->backends.size(), 2u);
  EXPECT_EQ(web->backends[0].address, "127.0.0.1:81");
  EXPECT_EQ(web->backends[1].address, "backend.example:82");
  ASSERT_EQ(parsed->warnings.size(), 3u);
  EXPECT_THAT(parsed->warnings[0], HasSubstr("s.toml:6:15: pool \"web\": a backend is left out: "
                                             "invalid address \"0x7f.1:85\""));
  EXPECT_THAT(parsed->warnings[1],
              HasSubstr("s.toml:7:40: pool \"web\": a backend is left out: backend "
                        "\"127.0.0.1:80\": weight 0 is out of range"));
  EXPECT_THAT(parsed->warnings[2], HasSubstr("backend \"127.0.0.1:81\" is listed twice"));
  EXPECT_THAT(parsed->warnings[2], HasSubstr("the next change saved drops it from the file"));
}

TEST_F(StateFileTest, AMissingFileIsNoStateAnUnreadableOneAnError) {
  absl::StatusOr<std::optional<State>> missing = ReadStateFile(dir_ + "/none.toml");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  absl::StatusOr<std::optional<State>> directory = ReadStateFile(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.status().message(), HasSubstr("cannot read the state file"));
}

TEST_F(StateFileTest, SaveWritesEveryPoolAndLeavesNoTemporaryFile) {
  const std::string path = dir_ + "/state.toml";
  absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, Sample());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(
      (*file)
          ->Save(
              {.name = "api", .version = 1, .backends = {{"10.0.0.1:80", 1, false}}, .balance = {}})
          .ok());
  ASSERT_TRUE((*file)->Save({.name = "web", .version = 8, .backends = {}, .balance = {}}).ok());
  absl::StatusOr<std::optional<State>> read = ReadStateFile(path);
  ASSERT_TRUE(read.ok() && read->has_value()) << read.status();
  EXPECT_EQ((*read)->Find("web")->version, 8u);
  EXPECT_TRUE((*read)->Find("web")->backends.empty());
  EXPECT_EQ((*read)->Find("api")->backends[0].address, "10.0.0.1:80");
  EXPECT_NE((*read)->Find("empty \"one\""), nullptr);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(StateFileTest, AFailedSaveChangesNeitherTheFileNorTheRecordedState) {
  const std::string sub = dir_ + "/sub";
  std::filesystem::create_directory(sub);
  const std::string path = sub + "/state.toml";
  absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, State{});
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Save({.name = "web", .version = 2, .backends = {}, .balance = {}}).ok());
  const std::string before = Read(path);
  // Gone, so nothing can be written there (permissions would not stop root).
  std::filesystem::remove_all(sub);
  const absl::Status failed =
      (*file)->Save({.name = "web", .version = 3, .backends = {}, .balance = {}});
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.message(), HasSubstr("could not save the change to the state file"));
  EXPECT_THAT(failed.message(), HasSubstr("nothing changed"));
  // The recorded state is still version 2: the next save starts from it.
  std::filesystem::create_directory(sub);
  ASSERT_TRUE((*file)->Save({.name = "api", .version = 1, .backends = {}, .balance = {}}).ok());
  absl::StatusOr<std::optional<State>> read = ReadStateFile(path);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->Find("web")->version, 2u);
  EXPECT_FALSE(before.empty());
}

TEST_F(StateFileTest, OpenRefusesADirectoryItCannotWriteTo) {
  absl::StatusOr<std::unique_ptr<StateFile>> file =
      StateFile::Open(dir_ + "/no/such/dir/state.toml", State{});
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("cannot write beside it"));
}

}  // namespace
}  // namespace plby::state
