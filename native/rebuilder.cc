// The loader's core in one file (~950 lines): the order objects are made in, the pending fills and the bulk kinds
// share one state (made objects, pending fills, their order) that splitting would have to pass around.
#include "rebuilder.h"

#include <algorithm>
#include <string>
#include <utility>

namespace pyheapdump {
namespace {

// Python fills nested in other fills past this depth are left to the outer drain (Rebuilder._complete in
// pyheapdump/load/), but for the object Complete was asked for.
constexpr int kMaxNestedFills = 50;

bool IsShellKind(Kind kind) {
  switch (kind) {
    case Kind::kList:
    case Kind::kDict:
    case Kind::kSet:
    case Kind::kDeque:
    case Kind::kInstance:
    case Kind::kFrame:
    case Kind::kTraceback:
    case Kind::kCell:
    case Kind::kFunction:
    case Kind::kModule:
    case Kind::kGenerator:
    case Kind::kSurrogate:
      return true;
    default:
      return false;
  }
}

// Objects that hold no other object: complete as soon as they exist (made from a STR, BYTES, BIGINT, COMPLEX or
// BYTEARRAY record, or by a call that returned one).
bool HoldsNoObject(PyObject* obj) {
  return PyUnicode_CheckExact(obj) || PyBytes_CheckExact(obj) || PyLong_CheckExact(obj) || PyComplex_CheckExact(obj) ||
         PyByteArray_CheckExact(obj);
}

// Kinds whose objects are used by reference: what is made from them needs them to exist, not to be filled.
bool IsByReference(Kind kind) {
  switch (kind) {
    case Kind::kClass:
    case Kind::kFunction:
    case Kind::kModule:
    case Kind::kCode:
    case Kind::kFrame:
    case Kind::kTraceback:
    case Kind::kGenerator:
    case Kind::kException:
      return true;
    default:
      return false;
  }
}

// Attributes an immutable record needs made before it is constructed (_CONSTRUCTION_ATTRS in pyheapdump/load/).
bool IsConstructionAttribute(std::string_view name) {
  static constexpr std::string_view kNames[] = {"module",      "qualname", "name",       "importable", "filename",
                                                "firstlineno", "varnames", "real",       "imag",       "start",
                                                "stop",        "step",     "exceptions", "capture",    "state"};
  for (std::string_view candidate : kNames) {
    if (name == candidate) return true;
  }
  return false;
}

bool IsStateAttribute(std::string_view name) { return name.substr(0, 5) == "dict:" || name.substr(0, 5) == "slot:"; }

// A builtin container the core makes itself: exact type, not truncated (it may hold placeholders of cut values).
// Instances of this type hold no reference but to their type: no instance dict, no weakref list, no slots, and the
// builtin their layout comes from holds none either (str, bytes, object).
bool HoldsNoReferences(PyTypeObject* type) {
  if (type->tp_dictoffset != 0 || type->tp_weaklistoffset != 0 || type->tp_del != nullptr ||
      type->tp_finalize != nullptr) {
    return false;
  }
  PyObject* mro = type->tp_mro;
  if (mro == nullptr || !PyTuple_Check(mro)) return false;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); ++i) {
    auto* base = reinterpret_cast<PyTypeObject*>(PyTuple_GET_ITEM(mro, i));
    if (base->tp_flags & Py_TPFLAGS_HEAPTYPE) {
      if (base->tp_basicsize != type->tp_basicsize && base != type) return false;  // slots of its own
      continue;
    }
    // The first builtin in the MRO gives the layout.
    return !PyType_IS_GC(base) && base->tp_basicsize == type->tp_basicsize;
  }
  return false;
}

// Sets the "finalized" bit of a GC object's header: CPython runs an object's tp_finalize at most once (PEP 442) and
// remembers it there, so its finalizer never runs. The header's layout is CPython's own (two words before the
// object, bit 0 of the second, in 3.8 to 3.14); PyObject_GC_IsFinalized, the public reader of that bit, confirms
// the write, and where it does not (a free-threaded build keeps the bit elsewhere) nothing is changed.
bool MarkFinalized(PyObject* obj) {
#ifdef Py_GIL_DISABLED
  return false;
#else
  if (PyObject_GC_IsFinalized(obj)) return true;
  struct GcHeader {
    uintptr_t next;
    uintptr_t prev;
  };
  GcHeader* header = reinterpret_cast<GcHeader*>(obj) - 1;
  header->prev |= uintptr_t{1};
  if (PyObject_GC_IsFinalized(obj)) return true;
  header->prev &= ~uintptr_t{1};
  return false;
#endif
}

bool IsPlain(const StoredRecord& record) { return record.type_id == 0 && (record.flags & ~kFlagCutItems) == 0; }

}  // namespace

std::string OneLine(std::string_view message, size_t limit) {
  // A problem is one line of the load's warning: a message of many lines (pybind11 lists every signature that did
  // not match) keeps its first non-empty one, and a long one is cut.
  size_t start = message.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return "";
  message.remove_prefix(start);
  std::string_view line = message.substr(0, message.find_first_of("\r\n"));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.size() <= limit) return std::string(line);
  // Cut at a UTF-8 character boundary, so the text stays decodable.
  size_t cut = limit > 3 ? limit - 3 : 0;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
  return std::string(line.substr(0, cut)) + "...";
}

namespace {

// "Name: message" of the pending exception, which is cleared.
std::string TakeExceptionText() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  OwnedRef owned_type = OwnedRef::Steal(type), owned_value = OwnedRef::Steal(value),
           owned_traceback = OwnedRef::Steal(traceback);
  std::string text = "Exception";
  if (type != nullptr && PyType_Check(type)) {
    OwnedRef name = OwnedRef::Steal(PyType_GetName(reinterpret_cast<PyTypeObject*>(type)));
    const char* utf8 = name ? PyUnicode_AsUTF8(name.get()) : nullptr;
    if (utf8 != nullptr) text = utf8;
  }
  OwnedRef message = OwnedRef::Steal(value != nullptr ? PyObject_Str(value) : nullptr);
  const char* utf8 = message ? PyUnicode_AsUTF8(message.get()) : nullptr;
  PyErr_Clear();
  return text + ": " + OneLine(utf8 != nullptr ? utf8 : "<unprintable>");
}

// An Exception is one object's problem; anything else (KeyboardInterrupt, SystemExit) stops the load, and so does
// running out of memory: a load that goes on without memory only fails later, or presents a half-made heap.
bool PendingIsOneObjectsProblem() {
  return PyErr_ExceptionMatches(PyExc_Exception) && !PyErr_ExceptionMatches(PyExc_MemoryError);
}

}  // namespace

Rebuilder::Rebuilder(BorrowedRef handler, BorrowedRef problems, uint64_t first_unwritten, uint64_t expected_records)
    : handler_(OwnedRef::Borrow(handler)), problems_(OwnedRef::Borrow(problems)), first_unwritten_(first_unwritten) {
  // A forged summary may claim any count: the reservation is capped at what a dump's chunks can hold.
  size_t expected = static_cast<size_t>(std::min<uint64_t>(expected_records, uint64_t{1} << 28));
  store_.Reserve(expected);
  try {
    made_.reserve(expected);
  } catch (const std::bad_alloc&) {
    // Only a hint.
  }
}

// ---- reading ----

