// Writer + reader round trips: records, sources, header and summary, and the file laid out as the spec says.
#include "chunk_test_support.h"

namespace pyheapdump::chunk_test {
namespace {

TEST_F(ChunkFiles, ManyRecordsRoundTripAcrossSeveralChunksInOrderByteExact) {
  std::vector<Record> written = MakeRecords(12000);
  WriteDump(path_, written);

  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  std::vector<Record> read = ReadRecords(*reader);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) ExpectSameRecord(read[i], written[i]);
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);

  const auto& chunks = reader->Chunks();
  size_t records_chunks =
      std::count_if(chunks.begin(), chunks.end(), [](const ChunkInfo& c) { return c.kind == ChunkKind::kRecords; });
  EXPECT_GE(records_chunks, 3u);
  EXPECT_EQ(chunks.front().kind, ChunkKind::kHeader);
  EXPECT_EQ(chunks.back().kind, ChunkKind::kSummary);
  for (const ChunkInfo& c : chunks) EXPECT_TRUE(c.intact) << c.offset;
}

TEST_F(ChunkFiles, ARecordsChunkIsClosedOnceItPassesTheTargetRawSize) {
  std::vector<Record> written = MakeRecords(12000, 2);
  WriteDump(path_, written);
  std::string file = ReadFile(path_);
  std::vector<Framing> chunks = ParseFraming(file);
  std::vector<const Framing*> records;
  for (const Framing& c : chunks) {
    if (c.kind == static_cast<uint32_t>(ChunkKind::kRecords)) records.push_back(&c);
  }
  ASSERT_GE(records.size(), 3u);
  const size_t largest_record = 53 + 400 + 64;
  for (size_t i = 0; i + 1 < records.size(); ++i) {
    EXPECT_GE(records[i]->raw, kTargetChunkRaw);
    EXPECT_LT(records[i]->raw, kTargetChunkRaw + largest_record);
  }
  EXPECT_LT(records.back()->raw, kTargetChunkRaw);
}

TEST_F(ChunkFiles, EachRecordsChunkDecodesOnItsOwnWithAFreshArchive) {
  std::vector<Record> written = MakeRecords(9000, 3);
  WriteDump(path_, written);
  std::vector<size_t> counts = RecordsPerChunk(ReadFile(path_));
  size_t total = 0;
  for (size_t n : counts) total += n;
  EXPECT_EQ(total, written.size());
}

TEST_F(ChunkFiles, WriterCountsRecordsRawBytesAndFileBytes) {
  std::vector<Record> written = MakeRecords(3000, 4);
  auto writer = DumpFileWriter::Create(path_, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
  uint64_t raw = 0;
  uint64_t previous_id = 0;  // every record here fits one chunk
  for (const Record& r : written) {
    ASSERT_TRUE((*writer)->AppendRecord(r).ok());
    raw += CompactRecordSize(r, previous_id);
    previous_id = r.id;
  }
  ASSERT_TRUE((*writer)->Commit(kSummaryJson).ok());
  EXPECT_EQ((*writer)->records_written(), written.size());
  EXPECT_EQ((*writer)->raw_record_bytes(), raw);
  EXPECT_EQ((*writer)->file_bytes(), std::filesystem::file_size(path_));
}

TEST_F(ChunkFiles, SourcesRoundTripInOrderAcrossChunks) {
  std::mt19937_64 rng(5);
  std::vector<Source> sources = {
      {"/app/main.py", "import os\nprint(os.getcwd())\n"},
      {"/app/empty.py", ""},
      {"/app/caf\xc3\xa9.py", "s = '\xe2\x82\xac'\n"},
      {"/app/big.py", RandomBytes(rng, 3 << 20)},
      {"<string>", std::string("a\0b", 3)},
  };
  WriteDump(path_, MakeRecords(10), sources);

  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  std::vector<Source> read;
  absl::Status status = reader->ForEachSource([&](std::string&& filename, std::string&& text) {
    read.push_back({std::move(filename), std::move(text)});
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(read.size(), sources.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].filename, sources[i].filename);
    EXPECT_EQ(read[i].text, sources[i].text) << sources[i].filename;
  }
  const auto& chunks = reader->Chunks();
  EXPECT_GE(
      std::count_if(chunks.begin(), chunks.end(), [](const ChunkInfo& c) { return c.kind == ChunkKind::kSources; }), 2);
  EXPECT_EQ(ReadRecords(*reader).size(), 10u);
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);
}

TEST_F(ChunkFiles, AfterItsPagesAreReleasedTheFileReadsTheSameAgain) {
  // The loader releases the file's pages once the records are stored, then reads the sources: a second reading
  // maps what it touches again, and finds the same bytes, whose crc32 still checks.
  std::vector<Record> written = MakeRecords(12000);
  WriteDump(path_, written, {{"/app/main.py", "print('still here')\n"}});
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  ASSERT_EQ(ReadRecords(*reader).size(), written.size());

  reader->ReleaseResidentPages();

  std::vector<Record> again = ReadRecords(*reader);
  ASSERT_EQ(again.size(), written.size());
  for (size_t i = 0; i < again.size(); ++i) ExpectSameRecord(again[i], written[i]);
  std::string text;
  absl::Status status = reader->ForEachSource([&](std::string&&, std::string&& source) {
    text = std::move(source);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(text, "print('still here')\n");
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);
}

TEST_F(ChunkFiles, HeaderAndSummaryJsonAreReadThroughThePreambleAndTheFooter) {
  WriteDump(path_, MakeRecords(100));
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->major(), 1);
  EXPECT_EQ(reader->minor(), 4);
  absl::StatusOr<std::string> header = reader->ReadHeaderJson();
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(*header, kHeaderJson);
  absl::StatusOr<std::string> summary = reader->ReadSummaryJson();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(*summary, kSummaryJson);
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);
}

TEST_F(ChunkFiles, EmptySummaryRoundTrips) {
  WriteDump(path_, {}, {}, "");
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  absl::StatusOr<std::string> summary = reader->ReadSummaryJson();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(*summary, "");
  EXPECT_TRUE(ReadRecords(*reader).empty());
}

TEST_F(ChunkFiles, FileFollowsTheSpecsPreambleChunkHeadersAndFooter) {
  WriteDump(path_, MakeRecords(5000, 6));
  std::string file = ReadFile(path_);
  EXPECT_EQ(file.compare(0, 12, std::string(kMagic, 12)), 0);
  EXPECT_EQ(LE32(file, 12), 1u | (4u << 16));  // major 1, minor 4
  std::vector<Framing> chunks = ParseFraming(file);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front().offset, kPreambleSize);
  EXPECT_EQ(chunks.front().kind, static_cast<uint32_t>(ChunkKind::kHeader));
  for (const Framing& c : chunks) {
    EXPECT_EQ(c.crc, crc32(0, reinterpret_cast<const Bytef*>(file.data() + c.offset + 16), c.stored));
    Decompress(file, c);  // exactly raw bytes
  }
  size_t footer = file.size() - kFooterSize;
  EXPECT_EQ(LE64(file, footer), chunks.back().offset);
  EXPECT_EQ(chunks.back().kind, static_cast<uint32_t>(ChunkKind::kSummary));
  EXPECT_EQ(LE64(file, footer + 8), chunks.size());
  EXPECT_EQ(file.compare(footer + 16, 8, std::string(kFooterMagic, 8)), 0);
}

}  // namespace
}  // namespace pyheapdump::chunk_test
