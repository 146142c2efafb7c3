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

bool RecordStore::AddBlock(std::unique_ptr<char[]> bytes) {
  if (!pointers_ && blocks_.size() == handle_blocks_ && !SwitchToPointers()) return false;
  try {
    blocks_.push_back(std::move(bytes));
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
    std::unique_ptr<char[]> bytes(new (std::nothrow) char[size]);
    char* start = bytes.get();
    if (!start || !AddBlock(std::move(bytes))) return nullptr;
    *handle = static_cast<uint32_t>((blocks_.size() - 1) << kOffsetBits);
    return start;
  }
  if (size > free_left_) {
    std::unique_ptr<char[]> bytes(new (std::nothrow) char[kBlockSize]);
    char* start = bytes.get();
    if (!start || !AddBlock(std::move(bytes))) return nullptr;
    free_ = start;
    free_left_ = kBlockSize;
    free_block_ = blocks_.size() - 1;
  }
  char* start = free_;
  *handle = static_cast<uint32_t>((free_block_ << kOffsetBits) | (kBlockSize - free_left_));
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

bool RecordStore::Position(uint64_t id, size_t* position) const {
  if (ids_are_positions_) {
    if (id == 0 || id > size()) return false;
    *position = id - 1;
    return true;
  }
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
