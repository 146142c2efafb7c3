// The loader's core: holds a dump's records and makes their objects in the order pyheapdump/load/'s Rebuilder
// defines, doing the bulk kinds here and asking Python (the "handler") for everything that needs policy.
//
// Made here, without Python frames: str and bytes (all made up front), plain lists, tuples, dicts, sets and frozensets,
// instances whose class loads as a plain surrogate, and reduces whose callable the handler declared safe to call with
// finished value arguments (datetime, Decimal, ...). Everything else goes through the handler's methods, declared once
// with their documentation by the RebuildHandler protocol in pyheapdump/load/handler.py (tests/python/unit/
// test_handler_contract.py checks the names called here against it): make, plain_surrogate_class,
// fast_reduce_callable, cut_class, cut_container_class, cut, lost, made_of_itself.
// The handler in turn reaches back through Get, Complete, Defer, Drain and FinishNewFills, so the objects made, the
// pending fills and their order are one state whichever side made an object.
//
// Errors (status.h): the public methods return absl::Status; PythonErrorPending() when an exception other than an
// Exception (KeyboardInterrupt, MemoryError, ...) or an internal error must propagate, with that exception pending
// for the bindings to raise. Exceptions raised while filling one object are recorded in the problems list instead,
// as the Python loader does. Inside, this layer runs on the Python C API and the handler's Python code, whose errors
// are the pending exception: a private method that returns an empty OwnedRef or false means PythonErrorPending().
#pragma once

#include <Python.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "chunk_reader.h"
#include "format.h"
#include "pyref.h"
#include "record_decoder.h"
#include "record_store.h"
#include "status.h"

namespace pyheapdump {

// An exception's message as one line of a load's problems: its first non-empty line, at most `limit` bytes.
std::string OneLine(std::string_view message, size_t limit = 300);

class Rebuilder {
 public:
  // problems (a list of str) is shared with the handler. first_unwritten is the summary's: ids from it on that have
  // no record were queued when a walk-wide limit stopped the walk and left without one (0: none). expected_records,
  // the summary's count of objects, sizes the store up front (a hint, 0: unknown).
  Rebuilder(BorrowedRef handler, BorrowedRef problems, uint64_t first_unwritten = 0, uint64_t expected_records = 0);

  // Reads every record of the dump, checks each one decodes, and makes every str and bytes object. A record that does
  // not decode is left out with a warning, as DumpReader.records() does.
  absl::Status Load(DumpFileReader& reader);
  size_t record_count() const { return store_.size(); }
  const std::vector<std::string>& warnings() const { return warnings_; }

  absl::StatusOr<OwnedRef> Get(uint64_t oid);
  // The record as the Python loader's tuple (record_decoder.h), or None when there is no such record; DecodeRecord's
  // errors.
  absl::StatusOr<OwnedRef> RecordTuple(uint64_t oid);
  // Finishes what one record's object needs before it is used; Python's Rebuilder._complete documents the rules.
  absl::Status Complete(BorrowedRef raw);
  // Runs the pending fill of the object of record `raw` (an id; anything else is left alone) and, for a tuple, those
  // of the objects it holds: what reading that object's own items needs, and nothing further. Complete finishes
  // everything reachable, which nests once per object along a chain of them.
  absl::Status FillNow(BorrowedRef raw);
  void Defer(uint64_t oid, BorrowedRef fill, bool hashing);
  absl::Status Drain(bool hashing);
  absl::Status FinishNewFills();
  int nesting() const { return nesting_; }
  // Drops the handler: it holds this object, and the two must not keep each other alive.
  void Close() { handler_ = OwnedRef(); }
  // After a MemoryError: frees the objects made so far and makes every later call fail with MemoryError. With
  // `empty_containers` (only when no call into this core is still running: none of its frames may be filling one),
  // the lists, dicts and sets it made are emptied first, so that an object the caller still holds (a frame, the root)
  // no longer keeps the whole half-made heap alive.
  void Abandon(bool empty_containers);

