// The heap analysis, paths (analysis_internal.h lists the other files): the shortest paths from the roots, each step
// named the way a debugger user reads it, and what one node references, named the same way.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "analysis.h"
#include "analysis_internal.h"

namespace pyheapdump {
namespace {

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

}  // namespace

using namespace analysis_internal;

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
        } else if (kind == static_cast<uint8_t>(Kind::kCall)) {
          step.via = edge.position == 0 ? absl::StrCat(holder_type, " (reduce callable)")
                                        : absl::StrCat(holder_type, " (reduce argument ", edge.position - 1, ")");
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
      std::string shown = text != keys.end()          ? QuoteText(text->second)
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
    out.push_back(Reference{
        kind == static_cast<uint8_t>(Kind::kFrame) ? std::string(shown) : absl::StrCat(".", std::string(shown)),
        child});
  }
  return out;
}

}  // namespace pyheapdump
