#include "files/read_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace plby::files {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(ReadFileTest, ReadsARegularFileWhole) {
  TempDir dir;
  const std::string path = dir.Write("a.toml", "listen = 1\n");
  absl::StatusOr<std::string> text = ReadFile(path, kMaxConfigBytes);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "listen = 1\n");
  EXPECT_TRUE(ReadFile(dir.Write("empty", ""), 0).ok());
}

TEST(ReadFileTest, RefusesWhatIsNotARegularFileWithoutReadingIt) {
  TempDir dir;
  // /dev/zero never ends: reading it whole grew a node to 3.8 GB.
  absl::StatusOr<std::string> zero = ReadFile("/dev/zero", kMaxConfigBytes);
  EXPECT_TRUE(absl::IsFailedPrecondition(zero.status())) << zero.status();
  EXPECT_EQ(zero.status().message(), "not a regular file (a character device)");
  // A FIFO with no writer: refused at once, not waited on.
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ReadFile(fifo, kMaxConfigBytes).status().message(), "not a regular file (a pipe)");
  EXPECT_EQ(ReadFile(dir.path(), kMaxConfigBytes).status().message(), "Is a directory");
  absl::StatusOr<std::string> missing = ReadFile(dir.path() + "/nope", kMaxConfigBytes);
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_EQ(missing.status().message(), "No such file or directory");
}

TEST(ReadFileTest, RefusesAFileOverTheLimitBeforeReadingIt) {
  TempDir dir;
  // Sparse: 65 MiB that cost no disk, and are never read.
  const std::string big = dir.Write("big.toml", "");
  ASSERT_EQ(truncate(big.c_str(), (65 << 20)), 0);
  absl::StatusOr<std::string> read = ReadFile(big, kMaxConfigBytes);
  EXPECT_TRUE(absl::IsFailedPrecondition(read.status())) << read.status();
  EXPECT_EQ(read.status().message(), "larger than 64 MiB (68157440 bytes)");
  EXPECT_EQ(ReadFile(dir.Write("pem", std::string(1025, 'x')), 1024).status().message(),
            "larger than 1 KiB (1025 bytes)");
  EXPECT_TRUE(ReadFile(dir.Write("pem2", std::string(1024, 'x')), 1024).ok());
}

TEST(ReadFileTest, SizesAreSaidInTheirUnit) {
  EXPECT_EQ(SizeText(kMaxConfigBytes), "64 MiB");
  EXPECT_EQ(SizeText(kMaxPemBytes), "1 MiB");
  EXPECT_EQ(SizeText(512 << 10), "512 KiB");
  EXPECT_EQ(SizeText(100), "100 bytes");
}

}  // namespace
}  // namespace plby::files
