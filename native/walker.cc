#include "walker.h"

#include <algorithm>
#include <tuple>

namespace pyheapdump {
namespace {

constexpr size_t kLargest = 20;
constexpr uint64_t kTimeCheckEvery = 1024;
// A cut record is an id, a class id and a shared reason: well under this many bytes.
constexpr uint64_t kLargestCutRecord = 128;
// Classes are kept even past max_objects (a cut object still names its class) up to this many more records.
constexpr uint64_t kClassAllowance = 100'000;
// The skeleton depth of what frames and code objects hold: past the root's lists and dicts (depths 0 to 3).
constexpr int kBeyondRootDepth = 4;
// The longest str a frame's locals or globals dict keeps in the skeleton (its keys are names).
constexpr Py_ssize_t kLongestSkeletonName = 200;

// The C function behind a non-heap type's __sizeof__ when it is a plain METH_NOARGS method (every builtin's is):
// calling it directly gives what obj.__sizeof__() gives, without a method lookup and an interpreter call per object.
PyCFunction CSizeofOf(PyTypeObject* type) {
  OwnedRef method = OwnedRef::Steal(PyObject_GetAttrString(reinterpret_cast<PyObject*>(type), "__sizeof__"));
  if (!method) {
    PyErr_Clear();
    return nullptr;
  }
  if (!Py_IS_TYPE(method.get(), &PyMethodDescr_Type)) return nullptr;
  PyMethodDef* def = reinterpret_cast<PyMethodDescrObject*>(method.get())->d_method;
  constexpr int kCallingConventions = METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O | METH_FASTCALL | METH_METHOD;
  if (!def || !def->ml_meth || (def->ml_flags & kCallingConventions) != METH_NOARGS) return nullptr;
  return def->ml_meth;
}

// The function obj.__reduce_ex__(4) reaches for every instance of `type`, when it can be found once per type: the
// attribute lookup must be the generic one (no __getattribute__, no instance dict that could shadow the method) and
// the function a plain one (a Python function or a method written in C, which bind by prepending obj). As
// object.__reduce_ex__ does, a class that overrides only __reduce__ is reduced by calling __reduce__().
// Returns {function, takes_protocol}, or an empty function when every call has to look the method up.
std::pair<OwnedRef, bool> FindDirectReducer(PyTypeObject* type, PyObject* reduce_ex_name, PyObject* reduce_name) {
  if (type->tp_getattro != PyObject_GenericGetAttr) return {};
  if (type->tp_dictoffset != 0 || (type->tp_flags & Py_TPFLAGS_MANAGED_DICT)) return {};
  auto plain = [](PyObject* f) { return f && (Py_IS_TYPE(f, &PyMethodDescr_Type) || PyFunction_Check(f)); };
  BorrowedRef reduce_ex(_PyType_Lookup(type, reduce_ex_name));
  if (reduce_ex != BorrowedRef(_PyType_Lookup(&PyBaseObject_Type, reduce_ex_name))) {
    return plain(reduce_ex.get()) ? std::make_pair(OwnedRef::Borrow(reduce_ex), true) : std::pair<OwnedRef, bool>();
  }
  BorrowedRef reduce(_PyType_Lookup(type, reduce_name));
  if (reduce != BorrowedRef(_PyType_Lookup(&PyBaseObject_Type, reduce_name)) && plain(reduce.get())) {
    return {OwnedRef::Borrow(reduce), false};
  }
  return {};  // object's own reduce (copyreg's __reduce_ex__ protocol): left to the generic call
}

// What object.__sizeof__ computes: the fixed part plus the variable part.
uint64_t BasicSize(PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  uint64_t size = static_cast<uint64_t>(type->tp_basicsize);
  if (type->tp_itemsize != 0) size += static_cast<uint64_t>(type->tp_itemsize) * std::abs(Py_SIZE(obj));
  return size;
}

}  // namespace

Walker::Walker(DumpFileWriter& writer, WalkLimits limits, BorrowedRef policy_callback, BorrowedRef redactor,
               bool redact_every_string, std::vector<std::string> redact_literals)
    : writer_(writer),
      limits_(limits),
      policy_callback_(OwnedRef::Borrow(policy_callback)),
      redact_every_string_(redact_every_string),
      secret_filter_(std::move(redact_literals)),
      // Room for 32k shared objects before the first rehash: a larger table costs page faults in every dump.
      memo_(std::min<uint64_t>(limits.max_objects, 1u << 15)) {
  // Queue entries keep ids in 55 bits; no heap holds 2^54 objects, so this bound never cuts anything real.
  limits_.max_objects = std::min<uint64_t>(limits_.max_objects, 1ull << 54);
  if (redactor && redactor.get() != Py_None) redactor_ = OwnedRef::Borrow(redactor);
  LookupKnownTypes();
}

Walker::~Walker() {
  for (const auto& [obj, id] : memo_) Py_DECREF(obj);
  for (const Queued& queued : queue_) {
    if (queued.unshared()) Py_DECREF(queued.obj);  // a walk that ended early
  }
}

OwnedRef Walker::Redacted(PyObject* value, std::string_view bytes) {
  if (!redactor_ || !(redact_every_string_ || secret_filter_.MayHoldSecret(bytes, PyUnicode_Check(value)))) return {};
  OwnedRef replacement = OwnedRef::Steal(PyObject_CallOneArg(redactor_.get(), value));
  if (!replacement) {
    // A redactor that fails must not let the secret through: the value is dropped instead.
    PyErr_Clear();
    return OwnedRef::Steal(PyUnicode_FromString("<redaction failed>"));
  }
  if (replacement.get() == Py_None) return {};
  return replacement;
}

void Walker::LookupKnownTypes() {
  // Only from sys.modules: importing here would change the program, and a program that never imported
  // collections has no OrderedDict to dump.
  BorrowedRef modules(PySys_GetObject("modules"));
  if (!modules || !PyDict_Check(modules.get())) return;
  // The types stay alive while their modules are in sys.modules, which they are for the walk (nothing unloads them).
  auto type_in = [modules](const char* module_name, const char* name) -> PyTypeObject* {
    BorrowedRef module(PyDict_GetItemString(modules.get(), module_name));
    if (!module || !PyModule_Check(module.get())) return nullptr;
    BorrowedRef obj(PyDict_GetItemString(PyModule_GetDict(module.get()), name));
    return obj && PyType_Check(obj.get()) ? reinterpret_cast<PyTypeObject*>(obj.get()) : nullptr;
  };
  ordered_dict_type_ = type_in("collections", "OrderedDict");
  defaultdict_type_ = type_in("collections", "defaultdict");
  deque_type_ = type_in("collections", "deque");
  // A type written in C, by the name its C implementation gives it: the pure Python fallbacks are classes.
  auto c_type = [](PyTypeObject* type, const char* tp_name) -> PyTypeObject* {
    if (!type || !type->tp_name || std::string_view(type->tp_name) != tp_name) return nullptr;
    bool written_in_c = !(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || (type->tp_flags & Py_TPFLAGS_IMMUTABLETYPE);
    return written_in_c ? type : nullptr;
  };
  value_types_.datetime = c_type(type_in("datetime", "datetime"), "datetime.datetime");
  value_types_.date = c_type(type_in("datetime", "date"), "datetime.date");
  value_types_.time = c_type(type_in("datetime", "time"), "datetime.time");
  value_types_.timedelta = c_type(type_in("datetime", "timedelta"), "datetime.timedelta");
  value_types_.decimal = c_type(type_in("decimal", "Decimal"), "decimal.Decimal");
}

bool IsClassStatementType(PyTypeObject* type) {
  if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || (type->tp_flags & Py_TPFLAGS_IMMUTABLETYPE)) return false;
  // The deallocator of classes made by type.__new__, read once from one made here (the GIL is held).
  static destructor class_statement_dealloc = [] {
    OwnedRef probe = OwnedRef::Steal(PyObject_CallFunction(reinterpret_cast<PyObject*>(&PyType_Type), "s(O){}",
                                                           "_pyheapdump_probe", &PyBaseObject_Type));
    destructor found = probe ? reinterpret_cast<PyTypeObject*>(probe.get())->tp_dealloc : nullptr;
    PyErr_Clear();
    return found;
  }();
  // Without the probe (out of memory), the flags alone decide, as they did before Cython's heap types.
  return !class_statement_dealloc || type->tp_dealloc == class_statement_dealloc;
}

uint64_t Walker::ShallowSize(PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  // The most common exact types by arithmetic, as their __sizeof__ computes it.
  if (type == &PyUnicode_Type && PyUnicode_IS_COMPACT_ASCII(obj)) {
    uint64_t length = static_cast<uint64_t>(PyUnicode_GET_LENGTH(obj));
    uint64_t size = sizeof(PyASCIIObject) + length + 1;
#if PY_VERSION_HEX < 0x030C0000
    // 3.11 may cache a wchar_t copy (PyUnicode_AsUnicode and friends); __sizeof__ counts it.
    if (reinterpret_cast<PyASCIIObject*>(obj)->wstr) size += (length + 1) * sizeof(wchar_t);
#endif
    return size;
  }
  if (type == &PyList_Type) {
    return sizeof(PyListObject) +
           static_cast<uint64_t>(reinterpret_cast<PyListObject*>(obj)->allocated) * sizeof(PyObject*);
  }
  if (type == &PyTuple_Type || type == &PyBytes_Type || (type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
    // A class written in Python: its __sizeof__ would be user code.
    return BasicSize(obj);
  }
  // Builtin and extension types implement __sizeof__ in C; it runs no user code.
  auto [it, inserted] = c_sizeof_.try_emplace(type, nullptr);
  if (inserted) it->second = CSizeofOf(type);
  OwnedRef size = it->second ? OwnedRef::Steal(it->second(obj, nullptr))
                             : OwnedRef::Steal(PyObject_CallMethod(obj, "__sizeof__", nullptr));
  if (size && PyLong_Check(size.get())) {
    long long value = PyLong_AsLongLong(size.get());
    if (value >= 0) return static_cast<uint64_t>(value);
  }
  PyErr_Clear();
  return BasicSize(obj);
}

BorrowedRef Walker::KeepAlive(OwnedRef obj) {
  BorrowedRef kept(obj.get());  // keep_alive_ owns it from here on, until ~Walker
  keep_alive_.push_back(std::move(obj));
  return kept;
}

uint64_t Walker::Enqueue(PyObject* obj) {
  // An object with a single reference is reachable by one path only, the one that led here: the walk cannot meet it
  // again, so it needs no place in the memo. Most objects of a large heap are like that (a list's str items, an
  // instance's dict), and the memo's probes are what misses the cache. The queue entry holds a reference until the
  // object's record is written. (If another thread made a second reference while the walk ran Python code, the object
  // would be dumped twice: such a dump was never a consistent snapshot anyway.)
  if (Py_REFCNT(obj) == 1 && !exempt_from_limits_ && !stop_reason_ && next_id_ <= limits_.max_objects &&
      child_skeleton_ == kNotSkeleton && !memo_everything_) {
    uint64_t id = next_id_++;
    Py_INCREF(obj);  // released once its record is written
    queue_.emplace_back(obj, id, kNotSkeleton, true);
    return id;
  }
  // One probe for both questions (seen before? where to put it?): the memo is large and its probes miss the cache.
  auto [it, inserted] = memo_.try_emplace(obj, 0);
  if (!inserted) return it->second;
  bool exempt = PyType_Check(obj) || exempt_from_limits_;
  uint64_t budget = limits_.max_objects + (exempt ? kClassAllowance : 0);
  uint8_t skeleton = child_skeleton_;
  if (skeleton != kNotSkeleton && skeleton_children_ == SkeletonChildren::kNames &&
      !(PyUnicode_CheckExact(obj) && PyUnicode_GET_LENGTH(obj) <= kLongestSkeletonName)) {
    skeleton = kNotSkeleton;
  }
  // The skeleton is written whatever the limits: a dump always shows its stacks, code names included.
  bool stops = stop_reason_ && !exempt && skeleton == kNotSkeleton;
  const char* cut = skeleton != kNotSkeleton ? nullptr
                    : next_id_ > budget      ? "max_objects"
                    : stops                  ? stop_reason_
                                             : nullptr;
  if (cut) {
    memo_.erase(it);
    NoteCut(cut);
    return 0;
  }
  uint64_t id = next_id_++;
  it->second = id;
  if (exempt_from_limits_) exempt_.insert(obj);
  Py_INCREF(obj);  // released by ~Walker
  queue_.emplace_back(obj, id, skeleton, false);
  return id;
}

void Walker::PutValue(ByteBuffer& out, PyObject* obj) {
  if (obj == Py_None) return PutTag(out, ValueTag::kNone);
  if (obj == Py_True) return PutTag(out, ValueTag::kTrue);
  if (obj == Py_False) return PutTag(out, ValueTag::kFalse);
  PyTypeObject* type = Py_TYPE(obj);
  if (type == &PyLong_Type) {
    // Most ints are one digit: read it without a call.
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact(reinterpret_cast<PyLongObject*>(obj))) {
      return PutInt(out, PyUnstable_Long_CompactValue(reinterpret_cast<PyLongObject*>(obj)));
    }
#else
    Py_ssize_t digits = Py_SIZE(obj);
    if (digits >= -1 && digits <= 1) {
      return PutInt(out, digits * static_cast<int64_t>(reinterpret_cast<PyLongObject*>(obj)->ob_digit[0]));
    }
#endif
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (!overflow) return PutInt(out, value);
  } else if (type == &PyFloat_Type) {
    return PutFloat(out, PyFloat_AS_DOUBLE(obj));
  } else if (obj == Py_Ellipsis) {
    return PutTag(out, ValueTag::kEllipsis);
  } else if (obj == Py_NotImplemented) {
    return PutTag(out, ValueTag::kNotImplemented);
  }
  uint64_t id = Enqueue(obj);
  if (id != 0) return PutRef(out, id);
  if (&out == &items_) ++cut_items_;
  uint64_t class_id = Enqueue(reinterpret_cast<PyObject*>(type));  // its id when it is queued already
  PutCut(out,
         stop_reason_ && std::string_view(stop_reason_) == "time_limit"  ? CutReason::kTimeLimit
         : stop_reason_ && std::string_view(stop_reason_) == "max_bytes" ? CutReason::kMaxBytes
                                                                         : CutReason::kMaxObjects,
         class_id);
}

void Walker::PutAttrStr(std::string_view name, std::string_view value) {
  // One str per text: 200,000 records cut by a limit share one "cut:max_objects" record.
  auto [it, inserted] = attr_strings_.try_emplace(std::string(value));
  if (inserted) {
    it->second = OwnedRef::Steal(PyUnicode_DecodeUTF8(value.data(), value.size(), "surrogateescape"));
    if (!it->second) PyErr_Clear();
  }
  if (it->second) PutAttrExempt(name, it->second.get());
}

void Walker::PutAttrExempt(std::string_view name, PyObject* value) {
  exempt_from_limits_ = true;
  PutAttr(name, value);
  exempt_from_limits_ = false;
}

void Walker::SetTypeOf(PyObject* obj) {
  PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(obj));
  uint64_t id = Enqueue(type);
  record_.type_id = id;
}

