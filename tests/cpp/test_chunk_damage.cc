// Files that are not dumps, and damaged dumps: the reader keeps every intact chunk and says what it lost.
#include "chunk_test_support.h"

namespace pyheapdump::chunk_test {
namespace {

TEST_F(ChunkFiles, MissingFileIsNotFound) {
  auto reader = DumpFileReader::Open(path_);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(reader.status().message(), path_));
}

TEST_F(ChunkFiles, FileWithoutTheMagicIsNotAPyheapdumpFile) {
  for (std::string content : {std::string(""), std::string("PYHEAP"), std::string("{\"json\": \"not a dump at all\"}"),
                              std::string("PYHEAPDUMQ\0\0\1\0\0\0", 16)}) {
    WriteFile(path_, content);
    auto reader = DumpFileReader::Open(path_);
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument) << content;
    EXPECT_TRUE(absl::StrContains(reader.status().message(), "not a pyheapdump file")) << reader.status();
  }
}

TEST_F(ChunkFiles, UnknownMajorVersionAsksForAnUpgrade) {
  WriteFile(path_, FileBuilder(2, 3).Chunk(ChunkKind::kHeader, "{}").bytes());
  auto reader = DumpFileReader::Open(path_);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(reader.status().message(), "this dump is format 2.3; this pyheapdump reads 1.x: upgrade pyheapdump");
}

TEST_F(ChunkFiles, NewerMinorVersionIsReadAndItsUnknownChunkKindsSkippedQuietly) {
  std::vector<Record> records = MakeRecords(5);
  WriteFile(path_, FileBuilder(1, kFormatMinor + 1)
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(static_cast<ChunkKind>(9), "something new")
                       .Chunk(ChunkKind::kRecords, RecordsRaw(records))
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->minor(), kFormatMinor + 1);
  EXPECT_EQ(ReadRecords(*reader).size(), 5u);
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);
}

TEST_F(ChunkFiles, UnknownChunkKindInAFileOfAKnownVersionIsReportedAsDamage) {
  WriteFile(path_, FileBuilder(1, 0)
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(static_cast<ChunkKind>(9), "something")
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_TRUE(ReadRecords(*reader).empty());
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), "chunk #1 (kind 9) at offset")) << Warnings(*reader);
}

// ======================================= damaged dumps =======================================

// A dump of 4+ RECORDS chunks (no sources), its bytes, and how many records each chunk holds.
class DamagedDumps : public ChunkFiles {
 protected:
  void SetUp() override {
    written_ = MakeRecords(20000, 11);  // enough compact records for 4+ chunks
    WriteDump(path_, written_);
    file_ = ReadFile(path_);
    framing_ = ParseFraming(file_);
    per_chunk_ = RecordsPerChunk(file_);
    ASSERT_GE(framing_.size(), 6u);  // header, 4+ records, summary
  }

  // The records of every chunk but `lost` (an index into framing_), in order.
  std::vector<Record> AllBut(size_t lost) const {
    std::vector<Record> kept;
    size_t next = 0;
    for (size_t i = 0; i < framing_.size(); ++i) {
      for (size_t k = 0; k < per_chunk_[i]; ++k, ++next) {
        if (i != lost) kept.push_back(written_[next]);
      }
    }
    return kept;
  }
  // The records of the chunks that end at or before `offset`.
  std::vector<Record> RecordsBefore(uint64_t offset) const {
    size_t n = 0;
    for (size_t i = 0; i < framing_.size(); ++i) {
      if (framing_[i].offset + 16 + framing_[i].stored <= offset) n += per_chunk_[i];
    }
    return std::vector<Record>(written_.begin(), written_.begin() + n);
  }

  void ExpectRecords(DumpFileReader& reader, const std::vector<Record>& want) {
    std::vector<Record> got = ReadRecords(reader);
    ASSERT_EQ(got.size(), want.size()) << Warnings(reader);
    for (size_t i = 0; i < got.size(); ++i) ExpectSameRecord(got[i], want[i]);
  }

  std::unique_ptr<DumpFileReader> Reopen(const std::string& bytes) {
    WriteFile(path_, bytes);
    return OpenOrDie(path_);
  }

  std::vector<Record> written_;
  std::string file_;
  std::vector<Framing> framing_;
  std::vector<size_t> per_chunk_;
};

TEST_F(DamagedDumps, FlippedByteInsideAChunkSkipsThatChunkOnlyWithAWarning) {
  const Framing& victim = framing_[2];
  std::string bytes = file_;
  bytes[victim.offset + 16 + victim.stored / 2] ^= 0x20;
  auto reader = Reopen(bytes);
  ASSERT_TRUE(reader);
  ExpectRecords(*reader, AllBut(2));
  ASSERT_EQ(reader->warnings().size(), 1u) << Warnings(*reader);
  EXPECT_EQ(reader->warnings()[0].rfind(
                absl::StrCat("chunk #2 (RECORDS) at offset ", victim.offset, " is damaged (crc32 mismatch"), 0),
            0u)
      << reader->warnings()[0];
  EXPECT_FALSE(reader->Chunks()[2].intact);
  EXPECT_TRUE(reader->ReadSummaryJson().ok());
}

