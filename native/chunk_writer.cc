// The chunked zlib writer in one file (~600 lines): the temporary file, the chunks, the footer and the rename are
// one sequence whose failure handling (a full disk, a crash mid-write) must be read together.
#include "chunk_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <ostream>
#include <streambuf>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pyheapdump {
namespace {

// The writer closes a chunk before it could exceed this, so that even incompressible data stays, once deflated
// (deflateBound adds well under 0.1%), within the format's kMaxChunkSize for stored bytes.
constexpr size_t kMaxRawPerChunk = kMaxChunkSize - (1u << 20);

// Full chunks handed to the background thread and not yet written (the one it is compressing included): enough to
// keep it busy while the walk fills the next chunk, few enough that the dump's memory stays a few chunks.
constexpr size_t kMaxChunksInFlight = 2;

// Little-endian stores; memcpy compiles to one store instruction where a byte loop would stay a loop.
template <class Unsigned>
void StoreLE(char* out, Unsigned v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  if constexpr (sizeof(v) == 8) v = __builtin_bswap64(v);
  if constexpr (sizeof(v) == 4) v = __builtin_bswap32(v);
  if constexpr (sizeof(v) == 2) v = __builtin_bswap16(v);
#endif
  std::memcpy(out, &v, sizeof(v));
}
void StoreLE16(char* out, uint16_t v) { StoreLE(out, v); }
void StoreLE32(char* out, uint32_t v) { StoreLE(out, v); }
void StoreLE64(char* out, uint64_t v) { StoreLE(out, v); }

// Lets cereal's archive append straight to a std::string: no intermediate ostringstream copy per chunk.
class StringSink : public std::streambuf {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }

 private:
  std::string& out_;
};

// "/a/b/c.heapdump" -> {"/a/b", "c.heapdump"}; "c.heapdump" -> {".", "c.heapdump"}.
std::pair<std::string, std::string> SplitPath(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  return {dir, path.substr(slash + 1)};
}

// A suffix that differs between processes, between writers of one process and between runs; O_EXCL makes a
// collision harmless (we try again), so this only has to make collisions rare.
std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  uint64_t now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t mixed = now ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
  return absl::StrFormat("%d-%016x", getpid(), mixed);
}

}  // namespace

// The serialized contents of the chunk being filled. Each chunk gets its own archive (which writes cereal's one-byte
// endianness marker first), so every chunk decodes on its own; the buffer and the stream are reused across chunks.
class DumpFileWriter::PendingChunk {
 public:
  explicit PendingChunk(ChunkKind kind) : kind_(kind), sink_(raw_), stream_(&sink_) { Reserve(); }

  ChunkKind kind() const { return kind_; }
  uint64_t last_id() const { return last_id_; }
  // Bytes in the chunk so far. Records are written in place past the string's size (see Tail): used_ counts them.
  size_t size() const { return used_ ? used_ : raw_.size(); }
  bool empty() const { return size() == 0; }
  // The chunk's bytes, once every record written in place is inside the string.
  const std::string& Sealed() {
    if (used_) raw_.resize(used_);
    return raw_;
  }

  cereal::PortableBinaryOutputArchive& Archive() {
    if (!archive_) archive_.emplace(stream_, cereal::PortableBinaryOutputArchive::Options::LittleEndian());
    return *archive_;
  }

  // Appends the record in the compact layout (format.h's StoreCompactRecord); a RECORDS chunk starts with the
  // kRecordsCompact marker where a cereal archive would have its endianness marker.
  // `bound`: at least the record's size (CompactRecordBound). Returns the bytes the record took.
  template <class AnyRecord>
  size_t AppendRecord(const AnyRecord& record, size_t bound) {
    if (used_ == 0) {
      *Tail(1) = static_cast<char>(kRecordsCompact);
      used_ = 1;
    }
    char* start = Tail(bound);
    size_t size = static_cast<size_t>(StoreCompactRecord(start, record, last_id_) - start);
    used_ += size;
    last_id_ = record.id;
    return size;
  }

