#include "chunk_inflate.h"

#include <signal.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "status.h"

namespace pyheapdump {

class InflatedChunk::Inflater {
 public:
  ~Inflater() {
    if (initialized_) inflateEnd(&stream_);
  }
  // False when zlib could not allocate its state.
  bool Init() {
    if (!initialized_) initialized_ = inflateInit(&stream_) == Z_OK;
    return initialized_;
  }
  // False when zlib could not allocate its state.
  bool Start(std::string_view stored) {
    if (!initialized_) return Init() && Start(stored);
    if (inflateReset(&stream_) != Z_OK) return false;
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stored.data()));
    stream_.avail_in = static_cast<uInt>(stored.size());
    return true;
  }
  // Inflates into out[0, room), adding the bytes written to *produced; returns zlib's code.
  int Run(char* out, size_t room, size_t* produced) {
    stream_.next_out = reinterpret_cast<Bytef*>(room > 0 ? out : &no_room_);  // zlib refuses a null next_out
    stream_.avail_out = static_cast<uInt>(room);
    int rc = inflate(&stream_, Z_NO_FLUSH);
    *produced += room - stream_.avail_out;
    return rc;
  }
  uInt input_left() const { return stream_.avail_in; }
  absl::Status Error(int rc) const {
    if (rc == Z_MEM_ERROR) return OutOfMemoryError("zlib ran out of memory");
    if (rc == Z_NEED_DICT) return absl::DataLossError("zlib error: it needs a preset dictionary");
    return absl::DataLossError(absl::StrCat("zlib error: ", stream_.msg ? stream_.msg : "invalid data"));
  }

 private:
  bool initialized_ = false;
  z_stream stream_{};
  char no_room_ = 0;
};

InflatedChunk::InflatedChunk() : inflater_(std::make_unique<Inflater>()) {}
InflatedChunk::~InflatedChunk() = default;

bool InflatedChunk::Grow(size_t capacity, size_t keep) {
  if (capacity <= capacity_) return true;
  std::unique_ptr<char[]> bigger(new (std::nothrow) char[capacity]);
  if (!bigger) return false;
  if (keep > 0) std::memcpy(bigger.get(), raw_.get(), keep);
  raw_ = std::move(bigger);
  capacity_ = capacity;
  return true;
}

bool InflatedChunk::Prepare(size_t declared) { return inflater_->Init() && Grow(declared, 0); }

absl::Status InflatedChunk::Inflate(std::string_view stored, size_t declared) {
  size_ = 0;
  auto no_memory = [declared] {
    return OutOfMemoryError(absl::StrFormat("no memory to decompress a chunk of %d raw bytes", declared));
  };
  if (!inflater_->Start(stored)) return OutOfMemoryError("zlib could not allocate an inflate state");
  // The buffer grows with the output that actually arrives (never past the declared size), so a header that lies
  // about its raw size costs no more memory than its data really decompresses to.
  size_t produced = 0;
  if (!Grow(std::min(declared, std::max<size_t>(stored.size(), 64 << 10)), 0)) return no_memory();
  while (true) {
    size_t limit = std::min(capacity_, declared);
    int rc = inflater_->Run(raw_.get() + produced, limit - produced, &produced);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return inflater_->Error(rc);
    if (produced < limit) return absl::DataLossError("its zlib stream ends early");  // stopped with room left
    if (produced == declared) {
      // Full: the stream must now end without one more byte.
      char extra;
      size_t more = 0;
      rc = inflater_->Run(&extra, 1, &more);
      if (more > 0) {
        return absl::DataLossError(absl::StrFormat("it decompresses to more than its declared raw size %d", declared));
      }
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK && rc != Z_BUF_ERROR) return inflater_->Error(rc);
      return absl::DataLossError("its zlib stream ends early");
    }
    if (!Grow(std::min(declared, 2 * capacity_), produced)) return no_memory();
  }
  if (produced != declared) {
    return absl::DataLossError(
        absl::StrFormat("it decompresses to %d bytes, not its declared raw size %d", produced, declared));
  }
  if (inflater_->input_left() != 0) {
    return absl::DataLossError(absl::StrFormat("%d bytes of garbage follow its zlib stream", inflater_->input_left()));
  }
  size_ = produced;
  return absl::OkStatus();
}

ChunkReadAhead::~ChunkReadAhead() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
}

absl::Status ChunkReadAhead::InflateGuarded(InflatedChunk* into, std::string_view stored, size_t declared) {
  try {
    return into->Inflate(stored, declared);
  } catch (const std::bad_alloc&) {  // a message that could not be formatted
    return OutOfMemoryError("out of memory while decompressing a chunk");
  }
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
  if (!inline_ && !into->Prepare(declared)) {
    result_ = OutOfMemoryError(absl::StrFormat("no memory to decompress a chunk of %d raw bytes", declared));
    has_job_ = false;
    finished_ = true;
    return;
  }
  if (inline_) {
    result_ = InflateGuarded(into, stored, declared);
    has_job_ = false;
    finished_ = true;
    return;
  }
  stored_ = stored;
  declared_ = declared;
  into_ = into;
  has_job_ = true;
  finished_ = false;
  lock.unlock();
  work_.notify_one();
}

absl::Status ChunkReadAhead::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return finished_; });
  return std::move(result_);
}

void ChunkReadAhead::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || has_job_; });
    if (!has_job_) return;  // stopping with nothing left: a job in progress always finishes first
    has_job_ = false;
    InflatedChunk* into = into_;
    std::string_view stored = stored_;
    size_t declared = declared_;
    lock.unlock();
    absl::Status result = InflateGuarded(into, stored, declared);
    lock.lock();
    result_ = std::move(result);
    finished_ = true;
    done_.notify_all();
  }
}

}  // namespace pyheapdump
