// The value encoding and the record serialization of native/format.h (docs/format.md, "Records" and "Values").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "format.h"

namespace pyheapdump {
namespace {

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    static const char kDigits[] = "0123456789abcdef";
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

TEST(Varint, RoundTripsBoundaryValuesInTheFewestLeb128Bytes) {
  struct Case {
    uint64_t value;
    size_t bytes;
  };
  const std::vector<Case> cases = {
      {0, 1},
      {1, 1},
      {127, 1},
      {128, 2},
      {16383, 2},
      {16384, 3},
      {(1ull << 21) - 1, 3},
      {1ull << 21, 4},  // ids of a heap of millions of objects: the four-byte fast path
      {(1ull << 28) - 1, 4},
      {1ull << 28, 5},
      {1ull << 32, 5},
      {(1ull << 63) - 1, 9},
      {1ull << 63, 10},
      {std::numeric_limits<uint64_t>::max(), 10},
  };
  for (const Case& c : cases) {
    std::string out;
    PutVarint(out, c.value);
    EXPECT_EQ(out.size(), c.bytes) << c.value;
    Cursor cursor(out);
    EXPECT_EQ(cursor.Varint(), c.value);
    EXPECT_TRUE(cursor.AtEnd());
  }
}

TEST(Varint, IsLowSevenBitsFirstWithContinuationBit) {
  std::string out;
  PutVarint(out, 300);  // 300 = 0b10_0101100
  EXPECT_EQ(Hex(out), "ac02");
}

TEST(Varint, CutShortThrowsFormatError) {
  std::string out;
  PutVarint(out, 1ull << 40);
  out.pop_back();  // the last byte is the only one without the continuation bit
  Cursor cursor(out);
  EXPECT_THROW(cursor.Varint(), FormatError);
}

TEST(Varint, EachFastPathLengthCutShortThrowsFormatError) {
  for (uint64_t value : {1ull << 7, 1ull << 14, 1ull << 21}) {  // two, three and four bytes
    std::string out;
    PutVarint(out, value);
    out.pop_back();
    Cursor cursor(out);
    EXPECT_THROW(cursor.Varint(), FormatError) << value;
  }
}

TEST(Varint, ElevenBytesAreRefused) {
  std::string out(10, '\x80');
  out.push_back('\x01');
  Cursor cursor(out);
  EXPECT_THROW(cursor.Varint(), FormatError);
}

TEST(Varint, TenthByteBeyondBit63IsRefusedNotTruncated) {
  std::string out(9, '\xff');
  out.push_back('\x02');  // would be bit 64
  Cursor cursor(out);
  EXPECT_THROW(cursor.Varint(), FormatError);
}

TEST(ZigZag, RoundTripsExtremesAndKeepsSmallMagnitudesSmall) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{63}, int64_t{-64}, int64_t{1} << 40,
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(UnZigZag(ZigZag(v)), v);
  }
  EXPECT_EQ(ZigZag(0), 0u);
  EXPECT_EQ(ZigZag(-1), 1u);
  EXPECT_EQ(ZigZag(1), 2u);
  EXPECT_EQ(ZigZag(-64), 127u);  // still one varint byte
  EXPECT_EQ(ZigZag(std::numeric_limits<int64_t>::min()), std::numeric_limits<uint64_t>::max());
}

TEST(Values, EveryTagRoundTripsThroughACursor) {
  std::string out;
  PutRef(out, 123456789);
  PutTag(out, ValueTag::kNone);
  PutTag(out, ValueTag::kFalse);
  PutTag(out, ValueTag::kTrue);
  PutInt(out, -5);
  PutInt(out, std::numeric_limits<int64_t>::min());
  PutFloat(out, -2.5);
  PutTag(out, ValueTag::kEllipsis);
  PutTag(out, ValueTag::kNotImplemented);
  PutCut(out, CutReason::kMaxItems, 77);
  PutName(out, "dict:caf\xc3\xa9");

  Cursor c(out);
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kRef));
  EXPECT_EQ(c.Varint(), 123456789u);
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kNone));
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kFalse));
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kTrue));
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kInt));
  EXPECT_EQ(UnZigZag(c.Varint()), -5);
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kInt));
  EXPECT_EQ(UnZigZag(c.Varint()), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kFloat));
  EXPECT_EQ(c.Float(), -2.5);
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kEllipsis));
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kNotImplemented));
  EXPECT_EQ(c.Byte(), static_cast<uint8_t>(ValueTag::kCut));
  EXPECT_EQ(c.Varint(), static_cast<uint64_t>(CutReason::kMaxItems));
  EXPECT_EQ(c.Varint(), 77u);
  uint64_t name_length = c.Varint();
  EXPECT_EQ(c.Bytes(name_length), "dict:caf\xc3\xa9");
  EXPECT_TRUE(c.AtEnd());
}

