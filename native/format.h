// The .heapdump format: constants, the value encoding and the record (docs/format.md is the spec).
// One file of ~550 lines on purpose: it is the format's whole vocabulary in code, read beside docs/format.md.
// Plain C++: no Python, so the writer, the reader and their tests need no interpreter.
#pragma once

#include <algorithm>
#include <cereal/archives/portable_binary.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <istream>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pyheapdump {

inline constexpr char kMagic[12] = {'P', 'Y', 'H', 'E', 'A', 'P', 'D', 'U', 'M', 'P', '\0', '\0'};
inline constexpr char kFooterMagic[8] = {'P', 'H', 'D', 'E', 'N', 'D', '\0', '\0'};
inline constexpr uint16_t kFormatMajor = 1;
inline constexpr uint16_t kFormatMinor = 4;
inline constexpr size_t kPreambleSize = 16;
inline constexpr size_t kChunkHeaderSize = 16;
inline constexpr size_t kFooterSize = 24;
inline constexpr uint32_t kMaxChunkSize = 64u << 20;  // stored and raw, each
inline constexpr size_t kTargetChunkRaw = 1u << 20;   // the writer starts a new chunk past this

// The first raw byte of a RECORDS chunk says how its records are laid out. 1.0 wrote cereal's portable binary archive
// (whose endianness marker is 1, little-endian); 1.1 writes compact records (varints instead of fixed-width fields),
// which are a third the size for small objects, so deflate has a third the bytes to compress. Readers read both.
inline constexpr uint8_t kRecordsCereal = 1;
inline constexpr uint8_t kRecordsCompact = 2;

enum class ChunkKind : uint32_t { kHeader = 1, kRecords = 2, kSources = 3, kSummary = 4 };

enum class Kind : uint8_t {
  kRoot = 1,
  kBigInt = 2,
  kComplex = 3,
  kStr = 4,
  kBytes = 5,
  kByteArray = 6,
  kList = 7,
  kTuple = 8,
  kDict = 9,
  kSet = 10,
  kFrozenSet = 11,
  kDeque = 12,
  kRange = 13,
  kSlice = 14,
  kInstance = 15,
  kReduce = 16,
  kClass = 17,
  kFunction = 18,
  kModule = 19,
  kCode = 20,
  kFrame = 21,
  kTraceback = 22,
  kGenerator = 23,
  kCell = 24,
  kException = 25,
  kCaptured = 26,
  kSurrogate = 27,
  // A reduce that is only a call, callable(*args), written as one record with its arguments inline (format 1.4):
  // where REDUCE needs a TUPLE record of the arguments beside it, a datetime or a Decimal takes one record.
  kCall = 28,
};
inline constexpr uint8_t kMaxKind = 28;

// The container kinds: their items are the elements, and CUT_ITEMS marks the ones holding cut values.
constexpr bool IsContainerKind(Kind kind) {
  switch (kind) {
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kDict:
    case Kind::kSet:
    case Kind::kFrozenSet:
    case Kind::kDeque:
      return true;
    default:
      return false;
  }
}

enum class ValueTag : uint8_t {
  kRef = 0,
  kNone = 1,
  kFalse = 2,
  kTrue = 3,
  kInt = 4,
  kFloat = 5,
  kEllipsis = 6,
  kNotImplemented = 7,
  kCut = 8,
};
inline constexpr uint8_t kMaxValueTag = 8;

enum class CutReason : uint8_t {
  kMaxObjects = 1,
  kMaxBytes = 2,
  kTimeLimit = 3,
  kMaxItems = 4,
  kUnreadable = 5,
};

enum RecordFlags : uint32_t {
  kFlagTruncated = 1u << 0,
  kFlagCaptureError = 1u << 1,
  // A container some of whose items are cut values (a walk-wide limit left them out): loaders mark it (format 1.2).
  kFlagCutItems = 1u << 2,
  // An object queued before a walk-wide stop (time_limit, max_bytes) and written as its class and the reason alone
  // (format 1.3): loaders make it a placeholder, and mark the containers that reference it as they mark CUT_ITEMS.
  kFlagCutRecord = 1u << 3,
};