absl::Status Rebuilder::Load(DumpFileReader& reader) {
  absl::Status status = reader.ForEachStoredRecord([&](const StoredRecord& record) -> absl::Status {
    OwnedRef early;
    absl::Status valid = Validate(record);
    std::string_view data = record.data;
    if (valid.ok() && record.kind == Kind::kStr) {
      early = OwnedRef::Steal(PyUnicode_DecodeUTF8(data.data(), data.size(), "surrogatepass"));
      if (!early) {
        valid = PyErr_ExceptionMatches(PyExc_MemoryError) ? OutOfMemoryError("out of memory")
                                                          : absl::InvalidArgumentError("string is not UTF-8");
        PyErr_Clear();
      }
    } else if (valid.ok() && record.kind == Kind::kBytes) {
      early = OwnedRef::Steal(PyBytes_FromStringAndSize(data.data(), data.size()));
      if (!early) {
        PyErr_Clear();
        valid = OutOfMemoryError("out of memory");
      }
    }
    if (IsOutOfMemory(valid)) return valid;
    if (!valid.ok()) {
      warnings_.push_back("record " + std::to_string(record.id) + ": " + std::string(valid.message()));
      return absl::OkStatus();
    }
    // str and bytes are made as they are read, but for a cut one: the handler makes it, marked as cut. The store
    // keeps no second copy of the bytes of an object already made (RecordTuple hands out the object instead).
    if (record.flags & kFlagTruncated) early = OwnedRef();
    has_cut_records_ |= (record.flags & kFlagCutRecord) != 0;
    if (!store_.Add(record, /*keep_data=*/!early)) return OutOfMemoryError("out of memory while reading the records");
    made_.push_back(std::move(early));
    return absl::OkStatus();
  });
  reader.ReleaseResidentPages();  // every record is in the store now
  if (status.ok()) {
    if (!store_.Index()) return OutOfMemoryError("out of memory while indexing the records");
    state_.assign(store_.size(), 0);
    if (has_cut_records_ || first_unwritten_ != 0) MarkContainersOfCutRecords();
  }
  return status;
}

bool Rebuilder::IsCutReference(uint64_t oid) const {
  Found child = Find(oid);
  if (child) return (child->flags & kFlagCutRecord) != 0;
  return first_unwritten_ != 0 && oid >= first_unwritten_;
}

void Rebuilder::MarkContainersOfCutRecords() {
  // The walker wrote these containers before the stop, not knowing that objects it had queued for them would be cut;
  // only a complete read of the records tells. One pass over the containers' items, and only for a stopped walk.
  for (size_t position = 0; position < store_.size(); ++position) {
    StoredRecord record = store_.At(position);
    if (!IsContainerKind(record.kind) || (record.flags & kFlagCutItems)) continue;
    bool holds_cut = false;
    // Load validated every record, so a parse error cannot happen here; the visitor's Cancelled stops the parse at
    // the first cut reference, which is all this needs to know.
    absl::Status stopped =
        ParseItems(record.items, /*make_atoms=*/false, [&](uint64_t, DecodedValue&& value) -> absl::Status {
          if (value.type != DecodedValue::Type::kRef || !IsCutReference(value.id)) return absl::OkStatus();
          holds_cut = true;
          return absl::CancelledError("a cut reference");
        });
    static_cast<void>(stopped);
    if (holds_cut) store_.AddFlags(position, kFlagCutItems);
  }
}

// The placeholder of a cut record, as one of a cut value of the same class and reason: the reason is the record's
// "reason" attribute ("cut:time_limit"), a str made when the records were read.
OwnedRef Rebuilder::CutRecordPlaceholder(const StoredRecord& record) {
  Parsed parsed;
  if (!Parse(record, false, &parsed)) return OwnedRef();
  uint64_t reason = 0;
  for (const auto& [name, value] : parsed.attrs) {
    if (name != "reason") continue;
    if (value.type == DecodedValue::Type::kCut) {
      reason = value.reason;
    } else if (value.type == DecodedValue::Type::kRef) {
      BorrowedRef text = Lookup(value.id);
      if (text && PyUnicode_CheckExact(text.get())) {
        for (auto [candidate, code] :
             {std::pair<const char*, uint64_t>{"cut:max_objects", 1}, {"cut:max_bytes", 2}, {"cut:time_limit", 3}}) {
          if (PyUnicode_CompareWithASCIIString(text.get(), candidate) == 0) reason = code;
        }
      }
    }
  }
  if (reason == 0) return HandlerMake(record, /*shell=*/false);  // a reason this core does not know: the general way
  return CutPlaceholder(reason, record.type_id);
}

// Checks that a record decodes, as DecodeRecord would, without making anything but its attribute names.
absl::Status Rebuilder::Validate(const StoredRecord& record) {
  absl::Status status = CheckItems(record.items);
  if (!status.ok()) return status;
  return CheckAttrs(record.attrs);
}

Rebuilder::Found Rebuilder::Find(uint64_t oid) const {
  size_t position = 0;
  if (!store_.Position(oid, &position)) return std::nullopt;
  if (store_.Released(position)) {
    // A finished object's record, released (MarkFinished): what is left of it is its kind, all that a caller that
    // meets a finished object reads (the others stop at its kCompleted mark).
    StoredRecord released;
    released.id = oid;
    released.kind = store_.ReleasedKind(position);
    return released;
  }
  return store_.At(position);
}

bool Rebuilder::IsFinished(uint64_t oid) const {
  size_t position = 0;
  if (!Position(oid, &position)) return false;
  if (state_[position] & kCompleted) return true;
  PyObject* made = made_[position].get();
  return made != nullptr && HoldsNoObject(made);
}

namespace {

// The records the loader reads no more once their object is finished: what the core made from them alone, whose
// items nothing else reads (a handler reading a reduce's state needs only its kind). Not a class, function, module,
// frame or code record (read again whenever an instance, a reduce or a frame names it), nor a str or bytes one.
bool IsReleasable(const StoredRecord& record) {
  switch (record.kind) {
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kDict:
    case Kind::kSet:
    case Kind::kFrozenSet:
      return record.type_id == 0 && record.flags == 0;
    case Kind::kCall:
    case Kind::kInstance:  // filled by the core (FillInstance): its class's record is the one read again
      return record.flags == 0;
    default:
      return false;
  }
}

}  // namespace

void Rebuilder::MarkFinished(size_t position, const StoredRecord& record) {
  state_[position] |= kCompleted;
  if (IsReleasable(record)) store_.Release(position, record.kind);
}

bool Rebuilder::Parse(const StoredRecord& record, bool make_atoms, Parsed* parsed) {
  absl::Status status = ParseItems(
      record.items, make_atoms,
      [parsed](uint64_t count) {
        parsed->items.reserve(count);
        return absl::OkStatus();
      },
      [parsed](uint64_t, DecodedValue&& value) {
        parsed->items.push_back(std::move(value));
        return absl::OkStatus();
      });
  if (status.ok()) {
    status = ParseAttrs(record.attrs, make_atoms, [parsed](std::string_view name, DecodedValue&& value) {
      parsed->attrs.emplace_back(name, std::move(value));
      return absl::OkStatus();
    });
  }
  return SucceededOrMemoryError(status);
}

absl::StatusOr<OwnedRef> Rebuilder::AttributeName(std::string_view bytes) {
  auto found = names_.find(absl::string_view(bytes.data(), bytes.size()));
  if (found != names_.end()) return found->second;
  absl::StatusOr<OwnedRef> decoded = DecodeAttributeName(bytes);
  if (!decoded.ok()) return decoded.status();
  PyObject* name = decoded->release();
  PyUnicode_InternInPlace(&name);  // the keys of every instance dict built from this name share one object
  OwnedRef owned = OwnedRef::Steal(name);
  names_.emplace(std::string(bytes), owned);
  return owned;
}

absl::StatusOr<OwnedRef> Rebuilder::RecordTuple(uint64_t oid) {
  size_t position = 0;
  if (!store_.Position(oid, &position)) return OwnedRef::Borrow(Py_None);
  if (store_.Released(position)) return ReleasedRecordTuple(oid, store_.ReleasedKind(position));
  StoredRecord record = store_.At(position);
  // A str or bytes made as it was read has no bytes in the store: its object is the record's data.
  BorrowedRef made_data;
  if ((record.kind == Kind::kStr || record.kind == Kind::kBytes) && !(record.flags & kFlagTruncated)) {
    made_data = made_[position].borrow();
  }
  // Load checked that every record decodes, so an error is memory; an InvalidArgument if it ever is not, which the
  // bindings raise as a ValueError, which the handler takes for a damaged record rather than ending the load.
  return DecodeRecord(record, made_data);
}

