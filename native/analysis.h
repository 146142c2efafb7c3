// Heap analysis over a dump's records, without rebuilding any object (issue 11): the reference graph in compact
// arrays, the dominator tree, retained sizes and shortest paths from the roots, with each step named the way a
// debugger user reads it (`thread MainThread > handle() > local 'cache' > dict['user:42'] > Session.payload`).
//
// Plain C++ (no Python): the graph algorithms take arrays, so tests/cpp/test_analysis.cc checks them on graphs whose
// dominators are known by hand. Node 0 is a virtual super-root whose edges go to the root record's parts (each
// thread's and extra stack's frames, the exception, the frame asked for) and to the root record itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format.h"

namespace pyheapdump {

class DumpFileReader;

inline constexpr uint32_t kNoNode = UINT32_MAX;

// A directed graph in compressed sparse rows: the edges of node v are edges[start[v] .. start[v + 1]).
struct CsrGraph {
  std::vector<uint32_t> start;  // node count + 1 entries
  std::vector<uint32_t> edges;
  uint32_t node_count() const { return start.empty() ? 0 : static_cast<uint32_t>(start.size() - 1); }
};

// For every node, the node before it on one shortest path from root (breadth-first, edges in order); kNoNode for the
// root and for nodes the root does not reach.
std::vector<uint32_t> ShortestPathParents(const CsrGraph& graph, uint32_t root);

struct DominatorTree {
  std::vector<uint32_t> idom;      // immediate dominator; kNoNode for the root and unreachable nodes
  std::vector<uint64_t> retained;  // bytes freed if the node went away: its own and all it dominates; 0 unreachable
};

// Lengauer-Tarjan (path compression, with the semi-NCA final step, which needs no buckets). Takes the graph by value
// and frees it once the predecessor lists are built, so its memory is reused for the algorithm's arrays.
DominatorTree ComputeDominators(CsrGraph graph, uint32_t root, const std::vector<uint64_t>& shallow);
// The same with each node's own size given by a function (the analysis keeps sizes in four bytes).
DominatorTree ComputeDominators(CsrGraph graph, uint32_t root, const std::function<uint64_t(uint32_t)>& shallow_of);

// One step of a path from the roots: the object reached and how (e.g. "local 'cache'", "dict['user:42']").
struct PathStep {
  uint64_t id = 0;   // record id; 0 for the virtual thread step
  std::string type;  // module.qualname ("builtins." left out, as the summary's histogram names types)
  std::string via;
};

struct TypeTotal {
  std::string type;
  uint64_t count = 0;
  uint64_t shallow = 0;
  // Bytes retained by the type's instances together: an instance dominated by another of the same type is counted in
  // that one's retained size, not again.
  uint64_t retained = 0;
};

// Reads every record of the dump and does nothing with it: the floor the analysis is measured against (bench/).
absl::StatusOr<uint64_t> ReadEveryRecord(const std::string& path);

class HeapAnalysis {
 public:
  // Reads every record of the dump at path once. root_id: the summary's `root` (record 1 in every dump so far).
  // expected_objects: the summary's `objects`, to size the arrays once (0: unknown). unreached_id: the summary's
  // heap.unreached (a heap-mode dump's list of the objects only the garbage collector knew of), whose items are roots.
  static absl::StatusOr<std::unique_ptr<HeapAnalysis>> Open(const std::string& path, uint64_t root_id = 1,
                                                            uint64_t expected_objects = 0, uint64_t unreached_id = 0);
  ~HeapAnalysis();
  HeapAnalysis(const HeapAnalysis&) = delete;
  HeapAnalysis& operator=(const HeapAnalysis&) = delete;

  uint32_t object_count() const { return node_count_ - 1; }
  uint64_t reachable_count() const { return reachable_; }
  uint64_t edge_count() const { return edge_count_; }
  // Processor seconds each step of Open took: reading the records (and naming the classes), the roots, the shortest
  // paths, the dominators and retained sizes.
  struct Timings {
    double read = 0, roots = 0, paths = 0, dominators = 0;
  };
  const Timings& timings() const { return timings_; }
  uint64_t total_shallow() const { return total_shallow_; }
  // Bytes reachable from the roots (the super-root's retained size).
  uint64_t total_retained() const { return dom_.retained.empty() ? 0 : dom_.retained[0]; }
  // Node index of a record id, kNoNode when the dump has no such record.
  uint32_t NodeOf(uint64_t id) const;
  uint64_t IdOf(uint32_t node) const { return dense_ids_ ? node : ids_[node]; }
  const std::string& TypeOf(uint32_t node) const { return type_names_[types_[node]]; }
  uint64_t ShallowOf(uint32_t node) const {
    return shallow_[node] == UINT32_MAX ? big_shallow_.at(node) : shallow_[node];
  }
  uint64_t RetainedOf(uint32_t node) const { return dom_.retained[node]; }
  uint32_t DominatorOf(uint32_t node) const { return dom_.idom[node]; }
  // Nodes the dominator tree has directly below node, largest retained first.
  std::vector<uint32_t> Dominated(uint32_t node);
  // How many nodes the dominator tree has directly below node (0 for a node it does not have).
  size_t DominatedCount(uint32_t node);
  // The objects retaining the most, largest first; the dump's own scaffolding (the root record and its lists, frames,
  // code objects) is left out: it retains everything and says nothing.
  std::vector<uint32_t> Top(size_t n) const;
  std::vector<TypeTotal> TopTypes(size_t n) const;
  // Every reachable instance of the type named `type` (module.qualname, "builtins." optional), nearest first.
  std::vector<uint32_t> InstancesOf(const std::string& type) const;
  // The shortest path from the roots to node, rendered; empty when the roots do not reach it.
  absl::StatusOr<std::vector<PathStep>> PathTo(uint32_t node);
  // Paths to several nodes at once (one re-read of the chunks they need).
  absl::StatusOr<std::vector<std::vector<PathStep>>> PathsTo(const std::vector<uint32_t>& nodes);
  const std::vector<std::string>& warnings() const;

