// The bounded reader in one file (~630 lines): every bound it checks (lengths, totals, crcs) guards the same cursor
// over one chunk, and recovering the intact chunks of a damaged file needs them all in view.
#include "chunk_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>
#include <new>
#include <optional>
#include <streambuf>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pyheapdump {
namespace {

// Deflate cannot expand data by more than 1032:1 (a 258-byte match in 2 bits), so a chunk declaring more raw bytes
// than this for its stored size is damaged, and is refused before its raw buffer is allocated.
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr uint32_t kMaxResyncKind = 255;  // when hunting for the next chunk, kinds beyond this are not plausible

uint16_t LoadLE16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) << 8);
}
uint32_t LoadLE32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t LoadLE64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string KindName(uint32_t kind) {
  switch (static_cast<ChunkKind>(kind)) {
    case ChunkKind::kHeader:
      return "HEADER";
    case ChunkKind::kRecords:
      return "RECORDS";
    case ChunkKind::kSources:
      return "SOURCES";
    case ChunkKind::kSummary:
      return "SUMMARY";
  }
  return absl::StrCat("kind ", kind);
}

// The zlib header's two bytes: deflate method, and the check bits that make CMF*256+FLG a multiple of 31.
bool LooksLikeZlibStream(const char* p) {
  auto cmf = static_cast<uint8_t>(p[0]);
  auto flg = static_cast<uint8_t>(p[1]);
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

// An input stream buffer over bytes already in memory. Its get area is the whole buffer, so in_avail() is exactly
// the bytes left, which is what Blob's bounds check relies on.
class ViewStreambuf : public std::streambuf {
 public:
  ViewStreambuf(const char* data, size_t size) {
    char* begin = const_cast<char*>(data);  // never written: this buffer has no put area and no putback
    setg(begin, begin, begin + size);
  }
  std::string_view Unread() const { return std::string_view(gptr(), static_cast<size_t>(egptr() - gptr())); }
  void Consume(size_t bytes) { setg(eback(), gptr() + bytes, egptr()); }
};

// Reads what cereal's portable binary archive writes for a Record (format.h, save(Record)) straight from the chunk's
// bytes: the archive's stream-based reads were most of the time of reading a dump. The checks are the archive's.
class RecordParser {
 public:
  explicit RecordParser(std::string_view input) : input_(input) {}
  size_t consumed() const { return consumed_; }

  // The record's blobs view the parser's input.
  StoredRecord Parse() {
    StoredRecord record;
    record.id = Fixed<uint64_t>();
    record.kind = static_cast<Kind>(Fixed<uint8_t>());
    record.type_id = Fixed<uint64_t>();
    record.flags = Fixed<uint32_t>();
    record.size = Fixed<uint64_t>();
    record.items = ReadBlob();
    record.attrs = ReadBlob();
    record.data = ReadBlob();
    return record;
  }

 private:
  // The archive's byte order is little-endian (checked per chunk), as is every platform we build for.
  template <class T>
  T Fixed() {
    if (input_.size() - consumed_ < sizeof(T)) throw FormatError("record runs past the end of its chunk");
    T value;
    std::memcpy(&value, input_.data() + consumed_, sizeof(T));
    consumed_ += sizeof(T);
    return value;
  }
  std::string_view ReadBlob() {
    uint64_t size = Fixed<uint64_t>();
    if (size > input_.size() - consumed_) throw FormatError("blob longer than its chunk");
    std::string_view blob = input_.substr(consumed_, size);
    consumed_ += size;
    return blob;
  }

  std::string_view input_;
  size_t consumed_ = 0;
};

}  // namespace

