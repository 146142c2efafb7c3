// The only file that includes pybind11: the Python face of the core (pyheapdump._native).
// Over 500 lines on purpose: the architecture keeps every pybind11 use in this one file.
// absl::Status errors from the core (native/status.h) become Python exceptions here, and only here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <exception>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "analysis.h"
#include "asyncio_tasks.h"
#include "chunk_reader.h"
#include "chunk_writer.h"
#include "heap_roots.h"
#include "rebuilder.h"
#include "record_decoder.h"
#include "sha256.h"
#include "walker.h"

namespace py = pybind11;

namespace pyheapdump {
namespace {

[[noreturn]] void RaiseDumpError(const char* class_name, const absl::Status& status) {
  py::object errors = py::module_::import("pyheapdump.errors");
  py::object error_class = errors.attr(class_name);
  PyErr_SetString(error_class.ptr(), std::string(status.message()).c_str());
  throw py::error_already_set();
}

// The first C++ exception a thread throws makes glibc allocate libstdc++'s thread-local data (libstdc++ came in with
// this module, after startup). When that allocation fails, glibc ends the process (exit 127, "cannot allocate memory
// for thread-local data"): a dump or load that runs out of memory would take the program down instead of raising
// MemoryError. Touching that data first, while memory is still there, makes the later throw safe.
void PrepareToThrow() {
  static volatile int sink;  // std::uncaught_exceptions() is pure: an unused result would be optimized away
  sink = std::uncaught_exceptions();
}

void ThrowIfWriteError(const absl::Status& status) {
  if (status.ok()) return;
  if (IsPythonErrorPending(status) && PyErr_Occurred()) throw py::error_already_set();
  RaiseDumpError(IsOutOfMemory(status) ? "DumpMemoryError" : "DumpWriteError", status);
}

void ThrowIfReadError(const absl::Status& status) {
  if (status.ok()) return;
  if (IsOutOfMemory(status)) RaiseDumpError("DumpMemoryError", status);
  RaiseDumpError(absl::IsNotFound(status) ? "DumpNotFoundError" : "DumpFormatError", status);
}

WalkLimits LimitsFromDict(const py::dict& given) {
  WalkLimits limits;
  for (auto [key, value] : given) {
    std::string name = py::cast<std::string>(key);
    if (name == "max_objects") {
      limits.max_objects = py::cast<uint64_t>(value);
    } else if (name == "max_bytes") {
      limits.max_bytes = py::cast<uint64_t>(value);
    } else if (name == "max_str") {
      limits.max_str = py::cast<uint64_t>(value);
    } else if (name == "max_items") {
      limits.max_items = py::cast<uint64_t>(value);
    } else if (name == "time_limit") {
      limits.time_limit = py::cast<double>(value);
    } else if (name == "max_repr") {
      limits.max_repr = py::cast<uint64_t>(value);
    } else {
      throw py::value_error("unknown limit " + name);
    }
  }
  return limits;
}

py::dict StatsToDict(const WalkStats& stats) {
  py::dict out;
  out["objects"] = stats.objects;
  out["errors"] = stats.errors;
  py::dict cut;
  for (const auto& [reason, count] : stats.cut) cut[py::str(reason)] = count;
  out["cut"] = cut;
  py::list types;
  for (const auto& [type, counts] : stats.types) {
    types.append(py::make_tuple(py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(type)), counts.first,
                                counts.second));
  }
  out["types"] = types;
  py::list largest;
  for (const auto& [bytes, id, type] : stats.largest) {
    largest.append(py::make_tuple(id, py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(type)), bytes));
  }
  out["largest"] = largest;
  py::list filenames;
  for (const auto& name : stats.filenames) filenames.append(py::reinterpret_borrow<py::object>(name.get()));
  out["filenames"] = filenames;
  out["elapsed"] = stats.elapsed;
  out["first_unwritten"] = stats.first_unwritten;
  out["unwritten"] = stats.unwritten;
  return out;
}