  void Clear() {
    archive_.reset();
    raw_.clear();
    used_ = 0;
    last_id_ = 0;
    // One huge record must not pin a huge buffer for the rest of the dump.
    if (raw_.capacity() > 4 * kTargetChunkRaw) {
      raw_.shrink_to_fit();
      Reserve();
    }
  }

  // Moves the chunk's contents out into `out` and goes on filling `out`'s old buffer (a spare one, so that the
  // buffers circulate between this chunk and the background thread instead of being allocated per chunk).
  void TakeRaw(std::string& out) {
    archive_.reset();
    Sealed();
    raw_.swap(out);
    Clear();
    if (raw_.capacity() < kTargetChunkRaw) Reserve();
  }

 private:
  void Reserve() { raw_.reserve(kTargetChunkRaw + kTargetChunkRaw / 4); }

  // Room for n bytes at used_, without a per-record append: the string is grown to its whole capacity at once (one
  // zero-fill per buffer, not one call per record) and the records are written into it in place.
  char* Tail(size_t n) {
    if (raw_.size() < used_ + n) raw_.resize(std::max(used_ + n, raw_.capacity()));
    return &raw_[used_];
  }

  ChunkKind kind_;
  std::string raw_;
  uint64_t last_id_ = 0;  // RECORDS chunks: the id of the last record written, which the next one's id is stored after
  size_t used_ = 0;       // RECORDS chunks: the bytes of raw_ written so far (raw_ may be longer, see Tail)
  StringSink sink_;
  std::ostream stream_;
  std::optional<cereal::PortableBinaryOutputArchive> archive_;  // declared last: destroyed before the stream
};

// One zlib deflate state reused for every chunk (deflateInit allocates a few hundred KiB).
class DumpFileWriter::Deflater {
 public:
  explicit Deflater(int level) : level_(level) {}
  ~Deflater() {
    if (initialized_) deflateEnd(&stream_);
  }

  // Returns zlib's error code, or Z_OK.
  int Init() {
    int rc = deflateInit(&stream_, level_);
    initialized_ = rc == Z_OK;
    return rc;
  }

  // Compresses raw in one call; the result is valid until the next call.
  std::optional<std::string_view> Compress(std::string_view raw) {
    if (deflateReset(&stream_) != Z_OK) return std::nullopt;
    size_t bound = deflateBound(&stream_, raw.size());
    if (bound > capacity_) {
      out_ = std::make_unique<char[]>(bound);
      capacity_ = bound;
    }
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
    stream_.avail_in = static_cast<uInt>(raw.size());
    stream_.next_out = reinterpret_cast<Bytef*>(out_.get());
    stream_.avail_out = static_cast<uInt>(bound);
    // With deflateBound bytes of room a single Z_FINISH call always completes the stream.
    if (deflate(&stream_, Z_FINISH) != Z_STREAM_END) return std::nullopt;
    return std::string_view(out_.get(), stream_.total_out);
  }

 private:
  int level_;
  bool initialized_ = false;
  z_stream stream_{};
  std::unique_ptr<char[]> out_;
  size_t capacity_ = 0;
};

