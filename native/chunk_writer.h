// Writes a .heapdump file (docs/format.md): preamble, zlib-compressed chunks, footer.
//
// The file is written under a temporary name beside the final path and renamed into place only by Commit(), so a
// crash, a full disk or an abandoned writer never leaves a half-written dump that looks complete.
//
// RECORDS and SOURCES chunks are compressed and written by a background thread (no Python API, no GIL), so that
// deflate overlaps the walk; at most kMaxChunksInFlight full chunks wait for it. A failure there is reported by the
// next call on the writer, with the temporary file already removed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format.h"
#include "status.h"

namespace pyheapdump {

struct WriterOptions {
  int zlib_level = 1;  // 0..9, or -1 for zlib's default; 1 is fast and still shrinks records several times
};

class DumpFileWriter {
 public:
  // Creates the temporary file ("." + final name + ".tmp-" + a unique suffix, in the final path's directory) with
  // O_CREAT|O_EXCL and mode 0600 (dumps hold secrets), and writes the preamble.
  static absl::StatusOr<std::unique_ptr<DumpFileWriter>> Create(const std::string& final_path,
                                                                WriterOptions options = {});

  DumpFileWriter(const DumpFileWriter&) = delete;
  DumpFileWriter& operator=(const DumpFileWriter&) = delete;
  // Unlinks the temporary file unless Commit() succeeded.
  ~DumpFileWriter();

  // The HEADER chunk: UTF-8 JSON. Must come before any other chunk, exactly once.
  absl::Status WriteHeader(std::string_view json);
  // Buffers the record; a RECORDS chunk is written when the buffer passes kTargetChunkRaw. A record too large for
  // any chunk is refused with InvalidArgument (the writer stays usable: the caller can write a smaller record).
  absl::Status AppendRecord(const Record& record);
  // The same for a record held as a view (the walker's), written in the very same bytes.
  absl::Status AppendRecord(const RecordView& record);
  // Buffers one (filename, text) pair in SOURCES chunks, by the same rule.
  absl::Status AppendSource(std::string_view filename, std::string_view text);
  // Writes what is buffered, the SUMMARY chunk and the footer, fsyncs, renames the temporary file over the final
  // path, and fsyncs the directory. If only that last fsync fails, the error is returned but the dump is complete at
  // the final path (it may just not survive a power cut).
  absl::Status Commit(std::string_view summary_json);

  uint64_t records_written() const { return records_written_; }
  uint64_t raw_record_bytes() const { return raw_record_bytes_; }  // serialized record bytes, before compression
  uint64_t file_bytes() const { return file_bytes_.load(std::memory_order_relaxed); }  // bytes written so far
  // The temporary file being written; empty once it is committed or removed.
  const std::string& temp_path() const { return temp_path_; }

  // Once any write failed every later call returns that same error (and the temporary file is gone).
  const absl::Status& error() const { return error_; }

 private:
  class PendingChunk;
  class Deflater;
  class Pipeline;

  DumpFileWriter(std::string final_path, WriterOptions options);

  template <class AnyRecord>
  absl::Status Append(const AnyRecord& record);
  absl::Status OpenTempFile();
  absl::Status CheckWritable() const;
  // Hands a full chunk to the background thread (waiting while it is behind).
  absl::Status FlushPending(PendingChunk& pending);
  // Waits until the background thread has written every chunk handed to it.
  absl::Status DrainPipeline();
  // Compresses and writes a chunk now, from the calling thread (the background thread must be idle).
  absl::Status WriteChunk(ChunkKind kind, std::string_view raw);
  // Compresses and writes one chunk. Called by whichever thread writes; it only reports a failure (as an
  // absl::Status), leaving the writer's error state, descriptor and temporary file to the calling thread.
  absl::Status EncodeChunk(ChunkKind kind, std::string_view raw);
  absl::Status WriteAll(const char* data, size_t size);
  int WriteFully(const char* data, size_t size);  // 0, or the errno of the failed write
  absl::Status SyncDirectory();
  absl::Status ErrnoError(int error_number) const;
  // Records errno (or an error) as the writer's permanent error, closes and removes the temporary file.
  absl::Status Fail(int error_number);
  absl::Status FailWith(absl::Status error);
  // The background thread failed: wait for it to stop, then make its error the writer's.
  absl::Status AdoptPipelineError();
  void RemoveTempFile();

  enum class State { kNeedHeader, kWriting, kCommitted };

  std::string final_path_;
  std::string temp_path_;
  WriterOptions options_;
  int fd_ = -1;
  State state_ = State::kNeedHeader;
  absl::Status error_;
  std::unique_ptr<PendingChunk> records_;
  std::unique_ptr<PendingChunk> sources_;
  std::unique_ptr<Deflater> deflater_;
  uint64_t records_written_ = 0;
  uint64_t raw_record_bytes_ = 0;
  std::atomic<uint64_t> file_bytes_{0};  // also advanced by the background thread
  uint64_t chunks_written_ = 0;          // read by the caller only once the background thread is drained
  std::unique_ptr<Pipeline> pipeline_;   // declared last: its thread stops before the members it uses go away
};

}  // namespace pyheapdump
