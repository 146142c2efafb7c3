// Heap mode's roots (native/heap_roots.h) against an embedded interpreter: which objects the walk did not reach are
// listed as unreached, which are not, and the list that holds them.
#include <Python.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "chunk_reader.h"
#include "chunk_writer.h"
#include "heap_roots.h"
#include "python_test_support.h"
#include "walker.h"

namespace pyheapdump {
namespace {

class HeapRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "heap_roots_test_" + std::to_string(getpid()) + ".heapdump";
    // save_dump(heap=True) disables the collector while it dumps; here a collection would also free the cycles the
    // tests leave for the collector alone to know.
    gc_ = RunPython("import gc\nwas_enabled = gc.isenabled()\ngc.disable()\n");
    policy_ = RunPython("def policy(cls):\n    return (1, None, None, False)\n");
    auto writer = DumpFileWriter::Create(path_, WriterOptions{});
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = std::move(*writer);
    ASSERT_TRUE(writer_->WriteHeader("{}").ok());
  }
  void TearDown() override {
    walker_.reset();
    writer_.reset();  // removes the temporary file of an uncommitted dump
    unlink(path_.c_str());
    if (PyObject_IsTrue(Get(gc_, "was_enabled"))) RunPython("import gc\ngc.enable()\n");
  }

  // A heap-mode walk (every object memoized) from root, as save_dump(heap=True) makes it.
  Walker& WalkFrom(PyObject* root, WalkLimits limits = {}) {
    walker_ = std::make_unique<Walker>(*writer_, limits, BorrowedRef(Get(policy_, "policy")));
    walker_->set_memo_everything(true);
    absl::Status status = walker_->Walk(BorrowedRef(root));
    EXPECT_TRUE(status.ok()) << status;
    return *walker_;
  }

  // Takes a name out of the namespace: from then on only the caller (C code) and the collector know its object.
  static OwnedRef TakeOut(const OwnedRef& ns, const char* name) {
    OwnedRef obj = OwnedRef::Borrow(Get(ns, name));
    EXPECT_TRUE(obj) << name;
    EXPECT_EQ(PyDict_DelItemString(ns.get(), name), 0);
    return obj;
  }

  static bool Lists(const OwnedRef& list, PyObject* obj) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list.get()); ++i) {
      if (PyList_GET_ITEM(list.get(), i) == obj) return true;
    }
    return false;
  }

  std::string path_;
  OwnedRef gc_;
  OwnedRef policy_;
  std::unique_ptr<DumpFileWriter> writer_;
  std::unique_ptr<Walker> walker_;
};

TEST_F(HeapRootsTest, AnObjectOnlyTheCollectorKnowsIsUnreached) {
  OwnedRef ns = RunPython(
      "class Node:\n"
      "    pass\n"
      "node = Node()\n"
      "node.me = node\n"
      "root = [[1, 2]]\n");
  OwnedRef node = TakeOut(ns, "node");
  Walker& walker = WalkFrom(Get(ns, "root"));
  ASSERT_EQ(walker.IdOf(node.get()), 0u);

  absl::StatusOr<OwnedRef> unreached = FindUnreached(walker);
  ASSERT_TRUE(unreached.ok()) << unreached.status();
  EXPECT_TRUE(Lists(*unreached, node.get()));
  EXPECT_FALSE(Lists(*unreached, Get(ns, "root")));
  EXPECT_FALSE(Lists(*unreached, PyList_GET_ITEM(Get(ns, "root"), 0)));
}