// The background thread that compresses and writes full chunks in the order they were handed over. It touches only
// the deflater, the descriptor and the byte counters, and only while the caller is not writing itself: the caller
// writes (header, summary, footer) only before the first hand-over or after Drain().
class DumpFileWriter::Pipeline {
 public:
  explicit Pipeline(DumpFileWriter& writer) : writer_(writer) {
    // Room for every buffer that can circulate, so keeping one for reuse never allocates on the compression thread:
    // a std::bad_alloc there would end the dumped program.
    spare_.reserve(kMaxChunksInFlight + 1);
  }
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  ~Pipeline() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      queue_.clear();  // an abandoned dump: nothing more is written
    }
    work_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  // Whether the thread has failed; cheap enough to ask once per record.
  bool failed() const { return failed_.load(std::memory_order_acquire); }

  // Moves the chunk's contents to the queue, after waiting while kMaxChunksInFlight are already there.
  absl::Status Submit(PendingChunk& pending) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!thread_.joinable() && !inline_) {
      try {
        thread_ = std::thread([this] { Run(); });
      } catch (const std::system_error&) {
        inline_ = true;  // no thread to be had (a process at its thread limit): compress on the caller's thread
      }
    }
    if (inline_) return WriteInline(pending);
    done_.wait(lock, [this] { return !error_.ok() || queue_.size() + (busy_ ? 1 : 0) < kMaxChunksInFlight; });
    if (!error_.ok()) return error_;
    std::string buffer;
    if (!spare_.empty()) {
      buffer.swap(spare_.back());
      spare_.pop_back();
    }
    pending.TakeRaw(buffer);
    queue_.push_back(Job{pending.kind(), std::move(buffer)});
    lock.unlock();
    work_.notify_one();
    return absl::OkStatus();
  }

  // Waits until every handed-over chunk is written (or dropped after a failure); returns the thread's error.
  absl::Status Drain() {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return queue_.empty() && !busy_; });
    return error_;
  }

 private:
  struct Job {
    ChunkKind kind;
    std::string raw;
  };

  absl::Status WriteInline(PendingChunk& pending) {
    if (error_.ok()) error_ = writer_.EncodeChunk(pending.kind(), pending.Sealed());
    pending.Clear();
    if (!error_.ok()) failed_.store(true, std::memory_order_release);
    return error_;
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      Job job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      absl::Status status = writer_.EncodeChunk(job.kind, job.raw);
      job.raw.clear();
      lock.lock();
      busy_ = false;
      if (job.raw.capacity() <= 4 * kTargetChunkRaw && spare_.size() < spare_.capacity()) {
        spare_.push_back(std::move(job.raw));
      }
      if (!status.ok()) {
        // Later chunks cannot follow a missing one: drop them; the caller sees the error on its next call.
        error_ = std::move(status);
        queue_.clear();
        failed_.store(true, std::memory_order_release);
      }
      done_.notify_all();
    }
  }

  DumpFileWriter& writer_;
  std::mutex mutex_;
  std::condition_variable work_;  // a job was queued, or the pipeline is stopping
  std::condition_variable done_;  // a job was finished
  std::deque<Job> queue_;
  std::vector<std::string> spare_;  // emptied chunk buffers, for reuse
  bool busy_ = false;
  bool stopping_ = false;
  bool inline_ = false;  // no background thread could be started
  absl::Status error_;
  std::atomic<bool> failed_{false};
  std::thread thread_;  // declared last: started after, and joined before, everything above
};

DumpFileWriter::DumpFileWriter(std::string final_path, WriterOptions options)
    : final_path_(std::move(final_path)),
      options_(options),
      records_(std::make_unique<PendingChunk>(ChunkKind::kRecords)),
      sources_(std::make_unique<PendingChunk>(ChunkKind::kSources)),
      deflater_(std::make_unique<Deflater>(options.zlib_level)),
      pipeline_(std::make_unique<Pipeline>(*this)) {}

DumpFileWriter::~DumpFileWriter() {
  pipeline_.reset();  // the background thread must be gone before the descriptor is closed
  if (fd_ >= 0) close(fd_);
  RemoveTempFile();
}