// One dump being written: the temporary file, then walk, sources, commit (or abort on any failure).
class NativeDumpWriter {
 public:
  NativeDumpWriter(const std::string& path, int zlib_level) {
    PrepareToThrow();
    auto writer = DumpFileWriter::Create(path, WriterOptions{zlib_level});
    ThrowIfWriteError(writer.status());
    writer_ = std::move(*writer);
  }
  void WriteHeader(const std::string& json) { ThrowIfWriteError(Writer().WriteHeader(json)); }
  py::dict Walk(py::handle root, const py::dict& limits, py::handle policy, py::handle redactor,
                bool redact_every_string, std::vector<std::string> redact_literals, bool heap) {
    PrepareToThrow();
    Walker walker(Writer(), LimitsFromDict(limits), BorrowedRef(policy.ptr()), BorrowedRef(redactor.ptr()),
                  redact_every_string, std::move(redact_literals));
    walker.set_memo_everything(heap);
    ThrowIfWriteError(walker.Walk(BorrowedRef(root.ptr())));
    double elapsed = walker.stats().elapsed;
    py::dict heap_roots;
    if (heap) {
      absl::StatusOr<UnreachedRoots> unreached = WalkUnreached(walker);
      ThrowIfWriteError(unreached.status());
      elapsed += walker.stats().elapsed;
      heap_roots["unreached"] = unreached->id;
      heap_roots["unreached_count"] = unreached->count;
    }
    py::dict stats = StatsToDict(walker.stats());
    stats["elapsed"] = elapsed;
    if (heap) stats["heap"] = heap_roots;
    stats["raw_bytes"] = Writer().raw_record_bytes();
    return stats;
  }
  void AddSource(const std::string& filename, const std::string& text) {
    ThrowIfWriteError(Writer().AppendSource(filename, text));
  }
  uint64_t Commit(const std::string& summary_json) {
    ThrowIfWriteError(Writer().Commit(summary_json));
    uint64_t size = writer_->file_bytes();
    writer_.reset();
    return size;
  }
  // How many records the walk has written so far (0 once the writer is closed): how far a failed dump got.
  uint64_t RecordsWritten() const { return writer_ ? writer_->records_written() : 0; }
  // Removes the temporary file; a dump that failed half-way leaves nothing behind.
  void Abort() { writer_.reset(); }

 private:
  DumpFileWriter& Writer() {
    if (!writer_) throw py::value_error("this dump writer is closed");
    return *writer_;
  }
  std::unique_ptr<DumpFileWriter> writer_;
};

// The walker's pre-filter, for the texts the dumper redacts itself (argv, the description): the redactor compiles its
// patterns only once some text passes it, which most dumps never see.
class NativeSecretFilter {
 public:
  explicit NativeSecretFilter(std::vector<std::string> literals) : filter_(std::move(literals)) {}
  bool MayHoldSecret(py::handle value) const {
    if (PyBytes_Check(value.ptr())) {
      return filter_.MayHoldSecret({PyBytes_AS_STRING(value.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(value.ptr()))},
                                   false);
    }
    if (!PyUnicode_Check(value.ptr())) throw py::type_error("may_hold_secret() takes a str or bytes");
    py::object utf8 =
        py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(value.ptr(), "utf-8", "surrogatepass"));
    if (!utf8) throw py::error_already_set();
    return filter_.MayHoldSecret({PyBytes_AS_STRING(utf8.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(utf8.ptr()))},
                                 true);
  }

 private:
  SecretFilter filter_;
};

class NativeDumpReader {
 public:
  NativeDumpReader(const std::string& path, uint64_t max_total_raw) {
    PrepareToThrow();
    auto reader = DumpFileReader::Open(path, ReaderLimits{max_total_raw});
    ThrowIfReadError(reader.status());
    reader_ = std::move(*reader);
  }
  py::str HeaderJson() { return JsonOf(reader_->ReadHeaderJson()); }
  py::str SummaryJson() { return JsonOf(reader_->ReadSummaryJson()); }
  py::list Records() {
    PrepareToThrow();
    py::list records;
    absl::Status status;
    try {
      status = ReadEveryRecord(records);
    } catch (const std::bad_alloc&) {
      status = OutOfMemoryError("");
    }
    if (PyErr_Occurred()) {
      if (!PyErr_ExceptionMatches(PyExc_MemoryError)) throw py::error_already_set();
      PyErr_Clear();
      status = OutOfMemoryError("");
    }
    if (status.ok()) return records;
    // The records read so far are freed first: raising the error, with its message, needs memory too.
    if (PyList_SetSlice(records.ptr(), 0, PY_SSIZE_T_MAX, nullptr) != 0) PyErr_Clear();
    ThrowIfReadError(IsOutOfMemory(status) ? OutOfMemoryError("out of memory while reading the records") : status);
    return records;
  }

