#include "analysis.h"

#include <algorithm>
#include <ctime>
#include <numeric>
#include <queue>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "chunk_reader.h"

namespace pyheapdump {
namespace {

// One value of an items or attrs blob, read without Python: only what the analysis uses.
struct PlainValue {
  ValueTag tag = ValueTag::kNone;
  uint64_t number = 0;  // kRef: the record id; kInt: the zigzag payload; kCut: the class id
  double real = 0;      // kFloat
};

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

struct PlainRecord {
  std::vector<PlainValue> items;
  std::vector<std::pair<std::string_view, PlainValue>> attrs;
};

// Throws FormatError on a malformed record.
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

std::string QuoteText(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string out = "'";
  size_t shown = 0;
  for (char c : text) {
    if (shown++ == kMax) {
      out += "...";
      break;
    }
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

template <class T>
void Free(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

}  // namespace

// ---- graph algorithms ----

std::vector<uint32_t> ShortestPathParents(const CsrGraph& graph, uint32_t root) {
  uint32_t n = graph.node_count();
  std::vector<uint32_t> parent(n, kNoNode);
  if (root >= n) return parent;
  std::vector<uint32_t> queue;
  queue.reserve(std::min<uint32_t>(n, 1u << 20));
  queue.push_back(root);
  parent[root] = root;
  for (size_t head = 0; head < queue.size(); ++head) {
    uint32_t v = queue[head];
    for (uint32_t e = graph.start[v]; e < graph.start[v + 1]; ++e) {
      uint32_t w = graph.edges[e];
      if (parent[w] != kNoNode) continue;
      parent[w] = v;
      queue.push_back(w);
    }
  }
  parent[root] = kNoNode;
  return parent;
}

DominatorTree ComputeDominators(CsrGraph graph, uint32_t root, const std::vector<uint64_t>& shallow) {
  return ComputeDominators(std::move(graph), root,
                           [&shallow](uint32_t node) { return node < shallow.size() ? shallow[node] : 0; });
}

DominatorTree ComputeDominators(CsrGraph graph, uint32_t root, const std::function<uint64_t(uint32_t)>& shallow_of) {
  const uint32_t n = graph.node_count();
  DominatorTree out;
  if (root >= n) {
    out.idom.assign(n, kNoNode);
    out.retained.assign(n, 0);
    return out;
  }
  // Depth-first numbering (iterative: a chain of ten million objects must not overflow the stack).
  std::vector<uint32_t> pre(n, kNoNode);
  std::vector<uint32_t> vertex;  // preorder number -> node
  std::vector<uint32_t> parent;  // preorder number -> its DFS parent's preorder number
  vertex.reserve(n);
  parent.reserve(n);
  {
    std::vector<uint32_t> cursor(n);
    std::vector<uint32_t> stack;
    pre[root] = 0;
    vertex.push_back(root);
    parent.push_back(0);
    cursor[root] = graph.start[root];
    stack.push_back(root);
    while (!stack.empty()) {
      uint32_t v = stack.back();
      if (cursor[v] == graph.start[v + 1]) {
        stack.pop_back();
        continue;
      }
      uint32_t w = graph.edges[cursor[v]++];
      if (pre[w] != kNoNode) continue;
      pre[w] = static_cast<uint32_t>(vertex.size());
      vertex.push_back(w);
      parent.push_back(pre[v]);
      cursor[w] = graph.start[w];
      stack.push_back(w);
    }
  }
  const uint32_t count = static_cast<uint32_t>(vertex.size());
  // Predecessor lists in preorder numbers, then the forward graph is dropped.
  // Counted at the end of each row, then filled backwards: the row starts end up in place, with no fill cursors.
  std::vector<uint32_t> pred_start(count + 1, 0);
  for (uint32_t v = 0; v < n; ++v) {
    if (pre[v] == kNoNode) continue;
    for (uint32_t e = graph.start[v]; e < graph.start[v + 1]; ++e) {
      uint32_t w = pre[graph.edges[e]];
      if (w != kNoNode) ++pred_start[w];
    }
  }
  for (uint32_t i = 1; i < count; ++i) pred_start[i] += pred_start[i - 1];
  pred_start[count] = count ? pred_start[count - 1] : 0;
  std::vector<uint32_t> preds(pred_start[count]);
  for (uint32_t v = 0; v < n; ++v) {
    if (pre[v] == kNoNode) continue;
    for (uint32_t e = graph.start[v]; e < graph.start[v + 1]; ++e) {
      uint32_t w = pre[graph.edges[e]];
      if (w != kNoNode) preds[--pred_start[w]] = pre[v];
    }
  }
  Free(graph.start);
  Free(graph.edges);
  Free(pre);

  std::vector<uint32_t> semi(count), label(count), ancestor(count, kNoNode);
  std::iota(semi.begin(), semi.end(), 0);
  std::iota(label.begin(), label.end(), 0);
  std::vector<uint32_t> path;
  auto eval = [&](uint32_t v) -> uint32_t {
    if (ancestor[v] == kNoNode) return v;
    uint32_t u = v;
    path.clear();
    while (ancestor[ancestor[u]] != kNoNode) {
      path.push_back(u);
      u = ancestor[u];
    }
    while (!path.empty()) {
      uint32_t x = path.back();
      path.pop_back();
      uint32_t a = ancestor[x];
      if (semi[label[a]] < semi[label[x]]) label[x] = label[a];
      ancestor[x] = ancestor[a];
    }
    return label[v];
  };
  for (uint32_t w = count; w-- > 1;) {
    for (uint32_t e = pred_start[w]; e < pred_start[w + 1]; ++e) {
      uint32_t u = eval(preds[e]);
      if (semi[u] < semi[w]) semi[w] = semi[u];
    }
    ancestor[w] = parent[w];
  }
  Free(preds);
  Free(pred_start);
  Free(ancestor);
  // Semi-NCA: the immediate dominator is the nearest ancestor of the DFS parent at or above the semidominator.
  std::vector<uint32_t>& idom = label;
  idom[0] = 0;
  for (uint32_t w = 1; w < count; ++w) {
    uint32_t d = parent[w];
    while (d > semi[w]) d = idom[d];
    idom[w] = d;
  }
  Free(semi);
  Free(parent);
  // A dominator comes before what it dominates in preorder: one backward sweep sums the retained sizes.
  std::vector<uint64_t> retained(count);
  for (uint32_t p = 0; p < count; ++p) retained[p] = shallow_of(vertex[p]);
  for (uint32_t w = count; w-- > 1;) retained[idom[w]] += retained[w];
  out.idom.assign(n, kNoNode);
  out.retained.assign(n, 0);
  for (uint32_t p = 0; p < count; ++p) {
    out.retained[vertex[p]] = retained[p];
    if (p) out.idom[vertex[p]] = vertex[idom[p]];
  }
  return out;
}

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
                                                                     uint64_t expected_objects,
                                                                     uint64_t unreached_id) {
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
    types_.push_back(record.type_id ? type_index(record.type_id)
                                    : static_cast<uint32_t>(std::min<uint8_t>(static_cast<uint8_t>(record.kind),
                                                                              kMaxKind + 0)));
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
      type_names_[it->second] =
          module.empty() || module == "builtins" ? qualname : absl::StrCat(module, ".", qualname);
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

absl::Status HeapAnalysis::ResolveRoots(uint64_t root_id, uint64_t unreached_id, std::vector<uint32_t>& root_edges) {
  scaffold_.assign(node_count_, false);
  auto add_root = [&](uint64_t id, std::string first, std::string second) {
    uint32_t node = NodeOf(id);
    if (node == kNoNode) return;
    root_edges.push_back(node);
    root_nodes_.push_back(node);
    root_edge_of_node_.try_emplace(node, static_cast<uint32_t>(root_edge_labels_.size()));
    root_edge_labels_.emplace_back(std::move(first), std::move(second));
  };
  auto mark = [&](uint64_t id) {
    uint32_t node = NodeOf(id);
    if (node != kNoNode) scaffold_[node] = true;
  };
  // Decodes fetched records, skipping the malformed: the roots are only labels, never a reason to fail.
  auto decode_all = [&](absl::flat_hash_map<uint64_t, Record>& records) {
    absl::flat_hash_map<uint64_t, PlainRecord> out;
    for (auto& [id, record] : records) {
      try {
        out.emplace(id, Decode(record));
      } catch (const FormatError&) {
      }
    }
    return out;
  };
  // A dict record as key text -> value, for the dicts whose keys are strings.
  auto dict_fields = [&](absl::flat_hash_map<uint64_t, PlainRecord>& dicts)
      -> absl::StatusOr<absl::flat_hash_map<uint64_t, absl::flat_hash_map<std::string, PlainValue>>> {
    std::vector<uint64_t> keys;
    for (auto& [id, plain] : dicts) {
      for (size_t i = 0; i + 1 < plain.items.size(); i += 2) keys.push_back(RefOf(&plain.items[i]));
    }
    auto texts = FetchStrings(keys);
    if (!texts.ok()) return texts.status();
    absl::flat_hash_map<uint64_t, absl::flat_hash_map<std::string, PlainValue>> out;
    for (auto& [id, plain] : dicts) {
      auto& fields = out[id];
      for (size_t i = 0; i + 1 < plain.items.size(); i += 2) {
        auto it = texts->find(RefOf(&plain.items[i]));
        if (it != texts->end()) fields.emplace(it->second, plain.items[i + 1]);
      }
    }
    return out;
  };

  auto root_records = Fetch({root_id});
  if (!root_records.ok()) return root_records.status();
  auto root_plain = decode_all(*root_records);
  if (root_plain.empty()) {
    warnings_.push_back(absl::StrCat("the root record ", root_id, " is missing: every record counts as a root"));
    for (uint32_t v = 1; v < node_count_; ++v) add_root(IdOf(v), "record", "");
    return absl::OkStatus();
  }
  mark(root_id);
  auto root_fields = dict_fields(root_plain);
  if (!root_fields.ok()) return root_fields.status();
  auto& fields = (*root_fields)[root_id];
  auto field_ref = [](absl::flat_hash_map<std::string, PlainValue>& f, const char* name) {
    auto it = f.find(name);
    return it == f.end() ? uint64_t{0} : RefOf(&it->second);
  };
  // threads and extra_stacks: lists of dicts with kind, name and frames (outermost first).
  uint64_t lists[2] = {field_ref(fields, "threads"), field_ref(fields, "extra_stacks")};
  auto list_records = Fetch({lists[0], lists[1]});
  if (!list_records.ok()) return list_records.status();
  auto list_plain = decode_all(*list_records);
  std::vector<uint64_t> stack_ids;
  for (uint64_t list : lists) {
    mark(list);
    auto it = list_plain.find(list);
    if (it == list_plain.end()) continue;
    for (const PlainValue& item : it->second.items) {
      if (uint64_t id = RefOf(&item)) stack_ids.push_back(id);
    }
  }
  auto stack_records = Fetch(stack_ids);
  if (!stack_records.ok()) return stack_records.status();
  auto stack_plain = decode_all(*stack_records);
  auto stack_fields = dict_fields(stack_plain);
  if (!stack_fields.ok()) return stack_fields.status();
  std::vector<uint64_t> wanted;
  for (uint64_t id : stack_ids) {
    mark(id);
    auto& f = (*stack_fields)[id];
    for (const char* name : {"name", "kind", "frames"}) wanted.push_back(field_ref(f, name));
  }
  auto stack_parts = Fetch(wanted);
  if (!stack_parts.ok()) return stack_parts.status();
  // Frames: each frame's code, then the code's qualname.
  std::vector<uint64_t> frame_ids;
  struct Stack {
    std::string label;
    std::vector<uint64_t> frames;  // innermost first: a local of the running function is the path a user expects
  };
  std::vector<Stack> stacks;
  auto text_of = [&](uint64_t id) -> std::string {
    auto it = stack_parts->find(id);
    return it == stack_parts->end() || it->second.kind != Kind::kStr ? std::string() : it->second.data.bytes;
  };
  for (uint64_t id : stack_ids) {
    auto& f = (*stack_fields)[id];
    Stack stack;
    std::string kind = text_of(field_ref(f, "kind"));
    std::string name = text_of(field_ref(f, "name"));
    stack.label = absl::StrCat(kind.empty() ? "thread" : kind, " ", name.empty() ? "?" : name);
    uint64_t frames_list = field_ref(f, "frames");
    mark(frames_list);
    auto it = stack_parts->find(frames_list);
    if (it != stack_parts->end()) {
      try {
        PlainRecord plain = Decode(it->second);
        for (auto v = plain.items.rbegin(); v != plain.items.rend(); ++v) {
          if (uint64_t frame = RefOf(&*v)) {
            stack.frames.push_back(frame);
            frame_ids.push_back(frame);
          }
        }
      } catch (const FormatError&) {
      }
    }
    stacks.push_back(std::move(stack));
  }
  uint64_t exception = field_ref(fields, "exception");
  uint64_t asked_frame = field_ref(fields, "frame");
  if (asked_frame) frame_ids.push_back(asked_frame);
  auto frame_names = FrameNames(frame_ids);
  if (!frame_names.ok()) return frame_names.status();
  for (const Stack& stack : stacks) {
    for (uint64_t frame : stack.frames) {
      mark(frame);
      add_root(frame, stack.label, (*frame_names)[frame]);
    }
  }
  if (exception) add_root(exception, "exception", "");
  if (asked_frame) add_root(asked_frame, "frame", (*frame_names)[asked_frame]);
  // Heap mode (save_dump(heap=True)): every module's globals, by name, then what only the collector knew of.
  if (uint64_t modules = field_ref(fields, "modules")) {
    mark(modules);
    auto module_records = Fetch({modules});
    if (!module_records.ok()) return module_records.status();
    auto module_plain = decode_all(*module_records);
    auto module_fields = dict_fields(module_plain);
    if (!module_fields.ok()) return module_fields.status();
    std::vector<std::pair<std::string, uint64_t>> named;
    for (const auto& [name, value] : (*module_fields)[modules]) {
      if (uint64_t id = RefOf(&value)) named.emplace_back(name, id);
    }
    std::sort(named.begin(), named.end());
    for (const auto& [name, id] : named) {
      add_root(id, absl::StrCat("module ", name), "");
      uint32_t node = NodeOf(id);
      if (node != kNoNode) module_globals_.insert(node);
    }
  }
  if (unreached_id) {
    mark(unreached_id);
    auto unreached_records = Fetch({unreached_id});
    if (!unreached_records.ok()) return unreached_records.status();
    auto unreached_plain = decode_all(*unreached_records);
    auto it = unreached_plain.find(unreached_id);
    if (it != unreached_plain.end()) {
      for (const PlainValue& item : it->second.items) {
        if (uint64_t id = RefOf(&item)) add_root(id, "unreached (only the garbage collector knew of it)", "");
      }
    }
    add_root(unreached_id, "the dump's list of unreached objects", "");
  }
  add_root(root_id, "dump root", "");
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_map<uint64_t, std::string>> HeapAnalysis::FrameNames(
    const std::vector<uint64_t>& frames) {
  absl::flat_hash_map<uint64_t, std::string> out;
  auto frame_records = Fetch(frames);
  if (!frame_records.ok()) return frame_records.status();
  absl::flat_hash_map<uint64_t, uint64_t> code_of;
  std::vector<uint64_t> codes;
  for (auto& [id, record] : *frame_records) {
    try {
      if (uint64_t code = RefOf(Attr(Decode(record), "code"))) {
        code_of[id] = code;
        codes.push_back(code);
      }
    } catch (const FormatError&) {
    }
  }
  auto code_records = Fetch(codes);
  if (!code_records.ok()) return code_records.status();
  absl::flat_hash_map<uint64_t, uint64_t> name_of;
  std::vector<uint64_t> names;
  for (auto& [id, record] : *code_records) {
    try {
      PlainRecord plain = Decode(record);
      uint64_t name = RefOf(Attr(plain, "qualname"));
      if (!name) name = RefOf(Attr(plain, "name"));
      if (name) {
        name_of[id] = name;
        names.push_back(name);
      }
    } catch (const FormatError&) {
    }
  }
  auto texts = FetchStrings(names);
  if (!texts.ok()) return texts.status();
  for (uint64_t frame : frames) {
    std::string text = (*texts)[name_of[code_of[frame]]];
    out[frame] = absl::StrCat(text.empty() ? "?" : text, "()");
  }
  return out;
}

std::string HeapAnalysis::ShortType(uint32_t node) const {
  const std::string& name = TypeOf(node);
  // module.qualname -> qualname: the module is in the step's type already; a path reads as code does.
  if (kinds_[node] == static_cast<uint8_t>(Kind::kDeque)) return "deque";
  if (types_[node] <= kMaxKind) return name;
  // A nested class (Outer.Inner) reads as its last name here; the step's type field keeps the full name.
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

absl::StatusOr<std::vector<PathStep>> HeapAnalysis::PathTo(uint32_t node) {
  auto paths = PathsTo({node});
  if (!paths.ok()) return paths.status();
  return std::move((*paths)[0]);
}

absl::StatusOr<std::vector<std::vector<PathStep>>> HeapAnalysis::PathsTo(const std::vector<uint32_t>& nodes) {
  std::vector<std::vector<uint32_t>> chains;
  std::vector<uint64_t> holders;
  for (uint32_t node : nodes) {
    std::vector<uint32_t> chain;
    if (node != kNoNode && node < node_count_ && (node == 0 || path_parent_[node] != kNoNode)) {
      for (uint32_t v = node; v != 0; v = path_parent_[v]) chain.push_back(v);
      std::reverse(chain.begin(), chain.end());
      for (size_t i = 0; i + 1 < chain.size(); ++i) holders.push_back(IdOf(chain[i]));
    }
    chains.push_back(std::move(chain));
  }
  auto records = Fetch(holders);
  if (!records.ok()) return records.status();
  absl::flat_hash_map<uint64_t, PlainRecord> plain;
  std::vector<uint64_t> key_ids;
  for (auto& [id, record] : *records) {
    try {
      auto [it, added] = plain.emplace(id, Decode(record));
      if (record.kind == Kind::kDict) {
        for (size_t i = 0; i + 1 < it->second.items.size(); i += 2) key_ids.push_back(RefOf(&it->second.items[i]));
      }
    } catch (const FormatError&) {
    }
  }
  // Only the keys of the dicts on the paths; a big dict's other keys are not needed, but they share its chunks.
  auto keys = FetchStrings(key_ids);
  if (!keys.ok()) return keys.status();
  auto key_text = [&](const PlainValue& key) -> std::string {
    switch (key.tag) {
      case ValueTag::kRef: {
        auto it = keys->find(key.number);
        if (it != keys->end()) return QuoteText(it->second);
        uint32_t node = NodeOf(key.number);
        return absl::StrCat("<", node == kNoNode ? "?" : TypeOf(node), " @", key.number, ">");
      }
      case ValueTag::kNone:
        return "None";
      case ValueTag::kTrue:
        return "True";
      case ValueTag::kFalse:
        return "False";
      case ValueTag::kInt:
        return absl::StrCat(UnZigZag(key.number));
      case ValueTag::kFloat:
        return absl::StrCat(key.real);
      case ValueTag::kEllipsis:
        return "Ellipsis";
      default:
        return "?";
    }
  };
  // How child is reached from holder: (the attribute name or "" for an item, the item position, the dict key).
  struct Edge {
    std::string attr;
    size_t position = SIZE_MAX;
    bool by_type = false;
  };
  auto find_edge = [&](uint32_t holder, uint32_t child) -> Edge {
    Edge edge;
    auto it = plain.find(IdOf(holder));
    uint64_t id = IdOf(child);
    if (it == plain.end()) return edge;
    for (size_t i = 0; i < it->second.items.size(); ++i) {
      if (RefOf(&it->second.items[i]) == id) {
        // A dict's key and value may be the same object; a value reads better.
        if (kinds_[holder] == static_cast<uint8_t>(Kind::kDict) && i % 2 == 0 && i + 1 < it->second.items.size() &&
            RefOf(&it->second.items[i + 1]) == id) {
          ++i;
        }
        edge.position = i;
        return edge;
      }
    }
    for (const auto& [name, value] : it->second.attrs) {
      if (RefOf(&value) == id) {
        edge.attr = std::string(name);
        return edge;
      }
    }
    edge.by_type = true;
    return edge;
  };
  std::vector<std::vector<PathStep>> out;
  for (const std::vector<uint32_t>& chain : chains) {
    std::vector<PathStep> steps;
    for (size_t i = 0; i < chain.size(); ++i) {
      uint32_t node = chain[i];
      PathStep step{IdOf(node), TypeOf(node), ""};
      if (i == 0) {
        auto it = root_edge_of_node_.find(node);
        if (it != root_edge_of_node_.end()) {
          const auto& [first, second] = root_edge_labels_[it->second];
          if (second.empty()) {
            step.via = first;
          } else {
            steps.push_back(PathStep{0, "thread", first});
            step.via = second;
          }
        }
        steps.push_back(std::move(step));
        continue;
      }
      uint32_t holder = chain[i - 1];
      Edge edge = find_edge(holder, node);
      uint8_t kind = kinds_[holder];
      std::string holder_type = ShortType(holder);
      if (edge.by_type) {
        step.via = absl::StrCat(holder_type, ".__class__");
      } else if (!edge.attr.empty()) {
        std::string_view name = edge.attr;
        if (kind == static_cast<uint8_t>(Kind::kFrame) && (name == "locals" || name == "globals") &&
            i + 1 < chain.size() && kinds_[node] == static_cast<uint8_t>(Kind::kDict)) {
          // A frame's locals or globals dict and the entry in it: one step, as a debugger names a variable.
          Edge entry = find_edge(node, chain[i + 1]);
          auto dict = plain.find(IdOf(node));
          if (entry.position != SIZE_MAX && entry.position % 2 == 1 && dict != plain.end()) {
            uint32_t target = chain[i + 1];
            steps.push_back(PathStep{IdOf(target), TypeOf(target),
                                     absl::StrCat(name == "locals" ? "local " : "global ",
                                                  key_text(dict->second.items[entry.position - 1]))});
            ++i;
            continue;
          }
        }
        if (name.substr(0, 5) == "dict:" || name.substr(0, 5) == "slot:") name.remove_prefix(5);
        // A frame's parts (locals, globals, back, code) read as what the debugger shows under the frame.
        step.via = kind == static_cast<uint8_t>(Kind::kFrame) ? std::string(name)
                                                              : absl::StrCat(holder_type, ".", std::string(name));
      } else if (edge.position != SIZE_MAX) {
        if (kind == static_cast<uint8_t>(Kind::kDict)) {
          auto dict = plain.find(IdOf(holder));
          if (edge.position % 2 == 1 && i == 1 && module_globals_.contains(holder)) {
            step.via = absl::StrCat("global ", key_text(dict->second.items[edge.position - 1]));
          } else if (edge.position % 2 == 1) {
            step.via = absl::StrCat(holder_type, "[", key_text(dict->second.items[edge.position - 1]), "]");
          } else {
            step.via = absl::StrCat("key of ", holder_type);
          }
        } else if (kind == static_cast<uint8_t>(Kind::kSet) || kind == static_cast<uint8_t>(Kind::kFrozenSet)) {
          step.via = absl::StrCat("element of ", holder_type);
        } else if (kind == static_cast<uint8_t>(Kind::kCell)) {
          step.via = "cell.cell_contents";
        } else if (kind == static_cast<uint8_t>(Kind::kReduce)) {
          static const char* const kParts[] = {"callable", "args", "state", "listitems", "dictitems"};
          step.via = absl::StrCat(holder_type, " (reduce ",
                                  edge.position < 5 ? kParts[edge.position] : std::to_string(edge.position), ")");
        } else {
          step.via = absl::StrCat(holder_type, "[", edge.position, "]");
        }
      } else {
        step.via = absl::StrCat("referred to by ", holder_type);
      }
      steps.push_back(std::move(step));
    }
    out.push_back(std::move(steps));
  }
  return out;
}

std::vector<uint32_t> HeapAnalysis::Top(size_t n) const {
  using Entry = std::pair<uint64_t, uint32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> best;  // the n largest, smallest on top
  for (uint32_t v = 1; v < node_count_; ++v) {
    if (dom_.idom[v] == kNoNode || scaffold_[v]) continue;
    uint8_t kind = kinds_[v];
    if (kind == static_cast<uint8_t>(Kind::kFrame) || kind == static_cast<uint8_t>(Kind::kCode)) continue;
    Entry entry{dom_.retained[v], v};
    if (best.size() < n) {
      best.push(entry);
    } else if (n && entry > best.top()) {
      best.pop();
      best.push(entry);
    }
  }
  std::vector<uint32_t> out;
  while (!best.empty()) {
    out.push_back(best.top().second);
    best.pop();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<uint32_t> HeapAnalysis::Dominated(uint32_t node) {
  // The dominator tree's child lists, made on first use (a report asks for hundreds of nodes' children).
  if (dominated_start_.empty()) {
    dominated_start_.assign(node_count_ + 1, 0);
    for (uint32_t v = 1; v < node_count_; ++v) {
      if (dom_.idom[v] != kNoNode) ++dominated_start_[dom_.idom[v] + 1];
    }
    for (uint32_t v = 0; v < node_count_; ++v) dominated_start_[v + 1] += dominated_start_[v];
    dominated_.resize(dominated_start_[node_count_]);
    std::vector<uint32_t> fill(dominated_start_.begin(), dominated_start_.end() - 1);
    for (uint32_t v = 1; v < node_count_; ++v) {
      if (dom_.idom[v] != kNoNode) dominated_[fill[dom_.idom[v]]++] = v;
    }
  }
  std::vector<uint32_t> out;
  if (node >= node_count_) return out;
  out.assign(dominated_.begin() + dominated_start_[node], dominated_.begin() + dominated_start_[node + 1]);
  std::sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) {
    return dom_.retained[a] != dom_.retained[b] ? dom_.retained[a] > dom_.retained[b] : a < b;
  });
  return out;
}

std::vector<TypeTotal> HeapAnalysis::TopTypes(size_t n) const {
  const uint32_t nodes = node_count_;
  // Types by name: two class records of one name (a class defined twice) are one row.
  absl::flat_hash_map<std::string, uint32_t> row_of_name;
  std::vector<uint32_t> row_of_type(type_names_.size());
  std::vector<TypeTotal> rows;
  for (uint32_t t = 0; t < type_names_.size(); ++t) {
    auto [it, added] = row_of_name.try_emplace(type_names_[t], static_cast<uint32_t>(rows.size()));
    if (added) rows.push_back(TypeTotal{type_names_[t], 0, 0, 0});
    row_of_type[t] = it->second;
  }
  // The dominator tree as child lists, walked depth first: an instance counts its retained size unless an instance
  // of its own type dominates it (then that one's retained size holds it already).
  std::vector<uint32_t> child_start(nodes + 1, 0);
  for (uint32_t v = 1; v < nodes; ++v) {
    if (dom_.idom[v] != kNoNode) ++child_start[dom_.idom[v] + 1];
  }
  for (uint32_t v = 0; v < nodes; ++v) child_start[v + 1] += child_start[v];
  std::vector<uint32_t> children(child_start[nodes]);
  {
    std::vector<uint32_t> fill(child_start.begin(), child_start.end() - 1);
    for (uint32_t v = 1; v < nodes; ++v) {
      if (dom_.idom[v] != kNoNode) children[fill[dom_.idom[v]]++] = v;
    }
  }
  std::vector<uint32_t> active(rows.size(), 0);
  std::vector<std::pair<uint32_t, uint32_t>> stack;  // (node, next child position)
  stack.emplace_back(0, child_start[0]);
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    if (next == child_start[v + 1]) {
      if (v) --active[row_of_type[types_[v]]];
      stack.pop_back();
      continue;
    }
    uint32_t w = children[next++];
    TypeTotal& row = rows[row_of_type[types_[w]]];
    ++row.count;
    row.shallow += ShallowOf(w);
    if (active[row_of_type[types_[w]]]++ == 0) row.retained += dom_.retained[w];
    stack.emplace_back(w, child_start[w]);
  }
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const TypeTotal& row) { return row.count == 0; }),
             rows.end());
  std::sort(rows.begin(), rows.end(), [](const TypeTotal& a, const TypeTotal& b) {
    return a.retained != b.retained ? a.retained > b.retained : a.type < b.type;
  });
  if (n && rows.size() > n) rows.resize(n);
  return rows;
}

std::vector<uint32_t> HeapAnalysis::InstancesOf(const std::string& type) const {
  std::string_view wanted = type;
  if (wanted.substr(0, 9) == "builtins.") wanted.remove_prefix(9);
  std::vector<bool> matches(type_names_.size(), false);
  bool any = false;
  for (uint32_t t = 0; t < type_names_.size(); ++t) {
    if (type_names_[t] == wanted) matches[t] = any = true;
  }
  std::vector<uint32_t> out;
  if (!any) return out;
  for (uint32_t v = 1; v < node_count_; ++v) {
    if (matches[types_[v]] && dom_.idom[v] != kNoNode) out.push_back(v);
  }
  std::sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) {
    return dom_.retained[a] != dom_.retained[b] ? dom_.retained[a] > dom_.retained[b] : a < b;
  });
  return out;
}