void Walker::RecordPythonError(const char* what) {
  if (!PyErr_Occurred()) return;
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  OwnedRef owned_type = OwnedRef::Steal(type), owned_value = OwnedRef::Steal(value),
           owned_traceback = OwnedRef::Steal(traceback);
  std::string message = what;
  message += ": ";
  message += type ? reinterpret_cast<PyTypeObject*>(type)->tp_name : "error";
  // The message of a builtin exception is safe to format; a user exception's __str__ is user code.
  if (value && type && !(reinterpret_cast<PyTypeObject*>(type)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
    OwnedRef text = OwnedRef::Steal(PyObject_Str(value));
    if (text) {
      const char* utf8 = PyUnicode_AsUTF8(text.get());
      if (utf8) {
        message += ": ";
        message += std::string(utf8).substr(0, 300);
      }
    }
    PyErr_Clear();
  }
  ++stats_.errors;
  AddFlags(kFlagCaptureError);
  PutAttrStr("error", message);
}

void Walker::NoteFilename(PyObject* filename) {
  if (!filename || !PyUnicode_Check(filename)) return;
  if (filenames_seen_.insert(filename).second) stats_.filenames.push_back(OwnedRef::Borrow(filename));
}

const TypePolicy& Walker::PolicyFor(PyTypeObject* type) {
  auto it = policies_.find(type);
  if (it != policies_.end()) return it->second;
  TypePolicy policy;
  OwnedRef answer = OwnedRef::Steal(PyObject_CallOneArg(policy_callback_.get(), reinterpret_cast<PyObject*>(type)));
  if (answer && PyTuple_Check(answer.get()) && PyTuple_GET_SIZE(answer.get()) == 4) {
    long strategy = PyLong_AsLong(PyTuple_GET_ITEM(answer.get(), 0));
    if (strategy >= 1 && strategy <= 4) policy.strategy = static_cast<Strategy>(strategy);
    BorrowedRef capture(PyTuple_GET_ITEM(answer.get(), 1));
    if (capture.get() != Py_None) policy.capture = OwnedRef::Borrow(capture);
    BorrowedRef capture_name(PyTuple_GET_ITEM(answer.get(), 2));
    if (capture_name.get() != Py_None) policy.capture_name = OwnedRef::Borrow(capture_name);
    policy.repr_ok = PyObject_IsTrue(PyTuple_GET_ITEM(answer.get(), 3)) == 1;
  }
  if (!reduce_ex_name_) reduce_ex_name_ = OwnedRef::Steal(PyUnicode_InternFromString("__reduce_ex__"));
  if (!reduce_name_) reduce_name_ = OwnedRef::Steal(PyUnicode_InternFromString("__reduce__"));
  if (policy.strategy == Strategy::kReduce && !policy.capture && reduce_ex_name_ && reduce_name_) {
    std::tie(policy.direct_reduce, policy.reduce_takes_protocol) =
        FindDirectReducer(type, reduce_ex_name_.get(), reduce_name_.get());
  }
  // A failing policy makes the type opaque; it must not end the dump.
  PyErr_Clear();
  return policies_.emplace(type, std::move(policy)).first->second;
}

const std::vector<SlotMember>& Walker::SlotMembers(PyTypeObject* type) {
  auto [it, inserted] = slot_members_.try_emplace(type);
  if (!inserted) return it->second;
  PyObject* mro = type->tp_mro;
  if (!mro || !PyTuple_Check(mro)) return it->second;
  absl::flat_hash_set<std::string> named;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); ++i) {
    auto* base = reinterpret_cast<PyTypeObject*>(PyTuple_GET_ITEM(mro, i));
    if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE) || !base->tp_dict) continue;
    Py_ssize_t pos = 0;
    PyObject *key, *descriptor;
    while (PyDict_Next(base->tp_dict, &pos, &key, &descriptor)) {
      if (Py_TYPE(descriptor) != &PyMemberDescr_Type || !PyUnicode_Check(key)) continue;
      // Encoded into a temporary: PyUnicode_AsUTF8AndSize would cache a copy inside a non-ASCII name.
      OwnedRef utf8 = OwnedRef::Steal(PyUnicode_AsUTF8String(key));
      if (!utf8) {
        PyErr_Clear();
        continue;
      }
      std::string name(PyBytes_AS_STRING(utf8.get()), static_cast<size_t>(PyBytes_GET_SIZE(utf8.get())));
      // The offsets that PyType_FromSpec reads from a heap extension type's members (Cython's functions have
      // __vectorcalloffset__) are no state: the member's value is a C function pointer.
      if (name == "__vectorcalloffset__" || name == "__weaklistoffset__" || name == "__dictoffset__") continue;
      // The first class in the MRO that names a member is the one obj.name reads; a base's member of the same name
      // (Cython's fused functions and their base both have __module__) would give the record the name twice.
      if (!named.insert(name).second) continue;
      it->second.push_back({reinterpret_cast<PyMemberDescrObject*>(descriptor)->d_member, "slot:" + name});
    }
  }
  return it->second;
}

