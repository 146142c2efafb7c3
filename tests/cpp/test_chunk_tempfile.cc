// The writer's temporary-file discipline: nothing at the final path before Commit, nothing left after a failure,
// and a writer that refuses misuse without spoiling the dump.
#include "chunk_test_support.h"

namespace pyheapdump::chunk_test {
namespace {

std::vector<std::string> TempFilesIn(const TempDir& dir) {
  std::vector<std::string> temps;
  for (const std::string& name : dir.Names()) {
    if (absl::StartsWith(name, ".app.heapdump.tmp-")) temps.push_back(name);
  }
  return temps;
}

TEST_F(ChunkFiles, NothingAppearsAtTheFinalPathBeforeCommit) {
  auto writer = DumpFileWriter::Create(path_, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
  for (const Record& r : MakeRecords(5000)) ASSERT_TRUE((*writer)->AppendRecord(r).ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
  std::vector<std::string> temps = TempFilesIn(dir_);
  ASSERT_EQ(temps.size(), 1u);
  EXPECT_EQ(dir_.File(temps[0]), (*writer)->temp_path());
  ASSERT_TRUE((*writer)->Commit(kSummaryJson).ok());
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_TRUE(TempFilesIn(dir_).empty());
}

TEST_F(ChunkFiles, UncommittedWriterRemovesItsTemporaryFileWhenDestroyed) {
  {
    auto writer = DumpFileWriter::Create(path_, {});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
    for (const Record& r : MakeRecords(5000)) ASSERT_TRUE((*writer)->AppendRecord(r).ok());
    ASSERT_EQ(TempFilesIn(dir_).size(), 1u);
  }
  EXPECT_TRUE(dir_.Names().empty());
}

TEST_F(ChunkFiles, DumpAndItsTemporaryFileAreReadableByTheOwnerOnly) {
  mode_t old_umask = umask(0);  // even a permissive umask must not widen the mode
  auto writer = DumpFileWriter::Create(path_, {});
  umask(old_umask);
  ASSERT_TRUE(writer.ok()) << writer.status();
  struct stat st;
  ASSERT_EQ(stat((*writer)->temp_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
  ASSERT_TRUE((*writer)->Commit(kSummaryJson).ok());
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(ChunkFiles, CommitReplacesAnExistingFileAtTheFinalPath) {
  WriteFile(path_, "an older dump");
  WriteDump(path_, MakeRecords(10));
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(ReadRecords(*reader).size(), 10u);
}

TEST_F(ChunkFiles, OpenFailureNamesThePathAndTheOsError) {
  std::string path = dir_.File("no-such-dir/app.heapdump");
  auto writer = DumpFileWriter::Create(path, {});
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(writer.status().message(), absl::StrCat("cannot write ", path, ": No such file or directory"));
  EXPECT_TRUE(dir_.Names().empty());
}

TEST_F(ChunkFiles, FinalPathThatIsADirectoryIsRefusedAtCreate) {
  auto writer = DumpFileWriter::Create(dir_.path(), {});
  ASSERT_FALSE(writer.ok());
  EXPECT_TRUE(absl::StrContains(writer.status().message(), "Is a directory")) << writer.status();
}

// Runs in a child process: the file-size limit must not touch the test binary's own output.
TEST_F(ChunkFiles, WriteFailureRemovesTheTemporaryFileAndPoisonsTheWriter) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    signal(SIGXFSZ, SIG_IGN);  // so write() fails with EFBIG instead of killing the process
    struct rlimit limit = {200 << 10, 200 << 10};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::string report;
    {
      auto writer = DumpFileWriter::Create(path_, {});
      if (!writer.ok() || !(*writer)->WriteHeader(kHeaderJson).ok()) _exit(2);
      absl::Status first;
      for (const Record& r : MakeRecords(20000)) {
        first = (*writer)->AppendRecord(r);
        if (!first.ok()) break;
      }
      bool temp_gone = (*writer)->temp_path().empty() && TempFilesIn(dir_).empty();
      absl::Status again = (*writer)->AppendRecord(MakeRecords(1)[0]);
      absl::Status source = (*writer)->AppendSource("a.py", "x = 1");
      absl::Status commit = (*writer)->Commit(kSummaryJson);
      report = absl::StrCat(first.ToString(), "\n", temp_gone ? "temp gone" : "temp left", "\n",
                            again == first ? "same" : again.ToString(), "\n", source == first ? "same" : "different",
                            "\n", commit == first ? "same" : commit.ToString());
    }
    if (write(pipe_fds[1], report.data(), report.size()) != static_cast<ssize_t>(report.size())) _exit(3);
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string report;
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) report.append(buffer, n);
  close(pipe_fds[0]);
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << wait_status;
  EXPECT_EQ(report,
            absl::StrCat("OUT_OF_RANGE: cannot write ", path_, ": File too large\ntemp gone\nsame\nsame\nsame"));
  EXPECT_TRUE(dir_.Names().empty());
}

TEST_F(ChunkFiles, CallsOutOfOrderAreRefusedWithoutSpoilingTheDump) {
  auto writer = DumpFileWriter::Create(path_, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->AppendRecord(MakeRecords(1)[0]).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->AppendSource("a.py", "").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->Commit(kSummaryJson).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
  EXPECT_EQ((*writer)->WriteHeader(kHeaderJson).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*writer)->AppendRecord(MakeRecords(1)[0]).ok());
  ASSERT_TRUE((*writer)->Commit(kSummaryJson).ok());
  EXPECT_EQ((*writer)->Commit(kSummaryJson).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->AppendRecord(MakeRecords(1)[0]).code(), absl::StatusCode::kFailedPrecondition);
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(ReadRecords(*reader).size(), 1u);
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);
}

TEST_F(ChunkFiles, RecordTooLargeForAChunkIsRefusedAndTheWriterGoesOn) {
  auto writer = DumpFileWriter::Create(path_, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
  std::vector<Record> small = MakeRecords(3);
  ASSERT_TRUE((*writer)->AppendRecord(small[0]).ok());
  Record huge = small[1];
  huge.data.bytes.assign(kMaxChunkSize, 'x');
  absl::Status refused = (*writer)->AppendRecord(huge);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.message(), "record 2 is")) << refused;
  huge.data.bytes.assign(40 << 20, 'y');  // large, but it fits a chunk
  ASSERT_TRUE((*writer)->AppendRecord(huge).ok());
  ASSERT_TRUE((*writer)->AppendRecord(small[2]).ok());
  ASSERT_TRUE((*writer)->Commit(kSummaryJson).ok());

  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  std::vector<Record> read = ReadRecords(*reader);
  ASSERT_EQ(read.size(), 3u);
  ExpectSameRecord(read[0], small[0]);
  ExpectSameRecord(read[1], huge);
  ExpectSameRecord(read[2], small[2]);
}

TEST_F(ChunkFiles, ZlibLevelOutOfRangeIsRefused) {
  auto writer = DumpFileWriter::Create(path_, WriterOptions{10});
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(dir_.Names().empty());
}

TEST_F(ChunkFiles, EveryZlibLevelWritesAReadableDump) {
  std::vector<Record> written = MakeRecords(2000, 7);
  for (int level : {-1, 0, 1, 9}) {
    auto writer = DumpFileWriter::Create(path_, WriterOptions{level});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
    for (const Record& r : written) ASSERT_TRUE((*writer)->AppendRecord(r).ok());
    ASSERT_TRUE((*writer)->Commit(kSummaryJson).ok());
    auto reader = OpenOrDie(path_);
    ASSERT_TRUE(reader);
    EXPECT_EQ(ReadRecords(*reader).size(), written.size()) << "level " << level;
  }
}

}  // namespace
}  // namespace pyheapdump::chunk_test
