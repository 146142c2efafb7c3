// The walker and encoders against an embedded interpreter: identity, cycles, order, limits, no user code run.
#include <Python.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "chunk_reader.h"
#include "chunk_writer.h"
#include "python_test_support.h"
#include "walker.h"

namespace pyheapdump {
namespace {

class WalkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "walker_test_" + std::to_string(getpid()) + ".heapdump";
    // Plain instances for every heap type, opaque otherwise: the simplest policy the engine can be given.
    policy_ = RunPython(
        "calls = []\n"
        "def policy(cls):\n"
        "    calls.append(cls)\n"
        "    return (1, None, None, False) if cls.__flags__ & (1 << 9) else (4, None, None, True)\n");
  }
  void TearDown() override { unlink(path_.c_str()); }

  // Walks root with the given limits and returns the records read back from the file.
  std::vector<Record> Dump(PyObject* root, WalkLimits limits = {}) {
    auto writer = DumpFileWriter::Create(path_, WriterOptions{});
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->WriteHeader("{}").ok());
    Walker walker(**writer, limits, BorrowedRef(Get(policy_, "policy")));
    absl::Status status = walker.Walk(BorrowedRef(root));
    EXPECT_TRUE(status.ok()) << status;
    stats_ = walker.stats();
    EXPECT_TRUE((*writer)->Commit("{}").ok());
    auto reader = DumpFileReader::Open(path_);
    EXPECT_TRUE(reader.ok()) << reader.status();
    std::vector<Record> records;
    EXPECT_TRUE((*reader)
                    ->ForEachRecord([&](Record&& r) {
                      records.push_back(std::move(r));
                      return absl::OkStatus();
                    })
                    .ok());
    return records;
  }

  // The values of a record's items blob: (tag, payload) pairs.
  static std::vector<std::pair<ValueTag, uint64_t>> Items(const Record& record) {
    Cursor cursor(record.items.bytes);
    uint64_t count = cursor.Count();
    std::vector<std::pair<ValueTag, uint64_t>> values;
    for (uint64_t i = 0; i < count; ++i) {
      auto tag = static_cast<ValueTag>(cursor.Byte());
      uint64_t payload = 0;
      if (tag == ValueTag::kRef || tag == ValueTag::kInt) payload = cursor.Varint();
      if (tag == ValueTag::kFloat) cursor.Float();
      if (tag == ValueTag::kCut) {
        payload = cursor.Varint();
        cursor.Varint();
      }
      values.emplace_back(tag, payload);
    }
    return values;
  }

  static const Record* ById(const std::vector<Record>& records, uint64_t id) {
    for (const auto& r : records)
      if (r.id == id) return &r;
    return nullptr;
  }

  std::string path_;
  OwnedRef policy_;
  WalkStats stats_;
};

TEST_F(WalkerTest, SharedObjectIsStoredOnceAndReferencedTwice) {
  OwnedRef ns = RunPython("shared = ['x']\nroot = [shared, shared]\n");
  auto records = Dump(Get(ns, "root"));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].id, 1u);
  EXPECT_EQ(records[0].kind, Kind::kList);
  auto items = Items(records[0]);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].first, ValueTag::kRef);
  EXPECT_EQ(items[0], items[1]) << "both slots must reference the same record";
}

TEST_F(WalkerTest, SelfReferencingListTerminatesAndPointsAtItself) {
  OwnedRef ns = RunPython("root = []\nroot.append(root)\n");
  auto records = Dump(Get(ns, "root"));
  ASSERT_EQ(records.size(), 1u);
  auto items = Items(records[0]);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0], std::make_pair(ValueTag::kRef, uint64_t{1}));
}

TEST_F(WalkerTest, SmallAtomsAreInlineAndRecordsComeBreadthFirst) {
  OwnedRef ns = RunPython("root = [1, -2, 2.5, None, True, ('deep', ('deeper',))]\n");
  auto records = Dump(Get(ns, "root"));
  auto items = Items(records[0]);
  EXPECT_EQ(items[0], std::make_pair(ValueTag::kInt, ZigZag(1)));
  EXPECT_EQ(items[1], std::make_pair(ValueTag::kInt, ZigZag(-2)));
  EXPECT_EQ(items[2].first, ValueTag::kFloat);
  EXPECT_EQ(items[3].first, ValueTag::kNone);
  EXPECT_EQ(items[4].first, ValueTag::kTrue);
  for (size_t i = 1; i < records.size(); ++i) EXPECT_GT(records[i].id, records[i - 1].id) << "ids in file order";
}

TEST_F(WalkerTest, MaxItemsKeepsThePrefixAndFlagsTheCut) {
  OwnedRef ns = RunPython("root = list(range(100))\n");
  WalkLimits limits;
  limits.max_items = 10;
  auto records = Dump(Get(ns, "root"), limits);
  EXPECT_EQ(Items(records[0]).size(), 10u);
  EXPECT_TRUE(records[0].flags & kFlagTruncated);
  EXPECT_EQ(stats_.cut["max_items"], 1u);
}