TEST(Values, FloatIsEightLittleEndianIeeeBytesAndKeepsEveryBit) {
  std::string out;
  PutFloat(out, 1.0);
  EXPECT_EQ(Hex(out), "05000000000000f03f");

  const double specials[] = {-0.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::denorm_min()};
  for (double v : specials) {
    std::string encoded;
    PutFloat(encoded, v);
    Cursor c(encoded);
    c.Byte();
    double back = c.Float();
    EXPECT_EQ(std::memcmp(&back, &v, sizeof v), 0) << v;
  }
}

TEST(Cursor, EveryReadIsBoundedByTheBlob) {
  Cursor empty("");
  EXPECT_TRUE(empty.AtEnd());
  EXPECT_THROW(empty.Byte(), FormatError);

  std::string seven(7, '\0');
  Cursor short_float(seven);
  EXPECT_THROW(short_float.Float(), FormatError);
  EXPECT_EQ(short_float.Remaining(), 7u);  // a failed read does not move the cursor

  Cursor bytes("abcdef");
  EXPECT_EQ(bytes.Bytes(2), "ab");
  EXPECT_THROW(bytes.Bytes(5), FormatError);
  EXPECT_EQ(bytes.Remaining(), 4u);
  EXPECT_THROW(bytes.Bytes(std::numeric_limits<uint64_t>::max()), FormatError);
  EXPECT_EQ(bytes.Bytes(4), "cdef");
  EXPECT_TRUE(bytes.AtEnd());
}

TEST(Cursor, CountLargerThanTheBytesLeftIsRefused) {
  std::string out;
  PutVarint(out, 3);
  out += "xyz";
  EXPECT_EQ(Cursor(out).Count(), 3u);

  std::string hostile;
  PutVarint(hostile, 1ull << 60);  // would make a loader reserve 2^60 slots
  hostile += "x";
  Cursor c(hostile);
  EXPECT_THROW(c.Count(), FormatError);
}

Record SampleRecord() {
  Record r;
  r.id = 42;
  r.kind = Kind::kDict;
  r.type_id = 7;
  r.flags = kFlagTruncated | kFlagCaptureError;
  r.size = 232;
  PutVarint(r.items.bytes, 2);
  PutRef(r.items.bytes, 43);
  PutInt(r.items.bytes, -1);
  PutVarint(r.attrs.bytes, 1);
  PutName(r.attrs.bytes, "original_length");
  PutInt(r.attrs.bytes, 1000000);
  r.data.bytes = std::string("\0\xff\x80 binary", 10);
  return r;
}

std::string Serialize(const Record& r) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive archive(out, cereal::PortableBinaryOutputArchive::Options::LittleEndian());
    archive(r);
  }
  return out.str();
}

TEST(RecordSerialization, RoundTripsEveryFieldThroughRecordInputArchive) {
  Record written = SampleRecord();
  std::istringstream in(Serialize(written));
  RecordInputArchive archive(in);
  Record read;
  archive(read);
  EXPECT_EQ(read.id, written.id);
  EXPECT_EQ(read.kind, written.kind);
  EXPECT_EQ(read.type_id, written.type_id);
  EXPECT_EQ(read.flags, written.flags);
  EXPECT_EQ(read.size, written.size);
  EXPECT_EQ(read.items.bytes, written.items.bytes);
  EXPECT_EQ(read.attrs.bytes, written.attrs.bytes);
  EXPECT_EQ(read.data.bytes, written.data.bytes);
  EXPECT_EQ(StreamRemaining(in), 0);
}

TEST(RecordSerialization, LayoutIsTheSpecsFieldOrderLittleEndian) {
  Record r;
  r.id = 0x0102030405060708;
  r.kind = Kind::kStr;
  r.type_id = 9;
  r.flags = 1;
  r.size = 0x10;
  r.data.bytes = "hi";
  // cereal's endianness marker (1 = little), then id, kind, type_id, flags, size, three u64-length blobs.
  EXPECT_EQ(Hex(Serialize(r)),
            "01"
            "0807060504030201"
            "04"
            "0900000000000000"
            "01000000"
            "1000000000000000"
            "0000000000000000"
            "0000000000000000"
            "0200000000000000"
            "6869");
}

TEST(RecordSerialization, UnknownKindIsKeptForTheLoaderToMakeASurrogate) {
  Record r = SampleRecord();
  r.kind = static_cast<Kind>(200);
  std::istringstream in(Serialize(r));
  RecordInputArchive archive(in);
  Record read;
  archive(read);
  EXPECT_EQ(static_cast<int>(read.kind), 200);
}

