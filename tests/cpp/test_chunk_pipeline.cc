// The chunk writer's background thread: a failure there reaches the caller with no file left behind, whichever call
// finds it, and a writer abandoned with chunks in flight stops cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "chunk_reader.h"
#include "chunk_writer.h"

namespace pyheapdump {
namespace {

class PipelineDir : public ::testing::Test {
 protected:
  PipelineDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pyheapdump-pipeline-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    path_ = dir_ + "/app.heapdump";
  }
  ~PipelineDir() override { std::filesystem::remove_all(dir_); }

  size_t EntriesInDir() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_)) ++n;
    return n;
  }

  std::string dir_;
  std::string path_;
};

// Records of random bytes: deflate cannot shrink them, so the file grows as fast as the records do.
std::vector<Record> IncompressibleRecords(size_t count, size_t data_bytes) {
  std::mt19937_64 rng(7);
  std::vector<Record> records(count);
  for (size_t i = 0; i < count; ++i) {
    records[i].id = i + 1;
    records[i].kind = Kind::kBytes;
    records[i].data.bytes.resize(data_bytes);
    for (char& c : records[i].data.bytes) c = static_cast<char>(rng());
  }
  return records;
}

// Runs `body` in a child whose files may not pass `limit` bytes; returns what it reported through a pipe.
template <class Body>
std::string InChildWithFileLimit(rlim_t limit, Body body) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    signal(SIGXFSZ, SIG_IGN);  // write() fails with EFBIG instead of killing the process
    struct rlimit rl = {limit, limit};
    setrlimit(RLIMIT_FSIZE, &rl);
    std::string report = body();
    if (write(fds[1], report.data(), report.size()) != static_cast<ssize_t>(report.size())) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) report.append(buffer, n);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return absl::StrCat("child failed: ", status);
  return report;
}

TEST_F(PipelineDir, FailureOfTheLastChunksIsReturnedByCommitAndNoFileIsLeft) {
  // Less than one chunk of records: nothing is written until Commit hands them to the background thread.
  std::string report = InChildWithFileLimit(64 << 10, [this] {
    auto writer = DumpFileWriter::Create(path_, {});
    if (!writer.ok() || !(*writer)->WriteHeader("{}").ok()) return std::string("setup failed");
    for (const Record& r : IncompressibleRecords(200, 1000)) {
      if (absl::Status s = (*writer)->AppendRecord(r); !s.ok()) return "append failed: " + s.ToString();
    }
    absl::Status commit = (*writer)->Commit("{}");
    absl::Status again = (*writer)->Commit("{}");
    return absl::StrCat(commit.ToString(), "\n", again == commit ? "same" : again.ToString(), "\n",
                        (*writer)->temp_path().empty() ? "temp gone" : "temp left", "\n",
                        std::filesystem::exists(path_) ? "final exists" : "no final file");
  });
  EXPECT_EQ(report,
            absl::StrCat("OUT_OF_RANGE: cannot write ", path_, ": File too large\nsame\ntemp gone\nno final file"));
  EXPECT_EQ(EntriesInDir(), 0u);
}

TEST_F(PipelineDir, AbandonedWriterWithChunksInFlightStopsAndRemovesItsFile) {
  {
    auto writer = DumpFileWriter::Create(path_, {});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteHeader("{}").ok());
    // About ten chunks' worth: the background thread is busy and chunks wait for it when the writer goes away.
    for (const Record& r : IncompressibleRecords(10'000, 1000)) ASSERT_TRUE((*writer)->AppendRecord(r).ok());
  }
  EXPECT_EQ(EntriesInDir(), 0u);
}

TEST_F(PipelineDir, ManyChunksWrittenByTheBackgroundThreadReadBackInOrder) {
  std::vector<Record> written = IncompressibleRecords(6'000, 700);
  {
    auto writer = DumpFileWriter::Create(path_, {});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteHeader("{}").ok());
    for (const Record& r : written) ASSERT_TRUE((*writer)->AppendRecord(r).ok());
    ASSERT_TRUE((*writer)->AppendSource("a.py", "x = 1\n").ok());
    ASSERT_TRUE((*writer)->Commit("{}").ok());
    EXPECT_EQ((*writer)->file_bytes(), std::filesystem::file_size(path_));
  }
  auto reader = DumpFileReader::Open(path_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<uint64_t> ids;
  ASSERT_TRUE((*reader)
                  ->ForEachRecord([&](Record&& r) {
                    EXPECT_EQ(r.data.bytes, written[ids.size()].data.bytes);
                    ids.push_back(r.id);
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_EQ(ids.size(), written.size());
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], i + 1);
  EXPECT_TRUE((*reader)->warnings().empty());
}

}  // namespace
}  // namespace pyheapdump