// Thrown by the decoding helpers when input is malformed; the reader turns it into a damaged-chunk warning.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A growable byte buffer whose appends are inlined (std::string's go through an out-of-line _M_append, which cost the
// walker more than the bytes it copies). The walker builds each record's values in two of these.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ~ByteBuffer() { std::free(data_); }

  size_t size() const { return size_; }
  const char* data() const { return data_; }
  std::string_view view() const { return {data_, size_}; }
  void clear() { size_ = 0; }

  void push_back(char c) {
    if (size_ == capacity_) Grow(1);
    data_[size_++] = c;
  }
  void append(const char* bytes, size_t n) {
    if (capacity_ - size_ < n) Grow(n);
    if (n) std::memcpy(data_ + size_, bytes, n);
    size_ += n;
  }
  void append(std::string_view bytes) { append(bytes.data(), bytes.size()); }
  // Room for n more bytes at the end: write up to n bytes there, then Commit(the end of what was written).
  char* Room(size_t n) {
    if (capacity_ - size_ < n) Grow(n);
    return data_ + size_;
  }
  void Commit(const char* end) { size_ = static_cast<size_t>(end - data_); }

 private:
  void Grow(size_t n) {
    size_t capacity = std::max<size_t>({capacity_ * 2, size_ + n, 256});
    char* grown = static_cast<char*>(std::realloc(data_, capacity));
    if (!grown) throw std::bad_alloc();
    data_ = grown;
    capacity_ = capacity;
  }

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// ---- varints and values: appended to a std::string or a ByteBuffer, read from a string_view cursor ----