// Where the data blob's u64 length sits in Serialize(SampleRecord()).
size_t DataLengthOffset(const Record& r) { return Serialize(r).size() - r.data.bytes.size() - 8; }

TEST(RecordSerialization, BlobLongerThanTheRestOfTheStreamThrowsFormatErrorBeforeAllocating) {
  Record r = SampleRecord();
  std::string bytes = Serialize(r);
  size_t at = DataLengthOffset(r);
  for (uint64_t hostile : {uint64_t{r.data.bytes.size() + 1}, uint64_t{1} << 40, ~uint64_t{0}}) {
    std::string patched = bytes;
    std::memcpy(&patched[at], &hostile, 8);
    std::istringstream in(patched);
    RecordInputArchive archive(in);
    Record read;
    try {
      archive(read);
      FAIL() << "a blob of " << hostile << " bytes in a " << patched.size() << "-byte stream was accepted";
    } catch (const FormatError& e) {
      EXPECT_STREQ(e.what(), "blob longer than its chunk");
    }
    EXPECT_TRUE(read.data.bytes.empty());
  }
}

TEST(RecordSerialization, PlainArchiveStillBoundsBlobsByTheChunkLimit) {
  Record r = SampleRecord();
  std::string bytes = Serialize(r);
  uint64_t hostile = uint64_t{kMaxChunkSize} + 1;
  std::memcpy(&bytes[DataLengthOffset(r)], &hostile, 8);
  std::istringstream in(bytes);
  cereal::PortableBinaryInputArchive archive(in);
  Record read;
  EXPECT_THROW(archive(read), FormatError);
}

TEST(RecordSerialization, RecordCutShortThrowsCerealException) {
  std::string bytes = Serialize(SampleRecord());
  bytes.resize(20);  // inside type_id
  std::istringstream in(bytes);
  RecordInputArchive archive(in);
  Record read;
  EXPECT_THROW(archive(read), cereal::Exception);
}

std::string SerializeCompact(const Record& r) {
  std::string out(CompactRecordSize(r), '\0');
  EXPECT_EQ(StoreCompactRecord(out.data(), r), out.data() + out.size());
  return out;
}

TEST(CompactRecord, LayoutIsTheSpecsFieldOrderInVarints) {
  Record r;
  r.id = 300;
  r.kind = Kind::kStr;
  r.type_id = 9;
  r.flags = 1;
  r.size = 0x10;
  r.data.bytes = "hi";
  // ZigZag(id - 0), kind, type_id, flags, size, then three varint-length blobs.
  EXPECT_EQ(Hex(SerializeCompact(r)),
            "d804"
            "04"
            "09"
            "01"
            "10"
            "00"
            "00"
            "02"
            "6869");
}

// Records that exercise every varint width: ids going up and down, a type id past 2^32, all flag bits, long blobs.
std::vector<Record> VariedRecords() {
  std::vector<Record> records;
  uint64_t ids[] = {1, 2, 300, 299, 1ull << 40, 7};
  for (size_t i = 0; i < std::size(ids); ++i) {
    Record r;
    r.id = ids[i];
    r.kind = static_cast<Kind>(1 + i % kMaxKind);
    r.type_id = i == 3 ? (1ull << 33) + 5 : i;
    r.flags = i == 4 ? UINT32_MAX : static_cast<uint32_t>(i);
    r.size = 1000 * i;
    r.items.bytes = std::string(i * 70, static_cast<char>('a' + i));  // up to 350 bytes: two-byte lengths
    r.attrs.bytes = i % 2 ? "\x01\x04name\x04\x02" : "";
    r.data.bytes = std::string(i == 5 ? 20000 : i, '\xff');
    records.push_back(r);
  }
  return records;
}

// The records one after the other, as the writer stores them in a chunk (after its layout byte).
std::string StoreCompactRecords(const std::vector<Record>& records) {
  std::string bytes;
  uint64_t previous_id = 0;
  for (const Record& r : records) {
    size_t start = bytes.size();
    bytes.resize(start + CompactRecordSize(r, previous_id));
    StoreCompactRecord(&bytes[start], r, previous_id);
    previous_id = r.id;
  }
  return bytes;
}

TEST(CompactRecord, TheWritersBytesAreCerealsPortableBinarySerializationOfCompactRecord) {
  std::vector<Record> records = VariedRecords();
  std::ostringstream cereal_out;
  {
    cereal::PortableBinaryOutputArchive archive(cereal_out);
    uint64_t previous_id = 0;
    for (const Record& r : records) {
      archive(CompactRecord{r, previous_id});
      previous_id = r.id;
    }
  }
  std::string by_hand = StoreCompactRecords(records);
  // cereal's stream starts with its endianness marker; a RECORDS chunk has the layout byte kRecordsCompact there.
  std::string from_cereal = cereal_out.str();
  ASSERT_FALSE(from_cereal.empty());
  EXPECT_EQ(from_cereal[0], '\x01');
  EXPECT_EQ(Hex(from_cereal.substr(1)), Hex(by_hand));
}