void Walker::StartRecord(uint64_t id) {
  record_.id = id;
  record_.kind = Kind::kSurrogate;
  record_.type_id = 0;
  record_.flags = 0;
  record_.size = 0;
  record_.data = {};
  data_owner_ = OwnedRef();
  items_.clear();
  attrs_.clear();
  item_count_ = 0;
  attr_count_ = 0;
  cut_items_ = 0;
}

bool Walker::OverBudget() {
  if (stop_reason_) return true;
  if (writer_.raw_record_bytes() >= limits_.max_bytes) {
    stop_reason_ = "max_bytes";
  } else if (stats_.objects % kTimeCheckEvery == 0) {
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    if (elapsed.count() >= limits_.time_limit) stop_reason_ = "time_limit";
  }
  return stop_reason_ != nullptr;
}

void Walker::EncodeObject(PyObject* obj, uint64_t id) {
  StartRecord(id);
  EncodeObjectFamily(*this, obj);
  // Whatever the encoder left pending is this object's error, not the walk's.
  if (PyErr_Occurred()) RecordPythonError("capture failed");
}

void Walker::WriteCutRecord(PyObject* obj, uint64_t id, const char* reason) {
  // The object was referenced before the walk stopped: it keeps its id and says why it is empty.
  StartRecord(id);
  SetKind(Kind::kSurrogate);
  SetTypeOf(obj);
  AddFlags(kFlagCutRecord);
  PutAttrStr("reason", std::string("cut:") + reason);
  NoteCut(reason);
}

