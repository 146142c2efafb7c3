// Shared by the heap analysis's files, not part of its interface (analysis.h): the values of a record read without
// Python, and a helper that hands a vector's memory back. The analysis is split by subject:
//   analysis_reading.cc     the records read into the graph's arrays (Open, Build), and re-read on demand (Fetch)
//   analysis_roots.cc       the super-root's edges: the root record's threads, stacks, exception, modules
//   analysis_paths.cc       shortest paths from the roots, each step named; what a node references
//   analysis_dominators.cc  the dominator tree, retained sizes, and the queries over them (Top, TopTypes, ...)
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "format.h"

namespace pyheapdump {
namespace analysis_internal {

// One value of an items or attrs blob, read without Python: only what the analysis uses.
struct PlainValue {
  ValueTag tag = ValueTag::kNone;
  uint64_t number = 0;  // kRef: the record id; kInt: the zigzag payload; kCut: the class id
  double real = 0;      // kFloat
};

struct PlainRecord {
  std::vector<PlainValue> items;
  std::vector<std::pair<std::string_view, PlainValue>> attrs;
};

// Throws FormatError on a malformed record.
PlainRecord Decode(const Record& record);

const PlainValue* Attr(const PlainRecord& record, std::string_view name);

uint64_t RefOf(const PlainValue* value);

// Hands a vector's memory back at once (clear() keeps it): the analysis drops its big arrays as soon as it is done.
template <class T>
void Free(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

}  // namespace analysis_internal
}  // namespace pyheapdump