absl::StatusOr<std::unique_ptr<DumpFileWriter>> DumpFileWriter::Create(const std::string& final_path,
                                                                       WriterOptions options) {
  if (options.zlib_level < -1 || options.zlib_level > 9) {
    return absl::InvalidArgumentError(
        absl::StrCat("zlib level ", options.zlib_level, " is out of range: use -1 (zlib's default) or 0..9"));
  }
  auto [dir, name] = SplitPath(final_path);
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("cannot write ", final_path, ": it names a directory, not a file"));
  }
  struct stat st;
  if (stat(final_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return ErrnoStatus(EISDIR, absl::StrCat("cannot write ", final_path, ": ", std::strerror(EISDIR)));
  }
  std::unique_ptr<DumpFileWriter> writer(new DumpFileWriter(final_path, options));
  if (int rc = writer->deflater_->Init(); rc != Z_OK) {
    std::string message = absl::StrCat("cannot write ", final_path, ": zlib deflateInit failed (", rc,
                                       rc == Z_MEM_ERROR ? ", out of memory)" : ")");
    return rc == Z_MEM_ERROR ? OutOfMemoryError(message) : absl::InternalError(message);
  }
  if (absl::Status status = writer->OpenTempFile(); !status.ok()) return status;

  char preamble[kPreambleSize];
  std::memcpy(preamble, kMagic, sizeof(kMagic));
  StoreLE16(preamble + 12, kFormatMajor);
  StoreLE16(preamble + 14, kFormatMinor);
  if (absl::Status status = writer->WriteAll(preamble, sizeof(preamble)); !status.ok()) return status;
  return writer;
}

absl::Status DumpFileWriter::OpenTempFile() {
  auto [dir, name] = SplitPath(final_path_);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string candidate = absl::StrCat(dir, "/.", name, ".tmp-", UniqueSuffix());
    int fd;
    do {
      fd = open(candidate.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
      fd_ = fd;
      temp_path_ = std::move(candidate);
      return absl::OkStatus();
    }
    if (errno != EEXIST) return Fail(errno);
  }
  return Fail(EEXIST);
}

absl::Status DumpFileWriter::CheckWritable() const {
  if (!error_.ok()) return error_;
  if (state_ == State::kCommitted) {
    return absl::FailedPreconditionError(absl::StrCat("the dump ", final_path_, " is already committed"));
  }
  return absl::OkStatus();
}

absl::Status DumpFileWriter::WriteHeader(std::string_view json) {
  if (absl::Status status = CheckWritable(); !status.ok()) return status;
  if (state_ != State::kNeedHeader) {
    return absl::FailedPreconditionError(absl::StrCat("the header of ", final_path_, " is already written"));
  }
  if (json.size() > kMaxRawPerChunk) {
    return absl::InvalidArgumentError(absl::StrCat("the header of ", final_path_, " is ", json.size(),
                                                   " bytes; a chunk holds at most ", kMaxRawPerChunk));
  }
  if (absl::Status status = WriteChunk(ChunkKind::kHeader, json); !status.ok()) return status;
  state_ = State::kWriting;
  return absl::OkStatus();
}

absl::Status DumpFileWriter::AppendRecord(const Record& record) { return Append(record); }
absl::Status DumpFileWriter::AppendRecord(const RecordView& record) { return Append(record); }

template <class AnyRecord>
absl::Status DumpFileWriter::Append(const AnyRecord& record) {
  if (!error_.ok()) return error_;
  if (pipeline_->failed()) return AdoptPipelineError();
  if (state_ != State::kWriting) {
    if (state_ == State::kCommitted) return CheckWritable();
    return absl::FailedPreconditionError(absl::StrCat("write the header of ", final_path_, " before its records"));
  }
  // A bound on the record's size is a sum; its exact size takes a pass over every varint, wanted only near a limit.
  size_t bound = CompactRecordBound(record);
  if (bound + 1 > kMaxRawPerChunk || records_->size() + bound > kMaxRawPerChunk) {
    size_t exact = CompactRecordSize(record, records_->last_id());
    // The chunk also holds the one-byte layout marker.
    if (exact + 1 > kMaxRawPerChunk) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "record %d is %d bytes serialized, more than a chunk holds (%d): cut its data before writing it", record.id,
          exact, kMaxRawPerChunk));
    }
    if (records_->size() + exact > kMaxRawPerChunk) {
      if (absl::Status status = FlushPending(*records_); !status.ok()) return status;
    }
  }
  size_t size = 0;
  try {
    size = records_->AppendRecord(record, bound);
  } catch (const std::exception& e) {
    // Only allocation can fail here; the chunk now holds half a record, so the dump cannot be finished.
    return FailWith(OutOfMemoryError(
        absl::StrCat("cannot write ", final_path_, ": out of memory while buffering a record (", e.what(), ")")));
  }
  ++records_written_;
  raw_record_bytes_ += size;
  if (records_->size() >= kTargetChunkRaw) return FlushPending(*records_);
  return absl::OkStatus();
}