// One zlib inflate state reused for every chunk.
class DumpFileReader::Inflater {
 public:
  ~Inflater() {
    if (initialized_) inflateEnd(&stream_);
  }
  bool Init() {
    initialized_ = inflateInit(&stream_) == Z_OK;
    return initialized_;
  }
  bool Start(std::string_view stored) {
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
  std::string Error(int rc) const {
    if (rc == Z_MEM_ERROR) return "zlib ran out of memory";
    if (rc == Z_NEED_DICT) return "zlib error: it needs a preset dictionary";
    return absl::StrCat("zlib error: ", stream_.msg ? stream_.msg : "invalid data");
  }

 private:
  bool initialized_ = false;
  z_stream stream_{};
  char no_room_ = 0;
};

DumpFileReader::DumpFileReader(std::string path, ReaderLimits limits)
    : path_(std::move(path)), limits_(limits), inflater_(std::make_unique<Inflater>()) {}

DumpFileReader::~DumpFileReader() {
  if (map_ != nullptr) munmap(const_cast<char*>(map_), size_);
}

absl::StatusOr<std::unique_ptr<DumpFileReader>> DumpFileReader::Open(const std::string& path, ReaderLimits limits) {
  int fd;
  do {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int error_number = errno;
    if (error_number == ENOENT) return absl::NotFoundError(absl::StrCat("no such file: ", path));
    return ErrnoStatus(error_number, absl::StrCat("cannot read ", path, ": ", std::strerror(error_number)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a pyheapdump file (not a regular file)"));
  }
  auto size = static_cast<uint64_t>(st.st_size);
  if (size < kPreambleSize) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a pyheapdump file (only ", size, " bytes long)"));
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int error_number = errno;
  close(fd);  // the mapping keeps the file open
  if (map == MAP_FAILED) {
    return ErrnoStatus(error_number, absl::StrCat("cannot map ", path, ": ", std::strerror(error_number)));
  }
  std::unique_ptr<DumpFileReader> reader(new DumpFileReader(path, limits));
  reader->map_ = static_cast<const char*>(map);
  reader->size_ = size;

  if (std::memcmp(reader->map_, kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a pyheapdump file (it does not start with the PYHEAPDUMP magic)"));
  }
  reader->major_ = LoadLE16(reader->map_ + 12);
  reader->minor_ = LoadLE16(reader->map_ + 14);
  if (reader->major_ != kFormatMajor) {
    return absl::FailedPreconditionError(
        absl::StrFormat("this dump is format %d.%d; this pyheapdump reads %d.x: "
                        "upgrade pyheapdump",
                        reader->major_, reader->minor_, kFormatMajor));
  }
  if (!reader->inflater_->Init()) return OutOfMemoryError("zlib could not allocate an inflate state");
  return reader;
}

std::string_view DumpFileReader::Bytes(uint64_t offset, uint64_t size) const {
  return std::string_view(map_ + offset, size);
}

DumpFileReader::Header DumpFileReader::HeaderAt(uint64_t offset) const {
  const char* p = map_ + offset;
  return Header{LoadLE32(p), LoadLE32(p + 4), LoadLE32(p + 8), LoadLE32(p + 12)};
}

std::string DumpFileReader::CheckChunkAt(uint64_t offset, uint64_t end) const {
  if (end < offset || end - offset < kChunkHeaderSize) return "its header is cut off";
  Header h = HeaderAt(offset);
  if (h.stored_size > kMaxChunkSize) {
    return absl::StrFormat("it declares %d stored bytes, over the format's limit of %d", h.stored_size, kMaxChunkSize);
  }
  if (h.raw_size > kMaxChunkSize) {
    return absl::StrFormat("it declares a raw size of %d bytes, over the format's limit of %d", h.raw_size,
                           kMaxChunkSize);
  }
  if (h.raw_size > static_cast<uint64_t>(h.stored_size) * kMaxDeflateRatio) {
    return absl::StrFormat("it declares a raw size of %d bytes, more than zlib can make of %d stored bytes", h.raw_size,
                           h.stored_size);
  }
  if (h.stored_size > end - offset - kChunkHeaderSize) {
    return absl::StrFormat("it needs bytes up to %d, past the end of the file",
                           offset + kChunkHeaderSize + h.stored_size);
  }
  std::string_view stored = Bytes(offset + kChunkHeaderSize, h.stored_size);
  auto crc =
      static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(stored.data()), static_cast<uInt>(stored.size())));
  if (crc != h.crc) return absl::StrFormat("crc32 mismatch: header says %08x, data has %08x", h.crc, crc);
  return {};
}

bool DumpFileReader::IsFooterAt(uint64_t offset) const {
  if (size_ < offset || size_ - offset < kFooterSize) return false;
  if (std::memcmp(map_ + offset + 16, kFooterMagic, sizeof(kFooterMagic)) != 0) return false;
  uint64_t summary_offset = LoadLE64(map_ + offset);
  return summary_offset >= kPreambleSize && summary_offset < offset;
}

uint64_t DumpFileReader::FindNextChunk(uint64_t from) const {
  for (uint64_t q = from; q < size_; ++q) {
    if (IsFooterAt(q)) return q;
    if (size_ - q < kChunkHeaderSize + 2) continue;
    // Cheap tests first: most offsets fail on the kind's three zero high bytes.
    const char* p = map_ + q;
    if (p[1] != 0 || p[2] != 0 || p[3] != 0 || p[0] == 0) continue;
    Header h = HeaderAt(q);
    if (h.kind > kMaxResyncKind || h.stored_size < 2 || h.stored_size > size_ - q - kChunkHeaderSize) continue;
    if (!LooksLikeZlibStream(p + kChunkHeaderSize)) continue;
    if (CheckChunkAt(q, size_).empty()) return q;
  }
  return size_;
}

std::string DumpFileReader::Describe(size_t index) const {
  const ChunkInfo& c = chunks_[index];
  return absl::StrFormat("chunk #%d (%s) at offset %d", index, KindName(static_cast<uint32_t>(c.kind)), c.offset);
}

void DumpFileReader::Warn(std::string message) { warnings_.push_back(std::move(message)); }

const std::vector<ChunkInfo>& DumpFileReader::Chunks() {
  if (!scanned_) Scan();
  return chunks_;
}

void DumpFileReader::Scan() {
  scanned_ = true;
  uint64_t p = kPreambleSize;
  while (true) {
    if (p == size_) {
      Warn(absl::StrFormat("the file is truncated at byte %d: it ends without a footer; every chunk before is used",
                           size_));
      break;
    }
    if (IsFooterAt(p)) {
      CheckFooterMatches(p);
      if (size_ - p > kFooterSize) {
        Warn(absl::StrFormat("%d bytes of trailing data after the footer at offset %d are ignored",
                             size_ - p - kFooterSize, p));
      }
      break;
    }
    if (size_ - p == kFooterSize && !LooksLikeChunkHeader(p)) {
      Warn(absl::StrFormat("the footer at offset %d is damaged", p));
      break;
    }
    if (size_ - p < kChunkHeaderSize) {
      Warn(
          absl::StrFormat("the file is truncated at byte %d: it ends inside the header of chunk #%d at offset %d; "
                          "every chunk before it is used",
                          size_, chunks_.size(), p));
      break;
    }
    Header h = HeaderAt(p);
    size_t index = chunks_.size();
    chunks_.push_back(ChunkInfo{static_cast<ChunkKind>(h.kind), p, h.stored_size, h.raw_size, false});
    std::string problem = CheckChunkAt(p, size_);
    if (problem.empty()) {
      chunks_.back().intact = true;
      p += kChunkHeaderSize + h.stored_size;
      continue;
    }
    // The chunk is damaged. Its stored_size is trusted only if the next chunk (or the footer) is where it says.
    bool sizes_sane = h.stored_size <= kMaxChunkSize && h.stored_size <= size_ - p - kChunkHeaderSize;
    uint64_t next = p + kChunkHeaderSize + h.stored_size;
    if (sizes_sane && (next == size_ || IsFooterAt(next) || CheckChunkAt(next, size_).empty())) {
      Warn(absl::StrCat(Describe(index), " is damaged (", problem, "): skipped"));
      p = next;
      continue;
    }
    uint64_t found = FindNextChunk(p + 1);
    if (found < size_) {
      Warn(absl::StrCat(Describe(index), " is damaged (", problem, "): skipped to the next intact chunk, at offset ",
                        found));
      p = found;
      continue;
    }
    // Nothing intact follows: the file was cut short here (or ends in garbage, which the same words describe).
    Warn(
        absl::StrFormat("the file is truncated at byte %d: %s is cut short or damaged (%s); every chunk before it "
                        "is used",
                        size_, Describe(index), problem));
    break;
  }
  CheckChunkKinds();
  decode_warned_.assign(chunks_.size(), false);
}

bool DumpFileReader::LooksLikeChunkHeader(uint64_t offset) const {
  if (size_ < offset || size_ - offset < kChunkHeaderSize) return false;
  Header h = HeaderAt(offset);
  // 8 bytes is the shortest zlib stream.
  return h.kind >= 1 && h.kind <= kMaxResyncKind && h.stored_size >= 8 && h.stored_size <= kMaxChunkSize &&
         h.raw_size <= kMaxChunkSize;
}

void DumpFileReader::CheckFooterMatches(uint64_t footer) {
  uint64_t summary_offset = LoadLE64(map_ + footer);
  uint64_t count = LoadLE64(map_ + footer + 8);
  bool summary_last = !chunks_.empty() && chunks_.back().kind == ChunkKind::kSummary;
  if (count == chunks_.size() && summary_last && chunks_.back().offset == summary_offset) return;
  Warn(
      absl::StrFormat("the footer at offset %d does not match the file: it counts %d chunks with the summary at "
                      "offset %d, the file has %d chunks%s",
                      footer, count, summary_offset, chunks_.size(),
                      summary_last ? absl::StrCat(", the last a summary at offset ", chunks_.back().offset)
                                   : std::string(", the last not a summary")));
}

// A bit flip in a chunk's kind is not covered by its crc; catch the flips that make the file inconsistent.
void DumpFileReader::CheckChunkKinds() {
  for (size_t i = 0; i < chunks_.size(); ++i) {
    const ChunkInfo& c = chunks_[i];
    if (!c.intact) continue;
    switch (c.kind) {
      case ChunkKind::kHeader:
        if (i != 0) Warn(absl::StrCat(Describe(i), ": a second HEADER chunk (damaged kind?): ignored"));
        break;
      case ChunkKind::kSummary:
        if (i + 1 != chunks_.size()) {
          Warn(absl::StrCat(Describe(i), ": a SUMMARY chunk before the last chunk (damaged kind?): ignored"));
        }
        break;
      case ChunkKind::kRecords:
      case ChunkKind::kSources:
        break;
      default:
        // Newer minor versions may add chunk kinds; a file of a version we know cannot hold one.
        if (minor_ <= kFormatMinor) {
          Warn(absl::StrFormat("%s: unknown chunk kind in a format %d.%d file (damaged kind?): skipped", Describe(i),
                               major_, minor_));
        }
    }
  }
}

absl::Status DumpFileReader::CheckDeclaredTotal() {
  uint64_t total = 0;
  for (const ChunkInfo& c : Chunks()) {
    if (c.intact) total += c.raw_size;
  }
  if (total > limits_.max_total_raw) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s declares %d bytes of decompressed data, over this reader's limit of %d bytes", path_, total,
                        limits_.max_total_raw));
  }
  return absl::OkStatus();
}

