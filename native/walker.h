// The walker: breadth-first over the object graph from the roots, one record per object, identity kept by address.
//
// It holds the GIL throughout and runs no user code of the dumped program: containers, instances, frames and
// exceptions are read through the C API; only the per-type policy (pyheapdump/dump/policy.py, called once per type)
// decides where Python-level help is allowed (guarded __reduce_ex__, our own capture functions, reprs).
#pragma once

#include <Python.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "chunk_writer.h"
#include "format.h"
#include "pyref.h"
#include "secret_filter.h"

namespace pyheapdump {

struct WalkLimits {
  uint64_t max_objects = 10'000'000;  // records written, cut objects excluded
  uint64_t max_bytes = 1ull << 30;    // raw record bytes
  uint64_t max_str = 1u << 20;        // characters of one str, bytes of one bytes/bytearray
  uint64_t max_items = 1'000'000;     // elements of one container
  double time_limit = 60.0;           // seconds of walking
  uint64_t max_repr = 500;            // characters of a captured repr
};

// How objects of one type (outside the builtin families) are captured; decided once per type by Python.
enum class Strategy : int {
  kInstance = 1,   // __dict__ and __slots__ read directly
  kReduce = 2,     // __reduce_ex__(4), or the copyreg reducer given as `capture`, guarded
  kCapture = 3,    // a type support's capture function returns the state
  kSurrogate = 4,  // opaque: readable state, facts, bounded repr
};

struct TypePolicy {
  Strategy strategy = Strategy::kSurrogate;
  OwnedRef capture;       // kCapture: callable(obj) -> state; kReduce: optional copyreg reducer(obj) -> reduce tuple;
                          // kSurrogate: optional callable(obj) -> facts dict
  OwnedRef capture_name;  // str naming the capture function's type support
  bool repr_ok = false;   // repr() of this type runs no user code, or the user allowed it
  // kReduce without a copyreg reducer: the function that obj.__reduce_ex__(4) reaches, when the attribute lookup is
  // plain enough to skip (see FindDirectReducer); called with (obj, 4) if reduce_takes_protocol, else with (obj).
  OwnedRef direct_reduce;
  bool reduce_takes_protocol = false;
  // kReduce: how the type's reduces went so far in this walk (a type whose every reduce fails stops being reduced).
  mutable uint32_t reduce_successes = 0;
  mutable uint32_t reduce_failures = 0;
};

// A __slots__ member of a class written in Python, as the record names it ("slot:" + the slot's name).
struct SlotMember {
  PyMemberDef* member;
  std::string name;
};

struct WalkStats {
  uint64_t objects = 0;
  uint64_t errors = 0;
  absl::flat_hash_map<std::string, uint64_t> cut;  // reason -> count
  // type -> (count, bytes); node-based, so the walker can keep pointers to entries
  absl::node_hash_map<PyTypeObject*, std::pair<uint64_t, uint64_t>> types;
  std::vector<std::tuple<uint64_t, uint64_t, PyTypeObject*>> largest;  // (bytes, id, type), a min-heap of kLargest
  std::vector<OwnedRef> filenames;  // str of every dumped code object's co_filename, first seen first
  double elapsed = 0;
  uint64_t first_unwritten = 0;  // the id of the first queued object left without a record after a stop, or 0
  uint64_t unwritten = 0;        // how many queued objects were left without a record
};

class Walker {
 public:
  // policy_callback(type) -> (strategy:int, capture:callable|None, capture_name:str|None, repr_ok:bool)
  // redactor: None, or redact(str|bytes) -> str|bytes|None, asked about every value that could hold a secret (one
  // that the default patterns could match, or that contains one of redact_literals, UTF-8); with
  // redact_every_string (user-defined patterns) it is asked about every str and bytes.
  Walker(DumpFileWriter& writer, WalkLimits limits, BorrowedRef policy_callback,
         BorrowedRef redactor = BorrowedRef(Py_None), bool redact_every_string = false,
         std::vector<std::string> redact_literals = {});
  Walker(const Walker&) = delete;
  Walker& operator=(const Walker&) = delete;
  ~Walker();

  // Walks everything reachable from root (record 1). A Python error raised inside is never propagated for one
  // object: it is recorded on that object's record. Only a write failure ends the walk with an error.
  absl::Status Walk(BorrowedRef root);
  const WalkStats& stats() const { return stats_; }
  // Heap mode (save_dump(heap=True)): every object goes through the memo, so that IdOf can tell afterwards which
  // objects the walk reached (an object referenced once otherwise skips it).
  void set_memo_everything(bool on) { memo_everything_ = on; }
  bool memo_everything() const { return memo_everything_; }
  // The record id the walk gave obj; 0 when it did not reach it (or did not memoize it).
  uint64_t IdOf(PyObject* obj) const {
    auto it = memo_.find(obj);
    return it == memo_.end() ? 0 : it->second;
  }
  // Calls visit(obj) for every object the memo holds, every one the walk made itself (KeepAlive) and the callables
  // it was given, in no order: each is alive (the walker owns a reference to it).
  template <class Visit>
  void ForEachReachedOrOwned(Visit&& visit) const {
    for (const auto& [obj, id] : memo_) visit(obj);
    for (const OwnedRef& made : keep_alive_) visit(made.get());
    for (const OwnedRef* given : {&policy_callback_, &redactor_}) {
      if (*given) visit(given->get());
    }
  }