absl::Status DumpFileWriter::AppendSource(std::string_view filename, std::string_view text) {
  if (!error_.ok()) return error_;
  if (pipeline_->failed()) return AdoptPipelineError();
  if (state_ != State::kWriting) {
    if (state_ == State::kCommitted) return CheckWritable();
    return absl::FailedPreconditionError(absl::StrCat("write the header of ", final_path_, " before its sources"));
  }
  size_t size = 8 + filename.size() + 8 + text.size();
  if (size + 1 > kMaxRawPerChunk) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the source of %s is %d bytes, more than a chunk holds (%d)", filename, size, kMaxRawPerChunk));
  }
  if (sources_->size() + size > kMaxRawPerChunk) {
    if (absl::Status status = FlushPending(*sources_); !status.ok()) return status;
  }
  try {
    auto& archive = sources_->Archive();
    archive(static_cast<uint64_t>(filename.size()), cereal::binary_data(filename.data(), filename.size()));
    archive(static_cast<uint64_t>(text.size()), cereal::binary_data(text.data(), text.size()));
  } catch (const std::exception& e) {
    return FailWith(OutOfMemoryError(
        absl::StrCat("cannot write ", final_path_, ": out of memory while buffering a source (", e.what(), ")")));
  }
  if (sources_->size() >= kTargetChunkRaw) return FlushPending(*sources_);
  return absl::OkStatus();
}

absl::Status DumpFileWriter::Commit(std::string_view summary_json) {
  if (absl::Status status = CheckWritable(); !status.ok()) return status;
  if (state_ != State::kWriting) {
    return absl::FailedPreconditionError(absl::StrCat("write the header of ", final_path_, " before committing it"));
  }
  if (summary_json.size() > kMaxRawPerChunk) {
    return absl::InvalidArgumentError(absl::StrCat("the summary of ", final_path_, " is ", summary_json.size(),
                                                   " bytes; a chunk holds at most ", kMaxRawPerChunk));
  }
  if (absl::Status status = FlushPending(*records_); !status.ok()) return status;
  if (absl::Status status = FlushPending(*sources_); !status.ok()) return status;
  if (absl::Status status = DrainPipeline(); !status.ok()) return status;
  uint64_t summary_offset = file_bytes();
  if (absl::Status status = WriteChunk(ChunkKind::kSummary, summary_json); !status.ok()) return status;

  char footer[kFooterSize];
  StoreLE64(footer, summary_offset);
  StoreLE64(footer + 8, chunks_written_);
  std::memcpy(footer + 16, kFooterMagic, sizeof(kFooterMagic));
  if (absl::Status status = WriteAll(footer, sizeof(footer)); !status.ok()) return status;

  if (fsync(fd_) != 0) return Fail(errno);
  int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) return Fail(errno);  // NFS and some FUSE filesystems report write errors only here
  if (rename(temp_path_.c_str(), final_path_.c_str()) != 0) return Fail(errno);
  temp_path_.clear();
  state_ = State::kCommitted;
  return SyncDirectory();
}

absl::Status DumpFileWriter::FlushPending(PendingChunk& pending) {
  if (pending.empty()) return absl::OkStatus();
  if (!pipeline_->Submit(pending).ok()) return AdoptPipelineError();
  return absl::OkStatus();
}

