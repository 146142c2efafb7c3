// DumpFileWriter and DumpFileReader (native/chunk_writer.h, native/chunk_reader.h) against docs/format.md: round
// trips, the temporary-file discipline, and a reader that survives damaged, truncated and hostile files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "chunk_reader.h"
#include "chunk_writer.h"

// ---- the largest single allocation made while a test watches (replaces the global operator new for the binary) ----

namespace {
std::atomic<bool> g_watch_allocations{false};
std::atomic<size_t> g_largest_allocation{0};

void NoteAllocation(size_t size) {
  if (!g_watch_allocations.load(std::memory_order_relaxed)) return;
  size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
  while (size > seen && !g_largest_allocation.compare_exchange_weak(seen, size)) {
  }
}

void* Allocate(size_t size) {
  NoteAllocation(size);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(size_t size) {
  if (void* p = Allocate(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return Allocate(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return Allocate(size); }
// Not inlined, so the compiler does not see free() meet a pointer from operator new and warn of a mismatch.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace pyheapdump {
namespace {

class WatchAllocations {
 public:
  WatchAllocations() {
    g_largest_allocation = 0;
    g_watch_allocations = true;
  }
  ~WatchAllocations() { g_watch_allocations = false; }
  size_t largest() const { return g_largest_allocation.load(); }
};

// ---- files ----

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pyheapdump-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint32_t LE32(std::string_view bytes, size_t at) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + at, 4);
  return v;
}
uint64_t LE64(std::string_view bytes, size_t at) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}
void PutLE32(std::string& bytes, size_t at, uint32_t v) { std::memcpy(&bytes[at], &v, 4); }

// ---- records ----

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Records with every field varied and incompressible data, so chunk boundaries fall where raw sizes say.
std::vector<Record> MakeRecords(size_t count, uint64_t seed = 1, size_t max_data = 400) {
  std::mt19937_64 rng(seed);
  std::vector<Record> records(count);
  for (size_t i = 0; i < count; ++i) {
    Record& r = records[i];
    r.id = i + 1;
    r.kind = static_cast<Kind>(1 + i % kMaxKind);
    r.type_id = i % 3 == 0 ? 0 : rng() % 1000;
    r.flags = static_cast<uint32_t>(i % 4);
    r.size = rng() % 100000;
    PutVarint(r.items.bytes, 2);
    PutRef(r.items.bytes, r.id + 1);
    PutInt(r.items.bytes, static_cast<int64_t>(rng()));
    if (i % 2 == 0) {
      PutVarint(r.attrs.bytes, 1);
      PutName(r.attrs.bytes, "dict:x");
      PutFloat(r.attrs.bytes, static_cast<double>(i) / 3);
    }
    r.data.bytes = RandomBytes(rng, rng() % (max_data + 1));
  }
  return records;
}

void ExpectSameRecord(const Record& got, const Record& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.kind, want.kind) << "record " << want.id;
  EXPECT_EQ(got.type_id, want.type_id) << "record " << want.id;
  EXPECT_EQ(got.flags, want.flags) << "record " << want.id;
  EXPECT_EQ(got.size, want.size) << "record " << want.id;
  EXPECT_EQ(got.items.bytes, want.items.bytes) << "record " << want.id;
  EXPECT_EQ(got.attrs.bytes, want.attrs.bytes) << "record " << want.id;
  EXPECT_EQ(got.data.bytes, want.data.bytes) << "record " << want.id;
}

bool SameRecord(const Record& a, const Record& b) {
  return a.id == b.id && a.kind == b.kind && a.type_id == b.type_id && a.flags == b.flags && a.size == b.size &&
         a.items.bytes == b.items.bytes && a.attrs.bytes == b.attrs.bytes && a.data.bytes == b.data.bytes;
}

constexpr char kHeaderJson[] = R"({"format": "1.0", "python": "3.12.1", "reason": "explicit"})";
constexpr char kSummaryJson[] = R"({"objects": 3, "bytes": 200, "root": 1})";

struct Source {
  std::string filename, text;
};

void WriteDump(const std::string& path, const std::vector<Record>& records, const std::vector<Source>& sources = {},
               const std::string& summary = kSummaryJson) {
  auto writer = DumpFileWriter::Create(path, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
  for (const Record& r : records) ASSERT_TRUE((*writer)->AppendRecord(r).ok());
  for (const Source& s : sources) ASSERT_TRUE((*writer)->AppendSource(s.filename, s.text).ok());
  absl::Status committed = (*writer)->Commit(summary);
  ASSERT_TRUE(committed.ok()) << committed;
}

std::vector<Record> ReadRecords(DumpFileReader& reader) {
  std::vector<Record> records;
  absl::Status status = reader.ForEachRecord([&](Record&& r) {
    records.push_back(std::move(r));
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return records;
}

std::unique_ptr<DumpFileReader> OpenOrDie(const std::string& path) {
  auto reader = DumpFileReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

std::string Warnings(const DumpFileReader& reader) { return absl::StrJoin(reader.warnings(), "\n"); }

// ---- the framing, parsed straight from the spec (independently of DumpFileReader) ----

struct Framing {
  uint64_t offset;
  uint32_t kind, stored, raw, crc;
};

std::vector<Framing> ParseFraming(std::string_view file) {
  std::vector<Framing> chunks;
  size_t p = kPreambleSize;
  while (p + kFooterSize <= file.size() && std::memcmp(file.data() + p + 16, kFooterMagic, 8) != 0) {
    Framing c{p, LE32(file, p), LE32(file, p + 4), LE32(file, p + 8), LE32(file, p + 12)};
    chunks.push_back(c);
    p += kChunkHeaderSize + c.stored;
  }
  return chunks;
}

std::string Decompress(std::string_view file, const Framing& c) {
  std::string raw(c.raw, '\0');
  uLongf raw_size = c.raw;
  EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                       reinterpret_cast<const Bytef*>(file.data() + c.offset + 16), c.stored),
            Z_OK);
  EXPECT_EQ(raw_size, c.raw);
  return raw;
}

// How many records each chunk holds, decoding every RECORDS chunk on its own with a fresh archive.
std::vector<size_t> RecordsPerChunk(std::string_view file) {
  std::vector<size_t> counts;
  for (const Framing& c : ParseFraming(file)) {
    size_t n = 0;
    if (c.kind == static_cast<uint32_t>(ChunkKind::kRecords)) {
      std::string raw = Decompress(file, c);
      EXPECT_EQ(static_cast<uint8_t>(raw.at(0)), kRecordsCompact);  // the writer writes the 1.1 layout
      Cursor cursor(std::string_view(raw).substr(1));
      uint64_t previous_id = 0;
      while (!cursor.AtEnd()) {
        previous_id = LoadCompactRecord(cursor, previous_id).id;
        ++n;
      }
    }
    counts.push_back(n);
  }
  return counts;
}

// ---- hand-built files, for damage the writer never makes ----

std::string Deflate(std::string_view raw) {
  uLongf size = compressBound(raw.size());
  std::string out(size, '\0');
  EXPECT_EQ(
      compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size(), 6),
      Z_OK);
  out.resize(size);
  return out;
}

class FileBuilder {
 public:
  explicit FileBuilder(uint16_t major = kFormatMajor, uint16_t minor = kFormatMinor) {
    bytes_.assign(kMagic, sizeof(kMagic));
    bytes_.append(reinterpret_cast<const char*>(&major), 2);
    bytes_.append(reinterpret_cast<const char*>(&minor), 2);
  }
  // A chunk; stored defaults to Deflate(raw), declared_raw to raw.size().
  FileBuilder& Chunk(ChunkKind kind, std::string_view raw, std::optional<std::string> stored = std::nullopt,
                     std::optional<uint32_t> declared_raw = std::nullopt) {
    std::string data = stored ? *stored : Deflate(raw);
    uint32_t header[4] = {static_cast<uint32_t>(kind), static_cast<uint32_t>(data.size()),
                          declared_raw ? *declared_raw : static_cast<uint32_t>(raw.size()),
                          static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size()))};
    if (kind == ChunkKind::kSummary) summary_offset_ = bytes_.size();
    offsets_.push_back(bytes_.size());
    bytes_.append(reinterpret_cast<const char*>(header), sizeof(header));
    bytes_ += data;
    ++chunks_;
    return *this;
  }
  FileBuilder& Footer() {
    bytes_.append(reinterpret_cast<const char*>(&summary_offset_), 8);
    bytes_.append(reinterpret_cast<const char*>(&chunks_), 8);
    bytes_.append(kFooterMagic, 8);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }
  uint64_t offset(size_t chunk) const { return offsets_.at(chunk); }

 private:
  std::string bytes_;
  std::vector<uint64_t> offsets_;
  uint64_t summary_offset_ = 0;
  uint64_t chunks_ = 0;
};

// The raw bytes of a RECORDS chunk as format 1.0 laid them out (and 1.1 readers still read): cereal's endianness
// marker, then records.
std::string RecordsRaw(const std::vector<Record>& records) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive archive(out, cereal::PortableBinaryOutputArchive::Options::LittleEndian());
    for (const Record& r : records) archive(r);
  }
  return out.str();
}

// ======================================= writer + reader round trips =======================================

class ChunkFiles : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.File("app.heapdump");
};

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

TEST_F(ChunkFiles, HeaderAndSummaryJsonAreReadThroughThePreambleAndTheFooter) {
  WriteDump(path_, MakeRecords(100));
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->major(), 1);
  EXPECT_EQ(reader->minor(), 3);
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
  EXPECT_EQ(LE32(file, 12), 1u | (3u << 16));  // major 1, minor 3
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

// ======================================= the temporary file =======================================

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

// ======================================= files that are not dumps =======================================

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
  WriteFile(path_, FileBuilder(1, 4)
                       .Chunk(ChunkKind::kHeader, "{}")
                       .Chunk(static_cast<ChunkKind>(9), "something new")
                       .Chunk(ChunkKind::kRecords, RecordsRaw(records))
                       .Chunk(ChunkKind::kSummary, "{}")
                       .Footer()
                       .bytes());
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->minor(), 4);
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

// ======================================= hostile chunk contents =======================================

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
}  // namespace pyheapdump
