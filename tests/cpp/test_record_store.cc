// The loader's store of records (native/record_store.h): what goes in comes back field for field, found by id.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "format.h"
#include "record_store.h"

namespace pyheapdump {
namespace {

Record MakeRecord(uint64_t id, Kind kind, std::string items, std::string attrs, std::string data) {
  Record r;
  r.id = id;
  r.kind = kind;
  r.type_id = 300 + id;  // multi-byte varints
  r.flags = static_cast<uint32_t>(id % 3);
  r.size = 1000 * id;
  r.items.bytes = std::move(items);
  r.attrs.bytes = std::move(attrs);
  r.data.bytes = std::move(data);
  return r;
}

void ExpectSame(const StoredRecord& got, const Record& want, bool with_data) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.type_id, want.type_id);
  EXPECT_EQ(got.flags, want.flags);
  EXPECT_EQ(got.size, want.size);
  EXPECT_EQ(got.items, want.items.bytes);
  EXPECT_EQ(got.attrs, want.attrs.bytes);
  EXPECT_EQ(got.data, with_data ? want.data.bytes : "");
}

std::vector<Record> SomeRecords() {
  return {MakeRecord(1, Kind::kDict, std::string("\x02\x05\x02\x05\x04", 5), "", ""),
          MakeRecord(2, Kind::kStr, "", "", "key-123"),
          MakeRecord(200000, Kind::kInstance, "", std::string("\x01\x03abc\x01", 6), ""),
          MakeRecord(3, Kind::kBytes, "", "", std::string(70000, 'b'))};  // a blob length of three bytes
}

TEST(RecordStore, RecordsReadFromAChunkComeBackFieldForFieldWithOrWithoutTheirData) {
  // As the reader hands them over: views into a chunk's compact bytes, ids relative to the record before.
  std::vector<Record> records = SomeRecords();
  std::string chunk;
  uint64_t previous = 0;
  for (const Record& r : records) {
    std::string bytes(CompactRecordBound(r), '\0');
    bytes.resize(StoreCompactRecord(bytes.data(), r, previous) - bytes.data());
    chunk += bytes;
    previous = r.id;
  }
  RecordStore store;
  Cursor cursor(chunk);
  previous = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    StoredRecord read = LoadCompactRecordView(cursor, previous);
    previous = read.id;
    ASSERT_FALSE(read.encoded_fields.empty());  // the store copies these bytes instead of encoding them again
    ASSERT_TRUE(store.Add(read, /*keep_data=*/i % 2 == 0));
  }
  ASSERT_TRUE(store.Index());
  for (size_t i = 0; i < records.size(); ++i) {
    size_t position = 0;
    ASSERT_TRUE(store.Position(records[i].id, &position)) << records[i].id;
    EXPECT_EQ(position, i);
    SCOPED_TRACE(i);
    ExpectSame(store.At(position), records[i], i % 2 == 0);
  }
}

TEST(RecordStore, RecordsMadeInMemoryComeBackTooAndFlagsAddedLaterAreKept) {
  std::vector<Record> records = SomeRecords();
  RecordStore store;
  for (const Record& r : records) ASSERT_TRUE(store.Add(StoredRecord::Of(r), /*keep_data=*/true));
  ASSERT_TRUE(store.Index());
  store.AddFlags(2, 0x40);
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(i);
    Record want = records[i];
    if (i == 2) want.flags |= 0x40;
    ExpectSame(store.At(i), want, true);
  }
  size_t position = 0;
  EXPECT_FALSE(store.Position(4, &position));  // sparse ids (200000 among four records) use the map
  EXPECT_TRUE(store.Position(200000, &position));
  EXPECT_EQ(position, 2u);
}

TEST(RecordStore, FindsRecordsByIdWhetherIdsFollowPositionsHaveGapsOrRepeat) {
  auto store_of = [](const std::vector<uint64_t>& ids) {
    auto store = std::make_unique<RecordStore>();
    for (uint64_t id : ids) EXPECT_TRUE(store->Add(StoredRecord::Of(MakeRecord(id, Kind::kList, "", "", "")), false));
    EXPECT_TRUE(store->Index());
    return store;
  };
  auto position_of = [](const RecordStore& store, uint64_t id) -> int64_t {
    size_t position = 0;
    return store.Position(id, &position) ? static_cast<int64_t>(position) : -1;
  };
  auto in_order = store_of({1, 2, 3, 4});  // as the walker writes them: no index is built
  EXPECT_EQ(position_of(*in_order, 1), 0);
  EXPECT_EQ(position_of(*in_order, 4), 3);
  EXPECT_EQ(position_of(*in_order, 0), -1);
  EXPECT_EQ(position_of(*in_order, 5), -1);
  auto gap = store_of({1, 2, 4, 5});  // a lost chunk took record 3
  EXPECT_EQ(position_of(*gap, 3), -1);
  EXPECT_EQ(position_of(*gap, 4), 2);
  EXPECT_EQ(position_of(*gap, 5), 3);
  auto repeated = store_of({1, 2, 2, 3});  // a forged file: the last record of an id counts
  EXPECT_EQ(position_of(*repeated, 2), 2);
  EXPECT_EQ(position_of(*repeated, 3), 3);
}

