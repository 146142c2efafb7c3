// Reads a .heapdump file (docs/format.md) without trusting it: every length is checked before anything is allocated,
// and a damaged or truncated file yields every intact chunk plus warnings saying what was lost.
//
// The file is memory-mapped read-only, so a chunk is never copied before it is decompressed. (If another process
// truncates the file while it is mapped, reading the lost pages raises SIGBUS: dumps are not rewritten in place, the
// writer replaces them by rename, so this does not happen in practice.) A reader is not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chunk_inflate.h"
#include "format.h"
#include "status.h"

namespace pyheapdump {

struct ReaderLimits {
  uint64_t max_total_raw = 8ull << 30;  // refuse files whose intact chunks declare more decompressed bytes than this
};

struct ChunkInfo {
  ChunkKind kind;   // as declared; may be a kind this reader does not know (skipped) or garbage when !intact
  uint64_t offset;  // of the 16-byte chunk header
  uint32_t stored_size;
  uint32_t raw_size;
  bool intact;  // the header's sizes are within bounds, the chunk fits in the file and its crc32 matches
};

class DumpFileReader {
 public:
  // NotFound for a missing file, InvalidArgument "... not a pyheapdump file ..." for a bad magic or a file too short
  // for the preamble, FailedPrecondition "this dump is format N.M; this pyheapdump reads 1.x: upgrade pyheapdump" for
  // an unknown major version.
  static absl::StatusOr<std::unique_ptr<DumpFileReader>> Open(const std::string& path, ReaderLimits limits = {});

  DumpFileReader(const DumpFileReader&) = delete;
  DumpFileReader& operator=(const DumpFileReader&) = delete;
  ~DumpFileReader();

  uint16_t major() const { return major_; }
  uint16_t minor() const { return minor_; }
  uint64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

  // The HEADER chunk (the first chunk), without looking at the rest of the file. DataLoss when it is damaged.
  absl::StatusOr<std::string> ReadHeaderJson();
  // The SUMMARY chunk through the footer; when the footer or the chunk it points at is damaged, the last intact
  // SUMMARY chunk found by scanning (with a warning). DataLoss when there is none (e.g. a truncated dump).
  absl::StatusOr<std::string> ReadSummaryJson();

  // Every chunk of the file, scanned once on first use. The crc32 of each chunk is checked during the scan (eagerly),
  // so `intact` is known up front. After a chunk whose header is damaged the scan looks for the next intact chunk
  // byte by byte, so one bad byte never costs more than the chunk it is in. Damage and truncation add warnings.
  const std::vector<ChunkInfo>& Chunks();

  // Calls on_record for every record of every intact RECORDS chunk, in file order. A chunk that does not decompress
  // to exactly its raw size is skipped with a warning. When a record inside a chunk does not decode, the records
  // before it are kept (they were already delivered) and the rest of that chunk is skipped, with a warning naming
  // the chunk's index, offset and the reason. Stops at and returns the first non-OK status of on_record.
  // InvalidArgument, before any record is read, when the intact chunks declare more than limits.max_total_raw.
  absl::Status ForEachRecord(const std::function<absl::Status(Record&&)>& on_record);
  // The same, without copying: each record's blobs view the chunk's decompressed bytes, valid while on_record runs.
  absl::Status ForEachStoredRecord(const std::function<absl::Status(const StoredRecord&)>& on_record);
  // The same, for the listed chunks only (indices into Chunks()): the analysis re-reads the few records it names.
  absl::Status ForEachRecordIn(const std::vector<size_t>& chunks,
                               const std::function<absl::Status(Record&&)>& on_record);
  // During ForEachRecord: the index into Chunks() of the chunk the record being delivered came from.
  size_t current_chunk() const { return current_chunk_; }
  // The same for the (filename, text) pairs of the SOURCES chunks.
  absl::Status ForEachSource(const std::function<absl::Status(std::string&& filename, std::string&& text)>& on_source);

  // Gives the file's pages back to the page cache: a caller that has read (and copied) what it needs says so, and the
  // file stops counting in this process's memory while the objects are made (the service heap: 13 MB). A later read
  // maps the pages it touches again.
  void ReleaseResidentPages();

  // What was damaged or lost so far, one line each, in the order found. Each problem is reported once.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct Header {
    uint32_t kind, stored_size, raw_size, crc;
  };

  DumpFileReader(std::string path, ReaderLimits limits);

  std::string_view Bytes(uint64_t offset, uint64_t size) const;
  Header HeaderAt(uint64_t offset) const;
  // Empty when the chunk at offset is intact, else why it is not.
  std::string CheckChunkAt(uint64_t offset, uint64_t end) const;
  bool IsFooterAt(uint64_t offset) const;
  uint64_t FindNextChunk(uint64_t from) const;  // the next offset holding an intact chunk or the footer, or size_
  bool LooksLikeChunkHeader(uint64_t offset) const;
  void Scan();
  void CheckFooterMatches(uint64_t footer);
  void CheckChunkKinds();
  absl::Status CheckDeclaredTotal();
  std::string_view StoredBytes(const ChunkInfo& chunk) const;  // the chunk's zlib stream
  absl::StatusOr<std::string> ReadJsonChunk(uint64_t offset, ChunkKind kind, uint64_t end);
  std::string Describe(size_t index) const;
  void Warn(std::string message);
  // For every intact chunk of `kind`: decode(archive) reads one item of a cereal chunk and decode_compact(cursor,
  // previous_id) one of a compact chunk (nullptr: the kind has no compact layout), each throwing on malformed input;
  // deliver(item) hands it to the caller; `what` names an item in warnings.
  template <class Decode, class DecodeCompact, class Deliver>
  absl::Status ForEachInChunks(ChunkKind kind, const char* what, Decode&& decode, DecodeCompact&& decode_compact,
                               Deliver&& deliver);

  std::string path_;
  ReaderLimits limits_;
  const char* map_ = nullptr;
  uint64_t size_ = 0;
  uint16_t major_ = 0;
  uint16_t minor_ = 0;
  bool scanned_ = false;
  bool summary_warned_ = false;
  std::vector<ChunkInfo> chunks_;
  std::vector<bool> decode_warned_;  // per chunk: its decoding problem is already in warnings_
  std::vector<std::string> warnings_;
  // Two buffers: the chunk being decoded, and the next one, inflated meanwhile on a background thread.
  std::unique_ptr<InflatedChunk> inflated_ = std::make_unique<InflatedChunk>();
  std::unique_ptr<InflatedChunk> inflated_ahead_ = std::make_unique<InflatedChunk>();
  size_t current_chunk_ = 0;
  const std::vector<bool>* only_chunks_ = nullptr;  // ForEachRecordIn's selection
};

}  // namespace pyheapdump
