// Shared by the chunk tests (test_chunk_*.cc): DumpFileWriter and DumpFileReader (native/chunk_writer.h,
// native/chunk_reader.h) checked against docs/format.md, with helpers that build and parse files by the spec.
#pragma once

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
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "chunk_reader.h"
#include "chunk_writer.h"

namespace pyheapdump::chunk_test {

// ---- the largest single allocation made while a test watches (chunk_test_support.cc replaces the global
// operator new of the test binary) ----

extern std::atomic<bool> g_watch_allocations;
extern std::atomic<size_t> g_largest_allocation;
extern std::atomic<size_t> g_allocations_off_the_watching_thread;
extern std::thread::id g_watching_thread;  // the thread that made the watch

class WatchAllocations {
 public:
  WatchAllocations() {
    g_largest_allocation = 0;
    g_allocations_off_the_watching_thread = 0;
    g_watching_thread = std::this_thread::get_id();
    g_watch_allocations = true;
  }
  ~WatchAllocations() { g_watch_allocations = false; }
  size_t largest() const { return g_largest_allocation.load(); }
  // Allocations made by threads other than the one that made the watch.
  size_t off_the_watching_thread() const { return g_allocations_off_the_watching_thread.load(); }
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

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline uint32_t LE32(std::string_view bytes, size_t at) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + at, 4);
  return v;
}
inline uint64_t LE64(std::string_view bytes, size_t at) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}
inline void PutLE32(std::string& bytes, size_t at, uint32_t v) { std::memcpy(&bytes[at], &v, 4); }

// ---- records ----

inline std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Records with every field varied and incompressible data, so chunk boundaries fall where raw sizes say.
inline std::vector<Record> MakeRecords(size_t count, uint64_t seed = 1, size_t max_data = 400) {
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

inline void ExpectSameRecord(const Record& got, const Record& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.kind, want.kind) << "record " << want.id;
  EXPECT_EQ(got.type_id, want.type_id) << "record " << want.id;
  EXPECT_EQ(got.flags, want.flags) << "record " << want.id;
  EXPECT_EQ(got.size, want.size) << "record " << want.id;
  EXPECT_EQ(got.items.bytes, want.items.bytes) << "record " << want.id;
  EXPECT_EQ(got.attrs.bytes, want.attrs.bytes) << "record " << want.id;
  EXPECT_EQ(got.data.bytes, want.data.bytes) << "record " << want.id;
}

inline bool SameRecord(const Record& a, const Record& b) {
  return a.id == b.id && a.kind == b.kind && a.type_id == b.type_id && a.flags == b.flags && a.size == b.size &&
         a.items.bytes == b.items.bytes && a.attrs.bytes == b.attrs.bytes && a.data.bytes == b.data.bytes;
}

inline constexpr char kHeaderJson[] = R"({"format": "1.0", "python": "3.12.1", "reason": "explicit"})";
inline constexpr char kSummaryJson[] = R"({"objects": 3, "bytes": 200, "root": 1})";

struct Source {
  std::string filename, text;
};

inline void WriteDump(const std::string& path, const std::vector<Record>& records,
                      const std::vector<Source>& sources = {}, const std::string& summary = kSummaryJson) {
  auto writer = DumpFileWriter::Create(path, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteHeader(kHeaderJson).ok());
  for (const Record& r : records) ASSERT_TRUE((*writer)->AppendRecord(r).ok());
  for (const Source& s : sources) ASSERT_TRUE((*writer)->AppendSource(s.filename, s.text).ok());
  absl::Status committed = (*writer)->Commit(summary);
  ASSERT_TRUE(committed.ok()) << committed;
}

inline std::vector<Record> ReadRecords(DumpFileReader& reader) {
  std::vector<Record> records;
  absl::Status status = reader.ForEachRecord([&](Record&& r) {
    records.push_back(std::move(r));
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return records;
}

inline std::unique_ptr<DumpFileReader> OpenOrDie(const std::string& path) {
  auto reader = DumpFileReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

inline std::string Warnings(const DumpFileReader& reader) { return absl::StrJoin(reader.warnings(), "\n"); }

// ---- the framing, parsed straight from the spec (independently of DumpFileReader) ----

struct Framing {
  uint64_t offset;
  uint32_t kind, stored, raw, crc;
};

inline std::vector<Framing> ParseFraming(std::string_view file) {
  std::vector<Framing> chunks;
  size_t p = kPreambleSize;
  while (p + kFooterSize <= file.size() && std::memcmp(file.data() + p + 16, kFooterMagic, 8) != 0) {
    Framing c{p, LE32(file, p), LE32(file, p + 4), LE32(file, p + 8), LE32(file, p + 12)};
    chunks.push_back(c);
    p += kChunkHeaderSize + c.stored;
  }
  return chunks;
}

inline std::string Decompress(std::string_view file, const Framing& c) {
  std::string raw(c.raw, '\0');
  uLongf raw_size = c.raw;
  EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                       reinterpret_cast<const Bytef*>(file.data() + c.offset + 16), c.stored),
            Z_OK);
  EXPECT_EQ(raw_size, c.raw);
  return raw;
}

// How many records each chunk holds, decoding every RECORDS chunk on its own with a fresh archive.
inline std::vector<size_t> RecordsPerChunk(std::string_view file) {
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

inline std::string Deflate(std::string_view raw) {
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
inline std::string RecordsRaw(const std::vector<Record>& records) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive archive(out, cereal::PortableBinaryOutputArchive::Options::LittleEndian());
    for (const Record& r : records) archive(r);
  }
  return out.str();
}

class ChunkFiles : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.File("app.heapdump");
};

}  // namespace pyheapdump::chunk_test
