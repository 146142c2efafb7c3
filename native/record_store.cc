#include "record_store.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace pyheapdump {

void RecordStore::Reserve(size_t records) {
  try {
    at_.reserve(records);
  } catch (const std::bad_alloc&) {
    // Only a hint: the store grows as records come.
  }
}

bool RecordStore::AddBlock(size_t size) {
  MappedBytes block;
  if (!block.Allocate(size)) return false;
  if (!pointers_ && blocks_.size() == handle_blocks_ && !SwitchToPointers()) return false;
  try {
    live_.reserve(blocks_.size() + 1);
    blocks_.push_back(std::move(block));
    live_.push_back(0);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

bool RecordStore::SwitchToPointers() {
  std::vector<const char*> pointers;
  try {
    pointers.reserve(std::max(at_.capacity(), at_.size() + 1));
  } catch (const std::bad_alloc&) {
    return false;
  }
  for (size_t position = 0; position < at_.size(); ++position) pointers.push_back(Bytes(position));
  at_pointer_ = std::move(pointers);
  pointers_ = true;
  std::vector<uint32_t>().swap(at_);
  return true;
}

char* RecordStore::Allocate(size_t size, uint32_t* handle) {
  if (size > kBlockSize / 4) {
    // A record larger than a quarter block gets a block of its own, so the rest of the current block is not wasted.
    if (!AddBlock(size)) return nullptr;
    *handle = static_cast<uint32_t>((blocks_.size() - 1) << kOffsetBits);
    ++live_.back();
    return blocks_.back().get();
  }
  if (size > free_left_) {
    if (!AddBlock(kBlockSize)) return nullptr;
    free_ = blocks_.back().get();
    free_left_ = kBlockSize;
    free_block_ = blocks_.size() - 1;
  }
  char* start = free_;
  *handle = static_cast<uint32_t>((free_block_ << kOffsetBits) | (kBlockSize - free_left_));
  ++live_[free_block_];
  free_ += size;
  free_left_ -= size;
  return start;
}

bool RecordStore::AddPlace(char* bytes, uint32_t handle) {
  try {
    if (pointers_) {
      at_pointer_.push_back(bytes);
    } else {
      at_.push_back(handle);
    }
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

namespace {

// An items or attrs blob that holds nothing: no bytes, or a count of 0.
bool HoldsNothing(std::string_view blob) { return blob.empty() || (blob.size() == 1 && blob[0] == 0); }

}  // namespace

char* RecordStore::SharedMadeRecord(const StoredRecord& record, uint32_t* handle) {
  const int which =
      (record.kind == Kind::kStr ? 0 : 4) | (record.items.empty() ? 0 : 2) | (record.attrs.empty() ? 0 : 1);
  if (shared_made_[which] == nullptr) {
    // Stored as the record at position 0 with id 1 would be: its id is then 1 + the position wherever it is read.
    StoredRecord shared;
    shared.id = PreviousId(0) + 1;
    shared.kind = record.kind;
    shared.items = record.items;
    shared.attrs = record.attrs;
    char* out = Allocate(CompactRecordSize(shared, PreviousId(0)), &shared_made_handle_[which]);
    if (out == nullptr) return nullptr;
    StoreCompactRecord(out, shared, PreviousId(0));
    shared_made_[which] = out;
  }
  *handle = shared_made_handle_[which];
  return shared_made_[which];
}

bool RecordStore::Add(const StoredRecord& record, bool keep_data) {
  std::string_view data = keep_data ? record.data : std::string_view();
  const size_t position = size();
  if (!keep_data && (record.kind == Kind::kStr || record.kind == Kind::kBytes) && record.type_id == 0 &&
      record.flags == 0 && HoldsNothing(record.items) && HoldsNothing(record.attrs) && record.id == position + 1) {
    uint32_t handle = 0;
    char* shared = SharedMadeRecord(record, &handle);
    return shared != nullptr && AddPlace(shared, handle);
  }
  // A record read from compact bytes is copied as read; another (read from a cereal chunk) is encoded.
  bool encoded = !record.encoded_fields.empty();
  StoredRecord encodable;
  if (!encoded) {
    encodable = record;
    encodable.data = data;
  }
  uint64_t previous_id = PreviousId(position);
  uint32_t handle = 0;
  char* out = Allocate(
      encoded ? CompactRecordSizeFromEncoded(record, data, previous_id) : CompactRecordSize(encodable, previous_id),
      &handle);
  if (out == nullptr || !AddPlace(out, handle)) return false;
  ids_are_positions_ = ids_are_positions_ && record.id == position + 1;
  if (encoded) {
    StoreCompactRecordFromEncoded(out, record, data, previous_id);
  } else {
    StoreCompactRecord(out, encodable, previous_id);
  }
  return true;
}

bool RecordStore::IsSharedMade(uint32_t handle) const {
  for (int which = 0; which < 8; ++which) {
    if (shared_made_[which] != nullptr && shared_made_handle_[which] == handle) return true;
  }
  return false;
}

void RecordStore::Release(size_t position, Kind kind) {
  if (pointers_ || !indexed_ || Released(position)) return;
  const uint32_t handle = at_[position];
  if ((kind == Kind::kStr || kind == Kind::kBytes) && IsSharedMade(handle)) return;
  at_[position] = kReleasedHandles + static_cast<uint32_t>(kind);
  const size_t block = handle >> kOffsetBits;
  if (--live_[block] == 0) blocks_[block].Reset();
}

size_t RecordStore::blocks_held() const {
  return static_cast<size_t>(
      std::count_if(blocks_.begin(), blocks_.end(), [](const MappedBytes& block) { return block.get() != nullptr; }));
}

StoredRecord RecordStore::At(size_t position) const {
  StoredRecord record = LoadStoredCompactRecord(Bytes(position), PreviousId(position));
  if (!added_flags_.empty()) {
    auto found = added_flags_.find(position);
    if (found != added_flags_.end()) record.flags |= found->second;
  }
  return record;
}

void RecordStore::AddFlags(size_t position, uint32_t flags) { added_flags_[position] |= flags; }

bool RecordStore::Index() {
  // The walker numbers records 1, 2, 3, ...: a plain array then beats a hash map on every lookup. A file with
  // sparse ids (damaged, forged) gets the map.
  // Ids are read from the records themselves (the first field of each), twice rather than copied into a vector:
  // that copy would be 8 bytes per record at the moment memory is tightest.
  indexed_ = true;
  if (ids_are_positions_) return true;
  auto id_at = [this](size_t position) { return LoadStoredCompactRecordId(Bytes(position), PreviousId(position)); };
  const size_t count = size();
  try {
    uint64_t highest = 0;
    for (size_t i = 0; i < count; ++i) highest = std::max(highest, id_at(i));
    if (highest <= 2 * count + 1024 && count < kNoRecord) {
      dense_index_.assign(highest + 1, kNoRecord);
      for (size_t i = 0; i < count; ++i) dense_index_[id_at(i)] = static_cast<uint32_t>(i);
    } else {
      index_.reserve(count);
      for (size_t i = 0; i < count; ++i) index_[id_at(i)] = i;
    }
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

bool RecordStore::PositionInIndex(uint64_t id, size_t* position) const {
  if (!dense_index_.empty()) {
    if (id >= dense_index_.size() || dense_index_[id] == kNoRecord) return false;
    *position = dense_index_[id];
    return true;
  }
  auto found = index_.find(id);
  if (found == index_.end()) return false;
  *position = found->second;
  return true;
}

}  // namespace pyheapdump