TEST_F(DamagedDumps, DamagedStoredSizeIsSkippedByFindingTheNextIntactChunk) {
  // One bit in each byte of stored_size: too large for the format, past the end, or pointing inside the chunk.
  for (int byte = 0; byte < 4; ++byte) {
    for (uint8_t bit : {0x01, 0x80}) {
      std::string bytes = file_;
      bytes[framing_[3].offset + 4 + byte] ^= static_cast<char>(bit);
      auto reader = Reopen(bytes);
      ASSERT_TRUE(reader);
      SCOPED_TRACE(absl::StrCat("byte ", byte, " bit ", bit, ": ", Warnings(*reader)));
      ExpectRecords(*reader, AllBut(3));
      EXPECT_TRUE(absl::StrContains(Warnings(*reader),
                                    absl::StrCat("chunk #3 (RECORDS) at offset ", framing_[3].offset, " is damaged")));
      EXPECT_TRUE(reader->ReadSummaryJson().ok());
    }
  }
}

TEST_F(DamagedDumps, RawSizeThatDoesNotMatchTheDataSkipsTheChunk) {
  for (uint32_t delta : {1u, 100u}) {
    for (bool larger : {true, false}) {
      std::string bytes = file_;
      uint32_t raw = framing_[2].raw;
      PutLE32(bytes, framing_[2].offset + 8, larger ? raw + delta : raw - delta);
      auto reader = Reopen(bytes);
      ASSERT_TRUE(reader);
      ExpectRecords(*reader, AllBut(2));
      std::string expected = larger ? absl::StrCat("decompresses to ", raw, " bytes, not its declared raw size")
                                    : "decompresses to more than its declared raw size";
      EXPECT_TRUE(absl::StrContains(Warnings(*reader), expected)) << Warnings(*reader);
      EXPECT_TRUE(absl::StrContains(Warnings(*reader), "chunk #2 (RECORDS)")) << Warnings(*reader);
    }
  }
}

TEST_F(DamagedDumps, HugeDeclaredRawSizeIsRefusedWithoutAllocatingIt) {
  for (uint32_t declared : {0xffffffffu, kMaxChunkSize + 1, kMaxChunkSize}) {
    std::string bytes = file_;
    PutLE32(bytes, framing_[2].offset + 8, declared);
    WriteFile(path_, bytes);
    WatchAllocations watch;
    auto reader = DumpFileReader::Open(path_);
    ASSERT_TRUE(reader.ok());
    ExpectRecords(**reader, AllBut(2));
    EXPECT_LT(watch.largest(), kMaxChunkSize / 8) << "declared " << declared;
    EXPECT_TRUE(absl::StrContains(Warnings(**reader), "chunk #2 (RECORDS)")) << Warnings(**reader);
  }
}

TEST_F(DamagedDumps, DeclaredTotalOverTheReadersLimitIsRefusedBeforeAnyRecord) {
  auto reader = DumpFileReader::Open(path_, ReaderLimits{2 * kTargetChunkRaw});
  ASSERT_TRUE(reader.ok());
  size_t delivered = 0;
  absl::Status status = (*reader)->ForEachRecord([&](Record&&) {
    ++delivered;
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "over this reader's limit of 2097152 bytes")) << status;
  EXPECT_EQ(delivered, 0u);
}

TEST_F(DamagedDumps, DamagedHeaderChunkFailsReadHeaderJsonButRecordsSurvive) {
  std::string bytes = file_;
  bytes[framing_[0].offset + 16 + 3] ^= 0x01;
  auto reader = Reopen(bytes);
  ASSERT_TRUE(reader);
  absl::StatusOr<std::string> header = reader->ReadHeaderJson();
  EXPECT_EQ(header.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(header.status().message(), "crc32 mismatch")) << header.status();
  ExpectRecords(*reader, written_);
}

TEST_F(DamagedDumps, DamagedFooterIsWorkedAroundByScanningForTheSummary) {
  for (size_t at : {size_t{0}, size_t{9}, size_t{17}}) {  // summary offset, chunk count, magic
    std::string bytes = file_;
    bytes[file_.size() - kFooterSize + at] ^= 0x04;
    auto reader = Reopen(bytes);
    ASSERT_TRUE(reader);
    absl::StatusOr<std::string> summary = reader->ReadSummaryJson();
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_EQ(*summary, kSummaryJson);
    ExpectRecords(*reader, written_);
    EXPECT_FALSE(reader->warnings().empty()) << "footer byte " << at;
  }
}