// ---- the objects map ----

BorrowedRef Rebuilder::Lookup(uint64_t oid) {
  size_t position = 0;
  if (Position(oid, &position)) return made_[position].borrow();
  auto found = made_without_record_.find(oid);
  return found == made_without_record_.end() ? BorrowedRef() : found->second.borrow();
}

bool Rebuilder::Store(uint64_t oid, BorrowedRef obj) {
  size_t position = 0;
  if (Position(oid, &position)) return StoreAt(position, obj);
  DisarmFinalizer(obj.get());
  made_without_record_[oid] = OwnedRef::Borrow(obj);
  return true;
}

bool Rebuilder::StoreAt(size_t position, BorrowedRef obj) {
  DisarmFinalizer(obj.get());
  made_[position] = OwnedRef::Borrow(obj);
  return true;
}

// Every object a load makes is made from dumped state, not by the dumped program: its finalizer must not run here when
// the dump is dropped (tempfile's closer would unlink the dumped path on this machine, an asyncio transport's would
// close the rebuilt loop's selector), in any mode.
void Rebuilder::DisarmFinalizer(PyObject* obj) {
  if (Py_TYPE(obj)->tp_finalize == nullptr || !PyObject_IS_GC(obj)) return;
  if (!MarkFinalized(obj) && !finalizer_warned_) {
    finalizer_warned_ = true;
    OwnedRef text = OwnedRef::Steal(PyUnicode_FromString(
        "this Python keeps the finalized mark of objects elsewhere: finalizers (__del__) of loaded objects may run "
        "when the dump is dropped"));
    if (!text || PyList_Append(problems_.get(), text.get()) < 0) PyErr_Clear();
  }
}

// ---- getting objects by id (Rebuilder.get and _build in pyheapdump/load/) ----

void Rebuilder::Abandon(bool empty_containers) {
  // Drop every object made so far (outer C++ frames keep their own references to the ones they use), so the Python
  // code the MemoryError unwinds through has memory to run its handlers again: CPython 3.11 and 3.13.0 loop for ever
  // in a handler that cannot allocate its resume position. The records stay: frames below may still point into them.
  // The containers made are kept until a call with empty_containers (the outermost one) empties them: emptying them
  // now could pull items from under a frame still filling one.
  abandoned_ = true;
  PyObject *type, *value, *traceback;  // the MemoryError, kept aside while objects are freed
  PyErr_Fetch(&type, &value, &traceback);
  for (size_t position = 0; position < made_.size(); ++position) {
    if (!made_[position] || !IsMadeContainer(position)) {
      made_[position] = OwnedRef();
    } else if (empty_containers) {
      EmptyContainer(made_[position].get());
      made_[position] = OwnedRef();
    }
  }
  made_without_record_.clear();
  for (uint8_t& state : state_) state &= static_cast<uint8_t>(~kFillKindBits);
  python_fills_.clear();
  fill_order_.clear();
  hash_fill_order_.clear();
  instance_classes_.clear();
  reduce_callables_.clear();
  cut_classes_.clear();
  cut_container_classes_.clear();
  PyErr_Restore(type, value, traceback);
}

bool Rebuilder::IsMadeContainer(size_t position) const {
  // Only the plain containers this core made from their records: a record of another kind may stand for a real
  // object (a module or class, in a trusted load) that is not the loader's to change.
  Kind kind = Kind::kSurrogate;
  if (store_.Released(position)) {
    kind = store_.ReleasedKind(position);  // released only when plain (IsReleasable)
  } else {
    StoredRecord record = store_.At(position);
    if (!IsPlain(record)) return false;
    kind = record.kind;
  }
  PyObject* obj = made_[position].get();
  return (kind == Kind::kList && PyList_CheckExact(obj)) || (kind == Kind::kDict && PyDict_CheckExact(obj)) ||
         (kind == Kind::kSet && PySet_CheckExact(obj));
}

void Rebuilder::EmptyContainer(PyObject* container) {
  // Allocates nothing: a list's items, a dict's or set's table are freed and replaced by the empty ones.
  if (PyList_CheckExact(container)) {
    if (PyList_SetSlice(container, 0, PY_SSIZE_T_MAX, nullptr) != 0) PyErr_Clear();
  } else if (PyDict_CheckExact(container)) {
    PyDict_Clear(container);
  } else if (PySet_Clear(container) != 0) {
    PyErr_Clear();
  }
}

bool Rebuilder::Abandoned() const {
  if (abandoned_) PyErr_SetString(PyExc_MemoryError, "the load ran out of memory");
  return abandoned_;
}

absl::StatusOr<OwnedRef> Rebuilder::Get(uint64_t oid) {
  OwnedRef obj = Object(oid);
  if (!obj) return PythonErrorPending();
  return obj;
}

bool Rebuilder::Marked(uint64_t oid, Mark mark) const {
  size_t position = 0;
  if (Position(oid, &position)) return state_[position] & mark;
  auto found = marks_without_record_.find(oid);
  return found != marks_without_record_.end() && (found->second & mark);
}

void Rebuilder::SetMark(uint64_t oid, Mark mark) {
  size_t position = 0;
  bool was = false;
  if (Position(oid, &position)) {
    was = state_[position] & mark;
    state_[position] |= mark;
  } else {
    was = marks_without_record_[oid] & mark;
    marks_without_record_[oid] |= mark;
  }
  if (mark == kMaking && !was) ++objects_being_made_;
}

bool Rebuilder::ClearMark(uint64_t oid, Mark mark) {
  size_t position = 0;
  if (Position(oid, &position)) {
    bool was = state_[position] & mark;
    state_[position] &= static_cast<uint8_t>(~mark);
    if (mark == kMaking && was) --objects_being_made_;
    return was;
  }
  auto found = marks_without_record_.find(oid);
  if (found == marks_without_record_.end() || !(found->second & mark)) return false;
  found->second &= static_cast<uint8_t>(~mark);
  if (found->second == 0) marks_without_record_.erase(found);
  if (mark == kMaking) --objects_being_made_;
  return true;
}