  // What node references, named as a path step names it ("[3]", "['user:42']", ".payload", "locals"), in record
  // order, at most max (0: all); its class is left out.
  struct Reference {
    std::string via;
    uint32_t node;
  };
  absl::StatusOr<std::vector<Reference>> References(uint32_t node, size_t max);
  // The roots, in order: (what it is: "thread MainThread", "module json", ...; the frame's name or ""; the node).
  struct Root {
    std::string first, second;
    uint32_t node;
  };
  std::vector<Root> Roots() const;

 private:
  HeapAnalysis();
  absl::Status Build(uint64_t root_id, uint64_t expected_objects, uint64_t unreached_id);
  absl::Status MapEdges(std::vector<uint32_t>& edges);
  void MakeDominatedLists();  // dominated_start_ and dominated_, once
  absl::Status ResolveRoots(uint64_t root_id, uint64_t unreached_id, std::vector<uint32_t>& root_edges);
  // The records of ids (those the dump has), re-read from the chunks holding them.
  absl::StatusOr<absl::flat_hash_map<uint64_t, Record>> Fetch(const std::vector<uint64_t>& ids);
  absl::StatusOr<absl::flat_hash_map<uint64_t, std::string>> FetchStrings(const std::vector<uint64_t>& ids);
  // "handle()" for each frame record: its code's qualname.
  absl::StatusOr<absl::flat_hash_map<uint64_t, std::string>> FrameNames(const std::vector<uint64_t>& frames);
  std::string ShortType(uint32_t node) const;

  std::unique_ptr<DumpFileReader> reader_;
  std::vector<std::string> warnings_;
  // Per node (index 0: the super-root).
  uint32_t node_count_ = 0;
  std::vector<uint64_t> ids_;  // only when the ids are not dense (then a node is its id)
  std::vector<uint8_t> kinds_;
  std::vector<uint32_t> types_;    // into type_names_
  std::vector<uint32_t> shallow_;  // UINT32_MAX: the size is in big_shallow_
  absl::flat_hash_map<uint32_t, uint64_t> big_shallow_;
  std::vector<uint32_t> path_parent_;
  std::vector<bool> scaffold_;  // the root record's own structure and the frames: left out of Top
  DominatorTree dom_;
  uint64_t reachable_ = 0;
  uint64_t edge_count_ = 0;
  Timings timings_;
  uint64_t total_shallow_ = 0;
  // Ids are the walker's 1, 2, 3, ... in file order: then a node is its id and this map stays empty.
  bool dense_ids_ = true;
  absl::flat_hash_map<uint64_t, uint32_t> node_of_id_;
  std::vector<uint32_t> chunk_first_node_;  // node index of each RECORDS chunk's first record, ascending
  std::vector<size_t> chunk_index_;         // ... and that chunk's index in the reader's Chunks()
  size_t cached_chunk_ = SIZE_MAX;          // the last chunk Fetch read alone, its records parsed
  std::vector<Record> cached_records_;
  absl::flat_hash_map<uint64_t, size_t> cached_index_;
  std::vector<std::string> type_names_;
  absl::flat_hash_map<uint64_t, uint32_t> type_of_class_;  // CLASS record id -> index into type_names_
  // Super-root edge i: what it stands for ("thread MainThread" + "handle()", "exception", ...).
  std::vector<std::pair<std::string, std::string>> root_edge_labels_;
  absl::flat_hash_map<uint32_t, uint32_t> root_edge_of_node_;  // first super-root edge reaching a node
  std::vector<uint32_t> root_nodes_;                           // super-root edge i's node
  std::vector<uint32_t> dominated_start_, dominated_;          // the dominator tree's child lists, once asked for
  absl::flat_hash_set<uint32_t> module_globals_;               // heap mode: the modules' globals dicts
};

}  // namespace pyheapdump