TEST_F(DamagedDumps, TruncationAtEveryChunkBoundaryKeepsEveryChunkBeforeIt) {
  std::vector<uint64_t> boundaries;
  for (const Framing& c : framing_) boundaries.push_back(c.offset);
  boundaries.push_back(file_.size() - kFooterSize);
  for (uint64_t cut : boundaries) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut));
    auto reader = Reopen(file_.substr(0, cut));
    ASSERT_TRUE(reader);
    ExpectRecords(*reader, RecordsBefore(cut));
    EXPECT_TRUE(absl::StrContains(Warnings(*reader), absl::StrCat("truncated at byte ", cut))) << Warnings(*reader);
    EXPECT_EQ(reader->ReadHeaderJson().ok(), cut > framing_[0].offset);
    absl::StatusOr<std::string> summary = reader->ReadSummaryJson();
    bool summary_kept = cut == file_.size() - kFooterSize;
    EXPECT_EQ(summary.ok(), summary_kept) << summary.status();
    if (!summary_kept) {
      EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss);
    }
  }
}

TEST_F(DamagedDumps, TruncationInsideChunksKeepsEveryChunkBeforeIt) {
  for (const Framing& c : framing_) {
    for (uint64_t cut :
         {c.offset + 5, c.offset + 16, c.offset + 24, c.offset + 16 + c.stored / 2, c.offset + 16 + c.stored - 1}) {
      SCOPED_TRACE(absl::StrCat("cut at ", cut));
      auto reader = Reopen(file_.substr(0, cut));
      ASSERT_TRUE(reader);
      ExpectRecords(*reader, RecordsBefore(cut));
      EXPECT_TRUE(absl::StrContains(Warnings(*reader), absl::StrCat("truncated at byte ", cut))) << Warnings(*reader);
    }
  }
  for (uint64_t cut = file_.size() - kFooterSize + 1; cut < file_.size(); ++cut) {
    auto reader = Reopen(file_.substr(0, cut));
    ASSERT_TRUE(reader);
    ExpectRecords(*reader, written_);
    EXPECT_TRUE(absl::StrContains(Warnings(*reader), absl::StrCat("truncated at byte ", cut))) << Warnings(*reader);
    EXPECT_TRUE(reader->ReadSummaryJson().ok()) << "cut at " << cut;
  }
}

TEST_F(DamagedDumps, TrailingGarbageAfterTheFooterIsIgnoredWithAWarning) {
  auto reader = Reopen(file_ + std::string(100, 'G'));
  ASSERT_TRUE(reader);
  ExpectRecords(*reader, written_);
  absl::StatusOr<std::string> summary = reader->ReadSummaryJson();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(*summary, kSummaryJson);
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), "100 bytes of trailing data after the footer")) << Warnings(*reader);
}

// A file of small chunks (the reader does not care how large the writer makes them) makes it cheap to flip every byte.
TEST_F(ChunkFiles, AnyFlippedByteIsReportedAndNeverYieldsAWrongRecord) {
  std::vector<Record> written = MakeRecords(30, 21, 40);
  FileBuilder builder;
  builder.Chunk(ChunkKind::kHeader, kHeaderJson);
  for (size_t first = 0; first < written.size(); first += 5) {
    builder.Chunk(ChunkKind::kRecords, RecordsRaw({written.begin() + first, written.begin() + first + 5}));
  }
  builder.Chunk(ChunkKind::kSummary, kSummaryJson).Footer();
  const std::string& file = builder.bytes();

  // 0x40 and 0x80 never turn a RECORDS kind (2) into SOURCES (3): chunk headers are outside the crc, and that one
  // flip is indistinguishable from a real SOURCES chunk.
  WriteFile(path_, file);
  // Patched in place: truncating and rewriting a file thousands of times makes ext4 flush it every time.
  int fd = open(path_.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  for (size_t at = kPreambleSize; at < file.size(); ++at) {
    for (uint8_t flip : {0x40, 0x80}) {
      char flipped = static_cast<char>(file[at] ^ flip);
      ASSERT_EQ(pwrite(fd, &flipped, 1, static_cast<off_t>(at)), 1);
      auto reader = DumpFileReader::Open(path_);
      ASSERT_TRUE(reader.ok()) << reader.status();
      std::vector<Record> read = ReadRecords(**reader);
      // Whatever survives is a subsequence of what was written, each record exact.
      size_t next = 0;
      for (const Record& r : read) {
        while (next < written.size() && !SameRecord(r, written[next])) ++next;
        ASSERT_LT(next, written.size()) << "flip at " << at << " produced a record that was never written";
        ++next;
      }
      bool header_ok = (*reader)->ReadHeaderJson().ok();
      bool summary_ok = (*reader)->ReadSummaryJson().ok();
      EXPECT_TRUE(!(*reader)->warnings().empty() || !header_ok || !summary_ok)
          << "flip " << int{flip} << " at " << at << " went unnoticed";
      EXPECT_TRUE(read.size() == written.size() || !(*reader)->warnings().empty())
          << "flip " << int{flip} << " at " << at << " lost records without a warning";
    }
    ASSERT_EQ(pwrite(fd, &file[at], 1, static_cast<off_t>(at)), 1);
  }
  close(fd);
}

}  // namespace
}  // namespace pyheapdump::chunk_test