absl::Status DumpFileWriter::DrainPipeline() {
  if (!pipeline_->Drain().ok()) return AdoptPipelineError();
  return absl::OkStatus();
}

absl::Status DumpFileWriter::AdoptPipelineError() {
  absl::Status error = pipeline_->Drain();  // the thread is idle from here on: the descriptor can be closed
  return FailWith(
      error.ok() ? absl::InternalError(absl::StrCat("cannot write ", final_path_, ": the background writer stopped"))
                 : std::move(error));
}

absl::Status DumpFileWriter::WriteChunk(ChunkKind kind, std::string_view raw) {
  absl::Status status = EncodeChunk(kind, raw);
  return status.ok() ? status : FailWith(std::move(status));
}

absl::Status DumpFileWriter::EncodeChunk(ChunkKind kind, std::string_view raw) {
  std::optional<std::string_view> stored = deflater_->Compress(raw);
  if (!stored) {
    return absl::InternalError(absl::StrCat("cannot write ", final_path_, ": zlib could not compress a chunk"));
  }
  char header[kChunkHeaderSize];
  StoreLE32(header, static_cast<uint32_t>(kind));
  StoreLE32(header + 4, static_cast<uint32_t>(stored->size()));
  StoreLE32(header + 8, static_cast<uint32_t>(raw.size()));
  StoreLE32(header + 12, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(stored->data()),
                                                     static_cast<uInt>(stored->size()))));
  uint64_t chunk_start = file_bytes();
  if (int error_number = WriteFully(header, sizeof(header)); error_number != 0) return ErrnoError(error_number);
  if (int error_number = WriteFully(stored->data(), stored->size()); error_number != 0) {
    return ErrnoError(error_number);
  }
  ++chunks_written_;
#ifdef __linux__
  // Start writing the chunk back to the disk now, so that Commit's fsync has little left to wait for. Advisory: a
  // failure here is found again by that fsync.
  sync_file_range(fd_, static_cast<off64_t>(chunk_start), static_cast<off64_t>(file_bytes() - chunk_start),
                  SYNC_FILE_RANGE_WRITE);
#endif
  return absl::OkStatus();
}

absl::Status DumpFileWriter::WriteAll(const char* data, size_t size) {
  int error_number = WriteFully(data, size);
  return error_number == 0 ? absl::OkStatus() : Fail(error_number);
}

int DumpFileWriter::WriteFully(const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ENOSPC;  // a regular file accepts no bytes only when the device is full
    data += n;
    size -= static_cast<size_t>(n);
    file_bytes_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
  return 0;
}

absl::Status DumpFileWriter::SyncDirectory() {
  std::string dir = SplitPath(final_path_).first;
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd < 0 ? -1 : fsync(fd);
  int error_number = errno;
  if (fd >= 0) close(fd);
  // Some filesystems cannot fsync a directory (EINVAL); the rename is then as durable as they make it.
  if (rc != 0 && error_number != EINVAL) {
    return ErrnoStatus(error_number, absl::StrCat("saved ", final_path_, " but could not sync its directory ", dir,
                                                  ": ", std::strerror(error_number)));
  }
  return absl::OkStatus();
}

absl::Status DumpFileWriter::ErrnoError(int error_number) const {
  return ErrnoStatus(error_number, absl::StrCat("cannot write ", final_path_, ": ", std::strerror(error_number)));
}

absl::Status DumpFileWriter::Fail(int error_number) { return FailWith(ErrnoError(error_number)); }

absl::Status DumpFileWriter::FailWith(absl::Status error) {
  error_ = std::move(error);
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  RemoveTempFile();
  return error_;
}

void DumpFileWriter::RemoveTempFile() {
  if (temp_path_.empty()) return;
  unlink(temp_path_.c_str());
  temp_path_.clear();
}

}  // namespace pyheapdump
