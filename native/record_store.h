// The records of one load, held compactly and found by id: the loader's core (rebuilder.h) reads every record of a
// dump before it makes objects, and holding them is most of a load's memory beside the objects themselves.
//
// Each record is copied once, in its compact form (format.h, "compact records"), into large blocks that never move;
// a record is read back as a StoredRecord whose blobs view those bytes, so nothing is copied or allocated per read.
// The data of a record whose object was made as it was read (a str, a bytes) can be left out: its bytes would only
// be a second copy of the object.
//
// A record the loader will not read again (its object is finished, and nothing reads its items any more) can be
// released: once every record of a block is, the block goes back to the system, so a load does not hold all the
// records and all the objects at its end (on a heap of small dicts, 40 MB of records). A released record keeps only
// its kind. Plain C++: no Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "format.h"
#include "mapped_bytes.h"

namespace pyheapdump {

class RecordStore {
 public:
  RecordStore() = default;
  // A store that switches from handles to pointers past `handle_blocks` blocks instead of kMaxHandleBlocks (tests).
  explicit RecordStore(size_t handle_blocks) : handle_blocks_(handle_blocks) {}

  // Room for about this many records, so that adding them does not grow and copy the index of positions again and
  // again (a hint: the store grows past it).
  void Reserve(size_t records);
  // Copies the record, with its data blob empty unless keep_data. False when there is no memory for it.
  //
  // A plain str or bytes record without its data (the loader made its object as it read it, and hands that out)
  // is not copied: every such record whose id follows its position shares one stored record of its kind, and keeps
  // no size (the loader never reads a record's size). Two thirds of the records of a heap of small dicts are such.
  bool Add(const StoredRecord& record, bool keep_data);
  size_t size() const { return pointers_ ? at_pointer_.size() : at_.size(); }
  // The record at position; not for a released one (see Released).
  StoredRecord At(size_t position) const;
  // Adds flags to a stored record (the loader marks containers that hold cut values once it has read them all).
  void AddFlags(size_t position, uint32_t flags);

  // Builds the id index; call after the last Add. Of records sharing an id (a forged file), the last one counts.
  // False when there is no memory for it.
  bool Index();
  bool Position(uint64_t id, size_t* position) const {  // inline: once or twice per item of every container
    if (!ids_are_positions_) return PositionInIndex(id, position);
    if (id == 0 || id > size()) return false;
    *position = id - 1;
    return true;
  }

  // Releases the record at position, of that kind, after Index: the caller never reads it again (At), only its kind
  // (ReleasedKind). Its block is freed when its last record is released. Nothing happens to a str or bytes record
  // that positions share (Add), or once the store holds pointers (past 4 GiB of records).
  void Release(size_t position, Kind kind);
  bool Released(size_t position) const { return !pointers_ && at_[position] >= kReleasedHandles; }
  Kind ReleasedKind(size_t position) const { return static_cast<Kind>(at_[position] - kReleasedHandles); }
  size_t blocks_held() const;  // blocks not freed yet (tests)

 private:
  // A record's place is a 4-byte handle, (block << kOffsetBits) | offset in the block, not an 8-byte pointer: 12 MB
  // less on a 3M-object heap. Past kMaxHandleBlocks blocks (about 4 GiB of records) the store switches to pointers.
  // Blocks are small enough (256 KiB) that records released in the order they were written free them as a load goes.
  static constexpr int kOffsetBits = 18;
  static constexpr size_t kBlockSize = size_t{1} << kOffsetBits;
  // The last block number is never a block's: its handles stand for released records, kReleasedHandles + their kind.
  static constexpr size_t kMaxHandleBlocks = (size_t{1} << (32 - kOffsetBits)) - 1;
  static constexpr uint32_t kReleasedHandles = static_cast<uint32_t>(kMaxHandleBlocks << kOffsetBits);
  static constexpr uint32_t kNoRecord = UINT32_MAX;

  // Room for `size` bytes: their address, and their handle while the store uses handles. Null when out of memory.
  char* Allocate(size_t size, uint32_t* handle);
  bool AddBlock(size_t size);  // a new last block of `size` bytes; false when out of memory
  bool IsSharedMade(uint32_t handle) const;
  bool PositionInIndex(uint64_t id, size_t* position) const;
  bool AddPlace(char* bytes, uint32_t handle);
  // The shared record of a str or bytes made while reading (see Add) with these (empty) items and attrs blobs,
  // stored on first use; null when out of memory.
  char* SharedMadeRecord(const StoredRecord& record, uint32_t* handle);
  bool SwitchToPointers();
  const char* Bytes(size_t position) const {
    if (pointers_) return at_pointer_[position];
    uint32_t handle = at_[position];
    return blocks_[handle >> kOffsetBits].get() + (handle & (kBlockSize - 1));
  }
  // Records are stored with their id relative to their position (format.h's previous_id): one byte each as the
  // walker numbers them, 1, 2, 3, ..., where the id itself took up to four.
  static uint64_t PreviousId(size_t position) { return position; }

  std::vector<MappedBytes> blocks_;  // each unmapped once its records are all released
  std::vector<uint32_t> live_;       // per block: the records stored there and not released (a shared one counts once)
  bool indexed_ = false;             // Index ran: no record is added any more, so a block may be freed
  char* free_ = nullptr;             // the unused rest of the newest full-size block
  size_t free_left_ = 0;
  size_t free_block_ = 0;  // that block's index in blocks_
  size_t handle_blocks_ = kMaxHandleBlocks;
  // Per kind (str, bytes) and form of the empty items and attrs (no bytes, or a count of 0: records read from a
  // file have the count): the shared record's bytes and handle, once stored.
  char* shared_made_[8] = {};
  uint32_t shared_made_handle_[8] = {};
  bool pointers_ = false;                              // at_pointer_ is in use, at_ is empty
  std::vector<uint32_t> at_;                           // per position: the record's handle, in compact form
  std::vector<const char*> at_pointer_;                // per position: the record's bytes, once pointers_
  absl::flat_hash_map<size_t, uint32_t> added_flags_;  // per position, flags added after reading; rare
  absl::flat_hash_map<uint64_t, size_t> index_;        // id -> position, unless dense_index_ is used
  std::vector<uint32_t> dense_index_;                  // id -> position, unless ids_are_positions_
  // Every record so far has the id 1 + its position: as the walker writes them, unless a chunk was lost or the file
  // was forged. Then no index is needed at all.
  bool ids_are_positions_ = true;
};

}  // namespace pyheapdump