std::vector<HeapAnalysis::Root> HeapAnalysis::Roots() const {
  std::vector<Root> out;
  for (size_t i = 0; i < root_nodes_.size(); ++i) {
    out.push_back(Root{root_edge_labels_[i].first, root_edge_labels_[i].second, root_nodes_[i]});
  }
  return out;
}

absl::StatusOr<std::vector<HeapAnalysis::Reference>> HeapAnalysis::References(uint32_t node, size_t max) {
  std::vector<Reference> out;
  if (node == 0 || node >= node_count_) return out;
  auto records = Fetch({IdOf(node)});
  if (!records.ok()) return records.status();
  auto it = records->find(IdOf(node));
  if (it == records->end()) return out;
  PlainRecord plain;
  try {
    plain = Decode(it->second);
  } catch (const FormatError&) {
    return out;
  }
  uint8_t kind = kinds_[node];
  bool dict = kind == static_cast<uint8_t>(Kind::kDict);
  absl::flat_hash_map<uint64_t, std::string> keys;
  if (dict) {
    std::vector<uint64_t> key_ids;
    for (size_t i = 0; i + 1 < plain.items.size() && (max == 0 || key_ids.size() < max); i += 2) {
      key_ids.push_back(RefOf(&plain.items[i]));
    }
    auto fetched = FetchStrings(key_ids);
    if (!fetched.ok()) return fetched.status();
    keys = std::move(*fetched);
  }
  auto full = [&] { return max != 0 && out.size() >= max; };
  for (size_t i = 0; i < plain.items.size() && !full(); ++i) {
    uint32_t child = NodeOf(RefOf(&plain.items[i]));
    if (dict) {
      // Values, named by their key; a key that is not a string is an object of its own, listed as one.
      if (i % 2 == 0) {
        auto key = keys.find(RefOf(&plain.items[i]));
        if (child != kNoNode && key == keys.end()) out.push_back(Reference{"(a key)", child});
        continue;
      }
      if (child == kNoNode) continue;
      const PlainValue& key = plain.items[i - 1];
      auto text = keys.find(RefOf(&key));
      std::string shown = text != keys.end()                ? QuoteText(text->second)
                          : key.tag == ValueTag::kInt ? absl::StrCat(UnZigZag(key.number))
                                                      : absl::StrCat("<key @", RefOf(&key), ">");
      out.push_back(Reference{absl::StrCat("[", shown, "]"), child});
    } else if (child != kNoNode) {
      out.push_back(Reference{absl::StrCat("[", i, "]"), child});
    }
  }
  for (const auto& [name, value] : plain.attrs) {
    if (full()) break;
    uint32_t child = NodeOf(RefOf(&value));
    if (child == kNoNode) continue;
    std::string_view shown = name;
    if (shown.substr(0, 5) == "dict:" || shown.substr(0, 5) == "slot:") shown.remove_prefix(5);
    out.push_back(Reference{kind == static_cast<uint8_t>(Kind::kFrame) ? std::string(shown)
                                                                       : absl::StrCat(".", std::string(shown)),
                            child});
  }
  return out;
}

}  // namespace pyheapdump
