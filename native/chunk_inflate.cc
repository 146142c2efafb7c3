#include "chunk_inflate.h"

#include <signal.h>
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "status.h"

namespace pyheapdump {

// zlib's memory comes from a block allocated with the inflater, on the thread that creates it: inflate allocates its
// window lazily, on its first call, which may be on the read-ahead thread (see InflatedChunk::Fill). A request the
// block cannot hold goes to operator new.
class ZlibMemory {
 public:
  bool Reserve() {
    if (!block_) block_.reset(new (std::nothrow) char[kBlockSize]);
    return block_ != nullptr;
  }
  static voidpf Alloc(voidpf opaque, uInt items, uInt size) {
    auto* self = static_cast<ZlibMemory*>(opaque);
    size_t bytes = static_cast<size_t>(items) * size;
    size_t start = (self->used_ + kAlign - 1) / kAlign * kAlign;
    if (self->block_ && bytes <= kBlockSize && start <= kBlockSize - bytes) {
      self->used_ = start + bytes;
      return self->block_.get() + start;
    }
    return ::operator new(bytes, std::nothrow);
  }
  static void Free(voidpf opaque, voidpf address) {
    auto* self = static_cast<ZlibMemory*>(opaque);
    char* p = static_cast<char*>(address);
    if (self->block_ && p >= self->block_.get() && p < self->block_.get() + kBlockSize) return;  // freed with it
    ::operator delete(address);
  }

 private:
  // inflate's state (about 7 KiB) and its 32 KiB window, with room to spare for other zlib versions.
  static constexpr size_t kBlockSize = 64 << 10;
  static constexpr size_t kAlign = alignof(std::max_align_t);
  std::unique_ptr<char[]> block_;
  size_t used_ = 0;
};

class InflatedChunk::Inflater {
 public:
  ~Inflater() {
    if (initialized_) inflateEnd(&stream_);
  }
  // False when zlib could not allocate its state.
  bool Init() {
    if (initialized_) return true;
    if (!memory_.Reserve()) return false;
    stream_.zalloc = &ZlibMemory::Alloc;
    stream_.zfree = &ZlibMemory::Free;
    stream_.opaque = &memory_;
    // Raw deflate: the zlib header is checked here and the trailer's adler32 is not, for the chunk's crc32 already
    // covers every stored byte (the reader inflates intact chunks only), and adler32 over the output was a twentieth
    // of inflating.
    initialized_ = inflateInit2(&stream_, -MAX_WBITS) == Z_OK;
    return initialized_;
  }
  // Starts on a zlib stream: OK, OutOfMemory when zlib could not allocate its state, DataLoss for a bad header.
  absl::Status Start(std::string_view stored) {
    if (!Init() || inflateReset(&stream_) != Z_OK) return OutOfMemoryError("zlib could not allocate an inflate state");
    if (stored.size() < kHeaderSize) return absl::DataLossError("its zlib stream ends early");
    const auto method = static_cast<uint8_t>(stored[0]);
    const auto flags = static_cast<uint8_t>(stored[1]);
    // RFC 1950: deflate with a window of at most 32 KiB, and a header check that makes the two bytes a multiple of 31.
    if ((method & 0x0f) != Z_DEFLATED || (method >> 4) > 7 || (method * 256 + flags) % 31 != 0) {
      return absl::DataLossError("zlib error: incorrect header check");
    }
    if (flags & 0x20) return absl::DataLossError("zlib error: it needs a preset dictionary");
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stored.data() + kHeaderSize));
    stream_.avail_in = static_cast<uInt>(stored.size() - kHeaderSize);
    return absl::OkStatus();
  }
  // Once the deflate data ended: the bytes after it, which must be the 4-byte adler32 trailer and nothing else.
  uInt input_left() const { return stream_.avail_in; }
  static constexpr uInt kTrailerSize = 4;
  // Inflates into out[0, room), adding the bytes written to *produced; returns zlib's code.
  int Run(char* out, size_t room, size_t* produced) {
    stream_.next_out = reinterpret_cast<Bytef*>(room > 0 ? out : &no_room_);  // zlib refuses a null next_out
    stream_.avail_out = static_cast<uInt>(room);
    int rc = inflate(&stream_, Z_NO_FLUSH);
    *produced += room - stream_.avail_out;
    return rc;
  }
  absl::Status Error(int rc) const {
    if (rc == Z_MEM_ERROR) return OutOfMemoryError("zlib ran out of memory");
    if (rc == Z_NEED_DICT) return absl::DataLossError("zlib error: it needs a preset dictionary");
    return absl::DataLossError(absl::StrCat("zlib error: ", stream_.msg ? stream_.msg : "invalid data"));
  }

 private:
  static constexpr size_t kHeaderSize = 2;
  ZlibMemory memory_;  // declared before the stream it serves, so it outlives inflateEnd
  bool initialized_ = false;
  z_stream stream_{};
  char no_room_ = 0;
};

InflatedChunk::InflatedChunk() : inflater_(std::make_unique<Inflater>()) {}
InflatedChunk::~InflatedChunk() = default;

void InflatedChunk::ReleaseRoom() {
  raw_.Reset();
  capacity_ = 0;
  size_ = 0;
}