absl::Status Walker::FlushRecord(PyObject* obj) {
  // The loader marks such a container as holding placeholders.
  if (cut_items_ != 0 && IsContainerKind(record_.kind)) record_.flags |= kFlagCutItems;
  record_.item_count = item_count_;
  record_.items = items_.view();
  record_.attr_count = attr_count_;
  record_.attrs = attrs_.view();
  record_.size = ShallowSize(obj);
  PyTypeObject* type = Py_TYPE(obj);
  TypeStatsCache& cached = type_stats_cache_[((reinterpret_cast<uintptr_t>(type) >> 4) * 0x9E3779B97F4A7C15ull) >> 58];
  if (cached.type != type) cached = {type, &stats_.types[type]};
  auto& [count, bytes] = *cached.stats;
  ++count;
  bytes += record_.size;
  auto& largest = stats_.largest;
  auto entry = std::make_tuple(record_.size, record_.id, Py_TYPE(obj));
  auto greater = [](const auto& a, const auto& b) { return a > b; };
  if (largest.size() < kLargest) {
    largest.push_back(entry);
    std::push_heap(largest.begin(), largest.end(), greater);
  } else if (record_.size > std::get<0>(largest.front())) {
    // By size alone: with ids breaking ties, every record of the most common size would churn the heap.
    std::pop_heap(largest.begin(), largest.end(), greater);
    largest.back() = entry;
    std::push_heap(largest.begin(), largest.end(), greater);
  }
  ++stats_.objects;
  return writer_.AppendRecord(record_);
}

