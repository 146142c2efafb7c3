// What both fuzz targets share: the fuzzer's input as a file the reader can open, one pass over everything the
// reader offers (header, summary, chunk list, every record, every source, the warnings), and a mutator that knows
// the chunk framing.
//
// DumpFileReader takes a path and memory-maps it, so each input is written to one memfd (a file in memory, no disk
// traffic) that is truncated and rewritten for every run; the reader opens it through /proc/self/fd.
#pragma once

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "chunk_reader.h"

// libFuzzer's own byte-level mutator, called by the custom mutator below.
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace pyheapdump_fuzz {

class MemoryFile {
 public:
  MemoryFile() {
    fd_ = memfd_create("heapdump-fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the file's content with data[0, size).
  const std::string& Hold(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size)) {
      std::perror("writing the fuzz input");
      std::abort();
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// Aborts (a finding) when the reader breaks one of its own promises about a status it returned.
inline void Require(bool condition, const char* promise) {
  if (!condition) {
    std::fprintf(stderr, "reader broke its promise: %s\n", promise);
    std::abort();
  }
}

// Reads everything the reader offers, handing each record to on_record. Small limits keep a hostile input from
// making the fuzzer spend its memory: the seeds declare far less than max_total_raw.
inline void ReadEverything(const std::string& path, const std::function<void(pyheapdump::Record&&)>& on_record) {
  pyheapdump::ReaderLimits limits;
  limits.max_total_raw = 256ull << 20;
  auto opened = pyheapdump::DumpFileReader::Open(path, limits);
  if (!opened.ok()) {
    Require(!opened.status().message().empty(), "a failed Open says why");
    return;
  }
  pyheapdump::DumpFileReader& reader = **opened;
  auto header = reader.ReadHeaderJson();
  Require(header.ok() || !header.status().message().empty(), "a failed header read says why");
  auto summary = reader.ReadSummaryJson();
  Require(summary.ok() || !summary.status().message().empty(), "a failed summary read says why");
  for (const pyheapdump::ChunkInfo& chunk : reader.Chunks()) {
    Require(chunk.offset >= pyheapdump::kPreambleSize && chunk.offset < reader.file_size(),
            "every chunk lies inside the file");
    if (chunk.intact) {
      Require(chunk.offset + pyheapdump::kChunkHeaderSize + chunk.stored_size <= reader.file_size(),
              "an intact chunk's data lies inside the file");
    }
  }
  absl::Status records = reader.ForEachRecord([&](pyheapdump::Record&& record) {
    on_record(std::move(record));
    return absl::OkStatus();
  });
  Require(records.ok() || !records.message().empty(), "a failed record pass says why");
  size_t source_bytes = 0;
  absl::Status sources = reader.ForEachSource([&](std::string&& filename, std::string&& text) {
    source_bytes += filename.size() + text.size();
    return absl::OkStatus();
  });
  Require(sources.ok() || !sources.message().empty(), "a failed source pass says why");
  for (const std::string& warning : reader.warnings()) Require(!warning.empty(), "every warning says something");
}

// ---- a structure-aware mutator ----
//
// Every chunk is zlib-compressed and checksummed, so a byte flipped inside one is almost always caught by the crc32
// and the chunk skipped: plain mutation would rarely reach the record decoding. A third of the time the input is
// mutated as bytes (the framing, the crc check, the resynchronising scan); otherwise one chunk is decompressed, its
// raw content mutated, recompressed and its header (sizes, crc32) and the footer's summary offset rewritten, so the
// mutated records arrive intact at the decoder.

inline uint32_t LoadLE32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
inline void StoreLE32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

struct ChunkSpan {
  size_t offset;  // of the 16-byte header
  uint32_t stored_size;
  uint32_t raw_size;
};

// The chunks found by following the headers from the preamble while they fit in the input.
inline std::vector<ChunkSpan> FollowChunks(const uint8_t* data, size_t size) {
  std::vector<ChunkSpan> chunks;
  size_t offset = pyheapdump::kPreambleSize;
  while (offset + pyheapdump::kChunkHeaderSize <= size) {
    uint32_t stored = LoadLE32(data + offset + 4);
    if (stored > size - offset - pyheapdump::kChunkHeaderSize) break;
    chunks.push_back({offset, stored, LoadLE32(data + offset + 8)});
    offset += pyheapdump::kChunkHeaderSize + stored;
  }
  return chunks;
}

// Mutates the raw content of one chunk; returns the new input's size, or 0 when that was not possible.
inline size_t MutateInsideChunk(uint8_t* data, size_t size, size_t max_size, std::minstd_rand& random) {
  constexpr uint32_t kMaxRaw = 4u << 20;  // the seeds' chunks are far smaller; this bounds the mutator's memory
  std::vector<ChunkSpan> chunks = FollowChunks(data, size);
  if (chunks.empty()) return 0;
  const ChunkSpan chunk = chunks[random() % chunks.size()];
  if (chunk.raw_size == 0 || chunk.raw_size > kMaxRaw) return 0;
  std::vector<uint8_t> raw(chunk.raw_size + chunk.raw_size / 4 + 64);
  uLongf raw_size = chunk.raw_size;
  if (uncompress(raw.data(), &raw_size, data + chunk.offset + pyheapdump::kChunkHeaderSize, chunk.stored_size) !=
      Z_OK) {
    return 0;
  }
  size_t mutated = LLVMFuzzerMutate(raw.data(), raw_size, raw.size());
  std::vector<uint8_t> stored(compressBound(mutated));
  uLongf stored_size = stored.size();
  if (compress2(stored.data(), &stored_size, raw.data(), mutated, 1) != Z_OK) return 0;
  const size_t old_end = chunk.offset + pyheapdump::kChunkHeaderSize + chunk.stored_size;
  const size_t new_size = size - chunk.stored_size + stored_size;
  if (new_size > max_size) return 0;
  std::vector<uint8_t> out(data, data + chunk.offset + pyheapdump::kChunkHeaderSize);
  StoreLE32(out.data() + chunk.offset + 4, static_cast<uint32_t>(stored_size));
  StoreLE32(out.data() + chunk.offset + 8, static_cast<uint32_t>(mutated));
  StoreLE32(out.data() + chunk.offset + 12, static_cast<uint32_t>(crc32(0, stored.data(), stored_size)));
  out.insert(out.end(), stored.begin(), stored.begin() + stored_size);
  out.insert(out.end(), data + old_end, data + size);
  // The footer points at the summary chunk: move that pointer with the chunks that moved.
  if (out.size() >= pyheapdump::kPreambleSize + pyheapdump::kFooterSize &&
      std::memcmp(out.data() + out.size() - 8, pyheapdump::kFooterMagic, 8) == 0) {
    uint8_t* pointer = out.data() + out.size() - pyheapdump::kFooterSize;
    uint64_t summary = 0;
    std::memcpy(&summary, pointer, 8);
    if (summary > chunk.offset) summary += static_cast<int64_t>(stored_size) - chunk.stored_size;
    std::memcpy(pointer, &summary, 8);
  }
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

}  // namespace pyheapdump_fuzz

// Defined here because each fuzz target is one translation unit that includes this header once.

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand random(seed);
  if (random() % 3 != 0) {
    if (size_t mutated = pyheapdump_fuzz::MutateInsideChunk(data, size, max_size, random)) return mutated;
  }
  return LLVMFuzzerMutate(data, size, max_size);
}