OwnedRef Rebuilder::Object(uint64_t oid) {
  if (Abandoned()) return OwnedRef();
  // The id is looked up once here and the position passed on: on a heap of millions of objects the repeated
  // lookups were a large part of building each one.
  size_t position = 0;
  if (!Position(oid, &position)) {
    auto found = made_without_record_.find(oid);
    if (found != made_without_record_.end()) return found->second;
    return PyErr_Occurred() ? OwnedRef() : Build(oid);
  }
  if (made_[position]) return made_[position];
  if (PyErr_Occurred()) return OwnedRef();
  StoredRecord record = store_.At(position);
  if (IsPlain(record)) {
    // Plain lists, dicts, sets and tuples of atoms, the bulk of most heaps. A dict or set holding cut values may
    // need the handler, which Build guards against re-entry.
    bool complete = record.flags == 0;
    if (complete && record.kind == Kind::kDict) {
      OwnedRef dict = DictOfFinishedValues(record, position);
      if (dict) MarkFinished(position, record);
      if (dict || PyErr_Occurred()) return dict;
    }
    if (record.kind == Kind::kList || (complete && (record.kind == Kind::kDict || record.kind == Kind::kSet))) {
      return MakeShell(record, position);
    }
    if (complete && record.kind == Kind::kTuple) {
      // A tuple of atoms and of str or bytes already made is made here, straight from the checked bytes; one holding
      // anything else, or marked as holding cut values, is built the general way, after what it holds.
      OwnedRef tuple;
      bool atoms_only = false;
      bool read = ReadingCheckedBytes([&] {
        Cursor items(record.items);
        uint64_t count = items.Count();
        tuple = OwnedRef::Steal(PyTuple_New(static_cast<Py_ssize_t>(count)));
        if (!tuple) return false;
        for (uint64_t i = 0; i < count; ++i) {
          RawValue raw = ReadRawValue(items);
          if (raw.tag == ValueTag::kCut) return true;
          OwnedRef item;
          if (raw.tag == ValueTag::kRef) {
            BorrowedRef made = MadeStrOrBytes(raw.number);
            if (!made) return true;
            item = OwnedRef::Borrow(made);
          } else {
            item = AtomObject(raw);
            if (!item) return false;
          }
          PyTuple_SET_ITEM(tuple.get(), static_cast<Py_ssize_t>(i), item.release());
        }
        atoms_only = true;
        return true;
      });
      if (!read) return OwnedRef();
      if (atoms_only) {
        if (!StoreAt(position, tuple.borrow())) return OwnedRef();
        MarkFinished(position, record);
        return tuple;
      }
    }
  } else if (record.kind == Kind::kInstance && record.flags == 0) {
    // Instances of a class that loads as a surrogate: the bulk of an application's heap.
    BorrowedRef cls;
    if (!InstanceClass(record.type_id, &cls)) return OwnedRef();
    if (cls) {
      OwnedRef no_args = OwnedRef::Steal(PyTuple_New(0));
      if (!no_args) return OwnedRef();
      OwnedRef obj =
          OwnedRef::Steal(PyBaseObject_Type.tp_new(reinterpret_cast<PyTypeObject*>(cls.get()), no_args.get(), nullptr));
      if (!obj || !StoreAt(position, obj.borrow())) return OwnedRef();
      DeferNative(position, FillKind::kInstance, obj.borrow(), /*hashing=*/false);
      return obj;
    }
  } else if (record.kind == Kind::kCall && record.flags == 0) {
    // A datetime, a Decimal, a UUID: a safe callable called with atoms, str or bytes already made, from the checked
    // bytes, without Build's bookkeeping (a fifth of the records of a heap of such values). One whose callable or
    // arguments are not all made yet, or not finished, takes the general way, as one whose call fails does (Build
    // calls it again there, and reports the failure).
    OwnedRef made = ConstructFastReduce(record);
    if (made) {
      if (!StoreAt(position, made.borrow())) return OwnedRef();
      MarkFinished(position, record);  // called with finished arguments only
      return made;
    }
    if (PyErr_Occurred()) {
      if (!PendingIsOneObjectsProblem()) return OwnedRef();
      PyErr_Clear();
    }
  }
  return Build(oid);
}

OwnedRef Rebuilder::Build(uint64_t root) {
  if (Marked(root, kMaking)) return CallHandler("made_of_itself", root);
  IdList stack = {root};
  while (!stack.empty()) {
    uint64_t oid = stack.back();
    if (Marked(oid, kMaking)) {
      stack.pop_back();
      continue;
    }
    if (Lookup(oid)) {
      stack.pop_back();
      continue;
    }
    if (PyErr_Occurred()) return OwnedRef();
    size_t position = 0;
    Found record;
    if (Position(oid, &position)) record = store_.At(position);
    OwnedRef made;
    if (!record) {
      made = CallHandler("lost", oid);
    } else if (record->flags & kFlagCutRecord) {
      made = CutRecordPlaceholder(*record);
    } else if (IsShellKind(record->kind)) {
      made = MakeShell(*record, position);
    } else {
      // Back on top after its dependencies were pushed: they were made (or could not be), so make it now.
      if (!ClearMark(oid, kExpanding)) {
        IdList dependencies;
        if (!Dependencies(*record, &dependencies)) return OwnedRef();
        if (!dependencies.empty()) {
          SetMark(oid, kExpanding);
          stack.insert(stack.end(), dependencies.begin(), dependencies.end());
          continue;
        }
      }
      if (Lookup(oid)) {  // a dependency's making made this one too
        stack.pop_back();
        continue;
      }
      made = Construct(*record, oid);
    }
    if (!made) return OwnedRef();
    if (!Store(oid, made.borrow())) return OwnedRef();
    stack.pop_back();
  }
  BorrowedRef obj = Lookup(root);
  if (!obj) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_RuntimeError, "record %llu was not made", (unsigned long long)root);
    return OwnedRef();
  }
  return OwnedRef::Borrow(obj);
}

bool Rebuilder::Dependencies(const StoredRecord& record, IdList* dependencies) {
  // Lookup only reads, and the order of the dependencies is the order of the record: items, attributes, type.
  auto consider = [&](uint64_t candidate) {
    if (!Lookup(candidate)) {
      if (PyErr_Occurred()) return false;
      dependencies->push_back(candidate);
    }
    return true;
  };
  return ReadingCheckedBytes([&] {
    Cursor items(record.items);
    uint64_t count = items.Count();
    uint64_t considered = record.kind == Kind::kReduce ? std::min<uint64_t>(count, 2) : count;
    for (uint64_t i = 0; i < considered; ++i) {
      RawValue raw = ReadRawValue(items);
      if (raw.tag == ValueTag::kRef && !consider(raw.number)) return false;
    }
    Cursor attrs(record.attrs);
    for (uint64_t left = attrs.Count(); left > 0; --left) {
      std::string_view name = attrs.Bytes(attrs.Varint());
      RawValue raw = ReadRawValue(attrs);
      if (raw.tag == ValueTag::kRef && IsConstructionAttribute(name) && !consider(raw.number)) return false;
    }
    return record.type_id == 0 || consider(record.type_id);
  });
}

OwnedRef Rebuilder::MakeShell(const StoredRecord& record, size_t position) {
  if (IsPlain(record) && (record.kind == Kind::kList || record.kind == Kind::kDict || record.kind == Kind::kSet)) {
    OwnedRef shell;
    FillKind fill = FillKind::kList;
    BorrowedRef marked;  // the class of a container holding placeholders
    if ((record.flags & kFlagCutItems) && !CutContainerClass(record.kind, &marked)) return OwnedRef();
    if (marked) {
      shell = OwnedRef::Steal(PyObject_CallNoArgs(OwnedRef::Borrow(marked).get()));
      fill = record.kind == Kind::kList   ? FillKind::kList
             : record.kind == Kind::kDict ? FillKind::kDict
                                          : FillKind::kSet;
    } else if (record.flags & kFlagCutItems) {
      return HandlerMake(record, /*shell=*/true);
    } else if (record.kind == Kind::kList) {
      // Made at its full length, each slot holding None until the fill puts the item there: the items need no list
      // of their own to be copied from (on a list of a million, 8 MB less and no copy).
      uint64_t count = 0;
      try {
        Cursor items(record.items);
        count = items.Count();
      } catch (const FormatError&) {
        // Load checked the record; a list that cannot say its length is filled the general way.
      }
      shell = OwnedRef::Steal(PyList_New(static_cast<Py_ssize_t>(count)));
      for (uint64_t i = 0; shell && i < count; ++i) {
        PyList_SET_ITEM(shell.get(), static_cast<Py_ssize_t>(i), Py_NewRef(Py_None));
      }
    } else if (record.kind == Kind::kDict) {
      shell = OwnedRef::Steal(PyDict_New());
      fill = FillKind::kDict;
    } else {
      shell = OwnedRef::Steal(PySet_New(nullptr));
      fill = FillKind::kSet;
    }
    if (!shell || !StoreAt(position, shell.borrow())) return OwnedRef();
    DeferNative(position, fill, shell.borrow(), /*hashing=*/fill != FillKind::kList);
    return shell;
  }
  return HandlerMake(record, /*shell=*/true);
}

