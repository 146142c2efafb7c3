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

DumpFileReader::DumpFileReader(std::string path, ReaderLimits limits) : path_(std::move(path)), limits_(limits) {}

DumpFileReader::~DumpFileReader() {
  if (map_ != nullptr) munmap(const_cast<char*>(map_), size_);
}

void DumpFileReader::ReleaseResidentPages() {
  // Read-only and private: dropping the pages loses nothing, the next access reads them from the file again.
  if (map_ != nullptr) madvise(const_cast<char*>(map_), size_, MADV_DONTNEED);
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

std::string_view DumpFileReader::StoredBytes(const ChunkInfo& chunk) const {
  return Bytes(chunk.offset + kChunkHeaderSize, chunk.stored_size);
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
  absl::Status inflated =
      inflated_->Inflate(StoredBytes(ChunkInfo{kind, offset, h.stored_size, h.raw_size, true}), h.raw_size);
  if (IsOutOfMemory(inflated)) return inflated;
  if (!inflated.ok())
    return absl::DataLossError(absl::StrCat(what, " of ", path_, " is damaged: ", inflated.message()));
  return std::string(inflated_->bytes());
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
  std::vector<size_t> selected;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    const ChunkInfo& chunk = chunks_[i];
    if (!chunk.intact || chunk.kind != kind) continue;
    if (only_chunks_ && (i >= only_chunks_->size() || !(*only_chunks_)[i])) continue;
    selected.push_back(i);
  }
  // The buffers' room goes when this returns, however it returns: declared before `ahead`, whose destructor lets a
  // job finish first.
  struct ReleaseRoomOnReturn {
    InflatedChunk& a;
    InflatedChunk& b;
    ~ReleaseRoomOnReturn() {
      a.ReleaseRoom();
      b.ReleaseRoom();
    }
  } release_room{*inflated_, *inflated_ahead_};
  // Chunk n + 1 inflates on a background thread while chunk n is decoded and delivered: the two buffers swap roles
  // each step. `ahead` is declared after the buffers it fills, so its destructor lets a job finish before they go.
  ChunkReadAhead ahead;
  absl::Status next_inflated;
  if (!selected.empty())
    next_inflated = inflated_ahead_->Inflate(StoredBytes(chunks_[selected[0]]), chunks_[selected[0]].raw_size);
  for (size_t n = 0; n < selected.size(); ++n) {
    size_t i = selected[n];
    current_chunk_ = i;
    std::swap(inflated_, inflated_ahead_);  // the chunk just inflated becomes the one decoded
    absl::Status inflated = std::move(next_inflated);
    if (n + 1 < selected.size()) {
      const ChunkInfo& next = chunks_[selected[n + 1]];
      ahead.Start(StoredBytes(next), next.raw_size, inflated_ahead_.get());
    }
    // Waits for the read-ahead at the end of every step, however the step ends.
    struct WaitForAhead {
      ChunkReadAhead& ahead;
      absl::Status& result;
      bool started;
      ~WaitForAhead() {
        if (started) result = ahead.Wait();
      }
    } wait_for_ahead{ahead, next_inflated, n + 1 < selected.size()};
    auto warn_once = [&](const std::string& message) {
      if (decode_warned_[i]) return;
      decode_warned_[i] = true;
      Warn(absl::StrCat(Describe(i), ": ", message));
    };
    if (IsOutOfMemory(inflated)) {
      return OutOfMemoryError(absl::StrCat(inflated.message(), " while reading ", Describe(i), " of ", path_));
    }
    if (!inflated.ok()) {
      warn_once(absl::StrCat("damaged (", inflated.message(), "): skipped"));
      continue;
    }
    std::string_view raw = inflated_->bytes();
    auto report = [&](uint64_t decoded, const std::string& error) {
      warn_once(absl::StrFormat(
          "%s %d of the chunk does not decode (%s): kept the %d %ss before it, skipped the rest of the chunk", what,
          decoded + 1, error, decoded, what));
    };
    // The first byte says the layout: a cereal archive (its endianness marker: 1, little-endian), or, for RECORDS
    // chunks since format 1.1, compact records.
    uint8_t marker = raw.empty() ? 0 : static_cast<uint8_t>(raw[0]);
    if constexpr (!std::is_same_v<std::decay_t<DecodeCompact>, std::nullptr_t>) {
      if (marker == kRecordsCompact) {
        Cursor cursor(raw.substr(1));
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
    ViewStreambuf buffer(raw.data(), raw.size());
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
