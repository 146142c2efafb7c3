// The heap analysis, dominators (analysis_internal.h lists the other files): the dominator tree and retained sizes,
// and the queries answered from them (the largest objects and types, a type's instances, a node's dominated nodes).
#include <algorithm>
#include <numeric>
#include <queue>
#include <utility>

#include "analysis.h"
#include "analysis_internal.h"

namespace pyheapdump {

using namespace analysis_internal;

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

void HeapAnalysis::MakeDominatedLists() {
  // The dominator tree's child lists, made on first use (a report asks for hundreds of nodes' children).
  if (!dominated_start_.empty()) return;
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

size_t HeapAnalysis::DominatedCount(uint32_t node) {
  MakeDominatedLists();
  return node < node_count_ ? dominated_start_[node + 1] - dominated_start_[node] : 0;
}

std::vector<uint32_t> HeapAnalysis::Dominated(uint32_t node) {
  MakeDominatedLists();
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
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const TypeTotal& row) { return row.count == 0; }), rows.end());
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

}  // namespace pyheapdump