OwnedRef Rebuilder::DictOfFinishedValues(const StoredRecord& record, size_t position) {
  // Larger dicts take the general path: a dict that turns out to hold a container would be read twice, and the
  // values of a small one fit in the inline vector. Read straight from the bytes Load checked (no visitor, no
  // DecodedValue): this runs once for most records of a service's heap.
  constexpr uint64_t kMostItems = 16;
  absl::InlinedVector<OwnedRef, kMostItems> values;
  try {
    Cursor cursor(record.items);
    uint64_t count = cursor.Count();
    if (count > kMostItems) return OwnedRef();
    for (uint64_t i = 0; i < count; ++i) {
      RawValue raw = ReadRawValue(cursor);
      if (raw.tag == ValueTag::kCut) return OwnedRef();
      if (raw.tag != ValueTag::kRef) {
        values.push_back(AtomObject(raw));
        if (!values.back()) return OwnedRef();  // MemoryError set
        continue;
      }
      BorrowedRef made = MadeStrOrBytes(raw.number);
      if (!made) return OwnedRef();
      values.push_back(OwnedRef::Borrow(made));
    }
  } catch (const FormatError&) {
    return OwnedRef();  // Load checked the record: the general path reports what is wrong with it
  }
  OwnedRef dict = OwnedRef::Steal(PyDict_New());
  if (!dict) return OwnedRef();
  for (size_t i = 0; i + 1 < values.size(); i += 2) {
    if (PyDict_SetItem(dict.get(), values[i].get(), values[i + 1].get()) != 0) return OwnedRef();
  }
  if (!StoreAt(position, dict.borrow())) return OwnedRef();
  return dict;
}

OwnedRef Rebuilder::Construct(const StoredRecord& record, uint64_t oid) {
  bool plain_sequence = IsPlain(record) && (record.kind == Kind::kTuple || record.kind == Kind::kFrozenSet);
  if (plain_sequence || record.kind == Kind::kReduce || record.kind == Kind::kCall) {
    SetMark(oid, kMaking);
    OwnedRef made;
    if (plain_sequence && record.kind == Kind::kTuple && !(record.flags & kFlagCutItems)) {
      made = ItemValues(record, Sequence::kTuple);
    } else if (plain_sequence) {
      BorrowedRef marked;  // the class of a container holding placeholders
      OwnedRef values = ItemValues(record, Sequence::kList);
      if (values && (record.flags & kFlagCutItems)) {
        if (!CutContainerClass(record.kind, &marked)) {
          ClearMark(oid, kMaking);
          return OwnedRef();
        }
        if (marked) made = OwnedRef::Steal(PyObject_CallOneArg(OwnedRef::Borrow(marked).get(), values.get()));
      } else if (values) {
        made =
            OwnedRef::Steal(record.kind == Kind::kTuple ? PyList_AsTuple(values.get()) : PyFrozenSet_New(values.get()));
      }
    } else {
      made = ConstructFastReduce(record);
    }
    ClearMark(oid, kMaking);
    if (made) return made;
    // What failed here (an unhashable member of a damaged frozenset, a reduce refusing its arguments) goes the
    // general way, which records the problem and makes a surrogate.
    if (PyErr_Occurred()) {
      if (!PendingIsOneObjectsProblem()) return OwnedRef();
      PyErr_Clear();
    }
  }
  return HandlerMake(record, /*shell=*/false);
}

// A reduce `callable(*args)` with nothing else to apply, whose arguments are finished values and whose callable the
// handler declared safe for this load. Empty with no error set when the record needs the general path.
OwnedRef Rebuilder::ConstructFastReduce(const StoredRecord& record) {
  // A REDUCE's items: the callable, a TUPLE record of its arguments, then its state, list items and dict items (None
  // when absent); a CALL's: the callable, then the arguments themselves. Only a call with nothing after its
  // arguments is made here; read from the checked bytes, with no value made for them.
  const bool call = record.kind == Kind::kCall;
  uint64_t callable_id = 0, args_id = 0;
  absl::InlinedVector<RawValue, 4> arguments;  // a CALL's
  bool plain_call = false;
  bool read = ReadingCheckedBytes([&] {
    Cursor items(record.items);
    uint64_t count = items.Count();
    if (count < (call ? 1 : 2)) return true;
    RawValue callable = ReadRawValue(items);
    if (callable.tag != ValueTag::kRef) return true;
    callable_id = callable.number;
    if (call) {
      for (uint64_t i = 1; i < count; ++i) arguments.push_back(ReadRawValue(items));
      plain_call = true;
      return true;
    }
    RawValue args = ReadRawValue(items);
    if (args.tag != ValueTag::kRef) return true;
    for (uint64_t i = 2; i < count && i < 5; ++i) {
      if (ReadRawValue(items).tag != ValueTag::kNone) return true;
    }
    args_id = args.number;
    plain_call = true;
    return true;
  });
  if (!read || !plain_call) return OwnedRef();
  BorrowedRef callable;
  if (!ReduceCallable(callable_id, &callable) || !callable) return OwnedRef();
  // The call may reach the handler, and a MemoryError there abandons the load, which drops the maps the callable and
  // the arguments are borrowed from: the call holds its own references.
  OwnedRef held_callable = OwnedRef::Borrow(callable);
  if (call) return CallWithFinishedArguments(held_callable.borrow(), arguments);
  bool finished = false;
  if (!FinishedTuple(args_id, &finished) || !finished) return OwnedRef();
  BorrowedRef args = Lookup(args_id);
  if (!args || !PyTuple_CheckExact(args.get())) return OwnedRef();
  OwnedRef held_args = OwnedRef::Borrow(args);
  return OwnedRef::Steal(PyObject_Call(held_callable.get(), held_args.get(), nullptr));
}

OwnedRef Rebuilder::CallWithFinishedArguments(BorrowedRef callable, absl::Span<const RawValue> arguments) {
  absl::InlinedVector<OwnedRef, 4> values;
  for (const RawValue& argument : arguments) {
    if (!IsFinishedValue(argument)) return OwnedRef();  // the general path finishes it first
    values.push_back(ResolveRaw(argument));             // an atom, or a lookup of an object made and finished
    if (!values.back()) return OwnedRef();
  }
  absl::InlinedVector<PyObject*, 4> borrowed;
  for (const OwnedRef& value : values) borrowed.push_back(value.get());
  return OwnedRef::Steal(PyObject_Vectorcall(callable.get(), borrowed.data(), borrowed.size(), nullptr));
}

bool Rebuilder::FinishedTuple(uint64_t oid, bool* finished) {
  *finished = false;
  if (Marked(oid, kCompleted)) {  // its record may be released
    BorrowedRef made = Lookup(oid);
    *finished = made && PyTuple_CheckExact(made.get());
    return !PyErr_Occurred();
  }
  Found record = Find(oid);
  if (!record || record->kind != Kind::kTuple) return true;
  if (!Lookup(oid)) return !PyErr_Occurred();
  bool every_item_finished = false;
  bool read = ReadingCheckedBytes([&] {
    Cursor items(record->items);
    for (uint64_t left = items.Count(); left > 0; --left) {
      if (!IsFinishedValue(ReadRawValue(items))) return true;
    }
    every_item_finished = true;
    return true;
  });
  if (!read) return false;
  if (every_item_finished) {
    size_t position = 0;
    if (Position(oid, &position)) MarkFinished(position, *record);  // found by it
    *finished = true;
  }
  return true;
}

// ---- values ----