template <class Out>
void PutVarint(Out& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes v at out, returns the byte after it (the caller has made room: VarintSize(v) bytes).
inline char* StoreVarint(char* out, uint64_t v) {
  while (v >= 0x80) {
    *out++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<char>(v);
  return out;
}

inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

template <class Out>
void PutTag(Out& out, ValueTag tag) {
  out.push_back(static_cast<char>(tag));
}
// A tag and a varint, appended at once.
inline void PutTagged(std::string& out, ValueTag tag, uint64_t v) {
  char bytes[11];
  bytes[0] = static_cast<char>(tag);
  char* end = StoreVarint(bytes + 1, v);
  out.append(bytes, static_cast<size_t>(end - bytes));
}
inline void PutTagged(ByteBuffer& out, ValueTag tag, uint64_t v) {
  char* bytes = out.Room(11);
  bytes[0] = static_cast<char>(tag);
  out.Commit(StoreVarint(bytes + 1, v));
}
template <class Out>
void PutRef(Out& out, uint64_t id) {
  PutTagged(out, ValueTag::kRef, id);
}
template <class Out>
void PutInt(Out& out, int64_t v) {
  PutTagged(out, ValueTag::kInt, ZigZag(v));
}
template <class Out>
void PutFloat(Out& out, double v) {
  PutTag(out, ValueTag::kFloat);
  char bytes[8];
  std::memcpy(bytes, &v, 8);  // the format is little-endian; so is every platform we build for
  out.append(bytes, 8);
}
template <class Out>
void PutCut(Out& out, CutReason reason, uint64_t class_id) {
  PutTag(out, ValueTag::kCut);
  PutVarint(out, static_cast<uint64_t>(reason));
  PutVarint(out, class_id);
}
template <class Out>
void PutName(Out& out, std::string_view name) {
  PutVarint(out, name.size());
  out.append(name.data(), name.size());
}

// A read position inside one blob; every read is checked against the end.
class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : data_(bytes) {}
  bool AtEnd() const { return pos_ >= data_.size(); }
  size_t Remaining() const { return data_.size() - pos_; }
  const char* Here() const { return data_.data() + pos_; }

  uint8_t Byte() {
    if (pos_ >= data_.size()) throw FormatError("value runs past the end of its record");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  __attribute__((always_inline)) uint64_t Varint() {
    // Most varints of a dump (ids, small ints, lengths) take one to four bytes (ids up to 2^28: a heap of millions
    // of objects): those are read here, inlined into every reader, with one bounds check per byte; longer ones, and
    // malformed ones, in LongVarint.
    size_t left = data_.size() - pos_;
    const auto* p = reinterpret_cast<const uint8_t*>(data_.data()) + pos_;
    if (left >= 1 && p[0] < 0x80) {
      pos_ += 1;
      return p[0];
    }
    if (left >= 2 && p[1] < 0x80) {  // p[0] has its continuation bit
      pos_ += 2;
      return (p[0] & 0x7fu) | (static_cast<uint64_t>(p[1]) << 7);
    }
    if (left >= 3 && p[2] < 0x80) {
      pos_ += 3;
      return (p[0] & 0x7fu) | (static_cast<uint64_t>(p[1] & 0x7f) << 7) | (static_cast<uint64_t>(p[2]) << 14);
    }
    if (left >= 4 && p[3] < 0x80) {
      pos_ += 4;
      return (p[0] & 0x7fu) | (static_cast<uint64_t>(p[1] & 0x7f) << 7) | (static_cast<uint64_t>(p[2] & 0x7f) << 14) |
             (static_cast<uint64_t>(p[3]) << 21);
    }
    return LongVarint();
  }
  double Float() {
    if (Remaining() < 8) throw FormatError("float runs past the end of its record");
    double v;
    std::memcpy(&v, data_.data() + pos_, 8);
    pos_ += 8;
    return v;
  }
  std::string_view Bytes(uint64_t n) {
    if (n > Remaining()) throw FormatError("length runs past the end of its record");
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  // A count of things that each take at least one byte can never exceed the bytes left.
  uint64_t Count() {
    uint64_t n = Varint();
    if (n > Remaining()) throw FormatError("count larger than the record");
    return n;
  }

 private:
  __attribute__((noinline)) uint64_t LongVarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = Byte();
      // The tenth byte holds only bit 63: anything more would be silently dropped by the shift.
      if (shift == 63 && b > 1) throw FormatError("varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw FormatError("varint longer than 10 bytes");
  }

  std::string_view data_;
  size_t pos_ = 0;
};

// A length-prefixed byte string inside a record. Loading checks the length against what the input stream holds
// before it allocates, so a hostile length cannot make the reader allocate without bound.
struct Blob {
  std::string bytes;
};

// One object of the dumped program (docs/format.md, "Records").
struct Record {
  uint64_t id = 0;
  Kind kind = Kind::kSurrogate;
  uint64_t type_id = 0;
  uint32_t flags = 0;
  uint64_t size = 0;
  Blob items;  // varint count, then values
  Blob attrs;  // varint count, then (name, value) pairs
  Blob data;   // raw bytes
};

// A record whose blobs view bytes owned elsewhere (a chunk being read, the loader's store of records): reading one
// copies nothing. Valid as long as those bytes are.
struct StoredRecord {
  uint64_t id = 0;
  Kind kind = Kind::kSurrogate;
  uint64_t type_id = 0;
  uint32_t flags = 0;
  uint64_t size = 0;
  std::string_view items;  // varint count, then values
  std::string_view attrs;  // varint count, then (name, value) pairs
  std::string_view data;   // raw bytes
  // Read from compact bytes (LoadCompactRecordView): those bytes from its kind through its attrs blob, checked, which
  // the loader's store copies as they are instead of encoding the fields again. Empty otherwise.
  std::string_view encoded_fields;

  static StoredRecord Of(const Record& r) {
    return {r.id, r.kind, r.type_id, r.flags, r.size, r.items.bytes, r.attrs.bytes, r.data.bytes};
  }
  Record Copy() const {
    Record r;
    r.id = id;
    r.kind = kind;
    r.type_id = type_id;
    r.flags = flags;
    r.size = size;
    r.items.bytes.assign(items.data(), items.size());
    r.attrs.bytes.assign(attrs.data(), attrs.size());
    r.data.bytes.assign(data.data(), data.size());
    return r;
  }
};

// ---- compact records (format 1.1, docs/format.md "Records") ----
// varint id delta | u8 kind | varint type_id | varint flags | varint size | items, attrs, data: each a varint length +
// bytes. The id is stored as ZigZag(id - the previous record's id in the chunk, 0 for the first): the walker writes
// records in id order, so it is one byte where the id itself takes three.

inline uint64_t IdDelta(uint64_t id, uint64_t previous_id) { return ZigZag(static_cast<int64_t>(id - previous_id)); }

// A record as the walker holds it while writing: the items and attrs blobs as a count plus the values after it, and
// every byte in buffers of the caller's, so that it is written without first being gathered into a Record.
struct RecordView {
  uint64_t id = 0;
  Kind kind = Kind::kSurrogate;
  uint64_t type_id = 0;
  uint32_t flags = 0;
  uint64_t size = 0;
  uint64_t item_count = 0;
  std::string_view items;  // item_count values
  uint64_t attr_count = 0;
  std::string_view attrs;  // attr_count (name, value) pairs
  std::string_view data;
};

namespace compact_internal {

inline size_t FieldsSize(uint64_t id_delta, uint64_t type_id, uint32_t flags, uint64_t size) {
  return VarintSize(id_delta) + 1 + VarintSize(type_id) + VarintSize(flags) + VarintSize(size);
}
inline char* StoreFields(char* out, uint64_t id_delta, Kind kind, uint64_t type_id, uint32_t flags, uint64_t size) {
  out = StoreVarint(out, id_delta);
  *out++ = static_cast<char>(static_cast<uint8_t>(kind));
  out = StoreVarint(out, type_id);
  out = StoreVarint(out, flags);
  return StoreVarint(out, size);
}
inline size_t BlobSize(size_t length) { return VarintSize(length) + length; }
inline char* StoreBlob(char* out, std::string_view bytes) {
  out = StoreVarint(out, bytes.size());
  std::memcpy(out, bytes.data(), bytes.size());
  return out + bytes.size();
}
// A blob whose first bytes are the varint `count`, then `values`.
inline size_t CountedBlobSize(uint64_t count, std::string_view values) {
  return BlobSize(VarintSize(count) + values.size());
}
inline char* StoreCountedBlob(char* out, uint64_t count, std::string_view values) {
  out = StoreVarint(out, VarintSize(count) + values.size());
  out = StoreVarint(out, count);
  std::memcpy(out, values.data(), values.size());
  return out + values.size();
}

}  // namespace compact_internal

inline size_t CompactRecordSize(const Record& r, uint64_t previous_id = 0) {
  using namespace compact_internal;
  return FieldsSize(IdDelta(r.id, previous_id), r.type_id, r.flags, r.size) + BlobSize(r.items.bytes.size()) +
         BlobSize(r.attrs.bytes.size()) + BlobSize(r.data.bytes.size());
}

inline size_t CompactRecordSize(const RecordView& r, uint64_t previous_id = 0) {
  using namespace compact_internal;
  return FieldsSize(IdDelta(r.id, previous_id), r.type_id, r.flags, r.size) + CountedBlobSize(r.item_count, r.items) +
         CountedBlobSize(r.attr_count, r.attrs) + BlobSize(r.data.size());
}

// At least CompactRecordSize(r), without measuring a varint: every varint counted at its longest.
inline size_t CompactRecordBound(const Record& r) {
  return 10 + 1 + 10 + 5 + 10 + 3 * 10 + r.items.bytes.size() + r.attrs.bytes.size() + r.data.bytes.size();
}
inline size_t CompactRecordBound(const RecordView& r) {
  return 10 + 1 + 10 + 5 + 10 + 5 * 10 + r.items.size() + r.attrs.size() + r.data.size();
}

// Writes the record at out (CompactRecordSize(r, previous_id) bytes of room), returns the byte after it.
inline char* StoreCompactRecord(char* out, const Record& r, uint64_t previous_id = 0) {
  using namespace compact_internal;
  out = StoreFields(out, IdDelta(r.id, previous_id), r.kind, r.type_id, r.flags, r.size);
  out = StoreBlob(out, r.items.bytes);
  out = StoreBlob(out, r.attrs.bytes);
  return StoreBlob(out, r.data.bytes);
}

inline size_t CompactRecordSize(const StoredRecord& r, uint64_t previous_id = 0) {
  using namespace compact_internal;
  return FieldsSize(IdDelta(r.id, previous_id), r.type_id, r.flags, r.size) + BlobSize(r.items.size()) +
         BlobSize(r.attrs.size()) + BlobSize(r.data.size());
}

inline char* StoreCompactRecord(char* out, const StoredRecord& r, uint64_t previous_id = 0) {
  using namespace compact_internal;
  out = StoreFields(out, IdDelta(r.id, previous_id), r.kind, r.type_id, r.flags, r.size);
  out = StoreBlob(out, r.items);
  out = StoreBlob(out, r.attrs);
  return StoreBlob(out, r.data);
}

// The same bytes as CompactRecordSize/StoreCompactRecord(out, r, previous_id), and `data` as its data blob, for a
// record read from compact bytes: its encoded fields are copied, not encoded again.
inline size_t CompactRecordSizeFromEncoded(const StoredRecord& r, std::string_view data, uint64_t previous_id = 0) {
  using namespace compact_internal;
  return VarintSize(IdDelta(r.id, previous_id)) + r.encoded_fields.size() + BlobSize(data.size());
}
inline char* StoreCompactRecordFromEncoded(char* out, const StoredRecord& r, std::string_view data,
                                           uint64_t previous_id = 0) {
  using namespace compact_internal;
  out = StoreVarint(out, IdDelta(r.id, previous_id));
  std::memcpy(out, r.encoded_fields.data(), r.encoded_fields.size());
  return StoreBlob(out + r.encoded_fields.size(), data);
}

inline char* StoreCompactRecord(char* out, const RecordView& r, uint64_t previous_id = 0) {
  using namespace compact_internal;
  out = StoreFields(out, IdDelta(r.id, previous_id), r.kind, r.type_id, r.flags, r.size);
  out = StoreCountedBlob(out, r.item_count, r.items);
  out = StoreCountedBlob(out, r.attr_count, r.attrs);
  return StoreBlob(out, r.data);
}

// Reads one compact record, its blobs viewing the cursor's bytes; throws FormatError on malformed input (every length
// is checked against the bytes left). previous_id: the id of the chunk's record before this one, 0 for the first.
inline StoredRecord LoadCompactRecordView(Cursor& in, uint64_t previous_id = 0) {
  StoredRecord r;
  r.id = previous_id + static_cast<uint64_t>(UnZigZag(in.Varint()));  // wraps as the writer's subtraction did
  const char* fields = in.Here();
  r.kind = static_cast<Kind>(in.Byte());  // unknown kinds are kept, as in load(Record)
  r.type_id = in.Varint();
  uint64_t flags = in.Varint();
  if (flags > UINT32_MAX) throw FormatError("record flags wider than 32 bits");
  r.flags = static_cast<uint32_t>(flags);
  r.size = in.Varint();
  r.items = in.Bytes(in.Varint());
  r.attrs = in.Bytes(in.Varint());
  r.encoded_fields = std::string_view(fields, static_cast<size_t>(in.Here() - fields));
  r.data = in.Bytes(in.Varint());
  return r;
}

// One varint of bytes this process wrote itself (the loader's store): no bounds check. Advances `at` past it.
inline uint64_t LoadStoredVarint(const char*& at) {
  uint64_t value = 0;
  for (int shift = 0;; shift += 7) {
    auto byte = static_cast<uint8_t>(*at++);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return value;
  }
}

// Reads back a record this process stored with StoreCompactRecord(out, r, previous_id): its bytes are well formed, so
// no read is bounds-checked (RecordStore's lookups; bounds checks were most of their cost).
inline StoredRecord LoadStoredCompactRecord(const char* at, uint64_t previous_id = 0) {
  auto blob = [&at] {
    size_t length = LoadStoredVarint(at);
    std::string_view bytes(at, length);
    at += length;
    return bytes;
  };
  StoredRecord r;
  r.id = previous_id + static_cast<uint64_t>(UnZigZag(LoadStoredVarint(at)));
  r.kind = static_cast<Kind>(static_cast<uint8_t>(*at++));
  r.type_id = LoadStoredVarint(at);
  r.flags = static_cast<uint32_t>(LoadStoredVarint(at));
  r.size = LoadStoredVarint(at);
  r.items = blob();
  r.attrs = blob();
  r.data = blob();
  return r;
}

// The id alone of a record stored as for LoadStoredCompactRecord: its first field.
inline uint64_t LoadStoredCompactRecordId(const char* at, uint64_t previous_id = 0) {
  return previous_id + static_cast<uint64_t>(UnZigZag(LoadStoredVarint(at)));
}

inline Record LoadCompactRecord(Cursor& in, uint64_t previous_id = 0) {
  return LoadCompactRecordView(in, previous_id).Copy();
}

// Bytes left in the stream being read; cereal's portable binary archive has no accessor for it.
inline std::streamsize StreamRemaining(std::istream& in) {
  auto* buf = in.rdbuf();
  return buf ? buf->in_avail() : 0;
}

// The archive used to read records: a portable binary archive that keeps the stream it reads from, so Blob can bound
// lengths. (cereal's UserDataAdapter would do this but is behind CEREAL_FUTURE_EXPERIMENTAL.)
class RecordInputArchive : public cereal::PortableBinaryInputArchive {
 public:
  explicit RecordInputArchive(std::istream& in) : cereal::PortableBinaryInputArchive(in), in_(in) {}
  std::streamsize Remaining() const { return StreamRemaining(in_); }

 private:
  std::istream& in_;
};

template <class Archive>
void save(Archive& ar, const Blob& blob) {
  ar(static_cast<uint64_t>(blob.bytes.size()));
  ar(cereal::binary_data(blob.bytes.data(), blob.bytes.size()));
}

template <class Archive>
void load(Archive& ar, Blob& blob) {
  uint64_t size = 0;
  ar(size);
  // cereal hands every nested load the archive's base type (PortableBinaryInputArchive&), never the derived one the
  // caller constructed, so whether the stream is known can only be asked at run time.
  if (const auto* records = dynamic_cast<const RecordInputArchive*>(&ar)) {
    auto remaining = records->Remaining();
    if (remaining < 0 || size > static_cast<uint64_t>(remaining)) throw FormatError("blob longer than its chunk");
  } else {
    if (size > kMaxChunkSize) throw FormatError("blob longer than a chunk can be");
  }
  blob.bytes.resize(size);
  ar(cereal::binary_data(blob.bytes.data(), size));
}

template <class Archive>
void save(Archive& ar, const Record& r) {
  ar(r.id, static_cast<uint8_t>(r.kind), r.type_id, r.flags, r.size, r.items, r.attrs, r.data);
}

template <class Archive>
void load(Archive& ar, Record& r) {
  uint8_t kind = 0;
  ar(r.id, kind, r.type_id, r.flags, r.size, r.items, r.attrs, r.data);
  // Unknown kinds are kept (a newer minor version may add kinds); the loader makes them surrogates.
  r.kind = static_cast<Kind>(kind);
}

// ---- format 1.1: the compact record, as cereal serializes it ----
//
// A 1.1 record is the cereal (portable binary) serialization of CompactRecord below. The writer and the reader do not
// run cereal per record: StoreCompactRecord and LoadCompactRecord write and read the very same bytes straight from
// the chunk buffer, which tests/cpp/test_format.cc checks against cereal's archives byte for byte.

// An unsigned integer as a LEB128 varint (Cursor::Varint's encoding).
struct VarintField {
  uint64_t value = 0;
};

template <class Archive>
void save(Archive& ar, const VarintField& field) {
  char bytes[10];
  size_t length = 0;
  uint64_t v = field.value;
  while (v >= 0x80) {
    bytes[length++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  bytes[length++] = static_cast<char>(v);
  ar(cereal::binary_data(bytes, length));
}

template <class Archive>
void load(Archive& ar, VarintField& field) {
  field.value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t byte = 0;
    ar(cereal::binary_data(&byte, 1));
    if (shift == 63 && byte > 1) throw FormatError("varint overflows 64 bits");
    field.value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return;
  }
  throw FormatError("varint longer than 10 bytes");
}

// A blob of the compact layout: a varint length, then the bytes.
struct CompactBlob {
  std::string* bytes;
};

template <class Archive>
void save(Archive& ar, const CompactBlob& blob) {
  ar(VarintField{blob.bytes->size()});
  ar(cereal::binary_data(blob.bytes->data(), blob.bytes->size()));
}

template <class Archive>
void load(Archive& ar, CompactBlob& blob) {
  VarintField size;
  ar(size);
  if (const auto* records = dynamic_cast<const RecordInputArchive*>(&ar)) {
    auto remaining = records->Remaining();
    if (remaining < 0 || size.value > static_cast<uint64_t>(remaining)) throw FormatError("blob longer than its chunk");
  } else if (size.value > kMaxChunkSize) {
    throw FormatError("blob longer than a chunk can be");
  }
  blob.bytes->resize(size.value);
  ar(cereal::binary_data(blob.bytes->data(), size.value));
}

// One record with the id of the record before it in its chunk (0 for the first): the id is stored as the ZigZag
// difference, so a chunk's consecutive ids take one byte each.
struct CompactRecord {
  Record record;
  uint64_t previous_id = 0;
};

template <class Archive>
void save(Archive& ar, const CompactRecord& compact) {
  Record& r = const_cast<Record&>(compact.record);  // CompactBlob points at the bytes; saving only reads them
  ar(VarintField{IdDelta(r.id, compact.previous_id)}, static_cast<uint8_t>(r.kind), VarintField{r.type_id},
     VarintField{r.flags}, VarintField{r.size}, CompactBlob{&r.items.bytes}, CompactBlob{&r.attrs.bytes},
     CompactBlob{&r.data.bytes});
}

template <class Archive>
void load(Archive& ar, CompactRecord& compact) {
  Record& r = compact.record;
  VarintField id_delta, type_id, flags, size;
  uint8_t kind = 0;
  CompactBlob items{&r.items.bytes}, attrs{&r.attrs.bytes}, data{&r.data.bytes};
  ar(id_delta, kind, type_id, flags, size, items, attrs, data);
  r.id = compact.previous_id + static_cast<uint64_t>(UnZigZag(id_delta.value));
  r.kind = static_cast<Kind>(kind);
  r.type_id = type_id.value;
  if (flags.value > UINT32_MAX) throw FormatError("record flags wider than 32 bits");
  r.flags = static_cast<uint32_t>(flags.value);
  r.size = size.value;
}

}  // namespace pyheapdump
