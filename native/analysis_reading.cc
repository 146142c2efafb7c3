// The heap analysis, reading (analysis_internal.h lists the other files): every record read once into the graph's
// compact arrays and the classes named (Build), then the roots, paths and dominators computed; records re-read from
// their chunks when a query needs their values (Fetch).
#include <algorithm>
#include <ctime>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "analysis.h"
#include "analysis_internal.h"
#include "chunk_reader.h"

namespace pyheapdump {

using namespace analysis_internal;

namespace {

PlainValue ReadPlainValue(Cursor& cursor) {
  PlainValue value;
  uint8_t tag = cursor.Byte();
  if (tag > kMaxValueTag) throw FormatError(absl::StrCat("unknown value tag ", tag));
  value.tag = static_cast<ValueTag>(tag);
  switch (value.tag) {
    case ValueTag::kRef:
    case ValueTag::kInt:
      value.number = cursor.Varint();
      break;
    case ValueTag::kFloat:
      value.real = cursor.Float();
      break;
    case ValueTag::kCut:
      cursor.Varint();
      value.number = cursor.Varint();
      break;
    default:
      break;
  }
  return value;
}

// Calls on_ref(id) for every reference in a blob of values (items) or of (name, value) pairs (attrs).
template <class OnRef>
void ForEachRef(const std::string& blob, bool named, OnRef&& on_ref) {
  Cursor cursor(blob);
  if (cursor.AtEnd()) return;
  uint64_t count = cursor.Count();
  for (uint64_t i = 0; i < count; ++i) {
    if (named) cursor.Bytes(cursor.Varint());
    uint8_t tag = cursor.Byte();
    switch (static_cast<ValueTag>(tag)) {
      case ValueTag::kRef:
        on_ref(cursor.Varint());
        break;
      case ValueTag::kInt:
        cursor.Varint();
        break;
      case ValueTag::kFloat:
        cursor.Float();
        break;
      case ValueTag::kCut:
        cursor.Varint();
        cursor.Varint();
        break;
      case ValueTag::kNone:
      case ValueTag::kFalse:
      case ValueTag::kTrue:
      case ValueTag::kEllipsis:
      case ValueTag::kNotImplemented:
        break;
      default:
        throw FormatError(absl::StrCat("unknown value tag ", tag));
    }
  }
  if (!cursor.AtEnd()) throw FormatError("trailing bytes after the values");
}

const char* BuiltinTypeName(uint8_t kind) {
  switch (static_cast<Kind>(kind)) {
    case Kind::kBigInt:
      return "int";
    case Kind::kComplex:
      return "complex";
    case Kind::kStr:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kByteArray:
      return "bytearray";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kSet:
      return "set";
    case Kind::kFrozenSet:
      return "frozenset";
    case Kind::kDeque:
      return "collections.deque";
    case Kind::kRange:
      return "range";
    case Kind::kSlice:
      return "slice";
    case Kind::kInstance:
      return "object";
    case Kind::kReduce:
    case Kind::kCall:
      return "(reduced object)";
    case Kind::kClass:
      return "type";
    case Kind::kFunction:
      return "function";
    case Kind::kModule:
      return "module";
    case Kind::kCode:
      return "code";
    case Kind::kFrame:
      return "frame";
    case Kind::kTraceback:
      return "traceback";
    case Kind::kGenerator:
      return "generator";
    case Kind::kCell:
      return "cell";
    case Kind::kException:
      return "BaseException";
    case Kind::kCaptured:
      return "(captured object)";
    case Kind::kSurrogate:
      return "(opaque object)";
    default:
      return kind == 0 ? "(roots)" : "(unknown kind)";
  }
}

}  // namespace

namespace analysis_internal {

PlainRecord Decode(const Record& record) {
  PlainRecord out;
  Cursor items(record.items.bytes);
  if (!items.AtEnd()) {
    uint64_t count = items.Count();
    out.items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) out.items.push_back(ReadPlainValue(items));
  }
  Cursor attrs(record.attrs.bytes);
  if (!attrs.AtEnd()) {
    uint64_t count = attrs.Count();
    for (uint64_t i = 0; i < count; ++i) {
      std::string_view name = attrs.Bytes(attrs.Varint());
      out.attrs.emplace_back(name, ReadPlainValue(attrs));
    }
  }
  return out;
}

const PlainValue* Attr(const PlainRecord& record, std::string_view name) {
  for (const auto& [attr, value] : record.attrs) {
    if (attr == name) return &value;  // the first entry is the one attribute lookup finds (format.md)
  }
  return nullptr;
}

uint64_t RefOf(const PlainValue* value) { return value && value->tag == ValueTag::kRef ? value->number : 0; }

}  // namespace analysis_internal