// One new placeholder per cut value (two cut keys must stay two keys), of a class the handler gives once per
// (reason, class): making it is a call of that class with no arguments, no Python frame.
OwnedRef Rebuilder::CutPlaceholder(uint64_t reason, uint64_t class_id) {
  auto key = std::make_pair(reason, class_id);
  auto found = cut_classes_.find(key);
  if (found == cut_classes_.end()) {
    OwnedRef cls = CallHandler("cut_class", reason, class_id);
    if (!cls) {
      if (!PyErr_Occurred() || !PendingIsOneObjectsProblem()) return OwnedRef();
      PyErr_Clear();
    }
    found = cut_classes_.emplace(key, cls && PyType_Check(cls.get()) ? cls : OwnedRef()).first;
  }
  if (!found->second) return CallHandler("cut", reason, class_id);
  OwnedRef cls = found->second;  // the call may abandon the load, which empties cut_classes_
  OwnedRef placeholder = OwnedRef::Steal(PyObject_CallNoArgs(cls.get()));
  if (placeholder && HoldsNoReferences(Py_TYPE(placeholder.get())) && PyObject_GC_IsTracked(placeholder.get())) {
    // Every instance of a class written in Python is tracked by the cycle collector, though a placeholder (no
    // dict, no slots, an empty str or plain object) can be in no cycle: millions of them made each collection
    // walk millions of objects, at load and at exit.
    PyObject_GC_UnTrack(placeholder.get());
  }
  return placeholder;
}

bool Rebuilder::CutContainerClass(Kind kind, BorrowedRef* cls) {
  auto key = static_cast<uint64_t>(kind);
  auto found = cut_container_classes_.find(key);
  if (found == cut_container_classes_.end()) {
    OwnedRef asked = CallHandler("cut_container_class", key);
    if (!asked) {
      // Without the marked class the general path makes the container.
      if (!PyErr_Occurred() || !PendingIsOneObjectsProblem()) return false;
      PyErr_Clear();
    }
    found = cut_container_classes_.emplace(key, asked && PyType_Check(asked.get()) ? asked : OwnedRef()).first;
  }
  *cls = found->second.borrow();
  return true;
}

template <class OnCount, class OnValue>
bool Rebuilder::ResolveEachItem(const StoredRecord& record, bool* all_finished, OnCount&& on_count,
                                OnValue&& on_value) {
  // Read straight from the bytes Load checked, with no visitor or DecodedValue per item: every item of every
  // container the core fills passes here.
  bool finished = true;
  bool resolved = ReadingCheckedBytes([&] {
    Cursor cursor(record.items);
    uint64_t count = cursor.Count();
    if (!on_count(count)) return false;
    for (uint64_t i = 0; i < count; ++i) {
      RawValue raw = ReadRawValue(cursor);
      OwnedRef value = ResolveRaw(raw);
      if (!value || !FinishItem(raw, &finished)) return false;  // with the error set
      if (!on_value(i, std::move(value))) return false;         // with the error set
    }
    return true;
  });
  *all_finished = resolved && finished;
  return resolved;
}

// Resolved one at a time from the blob: a list of a million items never exists twice over as decoded values.
OwnedRef Rebuilder::ItemValues(const StoredRecord& record, Sequence as, bool* all_finished) {
  const bool tuple = as == Sequence::kTuple;
  OwnedRef values;
  bool ignored = false;
  bool resolved = ResolveEachItem(
      record, all_finished ? all_finished : &ignored,
      [&](uint64_t count) {
        Py_ssize_t size = static_cast<Py_ssize_t>(count);
        values = OwnedRef::Steal(tuple ? PyTuple_New(size) : PyList_New(size));
        return bool(values);
      },
      [&](uint64_t index, OwnedRef value) {
        if (tuple) {
          PyTuple_SET_ITEM(values.get(), static_cast<Py_ssize_t>(index), value.release());
        } else {
          PyList_SET_ITEM(values.get(), static_cast<Py_ssize_t>(index), value.release());
        }
        return true;
      });
  return resolved ? values : OwnedRef();
}

// Every record was checked by Load, so a parse of one fails later only for memory (or a pending Python error): false,
// with an error set.
bool Rebuilder::SucceededOrMemoryError(const absl::Status& status) {
  if (status.ok()) return true;
  if (!PyErr_Occurred()) PyErr_SetString(PyExc_MemoryError, std::string(status.message()).c_str());
  return false;
}

// ---- the handler ----
// What the handler is asked, and by which names, is declared once on the Python side: the RebuildHandler protocol in
// pyheapdump/load/handler.py (its NATIVE_NAMES maps the names called here to the protocol's methods).

// Calls into the handler nest when the handler's objects need others the handler makes (a type whose record needs
// a type, ...). A forged file can chain records so that this nests without end; each level costs Python frames and
// C stack, and Python 3.13's C stack runs out before its recursion limit says so. Past this depth the call fails
// with RecursionError, which the handler takes for one object's problem.
constexpr int kMaxHandlerDepth = 200;

bool Rebuilder::EnterHandler() {
  if (!handler_) {
    PyErr_SetString(PyExc_RuntimeError, "this rebuilder is closed");
    return false;
  }
  if (handler_depth_ >= kMaxHandlerDepth) {
    PyErr_SetString(PyExc_RecursionError,
                    "the dump's records refer to each other deeper than a dump can nest "
                    "(a damaged or forged file)");
    return false;
  }
  ++handler_depth_;
  return true;
}

OwnedRef Rebuilder::CallHandler(const char* method, uint64_t a) {
  if (!EnterHandler()) return OwnedRef();
  OwnedRef result =
      OwnedRef::Steal(PyObject_CallMethod(handler_.get(), method, "K", static_cast<unsigned long long>(a)));
  --handler_depth_;
  return result;
}

OwnedRef Rebuilder::CallHandler(const char* method, uint64_t a, uint64_t b) {
  if (!EnterHandler()) return OwnedRef();
  OwnedRef result = OwnedRef::Steal(PyObject_CallMethod(
      handler_.get(), method, "KK", static_cast<unsigned long long>(a), static_cast<unsigned long long>(b)));
  --handler_depth_;
  return result;
}

OwnedRef Rebuilder::HandlerMake(const StoredRecord& record, bool shell) {
  if (!EnterHandler()) return OwnedRef();
  SetMark(record.id, kMaking);
  OwnedRef made = OwnedRef::Steal(PyObject_CallMethod(
      handler_.get(), "make", "KO", static_cast<unsigned long long>(record.id), shell ? Py_True : Py_False));
  ClearMark(record.id, kMaking);
  --handler_depth_;
  return made;
}

bool Rebuilder::AskHandlerOnce(absl::flat_hash_map<uint64_t, OwnedRef>& answers, const char* method, uint64_t id,
                               BorrowedRef* answer) {
  auto found = answers.find(id);
  if (found == answers.end()) {
    if (asking_.contains(id)) {  // a damaged file whose answer needs itself: the general path copes
      *answer = BorrowedRef();
      return true;
    }
    asking_.insert(id);
    OwnedRef asked = CallHandler(method, id);
    asking_.erase(id);
    if (!asked) {
      // A question the handler could not answer is no answer: the general path makes the object, or records why it
      // could not. Only what must end the load goes on.
      if (!PyErr_Occurred() || !PendingIsOneObjectsProblem()) return false;
      PyErr_Clear();
    }
    found = answers.emplace(id, !asked || asked.get() == Py_None ? OwnedRef() : asked).first;
  }
  *answer = found->second.borrow();
  return true;
}

bool Rebuilder::InstanceClass(uint64_t type_id, BorrowedRef* cls) {
  // Only a CLASS record can be a type. Anything else is damage: the general path copes, without asking about a
  // record that may lead to another and another (each one a nested call into the handler).
  Found type = Find(type_id);
  if (!type || type->kind != Kind::kClass) {
    *cls = BorrowedRef();
    return true;
  }
  return AskHandlerOnce(instance_classes_, "plain_surrogate_class", type_id, cls);
}

bool Rebuilder::ReduceCallable(uint64_t callable_id, BorrowedRef* callable) {
  return AskHandlerOnce(reduce_callables_, "fast_reduce_callable", callable_id, callable);
}

// ---- fills ----