TEST(RecordStore, AStoreOfMoreBlocksThanHandlesReachSwitchesToPointersAndKeepsEveryRecord) {
  // Handles reach 16,383 blocks of 256 KiB (4 GiB of records); this store switches after 2, at its third block.
  RecordStore store(/*handle_blocks=*/2);
  std::vector<Record> records;
  for (uint64_t id = 1; id <= 40; ++id) {
    // Records past a quarter block (these of 300 KB, one of 2 MB) take a block of their own.
    std::string data(id == 7 ? 2'000'000 : 300'000, static_cast<char>('a' + id % 26));
    records.push_back(MakeRecord(id, Kind::kBytes, "", "", std::move(data)));
    ASSERT_TRUE(store.Add(StoredRecord::Of(records.back()), /*keep_data=*/true)) << "record " << id;
  }
  ASSERT_TRUE(store.Index());
  ASSERT_EQ(store.size(), records.size());
  for (size_t position = 0; position < records.size(); ++position) {
    ExpectSame(store.At(position), records[position], /*with_data=*/true);
    size_t found = 0;
    ASSERT_TRUE(store.Position(records[position].id, &found));
    EXPECT_EQ(found, position);
  }
}

TEST(RecordStore, IdsThatDoNotFollowPositionsComeBackAsTheyWere) {
  // Ids are stored relative to positions: one that is smaller than its position, or far larger, still comes back.
  RecordStore store;
  std::vector<uint64_t> ids = {5, 1, 3, uint64_t{1} << 40, 2};
  for (uint64_t id : ids) ASSERT_TRUE(store.Add(StoredRecord::Of(MakeRecord(id, Kind::kList, "", "", "")), false));
  ASSERT_TRUE(store.Index());
  for (size_t position = 0; position < ids.size(); ++position) {
    EXPECT_EQ(store.At(position).id, ids[position]);
    size_t found = 0;
    ASSERT_TRUE(store.Position(ids[position], &found));
    EXPECT_EQ(found, position);
  }
}

TEST(RecordStore, StrAndBytesMadeWhileReadingKeepTheirKindAndIdAndOthersAreStoredWhole) {
  auto plain = [](uint64_t id, Kind kind, std::string data, uint32_t flags = 0) {
    Record r = MakeRecord(id, kind, "", "", std::move(data));
    r.type_id = 0;
    r.flags = flags;
    return r;
  };
  std::vector<Record> records = {plain(1, Kind::kStr, "made"),
                                 plain(2, Kind::kBytes, "made too"),
                                 plain(3, Kind::kStr, "cut", /*flags=*/kFlagTruncated),  // kept whole: its flags
                                 plain(9, Kind::kStr, "out of place"),  // kept whole: its id is not 1 + its position
                                 plain(5, Kind::kStr, "made"),
                                 plain(6, Kind::kStr, "made")};
  // As read from a file: the empty items and attrs blobs hold a count of 0.
  records.back().items.bytes = std::string(1, '\0');
  records.back().attrs.bytes = std::string(1, '\0');
  RecordStore store;
  for (const Record& record : records) ASSERT_TRUE(store.Add(StoredRecord::Of(record), /*keep_data=*/false));
  ASSERT_TRUE(store.Index());
  for (size_t position = 0; position < records.size(); ++position) {
    StoredRecord got = store.At(position);
    const Record& want = records[position];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.kind, want.kind);
    EXPECT_EQ(got.flags, want.flags);
    EXPECT_EQ(got.type_id, 0u);
    EXPECT_EQ(got.data, "") << "made while reading: the store keeps no copy of the data";
    EXPECT_EQ(got.items, want.items.bytes);
    EXPECT_EQ(got.attrs, want.attrs.bytes);
    const bool shared = want.flags == 0 && want.id == position + 1;
    EXPECT_EQ(got.size, shared ? 0 : want.size) << "position " << position;
  }
}

TEST(RecordStore, ReleasingEveryRecordOfABlockFreesItAndKeepsTheOthersAndTheKindsOfTheReleased) {
  // 3,000 records of 200 bytes: three 256 KiB blocks, the first two full. A shared str record (made while
  // reading) sits in the first block and is never released: that block stays.
  RecordStore store;
  std::vector<Record> records;
  for (uint64_t id = 1; id <= 3000; ++id) {
    Record r = MakeRecord(id, id % 2 ? Kind::kList : Kind::kDict, std::string(200, '\0'), "", "");
    if (id == 2) {
      r = MakeRecord(id, Kind::kStr, "", "", "made");
      r.type_id = 0;
      r.flags = 0;
    }
    records.push_back(r);
    ASSERT_TRUE(store.Add(StoredRecord::Of(r), /*keep_data=*/false));
  }
  store.Release(0, records[0].kind);  // before Index: records may still come, nothing is released
  EXPECT_FALSE(store.Released(0));
  ASSERT_TRUE(store.Index());
  const size_t blocks = store.blocks_held();
  ASSERT_EQ(blocks, 3u);
  // Release every record but the last few: the second block empties, the first keeps the shared str.
  for (size_t position = 0; position + 10 < records.size(); ++position) {
    store.Release(position, records[position].kind);
  }
  EXPECT_EQ(store.blocks_held(), 2u) << "the block whose records were all released is freed";
  EXPECT_FALSE(store.Released(1)) << "a str record that positions share is never released";
  EXPECT_EQ(store.At(1).kind, Kind::kStr);
  for (size_t position = 0; position + 10 < records.size(); ++position) {
    if (position == 1) continue;
    ASSERT_TRUE(store.Released(position));
    EXPECT_EQ(store.ReleasedKind(position), records[position].kind) << "position " << position;
  }
  for (size_t position = records.size() - 10; position < records.size(); ++position) {
    ASSERT_FALSE(store.Released(position));
    ExpectSame(store.At(position), records[position], /*with_data=*/false);
  }
  store.Release(0, records[0].kind);  // twice: no change
  for (size_t position = records.size() - 10; position < records.size(); ++position) {
    store.Release(position, records[position].kind);
  }
  EXPECT_EQ(store.blocks_held(), 1u) << "the last block goes with its last record; the shared str's stays";
}

}  // namespace
}  // namespace pyheapdump