 private:
  enum class FillKind : uint8_t { kNone, kPython, kList, kDict, kSet, kInstance };
  struct Fill {
    FillKind kind = FillKind::kNone;
    OwnedRef target;  // kPython: the callable; else the object being filled
  };
  using Found = std::optional<StoredRecord>;
  // Inline capacity for the usual record (a few items or attributes): parsing then allocates nothing.
  struct Parsed {
    absl::InlinedVector<DecodedValue, 8> items;
    absl::InlinedVector<std::pair<std::string_view, DecodedValue>, 6> attrs;
  };

  bool Position(uint64_t oid, size_t* position) const { return store_.Position(oid, position); }
  Found Find(uint64_t oid) const;
  bool Abandoned() const;                       // true, with MemoryError set, once abandoned
  bool IsMadeContainer(size_t position) const;  // a plain list, dict or set made from its record here
  static void EmptyContainer(PyObject* container);
  absl::Status Validate(const StoredRecord& record);  // as DecodeRecord's
  // After a walk-wide stop: flags CUT_ITEMS on the plain containers that reference cut records or unwritten ids, so
  // they load marked as the containers holding cut values (tag 8) do.
  void MarkContainersOfCutRecords();
  bool IsCutReference(uint64_t oid) const;
  OwnedRef CutRecordPlaceholder(const StoredRecord& record);
  // Load checked every record, so parsing later fails only for memory: false with MemoryError set.
  bool Parse(const StoredRecord& record, bool make_atoms, Parsed* parsed);
  absl::StatusOr<OwnedRef> AttributeName(std::string_view bytes);  // as DecodeAttributeName's, interned
  OwnedRef Object(uint64_t oid);
  bool CompleteObject(BorrowedRef raw);
  bool FillOneNow(uint64_t oid, bool with_parts);  // false with an error set
  bool DrainFills(bool hashing);
  bool FinishFills();
  BorrowedRef Lookup(uint64_t oid);  // empty when not made yet (or on error: check)
  bool Store(uint64_t oid, BorrowedRef obj);
  bool StoreAt(size_t position, BorrowedRef obj);  // the same, for the object of the record at position
  void DisarmFinalizer(PyObject* obj);
  OwnedRef Build(uint64_t root);
  // Ids, held inline while few: Build keeps one list per object it makes, and a heap allocation each was 2% of a load.
  using IdList = absl::InlinedVector<uint64_t, 16>;
  bool Dependencies(const StoredRecord& record, IdList* dependencies);
  OwnedRef MakeShell(const StoredRecord& record, size_t position);
  // A small plain dict whose keys and values are all atoms, str or bytes already made: made whole, with no shell and
  // no fill to queue (most dicts of a service's heap). Empty, with no error set, when it is not such a dict.
  OwnedRef DictOfFinishedValues(const StoredRecord& record, size_t position);
  // The object of record oid when it is an exact str or bytes already made (as its record was read): final, and
  // hashed by its value, so a dict or tuple can take it at once. Empty otherwise, with no error set.
  BorrowedRef MadeStrOrBytes(uint64_t oid) const {  // inline: three times per record of a service's small dicts
    size_t position = 0;
    if (!Position(oid, &position) || !made_[position]) return BorrowedRef();
    PyObject* made = made_[position].get();
    return PyUnicode_CheckExact(made) || PyBytes_CheckExact(made) ? made_[position].borrow() : BorrowedRef();
  }
  OwnedRef Construct(const StoredRecord& record, uint64_t oid);
  OwnedRef ConstructFastReduce(const StoredRecord& record);  // a REDUCE's or a CALL's
  // callable(*arguments) when every argument is finished (IsFinishedValue); empty with no error set when one is not.
  OwnedRef CallWithFinishedArguments(BorrowedRef callable, absl::Span<const RawValue> arguments);
  bool FinishedTuple(uint64_t oid, bool* finished);
  OwnedRef ResolveRaw(const RawValue& raw) {  // inline: once per item of every container
    if (raw.tag == ValueTag::kRef) return Object(raw.number);
    if (raw.tag == ValueTag::kCut) return CutPlaceholder(raw.number, raw.class_id);
    return AtomObject(raw);
  }
  // Runs `read`, which reads a record's bytes with a Cursor and returns false with a Python error set: Load checked
  // those bytes, so a FormatError cannot come, and one that did is reported as memory, as for every later parse.
  template <class Read>
  bool ReadingCheckedBytes(Read&& read) {
    try {
      return read();
    } catch (const FormatError& error) {
      return SucceededOrMemoryError(absl::InvalidArgumentError(error.what()));
    }
  }
  // The record's items, references made, as a new list or tuple.
  enum class Sequence { kList, kTuple };
  // *all_finished (when given): whether every item is finished (IsFinished), so the container is when it holds them.
  OwnedRef ItemValues(const StoredRecord& record, Sequence as, bool* all_finished = nullptr);
  // Puts a plain list's items into the slots its shell was made with (MakeShell); on failure, empties it.
  bool FillListInPlace(const StoredRecord& record, PyObject* list, bool* items_finished);
  // Resolves the record's items one by one; on_count first. on_count or on_value returning false (with an error set)
  // stops. False with an error set. *all_finished: whether every item is an atom or a finished object.
  // A template, not FunctionRefs: on_value runs once per item of every container (a tenth of a list of ints' load).
  template <class OnCount, class OnValue>
  bool ResolveEachItem(const StoredRecord& record, bool* all_finished, OnCount&& on_count, OnValue&& on_value);
  // A plain dict's or set's fill (or a marked one's); on failure the container is left empty.
  bool FillDictOrSet(const StoredRecord& record, bool dict, PyObject* target, bool* items_finished);
  // Makes every object the record's items reference that is not made yet; false with an error set.
  bool MakeReferencedItems(const StoredRecord& record);
  static bool SucceededOrMemoryError(const absl::Status& status);
  bool EnterHandler();  // false, with an error set, when closed or nested too deep
  OwnedRef CallHandler(const char* method, uint64_t a);
  OwnedRef CallHandler(const char* method, uint64_t a, uint64_t b);
  OwnedRef HandlerMake(const StoredRecord& record, bool shell);
  // The handler's answer for id, asked once (kept in answers): *answer is empty when the handler said None.
  bool AskHandlerOnce(absl::flat_hash_map<uint64_t, OwnedRef>& answers, const char* method, uint64_t id,
                      BorrowedRef* answer);
  bool InstanceClass(uint64_t type_id, BorrowedRef* cls);  // *cls: empty for the general path
  bool ReduceCallable(uint64_t callable_id, BorrowedRef* callable);
  OwnedRef CutPlaceholder(uint64_t reason, uint64_t class_id);
  bool CutContainerClass(Kind kind, BorrowedRef* cls);  // *cls: empty for the general path
  // Fills are kept by record position: every object with something left to fill was made from a record.
  void DeferNative(size_t position, FillKind kind, BorrowedRef target, bool hashing);
  bool TakePending(std::vector<size_t>& order);
  bool TakeFill(size_t position, Fill* fill);
  bool RunFill(size_t position, const Fill& fill);
  bool RunNativeFill(size_t position, const Fill& fill);
  // *all_finished: whether every attribute of its state is finished (IsFinished), so the instance is once it holds
  // them.
  bool FillInstance(BorrowedRef obj, const StoredRecord& record, bool* all_finished);
  // Runs now the pending native fill of an object a container or an instance being filled holds, rather than after
  // it: filled first, a list of atoms is finished when its holder takes it, and so is the holder (MarkFinished), whose
  // record can go. Not a dict's or set's whose keys might hash by a state not filled yet (FinishFills drains nothing
  // in a nested fill); no deeper than fills nest.
  bool FillItemNow(uint64_t oid);
  // Whether every key of a dict's or set's record is an atom or a str or bytes made already (false for a large one).
  bool KeysHashAlone(const StoredRecord& record, bool dict) const;