TEST(CompactRecord, CerealReadsWhatTheReaderReadsFromTheWritersBytes) {
  std::vector<Record> records = VariedRecords();
  std::string by_hand = StoreCompactRecords(records);
  std::istringstream in("\x01" + by_hand);
  RecordInputArchive archive(in);
  Cursor cursor(by_hand);
  uint64_t previous_id = 0;
  for (const Record& expected : records) {
    CompactRecord through_cereal{Record{}, previous_id};
    archive(through_cereal);
    Record by_reader = LoadCompactRecord(cursor, previous_id);
    for (const Record* r : {&through_cereal.record, &by_reader}) {
      EXPECT_EQ(r->id, expected.id);
      EXPECT_EQ(r->kind, expected.kind);
      EXPECT_EQ(r->type_id, expected.type_id);
      EXPECT_EQ(r->flags, expected.flags);
      EXPECT_EQ(r->size, expected.size);
      EXPECT_EQ(r->items.bytes, expected.items.bytes);
      EXPECT_EQ(r->attrs.bytes, expected.attrs.bytes);
      EXPECT_EQ(r->data.bytes, expected.data.bytes);
    }
    previous_id = expected.id;
  }
  EXPECT_TRUE(cursor.AtEnd());
}

TEST(CompactRecord, CerealRefusesABlobLongerThanItsChunk) {
  Record r;
  r.id = 1;
  r.data.bytes = "abcdef";
  std::string bytes(CompactRecordSize(r), '\0');
  StoreCompactRecord(bytes.data(), r);
  bytes.resize(bytes.size() - 2);  // the data blob claims 6 bytes, 4 are left
  std::istringstream in("\x01" + bytes);
  RecordInputArchive archive(in);
  CompactRecord read;
  try {
    archive(read);
    FAIL() << "a cut blob was read";
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(), "blob longer than its chunk");
  }
}

TEST(CompactRecord, IdIsStoredAfterThePreviousRecordsId) {
  Record r;
  r.id = 301;
  std::string out(CompactRecordSize(r, 300), '\0');
  StoreCompactRecord(out.data(), r, 300);
  EXPECT_EQ(Hex(out).substr(0, 2), "02");  // ZigZag(+1)
  Cursor in(out);
  EXPECT_EQ(LoadCompactRecord(in, 300).id, 301u);
  std::string back(CompactRecordSize(r, 5000), '\0');
  StoreCompactRecord(back.data(), r, 5000);  // an id below the previous one: a negative delta
  Cursor back_in(back);
  EXPECT_EQ(LoadCompactRecord(back_in, 5000).id, 301u);
}

TEST(CompactRecord, RoundTripsEveryFieldAndUnknownKinds) {
  Record written = SampleRecord();
  written.id = UINT64_MAX;
  written.kind = static_cast<Kind>(200);
  std::string bytes = SerializeCompact(written);
  Cursor in(bytes);
  Record read = LoadCompactRecord(in);
  EXPECT_TRUE(in.AtEnd());
  EXPECT_EQ(read.id, written.id);
  EXPECT_EQ(static_cast<uint8_t>(read.kind), 200);
  EXPECT_EQ(read.type_id, written.type_id);
  EXPECT_EQ(read.flags, written.flags);
  EXPECT_EQ(read.size, written.size);
  EXPECT_EQ(read.items.bytes, written.items.bytes);
  EXPECT_EQ(read.attrs.bytes, written.attrs.bytes);
  EXPECT_EQ(read.data.bytes, written.data.bytes);
}

TEST(CompactRecord, EveryTruncationAndAHostileLengthThrowFormatError) {
  std::string bytes = SerializeCompact(SampleRecord());
  for (size_t n = 0; n < bytes.size(); ++n) {
    Cursor in(std::string_view(bytes).substr(0, n));
    EXPECT_THROW(LoadCompactRecord(in), FormatError) << n;
  }
  Record r;
  std::string hostile = SerializeCompact(r);
  hostile.resize(hostile.size() - 1);
  hostile += "\xff\xff\xff\xff\x0f";  // a data length of 4 GiB in a record of a few bytes
  Cursor in(hostile);
  EXPECT_THROW(LoadCompactRecord(in), FormatError);
}

TEST(CompactRecord, FlagsWiderThan32BitsAreRefused) {
  std::string bytes = "\x01\x04\x00\x80\x80\x80\x80\x10\x00\x00\x00\x00";
  Cursor in(bytes);
  EXPECT_THROW(LoadCompactRecord(in), FormatError);
}

}  // namespace
}  // namespace pyheapdump
