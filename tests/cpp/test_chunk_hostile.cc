// Hostile chunk contents: lengths and sizes that would make a reader allocate without bound or read past its
// data are refused with a warning, and the records before them kept.
#include "chunk_test_support.h"

namespace pyheapdump::chunk_test {
namespace {

TEST_F(ChunkFiles, BlobLongerThanItsChunkIsAWarningAndTheRecordsBeforeItAreKept) {
  std::vector<Record> records = MakeRecords(3, 31);
  std::string raw = RecordsRaw(records);
  // Patch the third record's data length (its last blob) to far more than the chunk holds.
  size_t at = raw.size() - records[2].data.bytes.size() - 8;
  uint64_t hostile = uint64_t{1} << 40;
  std::memcpy(&raw[at], &hostile, 8);
  FileBuilder file;
  file.Chunk(ChunkKind::kHeader, "{}")
      .Chunk(ChunkKind::kRecords, raw)
      .Chunk(ChunkKind::kRecords, RecordsRaw(MakeRecords(2, 32)))
      .Chunk(ChunkKind::kSummary, "{}")
      .Footer();
  WriteFile(path_, file.bytes());
  WatchAllocations watch;
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  std::vector<Record> read = ReadRecords(*reader);
  EXPECT_LT(watch.largest(), size_t{1} << 20);
  ASSERT_EQ(read.size(), 4u);
  ExpectSameRecord(read[0], records[0]);
  ExpectSameRecord(read[1], records[1]);
  ASSERT_EQ(reader->warnings().size(), 1u) << Warnings(*reader);
  EXPECT_EQ(reader->warnings()[0], absl::StrCat("chunk #1 (RECORDS) at offset ", file.offset(1),
                                                ": record 3 of the chunk does not decode (blob longer than its chunk): "
                                                "kept the 2 records before it, skipped the rest of the chunk"))
      << reader->warnings()[0];
  // Reading again delivers the same records and does not repeat the warning.
  EXPECT_EQ(ReadRecords(*reader).size(), 4u);
  EXPECT_EQ(reader->warnings().size(), 1u);
}

TEST_F(ChunkFiles, RecordCutShortAtTheEndOfItsChunkIsAWarning) {
  std::vector<Record> records = MakeRecords(4, 33);
  std::string raw = RecordsRaw(records);
  raw.resize(raw.size() - 3);
  WriteFile(path_, FileBuilder()
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(ChunkKind::kRecords, raw)
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(ReadRecords(*reader).size(), 3u);
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), "record 4 of the chunk does not decode")) << Warnings(*reader);
}

TEST_F(ChunkFiles, GarbageAfterAChunksZlibStreamMakesItDamaged) {
  std::vector<Record> records = MakeRecords(4, 34);
  std::string raw = RecordsRaw(records);
  FileBuilder file;
  file.Chunk(ChunkKind::kHeader, "{}")
      .Chunk(ChunkKind::kRecords, raw, Deflate(raw) + "junk")
      .Chunk(ChunkKind::kRecords, RecordsRaw(MakeRecords(2, 35)))
      .Chunk(ChunkKind::kSummary, "{}")
      .Footer();
  WriteFile(path_, file.bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(ReadRecords(*reader).size(), 2u);
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), absl::StrCat("chunk #1 (RECORDS) at offset ", file.offset(1),
                                                                ": damaged (4 bytes of garbage")))
      << Warnings(*reader);
}

TEST_F(ChunkFiles, ChunkThatIsNotZlibIsDamaged) {
  FileBuilder file;
  file.Chunk(ChunkKind::kHeader, "{}")
      .Chunk(ChunkKind::kRecords, std::string(64, 'r'), std::string(64, 'r'))
      .Chunk(ChunkKind::kSummary, "{}")
      .Footer();
  WriteFile(path_, file.bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_TRUE(ReadRecords(*reader).empty());
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), absl::StrCat("chunk #1 (RECORDS) at offset ", file.offset(1),
                                                                ": damaged (zlib error: incorrect header check)")))
      << Warnings(*reader);
}