  // Each record decoded into records; a record that does not decode is left out with a warning.
  absl::Status ReadEveryRecord(py::list& records) {
    return reader_->ForEachRecord([&](Record&& record) -> absl::Status {
      auto decoded = DecodeRecord(record);
      if (!decoded.ok()) {
        // Out of memory ends the reading (DumpMemoryError): going on would hand out the records with some missing.
        if (IsOutOfMemory(decoded.status())) return decoded.status();
        // A record that does not decode is lost with a warning.
        decode_warnings_.push_back(std::string(decoded.status().message()));
        return absl::OkStatus();
      }
      if (PyList_Append(records.ptr(), decoded->get()) != 0) return PythonErrorPending();
      return absl::OkStatus();
    });
  }
  py::list Sources() {
    py::list sources;
    absl::Status status = reader_->ForEachSource([&](std::string&& filename, std::string&& text) -> absl::Status {
      py::object name =
          py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(filename.data(), filename.size(), "surrogateescape"));
      py::object body =
          py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(text.data(), text.size(), "surrogateescape"));
      if (!name || !body) {
        PyErr_Clear();
        return absl::OkStatus();
      }
      sources.append(py::make_tuple(name, body));
      return absl::OkStatus();
    });
    ThrowIfReadError(status);
    return sources;
  }
  // Reads every record into rebuilder (see NativeRebuilder).
  void LoadInto(Rebuilder& rebuilder) {
    PrepareToThrow();
    absl::Status status = rebuilder.Load(*reader_);
    if (PyErr_Occurred()) throw py::error_already_set();
    if (IsOutOfMemory(status)) {
      PyErr_NoMemory();
      throw py::error_already_set();
    }
    ThrowIfReadError(status);
    decode_warnings_.insert(decode_warnings_.end(), rebuilder.warnings().begin(), rebuilder.warnings().end());
  }
  std::vector<std::string> Warnings() const {
    std::vector<std::string> all = reader_->warnings();
    all.insert(all.end(), decode_warnings_.begin(), decode_warnings_.end());
    return all;
  }
  py::tuple Version() const { return py::make_tuple(reader_->major(), reader_->minor()); }
  uint64_t FileSize() const { return reader_->file_size(); }

 private:
  static py::str JsonOf(const absl::StatusOr<std::string>& json) {
    ThrowIfReadError(json.status());
    return py::str(*json);
  }
  std::unique_ptr<DumpFileReader> reader_;
  std::vector<std::string> decode_warnings_;
};

// The loader's core (native/rebuilder.h) for pyheapdump/load/rebuilder.py's Rebuilder, which is its handler.
class NativeRebuilder {
 public:
  NativeRebuilder(NativeDumpReader& reader, py::object handler, py::list problems, uint64_t first_unwritten,
                  uint64_t expected_records)
      : core_(BorrowedRef(handler.ptr()), BorrowedRef(problems.ptr()), first_unwritten, expected_records) {
    reader.LoadInto(core_);
  }
  // Ids come from records, so a damaged one may be anything: a short TypeError or ValueError here, which the loader
  // puts in one line, not pybind11's multi-line listing of the signatures that did not match.
  py::object Get(py::handle oid) {
    Running running(calls_running_);
    return Checked(core_.Get(RecordId(oid)));
  }
  py::object Record(py::handle oid) {
    Running running(calls_running_);
    return Checked(core_.RecordTuple(RecordId(oid)));
  }
  py::object Complete(py::object raw) {
    Running running(calls_running_);
    Check(core_.Complete(BorrowedRef(raw.ptr())));
    return raw;
  }
  py::object FillNow(py::object raw) {
    Running running(calls_running_);
    Check(core_.FillNow(BorrowedRef(raw.ptr())));
    return raw;
  }
  void Defer(uint64_t oid, py::object fill, bool hashing) { core_.Defer(oid, BorrowedRef(fill.ptr()), hashing); }
  void Drain(bool hashing) {
    Running running(calls_running_);
    Check(core_.Drain(hashing));
  }
  void FinishNewFills() {
    Running running(calls_running_);
    Check(core_.FinishNewFills());
  }
  int Nesting() const { return core_.nesting(); }
  size_t Count() const { return core_.record_count(); }
  void Close() { core_.Close(); }