  // ---- used by the encoders (encoders*.cc) ----
  // Appends a value: inline atom, reference (the object is queued on first sight), or a cut marker.
  void PutValue(ByteBuffer& out, PyObject* obj);
  void PutItem(PyObject* obj) {
    PutValue(items_, obj);
    ++item_count_;
  }
  void PutItem(BorrowedRef obj) { PutItem(obj.get()); }
  void PutAttr(std::string_view name, PyObject* value) {
    PutName(attrs_, name);
    PutValue(attrs_, value);
    ++attr_count_;
  }
  void PutAttr(std::string_view name, BorrowedRef value) { PutAttr(name, value.get()); }
  // PutAttr with the name given in two parts ("dict:" and the attribute's name), joined in the record.
  void PutAttr(std::string_view prefix, std::string_view name, PyObject* value) {
    PutVarint(attrs_, prefix.size() + name.size());
    attrs_.append(prefix);
    attrs_.append(name);
    PutValue(attrs_, value);
    ++attr_count_;
  }
  void PutAttrInt(std::string_view name, int64_t value) {
    PutName(attrs_, name);
    PutInt(attrs_, value);
    ++attr_count_;
  }
  // Stored as a STR record, one per distinct text, written past every limit (a reason, an error, a class name).
  void PutAttrStr(std::string_view name, std::string_view value);
  // PutAttr for what names things (a class's module and qualname): written past every limit, so an object cut by
  // a limit can still say what it was.
  void PutAttrExempt(std::string_view name, PyObject* value);
  void PutAttrExempt(std::string_view name, BorrowedRef value) { PutAttrExempt(name, value.get()); }
  void SetData(std::string_view bytes) {
    data_storage_.assign(bytes.data(), bytes.size());
    record_.data = data_storage_;
  }
  // SetData without a copy: bytes lie inside owner (a str or bytes object), which is kept until the record is written.
  void SetDataOf(PyObject* owner, std::string_view bytes) {
    data_owner_ = OwnedRef::Borrow(owner);
    record_.data = bytes;
  }
  void SetKind(Kind kind) { record_.kind = kind; }
  void SetTypeOf(PyObject* obj);  // type_id = the CLASS record of type(obj)
  void AddFlags(uint32_t flags) { record_.flags |= flags; }
  // Records the pending Python error on the current record (flag + "error" attr) and clears it.
  void RecordPythonError(const char* what);
  void NoteCut(const char* reason) { ++stats_.cut[reason]; }
  void NoteFilename(PyObject* filename);
  const WalkLimits& limits() const { return limits_; }
  // The redacted replacement of a str or bytes whose content is `bytes`, or an empty reference when it holds no
  // secret (or redaction is off). Cheap for the common case: only strings that could hold a secret reach Python.
  OwnedRef Redacted(PyObject* value, std::string_view bytes);
  const TypePolicy& PolicyFor(PyTypeObject* type);
  // The slots of a class's instances, found once per class: the member descriptors in the dicts of the classes of
  // its MRO that are written in Python, in MRO and dict order.
  const std::vector<SlotMember>& SlotMembers(PyTypeObject* type);
  // Keeps an object alive until the walk ends, so its address cannot be reused by another object; lends it back.
  BorrowedRef KeepAlive(OwnedRef obj);

  // Known types from modules the program has imported (null when it has not: then it has no such objects).
  PyTypeObject* ordered_dict_type() const { return ordered_dict_type_; }
  PyTypeObject* defaultdict_type() const { return defaultdict_type_; }
  PyTypeObject* deque_type() const { return deque_type_; }
  // The C implementations of datetime's types and of decimal.Decimal (null when the program has not imported them,
  // or uses the pure Python ones): their reduce tuple is built from their fields (encoders_policy.cc, BuiltinReduce).
  struct ValueTypes {
    PyTypeObject* datetime = nullptr;
    PyTypeObject* date = nullptr;
    PyTypeObject* time = nullptr;
    PyTypeObject* timedelta = nullptr;
    PyTypeObject* decimal = nullptr;
  };
  const ValueTypes& value_types() const { return value_types_; }

 private:
  uint64_t Enqueue(PyObject* obj);  // 0 when cut
  // Bytes the object occupies, as its __sizeof__ says, computed without calling a __sizeof__ written in Python.
  uint64_t ShallowSize(PyObject* obj);
  void EncodeObject(PyObject* obj, uint64_t id);
  void WriteCutRecord(PyObject* obj, uint64_t id, const char* reason);
  absl::Status FlushRecord(PyObject* obj);
  bool OverBudget();
  uint64_t CutRecordBudget() const;
  void StartRecord(uint64_t id);
  void LookupKnownTypes();