bool InflatedChunk::Grow(size_t capacity, size_t keep) {
  if (capacity <= capacity_) return true;
  MappedBytes bigger;
  if (!bigger.Allocate(capacity)) return false;
  if (keep > 0) std::memcpy(bigger.get(), raw_.get(), keep);
  raw_.swap(bigger);
  capacity_ = capacity;
  return true;
}

absl::Status InflatedChunk::NoMemory() const {
  return OutOfMemoryError(absl::StrFormat("no memory to decompress a chunk of %d raw bytes", declared_));
}

absl::Status InflatedChunk::Begin(std::string_view stored, size_t declared) {
  size_ = 0;
  declared_ = declared;
  produced_ = 0;
  if (absl::Status started = inflater_->Start(stored); !started.ok()) return started;
  // Records deflate about 3-6 to 1, so eight times the stored size usually holds the whole chunk in one Fill.
  constexpr size_t kExpectedRatio = 8;
  size_t first_room = std::min(declared, std::max<size_t>(stored.size() * kExpectedRatio, 64 << 10));
  if (!Grow(first_room, 0)) return NoMemory();
  return absl::OkStatus();
}

absl::StatusOr<bool> InflatedChunk::Fill() {
  try {
    return FillRoom();
  } catch (const std::bad_alloc&) {  // a message that could not be formatted
    return OutOfMemoryError("out of memory while decompressing a chunk");
  }
}

absl::StatusOr<bool> InflatedChunk::FillRoom() {
  size_t limit = std::min(capacity_, declared_);
  int rc = inflater_->Run(raw_.get() + produced_, limit - produced_, &produced_);
  if (rc != Z_STREAM_END) {
    if (rc != Z_OK && rc != Z_BUF_ERROR) return inflater_->Error(rc);
    if (produced_ < limit) return absl::DataLossError("its zlib stream ends early");  // stopped with room left
    if (produced_ < declared_) return false;
    // Full: the stream must now end without one more byte.
    char extra;
    size_t more = 0;
    rc = inflater_->Run(&extra, 1, &more);
    if (more > 0) {
      return absl::DataLossError(absl::StrFormat("it decompresses to more than its declared raw size %d", declared_));
    }
    if (rc != Z_STREAM_END) {
      if (rc != Z_OK && rc != Z_BUF_ERROR) return inflater_->Error(rc);
      return absl::DataLossError("its zlib stream ends early");
    }
  }
  if (produced_ != declared_) {
    return absl::DataLossError(
        absl::StrFormat("it decompresses to %d bytes, not its declared raw size %d", produced_, declared_));
  }
  if (inflater_->input_left() < Inflater::kTrailerSize) return absl::DataLossError("its zlib stream ends early");
  if (inflater_->input_left() > Inflater::kTrailerSize) {
    return absl::DataLossError(absl::StrFormat("%d bytes of garbage follow its zlib stream",
                                               inflater_->input_left() - Inflater::kTrailerSize));
  }
  size_ = produced_;
  return true;
}

absl::Status InflatedChunk::MakeRoom() {
  if (!Grow(std::min(declared_, 2 * capacity_), produced_)) return NoMemory();
  return absl::OkStatus();
}

absl::Status InflatedChunk::Finish(absl::StatusOr<bool> filled) {
  while (filled.ok() && !*filled) {
    if (absl::Status status = MakeRoom(); !status.ok()) return status;
    filled = Fill();
  }
  return filled.status();
}

absl::Status InflatedChunk::Inflate(std::string_view stored, size_t declared) {
  if (absl::Status status = Begin(stored, declared); !status.ok()) return status;
  return Finish(Fill());
}

ChunkReadAhead::~ChunkReadAhead() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void ChunkReadAhead::Start(std::string_view stored, size_t declared, InflatedChunk* into) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!thread_.joinable() && !inline_) {
    // The thread takes no signal: the process's handlers run on the threads that expect them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error&) {
      inline_ = true;  // no thread to be had: inflate on the caller's thread
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
  into_ = into;
  absl::Status begun = into->Begin(stored, declared);
  if (inline_ || !begun.ok()) {
    if (begun.ok()) {
      result_ = into->Fill();  // Wait finishes it
    } else {
      result_ = std::move(begun);
    }
    has_job_ = false;
    finished_ = true;
    return;
  }
  has_job_ = true;
  finished_ = false;
  lock.unlock();
  work_.notify_one();
}

absl::Status ChunkReadAhead::Wait() {
  absl::StatusOr<bool> filled;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return finished_; });
    filled = std::move(result_);
  }
  // A chunk that needed more room than Begin gave is finished here, where growing the buffer may allocate.
  return into_->Finish(std::move(filled));
}

void ChunkReadAhead::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || has_job_; });
    if (!has_job_) return;  // stopping with nothing left: a job in progress always finishes first
    has_job_ = false;
    InflatedChunk* into = into_;
    lock.unlock();
    absl::StatusOr<bool> filled = into->Fill();
    lock.lock();
    result_ = std::move(filled);
    finished_ = true;
    done_.notify_all();
  }
}

}  // namespace pyheapdump