uint64_t Walker::CutRecordBudget() const {
  // A walk stopped by max_bytes may overshoot it by an eighth (at least 64 KiB) to name what it cut.
  uint64_t allowance = std::max<uint64_t>(limits_.max_bytes / 8, 64 * 1024);
  return limits_.max_bytes > UINT64_MAX - allowance ? UINT64_MAX : limits_.max_bytes + allowance;
}

Walker::SkeletonChildren Walker::ExtendsSkeleton(PyObject* obj, uint8_t depth) {
  // The root dict (0), its threads and extra_stacks lists (1), each thread's dict (2) and its frames list (3), as
  // pyheapdump/dump/roots.py builds them.
  bool root_structure = depth == 0 || depth == 2 ? PyDict_CheckExact(obj) : depth <= 3 && PyList_CheckExact(obj);
  if (root_structure) return SkeletonChildren::kAll;
  // A frame's code, locals, globals and back frame; a code object's names.
  if (PyFrame_Check(obj) || PyCode_Check(obj)) return SkeletonChildren::kAll;
  // A frame's locals and globals: the names, not what they hold.
  if (PyDict_CheckExact(obj)) return SkeletonChildren::kNames;
  if (PyTuple_CheckExact(obj)) {  // a code object's varnames
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj); ++i) {
      if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(obj, i))) return SkeletonChildren::kNone;
    }
    return SkeletonChildren::kAll;
  }
  return SkeletonChildren::kNone;
}