bool DumpFileReader::GrowRaw(size_t capacity, size_t keep) {
  if (capacity <= raw_capacity_) return true;
  std::unique_ptr<char[]> bigger(new (std::nothrow) char[capacity]);
  if (!bigger) return false;
  if (keep > 0) std::memcpy(bigger.get(), raw_.get(), keep);
  raw_ = std::move(bigger);
  raw_capacity_ = capacity;
  return true;
}

std::string DumpFileReader::Inflate(const ChunkInfo& chunk) {
  raw_size_ = 0;
  const size_t declared = chunk.raw_size;  // checked against kMaxChunkSize and the deflate ratio by the scan
  if (!inflater_->Start(Bytes(chunk.offset + kChunkHeaderSize, chunk.stored_size))) {
    return "zlib could not reset its inflate state";
  }
  // The buffer grows with the output that actually arrives (never past the declared size), so a header that lies
  // about its raw size costs no more memory than its data really decompresses to.
  size_t produced = 0;
  if (!GrowRaw(std::min(declared, std::max<size_t>(chunk.stored_size, 64 << 10)), 0)) {
    return absl::StrFormat("no memory to decompress its %d raw bytes", declared);
  }
  while (true) {
    size_t limit = std::min(raw_capacity_, declared);
    int rc = inflater_->Run(raw_.get() + produced, limit - produced, &produced);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return inflater_->Error(rc);
    if (produced < limit) return "its zlib stream ends early";  // zlib stopped with room left: no input left
    if (produced == declared) {
      // Full: the stream must now end without one more byte.
      char extra;
      size_t more = 0;
      rc = inflater_->Run(&extra, 1, &more);
      if (more > 0) return absl::StrFormat("it decompresses to more than its declared raw size %d", declared);
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK && rc != Z_BUF_ERROR) return inflater_->Error(rc);
      return "its zlib stream ends early";
    }
    if (!GrowRaw(std::min(declared, 2 * raw_capacity_), produced)) {
      return absl::StrFormat("no memory to decompress its %d raw bytes", declared);
    }
  }
  if (produced != declared) {
    return absl::StrFormat("it decompresses to %d bytes, not its declared raw size %d", produced, declared);
  }
  if (inflater_->input_left() != 0) {
    return absl::StrFormat("%d bytes of garbage follow its zlib stream", inflater_->input_left());
  }
  raw_size_ = produced;
  return {};
}