// ---- the analysis of one dump ----

absl::StatusOr<uint64_t> ReadEveryRecord(const std::string& path) {
  auto reader = DumpFileReader::Open(path);
  if (!reader.ok()) return reader.status();
  uint64_t count = 0;
  absl::Status status = (*reader)->ForEachRecord([&](Record&&) {
    ++count;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return count;
}

HeapAnalysis::HeapAnalysis() = default;
HeapAnalysis::~HeapAnalysis() = default;

const std::vector<std::string>& HeapAnalysis::warnings() const { return warnings_; }

absl::StatusOr<std::unique_ptr<HeapAnalysis>> HeapAnalysis::Open(const std::string& path, uint64_t root_id,
                                                                 uint64_t expected_objects, uint64_t unreached_id) {
  auto reader = DumpFileReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::unique_ptr<HeapAnalysis> analysis(new HeapAnalysis());
  analysis->reader_ = std::move(*reader);
  if (absl::Status status = analysis->Build(root_id, expected_objects, unreached_id); !status.ok()) return status;
  return analysis;
}

uint32_t HeapAnalysis::NodeOf(uint64_t id) const {
  if (id == 0) return kNoNode;
  if (dense_ids_) return id < node_count_ ? static_cast<uint32_t>(id) : kNoNode;
  auto it = node_of_id_.find(id);
  return it == node_of_id_.end() ? kNoNode : it->second;
}

absl::Status HeapAnalysis::Build(uint64_t root_id, uint64_t expected_objects, uint64_t unreached_id) {
  // Node 0, the super-root, gets its edges once the root record has been read: its row is put in front at the end.
  node_count_ = 1;
  kinds_.push_back(0);
  types_.push_back(0);
  shallow_.push_back(0);
  for (uint8_t kind = 0; kind <= kMaxKind; ++kind) type_names_.emplace_back(BuiltinTypeName(kind));
  CsrGraph graph;
  if (expected_objects && expected_objects < kNoNode - 2) {
    // The summary's count: the per-record arrays are allocated once (a hint only; a wrong one costs a regrowth).
    kinds_.reserve(expected_objects + 1);
    types_.reserve(expected_objects + 1);
    shallow_.reserve(expected_objects + 1);
    graph.start.reserve(expected_objects + 2);
    // Room for two references an object, the common count: pages of it never written are never made resident.
    graph.edges.reserve(2 * expected_objects);
  }
  graph.start.push_back(0);
  graph.start.push_back(0);
  struct ClassNames {
    uint64_t id, module, qualname;
  };
  std::vector<ClassNames> classes;
  absl::flat_hash_map<uint64_t, std::string> strings;  // STR records a class names itself by
  std::vector<std::string> bad_records;
  auto type_index = [&](uint64_t class_id) {
    auto [it, added] = type_of_class_.try_emplace(class_id, static_cast<uint32_t>(type_names_.size()));
    if (added) type_names_.push_back(absl::StrCat("(class @", class_id, ")"));
    return it->second;
  };
  // Processor time, not wall time: on a shared machine the wall clock says more about the neighbours.
  std::clock_t clock = std::clock();
  auto lap = [&](double& seconds) {
    std::clock_t now = std::clock();
    seconds = static_cast<double>(now - clock) / CLOCKS_PER_SEC;
    clock = now;
  };
  absl::Status status = reader_->ForEachRecord([&](Record&& record) -> absl::Status {
    uint32_t node = node_count_;
    if (node == kNoNode - 1) return absl::ResourceExhaustedError("more than 4 billion records: too many to analyse");
    size_t edges_before = graph.edges.size();
    try {
      auto add_edge = [&](uint64_t target) {
        // Ids are the walker's numbers 1, 2, 3, ...: one beyond 32 bits cannot be a record this reader can hold.
        if (target != 0 && target < kNoNode) graph.edges.push_back(static_cast<uint32_t>(target));
      };
      ForEachRef(record.items.bytes, false, add_edge);
      ForEachRef(record.attrs.bytes, true, add_edge);
      if (record.type_id) add_edge(record.type_id);  // an object keeps its class alive
      if (record.kind == Kind::kClass) {
        PlainRecord plain = Decode(record);
        ClassNames names{record.id, RefOf(Attr(plain, "module")), RefOf(Attr(plain, "qualname"))};
        if (!names.qualname) names.qualname = RefOf(Attr(plain, "name"));
        for (uint64_t sid : {names.module, names.qualname}) {
          if (sid) strings.try_emplace(sid);
        }
        classes.push_back(names);
      }
    } catch (const FormatError& error) {
      // The walker wrote it, so a record that does not decode is damage: its references are lost, not the record.
      graph.edges.resize(edges_before);
      if (bad_records.size() < 20) bad_records.push_back(absl::StrCat("record ", record.id, ": ", error.what()));
    }
    if (record.kind == Kind::kStr) {
      auto it = strings.find(record.id);
      if (it != strings.end()) it->second = record.data.bytes;
    }
    if (dense_ids_ && record.id != node) {
      // Ids not the walker's 1, 2, 3, ... (a damaged chunk lost some): from here on they are kept and looked up.
      dense_ids_ = false;
      ids_.resize(node);
      std::iota(ids_.begin(), ids_.end(), uint64_t{0});
      for (uint32_t i = 1; i < node; ++i) node_of_id_.emplace(i, i);
    }
    if (!dense_ids_) {
      node_of_id_.emplace(record.id, node);
      ids_.push_back(record.id);
    }
    size_t chunk = reader_->current_chunk();
    if (chunk_index_.empty() || chunk_index_.back() != chunk) {
      chunk_index_.push_back(chunk);
      chunk_first_node_.push_back(node);
    }
    if (graph.edges.size() >= kNoNode) return absl::ResourceExhaustedError("more than 4 billion references");
    ++node_count_;
    kinds_.push_back(static_cast<uint8_t>(record.kind));
    types_.push_back(record.type_id
                         ? type_index(record.type_id)
                         : static_cast<uint32_t>(std::min<uint8_t>(static_cast<uint8_t>(record.kind), kMaxKind + 0)));
    // Four bytes a node: the rare object of 4 GiB or more keeps its size aside.
    if (record.size >= UINT32_MAX) big_shallow_[node] = record.size;
    shallow_.push_back(static_cast<uint32_t>(std::min<uint64_t>(record.size, UINT32_MAX)));
    total_shallow_ += record.size;
    graph.start.push_back(static_cast<uint32_t>(graph.edges.size()));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  for (const std::string& warning : reader_->warnings()) warnings_.push_back(warning);
  for (std::string& bad : bad_records) warnings_.push_back(std::move(bad));
  if (node_count_ == 1) return absl::DataLossError("the dump holds no readable record");
  if (absl::Status mapped = MapEdges(graph.edges); !mapped.ok()) return mapped;
  // Class names: the strings read in the pass, then those that came before their class, re-read.
  {
    std::vector<uint64_t> missing;
    for (const auto& [sid, text] : strings) {
      if (text.empty()) missing.push_back(sid);
    }
    auto fetched = FetchStrings(missing);
    if (!fetched.ok()) return fetched.status();
    for (auto& [sid, text] : *fetched) strings[sid] = std::move(text);
    for (const ClassNames& names : classes) {
      auto it = type_of_class_.find(names.id);
      if (it == type_of_class_.end()) continue;  // no object has this class as its type
      std::string qualname = strings[names.qualname];
      if (qualname.empty()) continue;
      std::string module = strings[names.module];
      type_names_[it->second] = module.empty() || module == "builtins" ? qualname : absl::StrCat(module, ".", qualname);
    }
  }
  // Compact the edge rows: drop references to records the dump does not hold (cut, or lost to damage).
  {
    uint32_t write = 0;
    uint32_t nodes = node_count_;
    uint32_t read_begin = graph.start[1];
    for (uint32_t v = 1; v < nodes; ++v) {
      uint32_t read_end = graph.start[v + 1];
      graph.start[v] = write;
      for (uint32_t e = read_begin; e < read_end; ++e) {
        if (graph.edges[e] != kNoNode) graph.edges[write++] = graph.edges[e];
      }
      read_begin = read_end;
    }
    graph.start[nodes] = write;
    graph.edges.resize(write);
    graph.start[1] = 0;  // node 0's row is empty for now
    graph.start[0] = 0;
  }
  lap(timings_.read);
  std::vector<uint32_t> root_edges;
  if (absl::Status roots = ResolveRoots(root_id, unreached_id, root_edges); !roots.ok()) return roots;
  // Node 0's row in front, in an array of the exact size (the pass's array has room to grow, untouched but mapped).
  {
    uint32_t k = static_cast<uint32_t>(root_edges.size());
    std::vector<uint32_t> edges;
    edges.reserve(graph.edges.size() + k);
    edges.insert(edges.end(), root_edges.begin(), root_edges.end());
    edges.insert(edges.end(), graph.edges.begin(), graph.edges.end());
    Free(graph.edges);
    graph.edges = std::move(edges);
    for (size_t v = 1; v < graph.start.size(); ++v) graph.start[v] += k;
    edge_count_ = graph.edges.size();
  }
  // The parsed chunk is for lookups; what follows needs the memory more.
  cached_chunk_ = SIZE_MAX;
  std::vector<Record>().swap(cached_records_);
  absl::flat_hash_map<uint64_t, size_t>().swap(cached_index_);
  lap(timings_.roots);
  path_parent_ = ShortestPathParents(graph, 0);
  lap(timings_.paths);
  dom_ = ComputeDominators(std::move(graph), 0, [this](uint32_t node) { return ShallowOf(node); });
  lap(timings_.dominators);
  for (uint32_t v = 1; v < node_count_; ++v) reachable_ += dom_.idom[v] != kNoNode;
  return absl::OkStatus();
}

absl::Status HeapAnalysis::MapEdges(std::vector<uint32_t>& edges) {
  for (uint32_t& target : edges) {
    target = NodeOf(target);  // kNoNode: no such record; compacted away by the caller
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_map<uint64_t, Record>> HeapAnalysis::Fetch(const std::vector<uint64_t>& ids) {
  absl::flat_hash_map<uint64_t, Record> out;
  absl::flat_hash_set<uint64_t> wanted;
  std::vector<size_t> chunks;
  for (uint64_t id : ids) {
    uint32_t node = NodeOf(id);
    if (node == kNoNode || !wanted.insert(id).second) continue;
    size_t at = std::upper_bound(chunk_first_node_.begin(), chunk_first_node_.end(), node) - chunk_first_node_.begin();
    if (at == 0) continue;
    chunks.push_back(chunk_index_[at - 1]);
  }
  if (wanted.empty()) return out;
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
  // The roots' records and names sit in the first chunks and are asked for a few at a time: the last chunk read is
  // kept, parsed, so that a chain of lookups decompresses it once.
  auto cached = std::find(chunks.begin(), chunks.end(), cached_chunk_);
  if (cached != chunks.end()) {
    chunks.erase(cached);
    for (uint64_t id : wanted) {
      auto it = cached_index_.find(id);
      if (it != cached_index_.end()) out.try_emplace(id, cached_records_[it->second]);
    }
  }
  if (chunks.empty()) return out;
  bool keep = chunks.size() == 1;
  if (keep) {
    cached_chunk_ = SIZE_MAX;
    cached_records_.clear();
    cached_index_.clear();
  }
  absl::Status status = reader_->ForEachRecordIn(chunks, [&](Record&& record) -> absl::Status {
    if (wanted.contains(record.id)) out.try_emplace(record.id, record);
    if (keep) {
      cached_index_.try_emplace(record.id, cached_records_.size());
      cached_records_.push_back(std::move(record));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (keep) cached_chunk_ = chunks[0];
  return out;
}

absl::StatusOr<absl::flat_hash_map<uint64_t, std::string>> HeapAnalysis::FetchStrings(
    const std::vector<uint64_t>& ids) {
  absl::flat_hash_map<uint64_t, std::string> out;
  auto records = Fetch(ids);
  if (!records.ok()) return records.status();
  for (auto& [id, record] : *records) {
    if (record.kind == Kind::kStr) out.emplace(id, std::move(record.data.bytes));
  }
  return out;
}

}  // namespace pyheapdump