void Rebuilder::DeferNative(size_t position, FillKind kind, BorrowedRef target, bool hashing) {
  if (PendingFill(position) == FillKind::kPython && kind != FillKind::kPython) python_fills_.erase(position);
  SetPendingFill(position, kind);
  if (kind == FillKind::kPython) python_fills_[position] = OwnedRef::Borrow(target);
  (hashing ? hash_fill_order_ : fill_order_).push_back(position);
}

bool Rebuilder::TakeFill(size_t position, Fill* fill) {
  fill->kind = PendingFill(position);
  if (fill->kind == FillKind::kNone) return false;
  SetPendingFill(position, FillKind::kNone);
  if (fill->kind == FillKind::kPython) {
    auto found = python_fills_.find(position);
    fill->target = std::move(found->second);
    python_fills_.erase(found);
  } else {
    fill->target = made_[position];  // a native fill fills the object made for its record
  }
  if (!fill->target) return false;
  return true;
}

void Rebuilder::Defer(uint64_t oid, BorrowedRef fill, bool hashing) {
  size_t position = 0;
  if (!Position(oid, &position)) return;  // every object with something left to fill was made from a record
  DeferNative(position, FillKind::kPython, fill, hashing);
}

bool Rebuilder::TakePending(std::vector<size_t>& order) {
  size_t position = order.back();
  order.pop_back();
  Fill fill;
  return !TakeFill(position, &fill) || RunFill(position, fill);
}

absl::Status Rebuilder::Drain(bool hashing) { return DrainFills(hashing) ? absl::OkStatus() : PythonErrorPending(); }

absl::Status Rebuilder::FinishNewFills() { return FinishFills() ? absl::OkStatus() : PythonErrorPending(); }

absl::Status Rebuilder::Complete(BorrowedRef raw) {
  return CompleteObject(raw) ? absl::OkStatus() : PythonErrorPending();
}

absl::Status Rebuilder::FillNow(BorrowedRef raw) {
  if (Abandoned()) return PythonErrorPending();
  if (!PyLong_CheckExact(raw.get())) return absl::OkStatus();
  uint64_t oid = PyLong_AsUnsignedLongLong(raw.get());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    return absl::OkStatus();
  }
  return FillOneNow(oid, /*with_parts=*/true) ? absl::OkStatus() : PythonErrorPending();
}

bool Rebuilder::FillOneNow(uint64_t oid, bool with_parts) {
  size_t position = 0;
  if (!Position(oid, &position)) return true;      // no record: a placeholder, nothing to fill
  if (state_[position] & kCompleted) return true;  // everything it holds is filled (and its record may be released)
  if (!Object(oid)) return false;
  Fill fill;
  if (TakeFill(position, &fill) && !RunFill(position, fill)) return false;
  if (!with_parts || (state_[position] & kCompleted)) return true;  // the fill may have finished it all
  StoredRecord record = store_.At(position);
  if (record.kind != Kind::kTuple) return true;
  // A tuple is made whole, holding its parts as they were made: shells, whose fills may still be pending.
  return ReadingCheckedBytes([&] {
    Cursor items(record.items);
    for (uint64_t left = items.Count(); left > 0; --left) {
      RawValue value = ReadRawValue(items);
      if (value.tag == ValueTag::kRef && !FillOneNow(value.number, /*with_parts=*/false)) return false;
    }
    return true;
  });
}

bool Rebuilder::DrainFills(bool hashing) {
  if (Abandoned()) return false;
  while (!fill_order_.empty() || (hashing && !hash_fill_order_.empty())) {
    while (!fill_order_.empty()) {
      if (!TakePending(fill_order_)) return false;
    }
    if (hashing && !hash_fill_order_.empty()) {
      if (!TakePending(hash_fill_order_)) return false;
    }
  }
  return true;
}

bool Rebuilder::FinishFills() { return nesting_ > 1 || DrainFills(/*hashing=*/false); }

bool Rebuilder::RunFill(size_t position, const Fill& fill) {
  ++nesting_;
  bool ok;
  if (fill.kind == FillKind::kPython) {
    OwnedRef result = OwnedRef::Steal(PyObject_CallNoArgs(fill.target.get()));
    ok = bool(result);
  } else {
    ok = RunNativeFill(position, fill);
  }
  --nesting_;
  if (ok) return true;
  if (!PyErr_Occurred() || !PendingIsOneObjectsProblem()) return false;
  std::string problem =
      "object " + std::to_string(store_.At(position).id) + ": filling it failed: " + TakeExceptionText();
  OwnedRef text = OwnedRef::Steal(PyUnicode_DecodeUTF8(problem.data(), problem.size(), "replace"));
  return text && PyList_Append(problems_.get(), text.get()) == 0;
}

bool Rebuilder::RunNativeFill(size_t position, const Fill& fill) {
  StoredRecord record = store_.At(position);
  PyObject* target = fill.target.get();  // the caller's Fill owns it
  if (fill.kind == FillKind::kInstance) {
    bool attributes_finished = false;
    if (!FillInstance(fill.target.borrow(), record, &attributes_finished)) return false;
    if (attributes_finished) MarkFinished(position, record);
    return true;
  }
  bool items_finished = false;
  bool filled = true;
  if (fill.kind == FillKind::kList) {
    if (PyList_CheckExact(target) && PyList_GET_SIZE(target) > 0) {
      filled = FillListInPlace(record, target, &items_finished);
    } else {
      OwnedRef values = ItemValues(record, Sequence::kList, &items_finished);
      filled = values && PyList_SetSlice(target, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, values.get()) == 0;
    }
  } else if (fill.kind == FillKind::kDict || fill.kind == FillKind::kSet) {
    filled = FillDictOrSet(record, fill.kind == FillKind::kDict, target, &items_finished);
  }
  if (filled && items_finished) MarkFinished(position, record);
  return filled;
}

namespace {

// Empties a dict or set whose fill failed, keeping the pending error: as a failed fill of an empty shell left it.
void EmptyAfterFailedFill(PyObject* target, bool dict) {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  if (dict) {
    PyDict_Clear(target);
  } else if (PySet_Clear(target) != 0) {
    PyErr_Clear();
  }
  PyErr_Restore(type, value, traceback);
}

}  // namespace

bool Rebuilder::MakeReferencedItems(const StoredRecord& record) {
  return ReadingCheckedBytes([&] {
    Cursor cursor(record.items);
    for (uint64_t left = cursor.Count(); left > 0; --left) {
      RawValue raw = ReadRawValue(cursor);
      if (raw.tag != ValueTag::kRef || Lookup(raw.number)) continue;
      if (!Object(raw.number)) return false;  // with the error set
    }
    return true;
  });
}

bool Rebuilder::FillDictOrSet(const StoredRecord& record, bool dict, PyObject* target, bool* items_finished) {
  // Keys may hash by their state: a key goes in only after FinishFills has finished what making the items made. So
  // first every object the items reference is made (made_ holds each one), then, once FinishFills is done, the items
  // are resolved again, now lookups only, and each goes in as it is resolved: the items of a dict of a million keys
  // are never held a second time (16 MB). Making them all before the inserts also keeps each phase in cache: making
  // them a batch at a time between the inserts took 7% longer on such a dict.
  bool atoms_only = true;
  OwnedRef key;
  bool filled = MakeReferencedItems(record) && FinishFills() &&
                ResolveEachItem(
                    record, items_finished, [](uint64_t) { return true; },
                    [&](uint64_t index, OwnedRef item) {
                      if (!dict) return PySet_Add(target, item.get()) == 0;
                      if (index % 2 == 0) {
                        key = std::move(item);
                        return true;
                      }
                      atoms_only =
                          atoms_only && !PyObject_GC_IsTracked(key.get()) && !PyObject_GC_IsTracked(item.get());
                      return PyDict_SetItem(target, key.get(), item.get()) == 0;
                    });
  if (!filled) {
    EmptyAfterFailedFill(target, dict);
    return false;
  }
  // A dict marked as holding placeholders is an instance of a class written in Python, which the cycle collector
  // tracks whatever it holds; CPython untracks a plain dict of atoms, and this one can be in no cycle either (its
  // class gives it no dict or slots; a container stored in it later tracks it again).
  if (dict && atoms_only && !PyDict_CheckExact(target) && Py_TYPE(target)->tp_dictoffset == 0 &&
      Py_TYPE(target)->tp_weaklistoffset == 0 && PyObject_GC_IsTracked(target)) {
    PyObject_GC_UnTrack(target);
  }
  return true;
}