  OwnedRef handler_;
  OwnedRef problems_;
  RecordStore store_;
  std::vector<OwnedRef> made_;                                   // per record position, its object once made
  absl::flat_hash_map<uint64_t, OwnedRef> made_without_record_;  // placeholders for ids no record has
  std::vector<std::string> warnings_;
  // Marks Build and CompleteObject keep per object: kept beside the pending fill kind in each record's state byte
  // (hash sets of ids were 3% of a load of many small objects); ids with no record keep theirs in a map.
  enum Mark : uint8_t { kMaking = 1 << 3, kExpanding = 1 << 4, kCompleted = 1 << 5 };
  static constexpr uint8_t kFillKindBits = 0x7;
  bool Marked(uint64_t oid, Mark mark) const;
  // Finished: made, with nothing of its own or of what it holds left to fill (kCompleted), or made holding no other
  // object (a str, bytes, int, complex or bytearray, complete as soon as it exists).
  bool IsFinished(uint64_t oid) const;
  // An atom, or a reference to a finished object; not a cut value.
  bool IsFinishedValue(const RawValue& value) const {
    return value.tag != ValueTag::kCut && (value.tag != ValueTag::kRef || IsFinished(value.number));
  }
  // For an item just resolved (made), of a container or instance being filled: clears *all_finished unless it is an
  // atom or a finished object, once an object with a pending native fill was filled now if it may be (FillItemNow).
  // Not a cut value's placeholder. False with an error set.
  bool FinishItem(const RawValue& raw, bool* all_finished) {  // inline: the atoms, the bulk, return at once
    return raw.tag != ValueTag::kRef && raw.tag != ValueTag::kCut ? true : FinishObjectItem(raw, all_finished);
  }
  bool FinishObjectItem(const RawValue& raw, bool* all_finished);
  // Marks an object made complete, with all it holds, as it was made or filled (CompleteObject and FillOneNow then
  // stop there), and releases its record when nothing will read it again: the records of a heap's leaves (a
  // service's small dicts, the lists of ints) are freed as the load goes, not all held to its end.
  void MarkFinished(size_t position, const StoredRecord& record);
  void SetMark(uint64_t oid, Mark mark);
  bool ClearMark(uint64_t oid, Mark mark);  // whether it was set
  FillKind PendingFill(size_t position) const { return static_cast<FillKind>(state_[position] & kFillKindBits); }
  void SetPendingFill(size_t position, FillKind kind) {
    state_[position] = static_cast<uint8_t>((state_[position] & ~kFillKindBits) | static_cast<uint8_t>(kind));
  }
  absl::flat_hash_map<uint64_t, uint8_t> marks_without_record_;
  // What is left to do to finish an object: per record position, the kind of fill; the object a native fill fills
  // is the position's made object, and a Python fill's callable is kept aside (few objects have one).
  std::vector<uint8_t> state_;  // per record position: the FillKind (kFillKindBits) and the Marks
  absl::flat_hash_map<size_t, OwnedRef> python_fills_;
  std::vector<size_t> fill_order_, hash_fill_order_;  // record positions
  int nesting_ = 0;
  size_t objects_being_made_ = 0;  // records marked kMaking: what a fill run now could find half made
  int handler_depth_ = 0;
  absl::flat_hash_set<uint64_t> asking_;  // ids whose handler answer is being asked for
  bool abandoned_ = false;
  uint64_t first_unwritten_ = 0;
  bool has_cut_records_ = false;
  bool finalizer_warned_ = false;
  absl::flat_hash_map<uint64_t, OwnedRef> instance_classes_;                  // empty ref: the general path
  absl::flat_hash_map<uint64_t, OwnedRef> reduce_callables_;                  // empty ref: not callable here
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, OwnedRef> cut_classes_;  // (reason, class id) -> class
  absl::flat_hash_map<uint64_t, OwnedRef> cut_container_classes_;             // kind -> class, empty: general path
  absl::flat_hash_map<std::string, OwnedRef> names_;  // attribute names, decoded and interned once
};

}  // namespace pyheapdump