TEST_F(HeapRootsTest, AnObjectAReachedOneHoldsIsNotUnreached) {
  OwnedRef ns = RunPython(
      "kept = []\n"
      "cut = []\n"
      "root = [kept, cut]\n"
      "loner = []\n");
  OwnedRef cut = TakeOut(ns, "cut");
  OwnedRef loner = TakeOut(ns, "loner");
  WalkLimits limits;
  limits.max_objects = 2;  // the root and `kept`: `cut` is left out, so the walk did not reach it
  Walker& walker = WalkFrom(Get(ns, "root"), limits);
  ASSERT_NE(walker.IdOf(Get(ns, "kept")), 0u);
  ASSERT_EQ(walker.IdOf(cut.get()), 0u);

  absl::StatusOr<OwnedRef> unreached = FindUnreached(walker);
  ASSERT_TRUE(unreached.ok()) << unreached.status();
  EXPECT_FALSE(Lists(*unreached, cut.get()));  // the root's record shows it, cut
  EXPECT_TRUE(Lists(*unreached, loner.get()));
}

TEST_F(HeapRootsTest, AnInstanceDictIsNotListedApartFromItsInstance) {
  OwnedRef ns = RunPython(
      "import gc\n"
      "class Node:\n"
      "    pass\n"
      "node = Node()\n"
      "node.items = []\n"
      "node_dict = node.__dict__\n"
      "dict_tracked = gc.is_tracked(node_dict)\n"
      "plain = {'items': []}\n"
      "root = []\n");
  ASSERT_EQ(Get(ns, "dict_tracked"), Py_True);  // the collector knows the dict: a candidate the search must drop
  OwnedRef node = TakeOut(ns, "node");
  OwnedRef node_dict = TakeOut(ns, "node_dict");
  OwnedRef plain = TakeOut(ns, "plain");
  Walker& walker = WalkFrom(Get(ns, "root"));

  absl::StatusOr<OwnedRef> unreached = FindUnreached(walker);
  ASSERT_TRUE(unreached.ok()) << unreached.status();
  EXPECT_TRUE(Lists(*unreached, node.get()));
  EXPECT_FALSE(Lists(*unreached, node_dict.get()));  // walked inside the instance's record
  EXPECT_TRUE(Lists(*unreached, plain.get()));       // a dict no instance owns is a root of its own
}

TEST_F(HeapRootsTest, TheUnreachedListDoesNotListItself) {
  OwnedRef ns = RunPython("root = []\nleft = [[]]\n");
  Walker& walker = WalkFrom(Get(ns, "root"));
  absl::StatusOr<OwnedRef> found = FindUnreached(walker);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_GT(PyList_GET_SIZE(found->get()), 0);
  EXPECT_FALSE(Lists(*found, found->get()));

  absl::StatusOr<UnreachedRoots> roots = WalkUnreached(walker);
  ASSERT_TRUE(roots.ok()) << roots.status();
  ASSERT_NE(roots->id, 0u);
  ASSERT_GT(roots->count, 0u);
  ASSERT_TRUE(writer_->Commit("{}").ok());

  // The list's record: `count` items, every one an object (a reference or a cut), none the list itself.
  auto reader = DumpFileReader::Open(path_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  bool seen = false;
  absl::Status read = (*reader)->ForEachRecord([&](Record&& record) {
    if (record.id != roots->id) return absl::OkStatus();
    seen = true;
    Cursor cursor(record.items.bytes);
    EXPECT_EQ(cursor.Count(), roots->count);
    for (uint64_t i = 0; i < roots->count; ++i) {
      auto tag = static_cast<ValueTag>(cursor.Byte());
      if (tag == ValueTag::kRef) {
        EXPECT_NE(cursor.Varint(), roots->id);
      } else {
        EXPECT_EQ(tag, ValueTag::kCut);
        cursor.Varint();  // reason
        cursor.Varint();  // class
      }
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(read.ok()) << read;
  EXPECT_TRUE(seen);
}

TEST_F(HeapRootsTest, FindingUnreachedNeedsAWalkThatMemoizedEverything) {
  OwnedRef ns = RunPython("root = [[]]\n");
  Walker walker(*writer_, WalkLimits{}, BorrowedRef(Get(policy_, "policy")));
  ASSERT_TRUE(walker.Walk(BorrowedRef(Get(ns, "root"))).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(FindUnreached(walker).status()));
}

}  // namespace
}  // namespace pyheapdump