  DumpFileWriter& writer_;
  WalkLimits limits_;
  OwnedRef policy_callback_;
  OwnedRef redactor_;  // null when redaction is off
  bool redact_every_string_ = false;
  SecretFilter secret_filter_;
  WalkStats stats_;

  // Every queued object, with its id. The memo owns a reference to each (released by ~Walker): one table both finds
  // an object again and keeps its address from being reused, without a second container growing per object. (A
  // Swiss table: inserting a new object reads only its small control bytes, where open addressing over the slots
  // themselves missed the cache on nearly every insert.)
  absl::flat_hash_map<PyObject*, uint64_t> memo_;
  bool memo_everything_ = false;
  std::vector<OwnedRef> keep_alive_;  // objects the walk made itself (reduce tuples, captured state)
  // The skeleton: what the loader needs to present the threads at all (the root, its lists and thread dicts, the
  // frames, their code and locals dicts, the names in the code). A positive time_limit or max_bytes that stops the
  // walk does not cut it, so a dump always has its threads, their objects cut and marked. Each queued object carries
  // its depth in the skeleton, or kNotSkeleton.
  static constexpr uint8_t kNotSkeleton = 255;
  // 16 bytes: the queue of a large heap holds hundreds of thousands (ids stay below 2^55).
  struct Queued {
    Queued(PyObject* object, uint64_t id, uint8_t skeleton, bool unshared)
        : obj(object), bits(id | (static_cast<uint64_t>(skeleton) << 55) | (unshared ? 1ull << 63 : 0)) {}
    uint64_t id() const { return bits & ((1ull << 55) - 1); }
    uint8_t skeleton() const { return static_cast<uint8_t>(bits >> 55); }
    // Held by one reference only when queued: not in the memo (see Enqueue); this entry owns a reference.
    bool unshared() const { return bits >> 63; }

    PyObject* obj;  // a reference owned by the memo, or by this entry when unshared()
    uint64_t bits;  // id | skeleton << 55 | unshared << 63
  };
  // Which children of a skeleton object at `depth` belong to the skeleton too.
  enum class SkeletonChildren { kNone, kAll, kNames };  // kNames: short str objects only (a locals dict's keys)
  static SkeletonChildren ExtendsSkeleton(PyObject* obj, uint8_t depth);
  std::deque<Queued> queue_;
  // While encoding a skeleton object that extends it: its children's depth, and which of them.
  uint8_t child_skeleton_ = kNotSkeleton;
  SkeletonChildren skeleton_children_ = SkeletonChildren::kNone;
  bool exempt_from_limits_ = false;                          // set while PutAttrExempt queues its value
  absl::flat_hash_set<PyObject*> exempt_;                    // queued by PutAttrExempt: never cut when popped
  absl::flat_hash_map<std::string, OwnedRef> attr_strings_;  // PutAttrStr's str objects by text
  uint64_t next_id_ = 1;
  const char* stop_reason_ = nullptr;  // set once a walk-wide limit is hit; later objects are cut
  std::chrono::steady_clock::time_point start_;

  absl::flat_hash_map<PyTypeObject*, TypePolicy> policies_;
  OwnedRef reduce_ex_name_;  // interned "__reduce_ex__" and "__reduce__"
  OwnedRef reduce_name_;
  absl::flat_hash_map<PyTypeObject*, PyCFunction> c_sizeof_;
  absl::flat_hash_map<PyTypeObject*, std::vector<SlotMember>>
      slot_members_;  // a builtin type's __sizeof__ in C, or null
  absl::flat_hash_set<PyObject*> filenames_seen_;

  RecordView record_;  // the record being encoded; its items and attrs are items_ and attrs_
  std::string data_storage_;
  OwnedRef data_owner_;
  // FlushRecord's recent stats_.types entries by type, direct-mapped: records of a few types interleave.
  struct TypeStatsCache {
    PyTypeObject* type = nullptr;
    std::pair<uint64_t, uint64_t>* stats = nullptr;
  };
  TypeStatsCache type_stats_cache_[64];
  ByteBuffer items_;
  ByteBuffer attrs_;
  uint64_t item_count_ = 0;
  uint64_t attr_count_ = 0;
  uint64_t cut_items_ = 0;  // items of the current record that are cut values

  PyTypeObject* ordered_dict_type_ = nullptr;
  PyTypeObject* defaultdict_type_ = nullptr;
  PyTypeObject* deque_type_ = nullptr;
  ValueTypes value_types_;
};

// Encoders per object family (encoders.cc dispatches to encoders_*.cc). Each fills the walker's current record for
// one object.
void EncodeObjectFamily(Walker& walker, PyObject* obj);

// Whether a class was made by a class statement (type.__new__), as opposed to by an extension module. The flags do
// not tell: Cython makes heap types without Py_TPFLAGS_IMMUTABLETYPE, whose instances keep their state in C fields.
// type.__new__ gives every class it makes the same deallocator, which an extension type replaces with its own.
bool IsClassStatementType(PyTypeObject* type);

}  // namespace pyheapdump