absl::StatusOr<std::string> DumpFileReader::ReadJsonChunk(uint64_t offset, ChunkKind kind, uint64_t end) {
  std::string what = absl::StrCat("the ", KindName(static_cast<uint32_t>(kind)), " chunk at offset ", offset);
  if (std::string problem = CheckChunkAt(offset, end); !problem.empty()) {
    return absl::DataLossError(absl::StrCat(what, " of ", path_, " is damaged: ", problem));
  }
  Header h = HeaderAt(offset);
  if (h.kind != static_cast<uint32_t>(kind)) {
    return absl::DataLossError(absl::StrCat("the chunk at offset ", offset, " of ", path_, " is a ", KindName(h.kind),
                                            " chunk, not the ", KindName(static_cast<uint32_t>(kind))));
  }
  if (std::string problem = Inflate(ChunkInfo{kind, offset, h.stored_size, h.raw_size, true}); !problem.empty()) {
    return absl::DataLossError(absl::StrCat(what, " of ", path_, " is damaged: ", problem));
  }
  return raw_size_ > 0 ? std::string(raw_.get(), raw_size_) : std::string();
}

absl::StatusOr<std::string> DumpFileReader::ReadHeaderJson() {
  return ReadJsonChunk(kPreambleSize, ChunkKind::kHeader, size_);
}