 private:
  static uint64_t RecordId(py::handle oid) {
    if (!PyLong_Check(oid.ptr()) || PyBool_Check(oid.ptr())) {
      throw py::type_error(std::string("a record id is an int, not ") + Py_TYPE(oid.ptr())->tp_name);
    }
    unsigned long long id = PyLong_AsUnsignedLongLong(oid.ptr());
    if (id == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::value_error("a record id is between 0 and 2**64-1");
    }
    return id;
  }
  void Check(const absl::Status& status) {
    if (status.ok()) return;
    std::string message(status.message());
    if (IsOutOfMemory(status)) {
      PyErr_SetString(PyExc_MemoryError, message.c_str());
    } else if (!IsPythonErrorPending(status)) {
      // A record that does not decode: the handler takes it for a damaged record rather than ending the load.
      PyErr_SetString(PyExc_ValueError, message.c_str());
    } else if (!PyErr_Occurred()) {
      PyErr_SetString(PyExc_RuntimeError, "the rebuilder failed without an error");
    }
    // Out of memory: free what was made before the error unwinds through Python code, which needs memory to run
    // its exception handlers (3.11 and 3.13.0 loop forever in one that cannot allocate its resume position). The
    // outermost call also empties the containers made: its caller may hold one (the root) that holds all the rest.
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) core_.Abandon(/*empty_containers=*/calls_running_ == 1);
    throw py::error_already_set();
  }
  py::object Checked(absl::StatusOr<OwnedRef> obj) {
    Check(obj.status());
    return py::reinterpret_steal<py::object>(obj->release());
  }
  // Counts the calls into the core now running: the core calls the handler, whose Python code calls the core again.
  class Running {
   public:
    explicit Running(int& count) : count_(count) { ++count_; }
    ~Running() { --count_; }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    int& count_;
  };
  Rebuilder core_;
  int calls_running_ = 0;
};

// The heap analysis (native/analysis.h) for pyheapdump.analysis: record ids in, tuples of plain values out.
class NativeAnalysis {
 public:
  NativeAnalysis(const std::string& path, uint64_t root_id, uint64_t expected_objects, uint64_t unreached_id) {
    PrepareToThrow();
    absl::StatusOr<std::unique_ptr<HeapAnalysis>> analysis;
    {
      py::gil_scoped_release unlocked;  // plain C++ from here on: other threads may run meanwhile
      analysis = HeapAnalysis::Open(path, root_id, expected_objects, unreached_id);
    }
    ThrowIfReadError(analysis.status());
    core_ = std::move(*analysis);
  }
  py::dict Summary() const {
    py::dict out;
    out["objects"] = core_->object_count();
    out["reachable"] = core_->reachable_count();
    out["references"] = core_->edge_count();
    const HeapAnalysis::Timings& timings = core_->timings();
    py::dict seconds;
    seconds["read"] = timings.read;
    seconds["roots"] = timings.roots;
    seconds["paths"] = timings.paths;
    seconds["dominators"] = timings.dominators;
    out["seconds"] = seconds;
    out["shallow"] = core_->total_shallow();
    out["retained"] = core_->total_retained();
    return out;
  }
  py::list Top(size_t n) const {
    py::list out;
    for (uint32_t node : core_->Top(n)) out.append(Row(node));
    return out;
  }
  py::list TopTypes(size_t n) const {
    py::list out;
    for (const TypeTotal& row : core_->TopTypes(n))
      out.append(py::make_tuple(row.type, row.count, row.shallow, row.retained));
    return out;
  }
  py::object Object(uint64_t id) const {
    uint32_t node = core_->NodeOf(id);
    if (node == kNoNode) return py::none();
    return Row(node);
  }
  py::object Dominator(uint64_t id) const {
    uint32_t node = core_->NodeOf(id);
    if (node == kNoNode) return py::none();
    uint32_t dominator = core_->DominatorOf(node);
    if (dominator == kNoNode || dominator == 0) return py::none();
    return py::int_(core_->IdOf(dominator));
  }
  py::list Dominated(uint64_t id, size_t n) {
    py::list out;
    uint32_t node = id == 0 ? 0 : core_->NodeOf(id);
    if (node == kNoNode) return out;
    std::vector<uint32_t> children = core_->Dominated(node);
    if (n && children.size() > n) children.resize(n);
    for (uint32_t child : children) out.append(Row(child));
    return out;
  }
  size_t DominatedCount(uint64_t id) {
    uint32_t node = id == 0 ? 0 : core_->NodeOf(id);
    return node == kNoNode ? 0 : core_->DominatedCount(node);
  }
  std::vector<uint64_t> Instances(const std::string& type, size_t n) const {
    std::vector<uint64_t> out;
    for (uint32_t node : core_->InstancesOf(type)) {
      if (n && out.size() == n) break;
      out.push_back(core_->IdOf(node));
    }
    return out;
  }
  py::list Paths(const std::vector<uint64_t>& ids) {
    std::vector<uint32_t> nodes;
    for (uint64_t id : ids) nodes.push_back(core_->NodeOf(id));
    absl::StatusOr<std::vector<std::vector<PathStep>>> paths;
    {
      py::gil_scoped_release unlocked;
      paths = core_->PathsTo(nodes);
    }
    ThrowIfReadError(paths.status());
    py::list out;
    for (const std::vector<PathStep>& steps : *paths) {
      py::list path;
      for (const PathStep& step : steps) {
        path.append(
            py::make_tuple(step.id ? py::object(py::int_(step.id)) : py::object(py::none()), step.type, step.via));
      }
      out.append(path);
    }
    return out;
  }
  std::vector<std::string> Warnings() const { return core_->warnings(); }
  py::list References(uint64_t id, size_t n) {
    py::list out;
    uint32_t node = core_->NodeOf(id);
    if (node == kNoNode) return out;
    auto references = core_->References(node, n);
    ThrowIfReadError(references.status());
    for (const auto& reference : *references) {
      out.append(py::make_tuple(reference.via, core_->IdOf(reference.node), core_->TypeOf(reference.node),
                                core_->ShallowOf(reference.node), core_->RetainedOf(reference.node)));
    }
    return out;
  }
  py::list Roots() const {
    py::list out;
    for (const auto& root : core_->Roots()) {
      out.append(py::make_tuple(root.first, root.second, core_->IdOf(root.node), core_->TypeOf(root.node),
                                core_->ShallowOf(root.node), core_->RetainedOf(root.node)));
    }
    return out;
  }