TEST_F(WalkerTest, MaxObjectsCutsTheFarthestObjects) {
  OwnedRef ns = RunPython("root = [[i] for i in range(50)]\n");
  WalkLimits limits;
  limits.max_objects = 5;
  auto records = Dump(Get(ns, "root"), limits);
  size_t cuts = 0;
  for (auto& item : Items(records[0])) cuts += item.first == ValueTag::kCut;
  EXPECT_GT(cuts, 40u);
  EXPECT_GT(stats_.cut["max_objects"], 40u);
  EXPECT_TRUE(records[0].flags & kFlagCutItems) << "a container holding cut values says so";
  for (size_t i = 1; i < records.size(); ++i) {
    if (records[i].kind == Kind::kList) EXPECT_FALSE(records[i].flags & kFlagCutItems) << "[i]: nothing cut";
  }
}

TEST_F(WalkerTest, ObjectsQueuedBeforeAStopAreFlaggedAsCutRecords) {
  OwnedRef ns = RunPython("root = [[i] for i in range(5000)]\n");
  WalkLimits limits;
  limits.max_bytes = 1000;  // the root's record alone passes it: every element was queued before the stop
  auto records = Dump(Get(ns, "root"), limits);
  size_t flagged = 0;
  for (size_t i = 1; i < records.size(); ++i) {
    if (!(records[i].flags & kFlagCutRecord)) continue;
    ++flagged;
    EXPECT_EQ(records[i].kind, Kind::kSurrogate) << "[" << i << "]";
  }
  EXPECT_GT(flagged, 1000u);
  EXPECT_FALSE(records[0].flags & kFlagCutRecord);
  // Written before the stop, the root holds references, not cut values: the loader marks it from the flags above.
  EXPECT_FALSE(records[0].flags & kFlagCutItems);
}

TEST_F(WalkerTest, MaxObjectsNeverCutsTheSkeletonNorTheNamesOfCode) {
  OwnedRef ns = RunPython(
      "import sys\n"
      "def here():\n"
      "    crowd = [[i] for i in range(50)]\n"
      "    return sys._getframe()\n"
      "frame = here()\n"
      "root = {'threads': [{'name': 'MainThread', 'frames': [frame]}], 'extra_stacks': []}\n");
  for (double time_limit : {60.0, 0.0}) {
    WalkLimits limits;
    limits.max_objects = 1;
    limits.time_limit = time_limit;
    auto records = Dump(Get(ns, "root"), limits);
    const Record* code = nullptr;
    for (const auto& record : records) {
      if (record.kind == Kind::kCode) code = &record;
    }
    ASSERT_NE(code, nullptr) << "the frame's code was cut (time_limit " << time_limit << ")";
    // Every attribute of the code that is a value of its own (filename, name, qualname, varnames) was written.
    Cursor attrs(code->attrs.bytes);
    size_t refs = 0;
    for (uint64_t count = attrs.Count(); count > 0; --count) {
      std::string name(attrs.Bytes(attrs.Varint()));
      auto tag = static_cast<ValueTag>(attrs.Byte());
      EXPECT_NE(tag, ValueTag::kCut) << name << " of the code was cut";
      if (tag == ValueTag::kRef) {
        uint64_t id = attrs.Varint();
        EXPECT_NE(ById(records, id), nullptr) << name << " has no record";
        ++refs;
      } else if (tag == ValueTag::kInt) {
        attrs.Varint();
      }
    }
    EXPECT_GE(refs, 3u);
    EXPECT_GT(stats_.cut["max_objects"] + stats_.cut["time_limit"], 0u) << "the crowd was cut";
  }
}

TEST_F(WalkerTest, PropertiesAndGetattrNeverRun) {
  OwnedRef ns = RunPython(
      "ran = []\n"
      "class Touchy:\n"
      "    def __init__(self): self.value = 42\n"
      "    @property\n"
      "    def prop(self): ran.append('property'); return 1\n"
      "    def __getattr__(self, name): ran.append(name); raise AttributeError(name)\n"
      "root = Touchy()\n");
  auto records = Dump(Get(ns, "root"));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].kind, Kind::kInstance);
  EXPECT_EQ(PyList_GET_SIZE(Get(ns, "ran")), 0) << "the walker ran user code of the dumped object";
}

TEST_F(WalkerTest, PolicyIsAskedOncePerType) {
  OwnedRef ns = RunPython(
      "class Point:\n"
      "    __slots__ = ('x', 'y')\n"
      "    def __init__(self, x, y): self.x = x; self.y = y\n"
      "root = [Point(i, i) for i in range(20)]\n");
  Dump(Get(ns, "root"));
  PyObject* calls = Get(policy_, "calls");
  Py_ssize_t point_calls = 0;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(calls); ++i) {
    auto* type = reinterpret_cast<PyTypeObject*>(PyList_GET_ITEM(calls, i));
    point_calls += std::string(type->tp_name) == "Point";
  }
  EXPECT_EQ(point_calls, 1);
}

TEST_F(WalkerTest, PendingPythonErrorOfTheCallerSurvivesTheWalk) {
  OwnedRef ns = RunPython("root = {'a': 1}\n");
  PyErr_SetString(PyExc_ValueError, "the caller's error");
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_Restore(type, value, traceback);
  Dump(Get(ns, "root"));
  ASSERT_TRUE(PyErr_Occurred());
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_ValueError));
  PyErr_Clear();
}

}  // namespace
}  // namespace pyheapdump