absl::StatusOr<std::string> DumpFileReader::ReadSummaryJson() {
  std::string why;
  uint64_t footer = size_ >= kPreambleSize + kFooterSize ? size_ - kFooterSize : 0;
  if (footer != 0 && std::memcmp(map_ + footer + 16, kFooterMagic, sizeof(kFooterMagic)) == 0) {
    uint64_t offset = LoadLE64(map_ + footer);
    if (offset >= kPreambleSize && offset < footer) {
      absl::StatusOr<std::string> json = ReadJsonChunk(offset, ChunkKind::kSummary, footer);
      if (json.ok()) return json;
      why = std::string(json.status().message());
    } else {
      why = absl::StrFormat("the footer points at offset %d, outside the chunks", offset);
    }
  } else {
    why = "the file does not end with a footer";
  }
  const std::vector<ChunkInfo>& chunks = Chunks();
  for (size_t i = chunks.size(); i-- > 0;) {
    if (!chunks[i].intact || chunks[i].kind != ChunkKind::kSummary) continue;
    absl::StatusOr<std::string> json = ReadJsonChunk(chunks[i].offset, ChunkKind::kSummary, size_);
    if (!json.ok()) continue;
    if (!summary_warned_) {
      summary_warned_ = true;
      Warn(absl::StrCat("the summary was found by scanning the file: ", why));
    }
    return json;
  }
  return absl::DataLossError(
      absl::StrCat(path_, " has no intact summary (", why,
                   "): the dump was cut short or damaged; its intact records can still be read"));
}