 private:
  py::tuple Row(uint32_t node) const {
    return py::make_tuple(core_->IdOf(node), core_->TypeOf(node), core_->ShallowOf(node), core_->RetainedOf(node));
  }
  std::unique_ptr<HeapAnalysis> core_;
};

// The format's vocabulary as Python enums (enum.IntEnum, IntFlag), made from the C++ enums so that the numbers are
// written once. The names are the ones pyheapdump's Python code uses.
template <class Enum>
using Members = std::initializer_list<std::pair<const char*, Enum>>;

template <class Enum>
void AddEnum(py::module_& m, const char* base, const char* name, Members<Enum> members) {
  py::list pairs;
  for (const auto& [member, value] : members) pairs.append(py::make_tuple(member, static_cast<uint64_t>(value)));
  m.attr(name) = py::module_::import("enum").attr(base)(name, pairs, py::arg("module") = m.attr("__name__"));
}

void AddFormatEnums(py::module_& m) {
  Members<Kind> kinds = {
      {"ROOT", Kind::kRoot},           {"BIGINT", Kind::kBigInt},
      {"COMPLEX", Kind::kComplex},     {"STR", Kind::kStr},
      {"BYTES", Kind::kBytes},         {"BYTEARRAY", Kind::kByteArray},
      {"LIST", Kind::kList},           {"TUPLE", Kind::kTuple},
      {"DICT", Kind::kDict},           {"SET", Kind::kSet},
      {"FROZENSET", Kind::kFrozenSet}, {"DEQUE", Kind::kDeque},
      {"RANGE", Kind::kRange},         {"SLICE", Kind::kSlice},
      {"INSTANCE", Kind::kInstance},   {"REDUCE", Kind::kReduce},
      {"CLASS", Kind::kClass},         {"FUNCTION", Kind::kFunction},
      {"MODULE", Kind::kModule},       {"CODE", Kind::kCode},
      {"FRAME", Kind::kFrame},         {"TRACEBACK", Kind::kTraceback},
      {"GENERATOR", Kind::kGenerator}, {"CELL", Kind::kCell},
      {"EXCEPTION", Kind::kException}, {"CAPTURED", Kind::kCaptured},
      {"SURROGATE", Kind::kSurrogate}, {"CALL", Kind::kCall},
  };
  if (kinds.size() != kMaxKind) throw std::logic_error("a record kind of format.h is missing from the bindings");
  AddEnum(m, "IntEnum", "Kind", kinds);
  AddEnum<RecordFlags>(m, "IntFlag", "RecordFlag",
                       {{"TRUNCATED", kFlagTruncated},
                        {"CAPTURE_ERROR", kFlagCaptureError},
                        {"CUT_ITEMS", kFlagCutItems},
                        {"CUT_RECORD", kFlagCutRecord}});
  // The lower-case names are the ones the walker's statistics and the loader's messages use ("max_objects").
  AddEnum<CutReason>(m, "IntEnum", "CutReason",
                     {{"MAX_OBJECTS", CutReason::kMaxObjects},
                      {"MAX_BYTES", CutReason::kMaxBytes},
                      {"TIME_LIMIT", CutReason::kTimeLimit},
                      {"MAX_ITEMS", CutReason::kMaxItems},
                      {"UNREADABLE", CutReason::kUnreadable}});
  AddEnum<Strategy>(m, "IntEnum", "Strategy",
                    {{"INSTANCE", Strategy::kInstance},
                     {"REDUCE", Strategy::kReduce},
                     {"CAPTURE", Strategy::kCapture},
                     {"SURROGATE", Strategy::kSurrogate}});
}

}  // namespace
}  // namespace pyheapdump

