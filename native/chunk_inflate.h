// Decompressing one chunk: on the caller's thread, or ahead of it on a background thread while the caller decodes the
// chunk before (the reader's read-ahead). Plain C++ and zlib: no Python.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mapped_bytes.h"

namespace pyheapdump {

// One chunk's decompressed bytes and the zlib state that made them. Each buffer has its own state, so two chunks can
// be inflated at once, one per thread.
class InflatedChunk {
 public:
  InflatedChunk();
  ~InflatedChunk();
  InflatedChunk(const InflatedChunk&) = delete;
  InflatedChunk& operator=(const InflatedChunk&) = delete;

  // Inflates `stored`, a zlib stream that must decompress to exactly `declared` bytes. DataLoss, with why the chunk
  // is damaged as its message; ResourceExhausted (OutOfMemoryError) when memory ran out, which is not damage.
  // Begin, then Fill and MakeRoom until Fill says the chunk is complete.
  absl::Status Inflate(std::string_view stored, size_t declared);

  // The steps of Inflate, for the read-ahead: Begin and MakeRoom allocate, on the calling thread; Fill allocates
  // nothing, so the read-ahead thread that runs it gets no malloc arena of its own (64 MiB of reserved address space,
  // which a process under an address-space limit cannot spare).
  //
  // Begin sets up zlib's state and room for a first Fill: at most the declared size, and no more than a few times the
  // stored size (or the room an earlier chunk needed), so a header that lies about its raw size costs no more memory
  // than its data really decompresses to.
  absl::Status Begin(std::string_view stored, size_t declared);
  // Inflates into the room there is. True when the chunk is complete and checked; false when it needs more room.
  // Out of memory (even for an error's message) is a status, never an exception.
  absl::StatusOr<bool> Fill();
  // Doubles the room, never past the declared size.
  absl::Status MakeRoom();
  // Given what a Fill returned: makes room and fills until the chunk is complete; the result of the whole inflate.
  absl::Status Finish(absl::StatusOr<bool> filled);

  // The bytes of the last successful Inflate.
  std::string_view bytes() const { return std::string_view(raw_.get(), size_); }
  // Frees the room (a chunk's raw size, up to 8 MiB): a reader done with its records must not hold it while the
  // loader makes their objects, the peak of a load. The next Inflate makes room again.
  void ReleaseRoom();

 private:
  class Inflater;
  bool Grow(size_t capacity, size_t keep);  // keeps raw_[0, keep)
  absl::Status NoMemory() const;
  absl::StatusOr<bool> FillRoom();  // Fill, which may throw bad_alloc

  std::unique_ptr<Inflater> inflater_;
  MappedBytes raw_;
  size_t capacity_ = 0;
  size_t size_ = 0;      // of the last successful Inflate
  size_t declared_ = 0;  // of the chunk being inflated
  size_t produced_ = 0;  // bytes of it inflated so far
};

// Inflates one chunk at a time on a background thread. The thread touches only the InflatedChunk it was given and
// the stored bytes (the reader's read-only map): no Python, no GIL, so the caller can build objects meanwhile. When no
// thread can be started (a process at its thread or address-space limit), Start inflates on the caller's thread.
class ChunkReadAhead {
 public:
  ChunkReadAhead() = default;
  ChunkReadAhead(const ChunkReadAhead&) = delete;
  ChunkReadAhead& operator=(const ChunkReadAhead&) = delete;
  ~ChunkReadAhead();  // lets the job in progress finish (its buffer stays the caller's), then stops the thread

  // Starts inflating into `into`, which the caller must not touch until Wait returns. One job at a time.
  void Start(std::string_view stored, size_t declared, InflatedChunk* into);
  // Waits for the started job, finishes on this thread what needed more room than the job had, and returns the
  // result of the whole inflate.
  absl::Status Wait();

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable work_;   // a job was started, or the read-ahead is stopping
  std::condition_variable done_;   // the job finished
  InflatedChunk* into_ = nullptr;  // begun on the caller's thread, filled on this one
  bool has_job_ = false;
  bool finished_ = false;
  bool stopping_ = false;
  bool inline_ = false;          // no thread could be started
  absl::StatusOr<bool> result_;  // of the thread's Fill
  std::thread thread_;           // declared last: started after, and joined before, everything above
};

}  // namespace pyheapdump