template <class Decode, class DecodeCompact, class Deliver>
absl::Status DumpFileReader::ForEachInChunks(ChunkKind kind, const char* what, Decode&& decode,
                                             DecodeCompact&& decode_compact, Deliver&& deliver) {
  if (absl::Status status = CheckDeclaredTotal(); !status.ok()) return status;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    const ChunkInfo& chunk = chunks_[i];
    if (!chunk.intact || chunk.kind != kind) continue;
    if (only_chunks_ && (i >= only_chunks_->size() || !(*only_chunks_)[i])) continue;
    current_chunk_ = i;
    auto warn_once = [&](const std::string& message) {
      if (decode_warned_[i]) return;
      decode_warned_[i] = true;
      Warn(absl::StrCat(Describe(i), ": ", message));
    };
    if (std::string problem = Inflate(chunk); !problem.empty()) {
      warn_once(absl::StrCat("damaged (", problem, "): skipped"));
      continue;
    }
    auto report = [&](uint64_t decoded, const std::string& error) {
      warn_once(absl::StrFormat(
          "%s %d of the chunk does not decode (%s): kept the %d %ss before it, skipped the rest of the chunk", what,
          decoded + 1, error, decoded, what));
    };
    // The first byte says the layout: a cereal archive (its endianness marker: 1, little-endian), or, for RECORDS
    // chunks since format 1.1, compact records.
    uint8_t marker = raw_size_ == 0 ? 0 : static_cast<uint8_t>(raw_[0]);
    if constexpr (!std::is_same_v<std::decay_t<DecodeCompact>, std::nullptr_t>) {
      if (marker == kRecordsCompact) {
        Cursor cursor(std::string_view(raw_.get() + 1, raw_size_ - 1));
        uint64_t decoded = 0;
        uint64_t previous_id = 0;  // compact records store their id after the previous one's
        while (!cursor.AtEnd()) {
          std::optional<decltype(decode_compact(cursor, previous_id))> item;
          std::string error;
          try {
            item.emplace(decode_compact(cursor, previous_id));
          } catch (const FormatError& e) {
            error = e.what();
          } catch (const std::bad_alloc&) {
            return OutOfMemoryError(absl::StrCat("out of memory while reading ", Describe(i), " of ", path_));
          }
          if (!item) {
            report(decoded, error);
            break;
          }
          ++decoded;
          if (absl::Status status = deliver(std::move(*item)); !status.ok()) return status;
        }
        continue;
      }
    }
    if (marker != kRecordsCereal) {
      warn_once("damaged (it does not start with the little-endian marker): skipped");
      continue;
    }
    ViewStreambuf buffer(raw_.get(), raw_size_);
    std::istream stream(&buffer);
    RecordInputArchive archive(stream);
    uint64_t decoded = 0;
    while (buffer.in_avail() > 0) {
      std::optional<decltype(decode(archive, buffer))> item;
      std::string error;
      try {
        item.emplace(decode(archive, buffer));
      } catch (const FormatError& e) {
        error = e.what();
      } catch (const cereal::Exception& e) {
        error = e.what();
      } catch (const std::bad_alloc&) {
        return OutOfMemoryError(absl::StrCat("out of memory while reading ", Describe(i), " of ", path_));
      }
      if (!item) {
        report(decoded, error);
        break;
      }
      ++decoded;
      if (absl::Status status = deliver(std::move(*item)); !status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

absl::Status DumpFileReader::ForEachStoredRecord(const std::function<absl::Status(const StoredRecord&)>& on_record) {
  return ForEachInChunks(
      ChunkKind::kRecords, "record",
      [](RecordInputArchive&, ViewStreambuf& buffer) {
        RecordParser parser(buffer.Unread());
        StoredRecord record = parser.Parse();
        buffer.Consume(parser.consumed());
        return record;
      },
      [](Cursor& cursor, uint64_t& previous_id) {
        StoredRecord record = LoadCompactRecordView(cursor, previous_id);
        previous_id = record.id;
        return record;
      },
      [&](StoredRecord&& record) { return on_record(record); });
}

absl::Status DumpFileReader::ForEachRecord(const std::function<absl::Status(Record&&)>& on_record) {
  return ForEachStoredRecord([&](const StoredRecord& record) { return on_record(record.Copy()); });
}

absl::Status DumpFileReader::ForEachRecordIn(const std::vector<size_t>& chunks,
                                             const std::function<absl::Status(Record&&)>& on_record) {
  std::vector<bool> selected(Chunks().size(), false);
  for (size_t chunk : chunks) {
    if (chunk < selected.size()) selected[chunk] = true;
  }
  only_chunks_ = &selected;
  absl::Status status = ForEachRecord(on_record);
  only_chunks_ = nullptr;
  return status;
}

absl::Status DumpFileReader::ForEachSource(
    const std::function<absl::Status(std::string&& filename, std::string&& text)>& on_source) {
  return ForEachInChunks(
      ChunkKind::kSources, "source",
      [](RecordInputArchive& archive, ViewStreambuf&) {
        Blob filename, text;
        archive(filename, text);
        return std::make_pair(std::move(filename.bytes), std::move(text.bytes));
      },
      nullptr,
      [&](std::pair<std::string, std::string>&& source) {
        return on_source(std::move(source.first), std::move(source.second));
      });
}

}  // namespace pyheapdump
