// The records of one load, held compactly and found by id: the loader's core (rebuilder.h) reads every record of a
// dump before it makes objects, and holding them is most of a load's memory beside the objects themselves.
//
// Each record is copied once, in its compact form (format.h, "compact records"), into large blocks that never move;
// a record is read back as a StoredRecord whose blobs view those bytes, so nothing is copied or allocated per read.
// The data of a record whose object was made as it was read (a str, a bytes) can be left out: its bytes would only
// be a second copy of the object. Plain C++: no Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "format.h"

namespace pyheapdump {

class RecordStore {
 public:
  // Room for about this many records, so that adding them does not grow and copy the index of positions again and
  // again (a hint: the store grows past it).
  void Reserve(size_t records);
  // Copies the record, with its data blob empty unless keep_data. False when there is no memory for it.
  bool Add(const StoredRecord& record, bool keep_data);
  size_t size() const { return at_.size(); }
  StoredRecord At(size_t position) const;
  // Adds flags to a stored record (the loader marks containers that hold cut values once it has read them all).
  void AddFlags(size_t position, uint32_t flags);

  // Builds the id index; call after the last Add. Of records sharing an id (a forged file), the last one counts.
  // False when there is no memory for it.
  bool Index();
  bool Position(uint64_t id, size_t* position) const;

 private:
  static constexpr size_t kBlockSize = 4 << 20;
  static constexpr uint32_t kNoRecord = UINT32_MAX;

  char* Allocate(size_t size);

  std::vector<std::unique_ptr<char[]>> blocks_;
  char* free_ = nullptr;  // the unused rest of the newest block
  size_t free_left_ = 0;
  std::vector<const char*> at_;                        // per position: the record's bytes, in compact form
  absl::flat_hash_map<size_t, uint32_t> added_flags_;  // per position, flags added after reading; rare
  absl::flat_hash_map<uint64_t, size_t> index_;        // id -> position, unless dense_index_ is used
  std::vector<uint32_t> dense_index_;                  // id -> position, unless ids_are_positions_
  // Every record so far has the id 1 + its position: as the walker writes them, unless a chunk was lost or the file
  // was forged. Then no index is needed at all.
  bool ids_are_positions_ = true;
};

}  // namespace pyheapdump
