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

char* RecordStore::Allocate(size_t size) {
  if (size > free_left_) {
    // A record larger than a quarter block gets a block of its own, so the rest of the current block is not wasted.
    size_t block = size > kBlockSize / 4 ? size : kBlockSize;
    std::unique_ptr<char[]> bytes(new (std::nothrow) char[block]);
    if (!bytes) return nullptr;
    char* start = bytes.get();
    try {
      blocks_.push_back(std::move(bytes));
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
    if (block == size) return start;
    free_ = start;
    free_left_ = block;
  }
  char* start = free_;
  free_ += size;
  free_left_ -= size;
  return start;
}

bool RecordStore::Add(const StoredRecord& record, bool keep_data) {
  std::string_view data = keep_data ? record.data : std::string_view();
  // A record read from compact bytes is copied as read; another (read from a cereal chunk) is encoded.
  bool encoded = !record.encoded_fields.empty();
  StoredRecord encodable;
  if (!encoded) {
    encodable = record;
    encodable.data = data;
  }
  char* out = Allocate(encoded ? CompactRecordSizeFromEncoded(record, data) : CompactRecordSize(encodable));
  if (out == nullptr) return false;
  try {
    at_.push_back(out);
  } catch (const std::bad_alloc&) {
    return false;
  }
  ids_are_positions_ = ids_are_positions_ && record.id == at_.size();
  if (encoded) {
    StoreCompactRecordFromEncoded(out, record, data);
  } else {
    StoreCompactRecord(out, encodable);
  }
  return true;
}

StoredRecord RecordStore::At(size_t position) const {
  StoredRecord record = LoadStoredCompactRecord(at_[position]);
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
  auto id_at = [this](size_t position) { return LoadStoredCompactRecordId(at_[position]); };
  try {
    uint64_t highest = 0;
    for (size_t i = 0; i < at_.size(); ++i) highest = std::max(highest, id_at(i));
    if (highest <= 2 * at_.size() + 1024 && at_.size() < kNoRecord) {
      dense_index_.assign(highest + 1, kNoRecord);
      for (size_t i = 0; i < at_.size(); ++i) dense_index_[id_at(i)] = static_cast<uint32_t>(i);
    } else {
      index_.reserve(at_.size());
      for (size_t i = 0; i < at_.size(); ++i) index_[id_at(i)] = i;
    }
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

bool RecordStore::Position(uint64_t id, size_t* position) const {
  if (ids_are_positions_) {
    if (id == 0 || id > at_.size()) return false;
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
