// Decompressing one chunk: on the caller's thread, or ahead of it on a background thread while the caller decodes the
// chunk before (the reader's read-ahead). Plain C++ and zlib: no Python.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "absl/status/status.h"

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
  absl::Status Inflate(std::string_view stored, size_t declared);
  // Allocates, on the calling thread, all that Inflate(stored, declared) needs (zlib's state, a buffer of the declared
  // size): the read-ahead thread then allocates nothing, and so gets no malloc arena of its own, whose reserved
  // address space (64 MiB) a process under an address-space limit cannot spare. False when memory ran out.
  bool Prepare(size_t declared);
  // The bytes of the last successful Inflate.
  std::string_view bytes() const { return std::string_view(raw_.get(), size_); }

 private:
  class Inflater;
  bool Grow(size_t capacity, size_t keep);  // keeps raw_[0, keep)

  std::unique_ptr<Inflater> inflater_;
  std::unique_ptr<char[]> raw_;
  size_t capacity_ = 0;
  size_t size_ = 0;
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
  // Waits for the started job and returns its result.
  absl::Status Wait();

 private:
  void Run();
  static absl::Status InflateGuarded(InflatedChunk* into, std::string_view stored, size_t declared);

  std::mutex mutex_;
  std::condition_variable work_;  // a job was started, or the read-ahead is stopping
  std::condition_variable done_;  // the job finished
  std::string_view stored_;
  size_t declared_ = 0;
  InflatedChunk* into_ = nullptr;
  bool has_job_ = false;
  bool finished_ = false;
  bool stopping_ = false;
  bool inline_ = false;  // no thread could be started
  absl::Status result_;
  std::thread thread_;  // declared last: started after, and joined before, everything above
};

}  // namespace pyheapdump