// The raw bytes of a RECORDS chunk as format 1.1 writes them: the compact marker, then compact records.
std::string CompactRecordsRaw(const std::vector<Record>& records) {
  std::string raw(1, static_cast<char>(kRecordsCompact));
  uint64_t previous_id = 0;
  for (const Record& r : records) {
    size_t start = raw.size();
    raw.resize(start + CompactRecordSize(r, previous_id));
    StoreCompactRecord(&raw[start], r, previous_id);
    previous_id = r.id;
  }
  return raw;
}

TEST_F(ChunkFiles, CerealAndCompactRecordsChunksAreReadSideBySide) {
  std::vector<Record> written = MakeRecords(6, 40);
  WriteFile(path_, FileBuilder()
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(ChunkKind::kRecords, RecordsRaw({written.begin(), written.begin() + 3}))
                       .Chunk(ChunkKind::kRecords, CompactRecordsRaw({written.begin() + 3, written.end()}))
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  std::vector<Record> read = ReadRecords(*reader);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) ExpectSameRecord(read[i], written[i]);
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);
}

TEST_F(ChunkFiles, CompactRecordCutShortIsAWarningAndTheRecordsBeforeItAreKept) {
  std::vector<Record> records = MakeRecords(3, 41);
  std::string raw = CompactRecordsRaw(records);
  raw.resize(raw.size() - 2);  // inside the last record's data
  WriteFile(path_, FileBuilder()
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(ChunkKind::kRecords, raw)
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(ReadRecords(*reader).size(), 2u);
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), "record 3 of the chunk does not decode")) << Warnings(*reader);
}

TEST_F(ChunkFiles, RecordsChunkWithoutTheLittleEndianMarkerIsDamaged) {
  std::string raw = RecordsRaw(MakeRecords(2, 36));
  raw[0] = 0;  // cereal's "big-endian" marker: not what the spec's little-endian format allows
  WriteFile(path_, FileBuilder()
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(ChunkKind::kRecords, raw)
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_TRUE(ReadRecords(*reader).empty());
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), "little-endian marker")) << Warnings(*reader);
}

TEST_F(ChunkFiles, RawSizeBeyondWhatDeflateCanReachIsRefusedBeforeAllocating) {
  std::string raw = RecordsRaw(MakeRecords(2, 37));
  WriteFile(path_, FileBuilder()
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(ChunkKind::kRecords, raw, std::nullopt, 60u << 20)
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  WatchAllocations watch;
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_TRUE(ReadRecords(*reader).empty());
  EXPECT_LT(watch.largest(), size_t{1} << 20);
  EXPECT_TRUE(absl::StrContains(Warnings(*reader), "more than zlib can make of")) << Warnings(*reader);
}

TEST_F(ChunkFiles, SourceWithAHostileLengthIsAWarning) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive archive(out, cereal::PortableBinaryOutputArchive::Options::LittleEndian());
    archive(Blob{"/a.py"}, Blob{"x = 1\n"});
    archive(uint64_t{1} << 50);
  }
  WriteFile(path_, FileBuilder()
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(ChunkKind::kSources, out.str())
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  std::vector<std::string> names;
  absl::Status status = reader->ForEachSource([&](std::string&& filename, std::string&&) {
    names.push_back(filename);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(names, std::vector<std::string>{"/a.py"});
  EXPECT_TRUE(
      absl::StrContains(Warnings(*reader), "source 2 of the chunk does not decode (blob longer than its chunk)"))
      << Warnings(*reader);
}

TEST_F(ChunkFiles, ErrorFromTheCallbackStopsTheReadAndIsReturned) {
  WriteDump(path_, MakeRecords(100));
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  size_t seen = 0;
  absl::Status status =
      reader->ForEachRecord([&](Record&&) { return ++seen == 10 ? absl::CancelledError("enough") : absl::OkStatus(); });
  EXPECT_EQ(status, absl::CancelledError("enough"));
  EXPECT_EQ(seen, 10u);
}

}  // namespace
}  // namespace pyheapdump::chunk_test