PYBIND11_MODULE(_native, m) {
  using pyheapdump::NativeDumpReader;
  using pyheapdump::NativeDumpWriter;
  using pyheapdump::NativeRebuilder;
  m.doc() = "pyheapdump's C++ core: the object-graph walker, the chunked writer and the bounded reader";
  m.attr("FORMAT_VERSION") = py::make_tuple(pyheapdump::kFormatMajor, pyheapdump::kFormatMinor);
  pyheapdump::AddFormatEnums(m);
  m.def(
      "sha256_hex", [](py::bytes data) { return pyheapdump::Sha256Hex(std::string_view(data)); }, py::arg("data"),
      "SHA-256 of data as 64 hex digits, as hashlib.sha256(data).hexdigest(), without loading OpenSSL.");
  m.def(
      "is_class_statement_type",
      [](py::handle cls) {
        return PyType_Check(cls.ptr()) && pyheapdump::IsClassStatementType(reinterpret_cast<PyTypeObject*>(cls.ptr()));
      },
      py::arg("cls"), "Whether cls was made by a class statement (type.__new__), not by an extension module.");

  m.def(
      "weakref_referent",
      [](py::handle ref) -> py::object {
        if (!PyWeakref_Check(ref.ptr())) throw py::type_error("weakref_referent takes a weakref.ref or proxy");
    // A proxy forwards every attribute, __class__ included, to its referent: only the C API names the referent.
#if PY_VERSION_HEX >= 0x030D0000
        PyObject* referent = nullptr;
        if (PyWeakref_GetRef(ref.ptr(), &referent) < 0) throw py::error_already_set();
        return referent ? py::reinterpret_steal<py::object>(referent) : py::none();
#else
        return py::reinterpret_borrow<py::object>(PyWeakref_GET_OBJECT(ref.ptr()));
#endif
      },
      py::arg("ref"), "The object a weak reference or proxy refers to, or None once it is gone. Runs no Python code.");
  m.def(
      "asyncio_task_lists",
      [](py::handle asyncio_module) {
        absl::StatusOr<pyheapdump::AsyncioTaskLists> lists = pyheapdump::ReadAsyncioTaskLists(asyncio_module.ptr());
        if (!lists.ok()) throw py::value_error(std::string(lists.status().message()));
        py::list tasks;
        for (pyheapdump::OwnedRef& task : lists->tasks) tasks.append(py::reinterpret_steal<py::object>(task.release()));
        py::list running;
        for (auto& [loop, task] : lists->running) {
          running.append(py::make_tuple(py::reinterpret_steal<py::object>(loop.release()),
                                        py::reinterpret_steal<py::object>(task.release())));
        }
        return py::make_tuple(tasks, running);
      },
      py::arg("asyncio_module"),
      "CPython 3.14+: (every task on the C task lists of this interpreter and its threads, [(running loop, running "
      "task) of each thread]) of the _asyncio module given. ValueError when its debug offsets cannot be used.");

  py::class_<NativeDumpWriter>(m, "DumpWriter")
      .def(py::init<const std::string&, int>(), py::arg("path"), py::arg("zlib_level") = 1)
      .def("write_header", &NativeDumpWriter::WriteHeader)
      .def("walk", &NativeDumpWriter::Walk, py::arg("root"), py::arg("limits"), py::arg("policy"),
           py::arg("redactor") = py::none(), py::arg("redact_every_string") = false,
           py::arg("redact_literals") = std::vector<std::string>(), py::arg("heap") = false)
      .def("add_source", &NativeDumpWriter::AddSource)
      .def("commit", &NativeDumpWriter::Commit)
      .def("abort", &NativeDumpWriter::Abort)
      .def_property_readonly("records_written", &NativeDumpWriter::RecordsWritten);

  py::class_<pyheapdump::NativeSecretFilter>(m, "SecretFilter")
      .def(py::init<std::vector<std::string>>(), py::arg("literals"))
      .def("may_hold_secret", &pyheapdump::NativeSecretFilter::MayHoldSecret, py::arg("value"));

  py::class_<NativeDumpReader>(m, "DumpReader")
      .def(py::init<const std::string&, uint64_t>(), py::arg("path"), py::arg("max_total_raw"))
      .def("header_json", &NativeDumpReader::HeaderJson)
      .def("summary_json", &NativeDumpReader::SummaryJson)
      .def("records", &NativeDumpReader::Records)
      .def("sources", &NativeDumpReader::Sources)
      .def_property_readonly("warnings", &NativeDumpReader::Warnings)
      .def_property_readonly("version", &NativeDumpReader::Version)
      .def_property_readonly("file_size", &NativeDumpReader::FileSize);

  py::class_<NativeRebuilder>(m, "Rebuilder")
      .def(py::init<NativeDumpReader&, py::object, py::list, uint64_t, uint64_t>(), py::arg("reader"),
           py::arg("handler"), py::arg("problems"), py::arg("first_unwritten") = 0, py::arg("expected_records") = 0)
      .def("get", &NativeRebuilder::Get)
      .def("record", &NativeRebuilder::Record)
      .def("complete", &NativeRebuilder::Complete)
      .def("fill_now", &NativeRebuilder::FillNow)
      .def("defer", &NativeRebuilder::Defer, py::arg("oid"), py::arg("fill"), py::arg("hashing") = false)
      .def("drain", &NativeRebuilder::Drain, py::arg("hashing"))
      .def("finish_new_fills", &NativeRebuilder::FinishNewFills)
      .def_property_readonly("nesting", &NativeRebuilder::Nesting)
      .def("__len__", &NativeRebuilder::Count)
      .def("close", &NativeRebuilder::Close);

  m.def(
      "read_every_record",
      [](const std::string& path) {
        absl::StatusOr<uint64_t> count;
        {
          py::gil_scoped_release unlocked;
          count = pyheapdump::ReadEveryRecord(path);
        }
        pyheapdump::ThrowIfReadError(count.status());
        return *count;
      },
      py::arg("path"), "Reads every record and drops it (the benchmark's floor for the analysis); the record count.");
  py::class_<pyheapdump::NativeAnalysis>(m, "Analysis")
      .def(py::init<const std::string&, uint64_t, uint64_t, uint64_t>(), py::arg("path"), py::arg("root_id") = 1,
           py::arg("expected_objects") = 0, py::arg("unreached_id") = 0)
      .def("summary", &pyheapdump::NativeAnalysis::Summary)
      .def("top", &pyheapdump::NativeAnalysis::Top, py::arg("n"))
      .def("top_types", &pyheapdump::NativeAnalysis::TopTypes, py::arg("n"))
      .def("object", &pyheapdump::NativeAnalysis::Object, py::arg("id"))
      .def("dominator", &pyheapdump::NativeAnalysis::Dominator, py::arg("id"))
      .def("dominated", &pyheapdump::NativeAnalysis::Dominated, py::arg("id"), py::arg("n") = 0)
      .def("dominated_count", &pyheapdump::NativeAnalysis::DominatedCount, py::arg("id"))
      .def("instances", &pyheapdump::NativeAnalysis::Instances, py::arg("type"), py::arg("n") = 0)
      .def("paths", &pyheapdump::NativeAnalysis::Paths, py::arg("ids"))
      .def("references", &pyheapdump::NativeAnalysis::References, py::arg("id"), py::arg("n") = 0)
      .def("roots", &pyheapdump::NativeAnalysis::Roots)
      .def_property_readonly("warnings", &pyheapdump::NativeAnalysis::Warnings);
}
