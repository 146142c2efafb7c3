// The heap analysis (native/analysis.h): dominators and retained sizes on graphs known by hand, against a brute-force
// definition on random graphs, and paths named as a user reads them in a dump written through DumpFileWriter.
#include "analysis.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "chunk_writer.h"

namespace pyheapdump {
namespace {

CsrGraph MakeGraph(uint32_t n, const std::vector<std::pair<uint32_t, uint32_t>>& edges) {
  CsrGraph graph;
  graph.start.assign(n + 1, 0);
  for (const auto& [from, to] : edges) ++graph.start[from + 1];
  for (uint32_t v = 0; v < n; ++v) graph.start[v + 1] += graph.start[v];
  graph.edges.resize(edges.size());
  std::vector<uint32_t> fill(graph.start.begin(), graph.start.end() - 1);
  for (const auto& [from, to] : edges) graph.edges[fill[from]++] = to;
  return graph;
}

TEST(Dominators, Chain) {
  DominatorTree tree = ComputeDominators(MakeGraph(4, {{0, 1}, {1, 2}, {2, 3}}), 0, {0, 1, 2, 4});
  EXPECT_EQ(tree.idom, (std::vector<uint32_t>{kNoNode, 0, 1, 2}));
  EXPECT_EQ(tree.retained, (std::vector<uint64_t>{7, 7, 6, 4}));
}

TEST(Dominators, DiamondSharedObjectBelongsToNeitherHolder) {
  // 1 and 2 both hold 3; 3 holds 4. Neither holder retains 3: the root does.
  DominatorTree tree =
      ComputeDominators(MakeGraph(5, {{0, 1}, {0, 2}, {1, 3}, {2, 3}, {3, 4}}), 0, {0, 10, 20, 100, 1000});
  EXPECT_EQ(tree.idom, (std::vector<uint32_t>{kNoNode, 0, 0, 0, 3}));
  EXPECT_EQ(tree.retained, (std::vector<uint64_t>{1130, 10, 20, 1100, 1000}));
}

TEST(Dominators, CycleIsRetainedByItsEntry) {
  // 1 -> 2 -> 3 -> 1 is a cycle entered only through 1; 2 also holds 4.
  DominatorTree tree =
      ComputeDominators(MakeGraph(5, {{0, 1}, {1, 2}, {2, 3}, {3, 1}, {2, 4}}), 0, {0, 1, 2, 4, 8});
  EXPECT_EQ(tree.idom, (std::vector<uint32_t>{kNoNode, 0, 1, 2, 2}));
  EXPECT_EQ(tree.retained, (std::vector<uint64_t>{15, 15, 14, 4, 8}));
}

TEST(Dominators, UnreachableObjectsRetainNothingAndChangeNothing) {
  // 4 and 5 are a cycle nobody reaches; 5 also points into the reachable part, which must not change its dominators.
  DominatorTree tree =
      ComputeDominators(MakeGraph(6, {{0, 1}, {1, 2}, {0, 3}, {4, 5}, {5, 4}, {5, 2}}), 0, {0, 1, 2, 4, 8, 16});
  EXPECT_EQ(tree.idom, (std::vector<uint32_t>{kNoNode, 0, 1, 0, kNoNode, kNoNode}));
  EXPECT_EQ(tree.retained, (std::vector<uint64_t>{7, 3, 2, 4, 0, 0}));
}

TEST(Dominators, SelfLoopsAndDuplicateEdges) {
  DominatorTree tree = ComputeDominators(MakeGraph(3, {{0, 1}, {0, 1}, {1, 1}, {1, 2}, {1, 2}}), 0, {1, 2, 3});
  EXPECT_EQ(tree.idom, (std::vector<uint32_t>{kNoNode, 0, 1}));
  EXPECT_EQ(tree.retained, (std::vector<uint64_t>{6, 5, 3}));
}

TEST(Dominators, LengauerTarjanPaperExample) {
  // The flowgraph of Lengauer and Tarjan's paper (1979, fig. 1): R=0, A..L = 1..12.
  enum { R, A, B, C, D, E, F, G, H, I, J, K, L };
  DominatorTree tree = ComputeDominators(
      MakeGraph(13, {{R, A}, {R, B}, {R, C}, {A, D}, {B, A}, {B, D}, {B, E}, {C, F}, {C, G}, {D, L}, {E, H},
                     {F, I}, {G, I}, {G, J}, {H, E}, {H, K}, {I, K}, {J, I}, {K, I}, {K, R}, {L, H}}),
      R, std::vector<uint64_t>(13, 1));
  EXPECT_EQ(tree.idom,
            (std::vector<uint32_t>{kNoNode, R, R, R, R, R, C, C, R, R, G, R, D}));
  EXPECT_EQ(tree.retained[R], 13u);
  EXPECT_EQ(tree.retained[C], 4u);  // C, F, G, J
  EXPECT_EQ(tree.retained[D], 2u);  // D, L
}

// d dominates w when removing d leaves w unreachable from the root.
std::vector<uint32_t> BruteForceIdom(uint32_t n, const std::vector<std::pair<uint32_t, uint32_t>>& edges) {
  auto reachable_without = [&](uint32_t removed) {
    std::vector<bool> seen(n, false);
    if (removed == 0) return seen;
    std::vector<uint32_t> stack{0};
    seen[0] = true;
    while (!stack.empty()) {
      uint32_t v = stack.back();
      stack.pop_back();
      for (const auto& [from, to] : edges) {
        if (from == v && to != removed && !seen[to]) {
          seen[to] = true;
          stack.push_back(to);
        }
      }
    }
    return seen;
  };
  std::vector<bool> reachable = reachable_without(kNoNode);
  std::vector<std::vector<bool>> dominated_by(n);  // dominated_by[d][w]: d strictly dominates w
  for (uint32_t d = 0; d < n; ++d) {
    std::vector<bool> seen = reachable_without(d);
    dominated_by[d].assign(n, false);
    for (uint32_t w = 0; w < n; ++w) dominated_by[d][w] = reachable[d] && reachable[w] && w != d && !seen[w];
  }
  std::vector<uint32_t> idom(n, kNoNode);
  for (uint32_t w = 1; w < n; ++w) {
    if (!reachable[w]) continue;
    // The immediate dominator is the strict dominator that every other strict dominator dominates.
    for (uint32_t d = 0; d < n; ++d) {
      if (!dominated_by[d][w]) continue;
      bool nearest = true;
      for (uint32_t other = 0; other < n; ++other) {
        if (other != d && dominated_by[other][w] && !dominated_by[other][d]) nearest = false;
      }
      if (nearest) idom[w] = d;
    }
  }
  return idom;
}

TEST(Dominators, MatchTheDefinitionOnRandomGraphs) {
  std::mt19937 random(11);
  for (int round = 0; round < 300; ++round) {
    uint32_t n = 2 + random() % 25;
    uint32_t m = random() % (3 * n);
    std::vector<std::pair<uint32_t, uint32_t>> edges;
    for (uint32_t i = 0; i < m; ++i) edges.emplace_back(random() % n, random() % n);
    std::vector<uint64_t> shallow(n);
    for (auto& s : shallow) s = random() % 100;
    DominatorTree tree = ComputeDominators(MakeGraph(n, edges), 0, shallow);
    ASSERT_EQ(tree.idom, BruteForceIdom(n, edges)) << "round " << round;
    // The retained size is the sum over the dominator subtree.
    for (uint32_t v = 0; v < n; ++v) {
      if (v != 0 && tree.idom[v] == kNoNode) {
        EXPECT_EQ(tree.retained[v], 0u);
        continue;
      }
      uint64_t sum = 0;
      for (uint32_t w = 0; w < n; ++w) {
        bool under = w == v;
        for (uint32_t u = w; !under && tree.idom[u] != kNoNode; u = tree.idom[u]) under = tree.idom[u] == v;
        if (under) sum += shallow[w];
      }
      EXPECT_EQ(tree.retained[v], sum) << "round " << round << " node " << v;
    }
  }
}

TEST(ShortestPaths, BreadthFirstParents) {
  std::vector<uint32_t> parent =
      ShortestPathParents(MakeGraph(6, {{0, 1}, {1, 2}, {2, 3}, {0, 4}, {4, 3}, {5, 0}}), 0);
  EXPECT_EQ(parent, (std::vector<uint32_t>{kNoNode, 0, 1, 4, 0, kNoNode}));
}

// ---- a dump written record by record ----

class DumpBuilder {
 public:
  void Add(uint64_t id, Kind kind, uint64_t size, std::vector<std::string> item_values = {},
           std::vector<std::pair<std::string, std::string>> attrs = {}, std::string data = {}, uint64_t type_id = 0) {
    Record record;
    record.id = id;
    record.kind = kind;
    record.size = size;
    record.type_id = type_id;
    PutVarint(record.items.bytes, item_values.size());
    for (const std::string& value : item_values) record.items.bytes += value;
    PutVarint(record.attrs.bytes, attrs.size());
    for (const auto& [name, value] : attrs) {
      PutName(record.attrs.bytes, name);
      record.attrs.bytes += value;
    }
    record.data.bytes = std::move(data);
    records_.push_back(std::move(record));
  }
  void Str(uint64_t id, const std::string& text) { Add(id, Kind::kStr, 50 + text.size(), {}, {}, text); }
  std::string Write() {
    std::string path = (std::filesystem::temp_directory_path() /
                        ("analysis_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++) + ".heapdump"))
                           .string();
    auto writer = DumpFileWriter::Create(path, WriterOptions{});
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->WriteHeader("{}").ok());
    for (const Record& record : records_) EXPECT_TRUE((*writer)->AppendRecord(record).ok());
    EXPECT_TRUE((*writer)->Commit("{\"root\": 1}").ok());
    return path;
  }

 private:
  std::vector<Record> records_;
  static inline int counter_ = 0;
};

std::string Ref(uint64_t id) {
  std::string out;
  PutRef(out, id);
  return out;
}
std::string None() { return std::string(1, static_cast<char>(ValueTag::kNone)); }

// A thread MainThread whose frame handle() has a local `cache`: a dict holding a Session whose payload is 10 MB.
std::string WriteLeakDump() {
  DumpBuilder dump;
  dump.Add(1, Kind::kDict, 200, {Ref(2), Ref(3), Ref(4), Ref(5), Ref(6), None(), Ref(7), None()});
  dump.Str(2, "threads");
  dump.Add(3, Kind::kList, 64, {Ref(8)});
  dump.Str(4, "extra_stacks");
  dump.Add(5, Kind::kList, 56);
  dump.Str(6, "exception");
  dump.Str(7, "frame");
  dump.Add(8, Kind::kDict, 200, {Ref(9), Ref(10), Ref(11), Ref(12), Ref(13), Ref(14)});
  dump.Str(9, "kind");
  dump.Str(10, "thread");
  dump.Str(11, "name");
  dump.Str(12, "MainThread");
  dump.Str(13, "frames");
  dump.Add(14, Kind::kList, 64, {Ref(15)});
  dump.Add(15, Kind::kFrame, 400, {}, {{"code", Ref(16)}, {"locals", Ref(17)}, {"globals", Ref(27)}});
  dump.Add(16, Kind::kCode, 300, {}, {{"qualname", Ref(18)}});
  dump.Add(17, Kind::kDict, 200, {Ref(19), Ref(20)});
  dump.Str(18, "handle");
  dump.Str(19, "cache");
  dump.Add(20, Kind::kDict, 1000, {Ref(21), Ref(22)});
  dump.Str(21, "user:42");
  dump.Add(22, Kind::kInstance, 48, {}, {{"dict:payload", Ref(24)}}, {}, 23);
  dump.Add(23, Kind::kClass, 1000, {}, {{"module", Ref(25)}, {"qualname", Ref(26)}});
  dump.Add(24, Kind::kBytes, 10'000'000, {}, {}, "...");
  dump.Str(25, "__main__");
  dump.Str(26, "Session");
  // The globals: a module dict that also holds the class, so no Session retains it.
  dump.Add(27, Kind::kDict, 600, {Ref(26), Ref(23)});
  return dump.Write();
}

TEST(HeapAnalysis, NamesTheLeakAndThePathToIt) {
  std::string path = WriteLeakDump();
  auto analysis = HeapAnalysis::Open(path);
  ASSERT_TRUE(analysis.ok()) << analysis.status();
  HeapAnalysis& heap = **analysis;
  EXPECT_EQ(heap.object_count(), 27u);
  EXPECT_EQ(heap.reachable_count(), 27u);
  uint32_t cache = heap.NodeOf(20);
  uint32_t session = heap.NodeOf(22);
  EXPECT_EQ(heap.TypeOf(session), "__main__.Session");
  EXPECT_EQ(heap.RetainedOf(session), 48u + 10'000'000u);
  EXPECT_EQ(heap.RetainedOf(cache), 1000u + 57u + 48u + 10'000'000u);  // the dict, its key, the Session
  EXPECT_EQ(heap.total_retained(), heap.total_shallow());
  // Top leaves out the dump's scaffolding (root record, lists, frames, code): the locals dict comes first.
  std::vector<uint32_t> top = heap.Top(3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(heap.IdOf(top[0]), 17u);
  EXPECT_EQ(heap.IdOf(top[1]), 20u);
  EXPECT_EQ(heap.IdOf(top[2]), 22u);

  auto steps = heap.PathTo(heap.NodeOf(24));
  ASSERT_TRUE(steps.ok()) << steps.status();
  std::string text;
  for (const PathStep& step : *steps) text += (text.empty() ? "" : " > ") + step.via;
  EXPECT_EQ(text, "thread MainThread > handle() > local 'cache' > dict['user:42'] > Session.payload");
  EXPECT_EQ(steps->back().id, 24u);
  EXPECT_EQ(steps->back().type, "bytes");

  std::vector<TypeTotal> types = heap.TopTypes(0);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types[0].type, "frame");  // the frame holds the locals and the globals
  EXPECT_EQ(types[0].retained, heap.RetainedOf(heap.NodeOf(15)));
  bool found = false;
  for (const TypeTotal& row : types) {
    if (row.type == "dict") {
      // The cache dict is inside the locals dict's retained size: counted once.
      EXPECT_EQ(row.count, 5u);
      EXPECT_EQ(row.retained, heap.RetainedOf(heap.NodeOf(1)) + heap.RetainedOf(heap.NodeOf(17)) +
                                  heap.RetainedOf(heap.NodeOf(27)));
    }
    if (row.type != "__main__.Session") continue;
    found = true;
    EXPECT_EQ(row.count, 1u);
    EXPECT_EQ(row.retained, 10'000'048u);
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(heap.InstancesOf("__main__.Session"), std::vector<uint32_t>{session});
  EXPECT_EQ(heap.InstancesOf("builtins.bytes"), std::vector<uint32_t>{heap.NodeOf(24)});
  std::filesystem::remove(path);
}

std::string PathText(HeapAnalysis& heap, uint64_t id) {
  auto steps = heap.PathTo(heap.NodeOf(id));
  EXPECT_TRUE(steps.ok()) << steps.status();
  std::string text;
  for (const PathStep& step : *steps) text += (text.empty() ? "" : " > ") + step.via;
  return text;
}

TEST(HeapAnalysis, WholeHeapRootsModulesAndWhatOnlyTheCollectorKnew) {
  // save_dump(heap=True): the root's "modules" (name -> globals) and the summary's list of unreached objects.
  DumpBuilder dump;
  dump.Add(1, Kind::kDict, 200, {Ref(2), Ref(3), Ref(4), Ref(5)});
  dump.Str(2, "threads");
  dump.Add(3, Kind::kList, 56);
  dump.Str(4, "modules");
  dump.Add(5, Kind::kDict, 200, {Ref(6), Ref(7)});
  dump.Str(6, "json");
  dump.Add(7, Kind::kDict, 600, {Ref(8), Ref(9)});
  dump.Str(8, "_cache");
  dump.Add(9, Kind::kList, 64, {Ref(10)});
  dump.Add(10, Kind::kBytes, 5'000'000'000);  // past four bytes: kept aside, summed in full
  dump.Add(11, Kind::kList, 64, {Ref(12)});  // what only the collector knew of: a cycle holding 3 MB
  dump.Add(12, Kind::kInstance, 48, {}, {{"dict:me", Ref(12)}, {"dict:blob", Ref(13)}}, {}, 14);
  dump.Add(13, Kind::kBytes, 3'000'000);
  dump.Add(14, Kind::kClass, 1000, {}, {{"module", Ref(15)}, {"qualname", Ref(16)}});
  dump.Str(15, "__main__");
  dump.Str(16, "Node");
  dump.Add(17, Kind::kBytes, 5'000'000);  // reached by nothing at all
  std::string path = dump.Write();
  auto analysis = HeapAnalysis::Open(path, 1, 17, 11);
  ASSERT_TRUE(analysis.ok()) << analysis.status();
  HeapAnalysis& heap = **analysis;
  EXPECT_EQ(heap.reachable_count(), 16u);
  EXPECT_EQ(heap.RetainedOf(heap.NodeOf(17)), 0u);
  EXPECT_EQ(heap.DominatorOf(heap.NodeOf(17)), kNoNode);
  EXPECT_EQ(PathText(heap, 10), "module json > global '_cache' > list[0]");
  EXPECT_EQ(heap.ShallowOf(heap.NodeOf(10)), 5'000'000'000u);
  EXPECT_EQ(heap.RetainedOf(heap.NodeOf(7)), 600u + 56u + 64u + 5'000'000'000u);
  EXPECT_EQ(PathText(heap, 12), "unreached (only the garbage collector knew of it)");
  EXPECT_EQ(PathText(heap, 13), "unreached (only the garbage collector knew of it) > Node.blob");
  // The class is reached only through its instance's type: the instance retains it and its names.
  EXPECT_EQ(heap.RetainedOf(heap.NodeOf(12)), 48u + 3'000'000u + 1000u + 58u + 54u);
  std::vector<uint32_t> top = heap.Top(4);
  ASSERT_EQ(top.size(), 4u);
  // The lists of roots (5 and 11) are the dump's own: left out.
  EXPECT_EQ(heap.IdOf(top[0]), 7u);
  EXPECT_EQ(heap.IdOf(top[1]), 9u);
  EXPECT_EQ(heap.IdOf(top[2]), 10u);
  EXPECT_EQ(heap.IdOf(top[3]), 12u);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace pyheapdump