bool Rebuilder::FillListInPlace(const StoredRecord& record, PyObject* list, bool* items_finished) {
  Py_ssize_t size = PyList_GET_SIZE(list);
  bool filled = ResolveEachItem(
      record, items_finished,
      [size](uint64_t count) {
        if (count == static_cast<uint64_t>(size)) return true;
        PyErr_SetString(PyExc_MemoryError, "a list's record changed its length while loading");  // cannot happen
        return false;
      },
      [list](uint64_t index, OwnedRef value) {
        PyObject* none = PyList_GET_ITEM(list, static_cast<Py_ssize_t>(index));
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(index), value.release());
        Py_DECREF(none);
        return true;
      });
  if (!filled) {
    // As a failed fill of an empty shell left it: empty, not a list of None that the dumped program never had.
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (PyList_SetSlice(list, 0, size, nullptr) != 0) PyErr_Clear();
    PyErr_Restore(type, value, traceback);
  }
  return filled;
}

bool Rebuilder::FinishObjectItem(const RawValue& raw, bool* all_finished) {
  if (raw.tag == ValueTag::kCut) {
    *all_finished = false;
    return true;
  }
  if (raw.tag != ValueTag::kRef || IsFinished(raw.number)) return true;  // the bulk: one lookup
  if (!FillItemNow(raw.number)) return false;
  if (!IsFinished(raw.number)) *all_finished = false;
  return true;
}

bool Rebuilder::FillItemNow(uint64_t oid) {
  size_t position = 0;
  // Not while an object is half made: the fill may need it (a tuple's item holding the tuple), as a fill drained
  // later would find it made.
  if (objects_being_made_ > 0 || nesting_ > kMaxNestedFills || !Position(oid, &position)) return true;
  const FillKind kind = PendingFill(position);
  const bool hashing = kind == FillKind::kDict || kind == FillKind::kSet;
  if (kind != FillKind::kList && kind != FillKind::kInstance &&
      !(hashing && KeysHashAlone(store_.At(position), kind == FillKind::kDict))) {
    return true;
  }
  Fill fill;
  return !TakeFill(position, &fill) || RunFill(position, fill);
}

bool Rebuilder::KeysHashAlone(const StoredRecord& record, bool dict) const {
  // A large dict is not scanned: its fill runs soon anyway, and finishing its holder early saves one small record.
  constexpr size_t kMostItemBytes = 4096;
  if (record.items.size() > kMostItemBytes) return false;
  try {
    Cursor cursor(record.items);
    uint64_t count = cursor.Count();
    for (uint64_t i = 0; i < count; ++i) {
      RawValue raw = ReadRawValue(cursor);
      if (dict && i % 2 == 1) continue;  // a value
      if (raw.tag == ValueTag::kCut || (raw.tag == ValueTag::kRef && !MadeStrOrBytes(raw.number))) return false;
    }
    return true;
  } catch (const FormatError&) {
    return false;  // Load checked the record: its fill reports what is wrong with it
  }
}

bool Rebuilder::FillInstance(BorrowedRef obj, const StoredRecord& record, bool* all_finished) {
  // The instance dict itself, as object.__getattribute__(obj, "__dict__"): no __setattr__ or property runs.
  OwnedRef state = OwnedRef::Steal(PyObject_GenericGetDict(obj.get(), nullptr));
  if (!state) return false;
  // Read straight from the bytes Load checked, as the items of containers are (ResolveEachItem).
  bool finished = true;
  bool filled = ReadingCheckedBytes([&] {
    Cursor cursor(record.attrs);
    for (uint64_t count = cursor.Count(); count > 0; --count) {
      std::string_view name = cursor.Bytes(cursor.Varint());
      RawValue raw = ReadRawValue(cursor);
      if (!IsStateAttribute(name)) continue;
      absl::StatusOr<OwnedRef> key = AttributeName(name.substr(5));
      if (!key.ok()) {
        // Every name decodes (UTF-8, surrogateescape), so this is memory.
        PyErr_SetString(PyExc_MemoryError, std::string(key.status().message()).c_str());
        return false;
      }
      OwnedRef resolved = ResolveRaw(raw);
      if (!resolved || PyDict_SetItem(state.get(), key->get(), resolved.get()) != 0) return false;
      if (!FinishItem(raw, &finished)) return false;
    }
    return true;
  });
  *all_finished = filled && finished;
  return filled;
}

// ---- completing (Rebuilder._complete in pyheapdump/load/) ----

bool Rebuilder::CompleteObject(BorrowedRef raw) {
  if (Abandoned()) return false;
  if (!PyLong_CheckExact(raw.get())) return true;
  uint64_t root = PyLong_AsUnsignedLongLong(raw.get());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    return true;
  }
  if (Marked(root, kCompleted)) return true;
  bool finished = false;
  if (!FinishedTuple(root, &finished)) return false;
  if (finished) return true;
  // Deep in nested fills, the Python fills (a __setstate__, a surrogate's) of objects it reaches are left to the
  // outer drain: run here, each may nest once more per object along a chain, and overflow the stack. The object asked
  // for (and a tuple's parts) is still filled whatever its fill, and every native fill still runs, so each list, dict,
  // set and tuple reached is filled when the caller reads it (a __setstate__ deriving a value from a list of lists);
  // an instance reached further may be filled later, in place, as pickle leaves one in a cycle.
  const bool python_fills_wait = nesting_ > kMaxNestedFills;
  bool python_fill_left = false;
  absl::InlinedVector<uint64_t, 8> asked_for = {root};
  absl::flat_hash_set<uint64_t> seen;
  std::vector<uint64_t> stack = {root};
  while (!stack.empty()) {
    uint64_t oid = stack.back();
    stack.pop_back();
    if (seen.contains(oid) || Marked(oid, kCompleted)) continue;
    seen.insert(oid);
    if (!Object(oid)) return false;
    if (Marked(oid, kCompleted)) continue;  // made finished just now: its record may be released
    Found record = Find(oid);
    if (!record || IsByReference(record->kind)) continue;
    Fill fill;
    size_t position = 0;
    if (Position(oid, &position)) {
      if (python_fills_wait && PendingFill(position) == FillKind::kPython &&
          std::find(asked_for.begin(), asked_for.end(), oid) == asked_for.end()) {
        python_fill_left = true;
      } else if (TakeFill(position, &fill) && !RunFill(position, fill)) {
        return false;
      }
      if (state_[position] & kCompleted) continue;  // its fill finished it and all it holds
    }
    Parsed parsed;
    if (!Parse(*record, false, &parsed)) return false;
    for (const DecodedValue& value : parsed.items) {
      if (value.type != DecodedValue::Type::kRef) continue;
      if (oid == root && record->kind == Kind::kTuple) asked_for.push_back(value.id);
      if (!seen.contains(value.id)) stack.push_back(value.id);
    }
    for (const auto& [name, value] : parsed.attrs) {
      if (value.type == DecodedValue::Type::kRef && !seen.contains(value.id)) stack.push_back(value.id);
    }
  }
  // Finished objects stay finished: a datetime's shared tzinfo is walked once, not once per datetime. Not when a
  // Python fill was left: what reaches it is not finished yet.
  if (python_fill_left) return true;
  for (uint64_t oid : seen) SetMark(oid, kCompleted);
  return true;
}

}  // namespace pyheapdump