absl::Status Walker::Walk(BorrowedRef root) {
  start_ = std::chrono::steady_clock::now();
  PyErrorStash caller_error;  // the dump may run inside an except block; leave its error state alone
  // Even a time limit of 0 writes the skeleton: the stacks, with every value cut.
  child_skeleton_ = 0;
  skeleton_children_ = SkeletonChildren::kAll;
  Enqueue(root.get());
  child_skeleton_ = kNotSkeleton;
  skeleton_children_ = SkeletonChildren::kNone;
  while (!queue_.empty()) {
    Queued queued = queue_.front();
    queue_.pop_front();
    PyObject* obj = queued.obj;
    uint64_t id = queued.id();
    uint8_t skeleton = queued.skeleton();
    bool unshared = queued.unshared();
    OwnedRef unshared_ref = unshared ? OwnedRef::Steal(obj) : OwnedRef();  // released when this object is done
    if (OverBudget() && skeleton == kNotSkeleton && !PyType_Check(obj) && !exempt_.contains(obj)) {
      // Objects queued before the stop get a small record naming their class, within an allowance; past it they
      // get none, and the summary's first_unwritten tells the loader they were cut, not lost.
      if (stats_.first_unwritten != 0 || writer_.raw_record_bytes() + kLargestCutRecord >= CutRecordBudget()) {
        if (stats_.first_unwritten == 0) stats_.first_unwritten = id;
        ++stats_.unwritten;
        NoteCut(stop_reason_);
        continue;
      }
      WriteCutRecord(obj, id, stop_reason_);
    } else {
      if (skeleton < kNotSkeleton - 1) {
        skeleton_children_ = ExtendsSkeleton(obj, skeleton);
        if (skeleton_children_ != SkeletonChildren::kNone) {
          // What a frame or code object holds is never part of the root's own lists and dicts (depth 0 to 3), even
          // when the frame is the root's "frame": its locals must not pass for a thread's dict.
          bool beyond_root = PyFrame_Check(obj) || PyCode_Check(obj);
          child_skeleton_ = static_cast<uint8_t>(std::max<int>(skeleton + 1, beyond_root ? kBeyondRootDepth : 0));
        }
      }
      EncodeObject(obj, id);
      child_skeleton_ = kNotSkeleton;
      skeleton_children_ = SkeletonChildren::kNone;
    }
    absl::Status status = FlushRecord(obj);
    if (!status.ok()) return status;
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  stats_.elapsed = elapsed.count();
  return absl::OkStatus();
}

}  // namespace pyheapdump
