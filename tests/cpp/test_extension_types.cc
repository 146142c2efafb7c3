// Extension types and the records they make: classes told from extension types, a member named once per record,
// reduces that name a global or keep failing, and loader-side robustness against an attribute named twice.
#include <Python.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "chunk_reader.h"
#include "chunk_writer.h"
#include "python_test_support.h"
#include "rebuilder.h"
#include "record_decoder.h"
#include "walker.h"

namespace pyheapdump {
namespace {

// The attribute names of a record, in the order the walker wrote them.
std::vector<std::string> AttrNames(const Record& record) {
  std::vector<std::string> names;
  absl::Status parsed =
      ParseAttrs(record.attrs.bytes, /*make_atoms=*/false, [&](std::string_view name, DecodedValue&&) {
        names.emplace_back(name);
        return absl::OkStatus();
      });
  EXPECT_TRUE(parsed.ok()) << parsed;
  return names;
}

class ExtensionWalkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "extension_test_" + std::to_string(getpid()) + ".heapdump";
    // Classes named Reduced* are reduced, other classes are plain instances, anything else is opaque.
    policy_ = RunPython(
        "def policy(cls):\n"
        "    if cls.__name__.startswith('Reduced'): return (2, None, None, False)\n"
        "    return (1, None, None, False) if cls.__flags__ & (1 << 9) else (4, None, None, False)\n");
  }
  void TearDown() override { unlink(path_.c_str()); }

  std::vector<Record> Dump(PyObject* root) {
    auto writer = DumpFileWriter::Create(path_, WriterOptions{});
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->WriteHeader("{}").ok());
    Walker walker(**writer, WalkLimits{}, BorrowedRef(Get(policy_, "policy")));
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

  std::string path_;
  OwnedRef policy_;
  WalkStats stats_;
};

TEST_F(ExtensionWalkTest, AMemberThatASubclassNamesAgainIsWrittenOnce) {
  // As Cython's fused functions and their base both have a __module__ member: one name, one attribute.
  OwnedRef ns = RunPython(
      "class Base:\n"
      "    __slots__ = ('x', 'y')\n"
      "class Derived(Base):\n"
      "    __slots__ = ('x',)\n"
      "root = Derived()\n"
      "root.x = 'derived'\n"
      "Base.x.__set__(root, 'hidden')\n"
      "root.y = 'base'\n");
  auto records = Dump(Get(ns, "root"));
  ASSERT_FALSE(records.empty());
  ASSERT_EQ(records[0].kind, Kind::kInstance);
  std::vector<std::string> names = AttrNames(records[0]);
  EXPECT_EQ(std::count(names.begin(), names.end(), "slot:x"), 1) << "slot:x written " << names.size() << " times";
  EXPECT_EQ(std::count(names.begin(), names.end(), "slot:y"), 1);
  // The one kept is what root.x reads: the subclass's member.
  auto decoded = DecodeRecord(records[0]);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  PyObject* attrs = PyTuple_GET_ITEM(decoded->get(), 7);
  PyObject* x = PyDict_GetItemString(attrs, "slot:x");
  ASSERT_NE(x, nullptr);
  ASSERT_TRUE(PyLong_Check(x));
  uint64_t id = PyLong_AsUnsignedLongLong(x);
  for (const Record& record : records) {
    if (record.id == id) EXPECT_EQ(record.data.bytes, "derived");
  }
}

TEST_F(ExtensionWalkTest, ClassesAreToldFromExtensionTypesByTheirMaker) {
  OwnedRef ns = RunPython("class Plain:\n    pass\nclass Child(int):\n    pass\n");
  EXPECT_TRUE(IsClassStatementType(reinterpret_cast<PyTypeObject*>(Get(ns, "Plain"))));
  EXPECT_TRUE(IsClassStatementType(reinterpret_cast<PyTypeObject*>(Get(ns, "Child"))));
  EXPECT_FALSE(IsClassStatementType(&PyLong_Type));
  EXPECT_FALSE(IsClassStatementType(&PyDict_Type));
  // A heap type made by an extension without Py_TPFLAGS_IMMUTABLETYPE, with a deallocator of its own (as Cython
  // makes its cdef classes): the flags alone would take it for a class.
  static PyType_Slot slots[] = {{Py_tp_dealloc, reinterpret_cast<void*>(+[](PyObject* self) {
                                   PyTypeObject* type = Py_TYPE(self);
                                   type->tp_free(self);
                                   Py_DECREF(type);
                                 })},
                                {0, nullptr}};
  static PyType_Spec spec = {"extension_test.Compiled", static_cast<int>(sizeof(PyObject) + sizeof(void*)), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, slots};
  OwnedRef compiled = OwnedRef::Steal(PyType_FromSpec(&spec));
  ASSERT_TRUE(compiled);
  auto* type = reinterpret_cast<PyTypeObject*>(compiled.get());
  ASSERT_TRUE(type->tp_flags & Py_TPFLAGS_HEAPTYPE);
  ASSERT_FALSE(type->tp_flags & Py_TPFLAGS_IMMUTABLETYPE);
  EXPECT_FALSE(IsClassStatementType(type));
  // A class statement on top of it is a class again.
  PyDict_SetItemString(ns.get(), "Compiled", compiled.get());
  OwnedRef ran = OwnedRef::Steal(
      PyRun_String("class OnTop(Compiled):\n    pass\n", Py_file_input, ns.get(), ns.get()));
  ASSERT_TRUE(ran);
  EXPECT_TRUE(IsClassStatementType(reinterpret_cast<PyTypeObject*>(Get(ns, "OnTop"))));
}

TEST_F(ExtensionWalkTest, AReduceThatNamesAGlobalIsNoError) {
  OwnedRef ns = RunPython(
      "class ReducedGlobal:\n"
      "    def __reduce__(self): return 'SINGLETON'\n"
      "root = ReducedGlobal()\n");
  auto records = Dump(Get(ns, "root"));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].kind, Kind::kSurrogate);
  EXPECT_FALSE(records[0].flags & kFlagCaptureError);
  std::vector<std::string> names = AttrNames(records[0]);
  EXPECT_NE(std::find(names.begin(), names.end(), "global"), names.end());
  EXPECT_EQ(stats_.errors, 0u);
}

TEST_F(ExtensionWalkTest, ATypeWhoseEveryReduceFailsStopsBeingReduced) {
  OwnedRef ns = RunPython(
      "calls = []\n"
      "class ReducedNever:\n"
      "    __slots__ = ()\n"
      "    def __reduce__(self):\n"
      "        calls.append(1)\n"
      "        raise TypeError('cannot pickle')\n"
      "root = [ReducedNever() for _ in range(40)]\n");
  auto records = Dump(Get(ns, "root"));
  Py_ssize_t calls = PyList_GET_SIZE(Get(ns, "calls"));
  EXPECT_EQ(calls, 16) << "the reduce was tried past the failures that give up on it";
  size_t surrogates = 0, flagged = 0;
  for (const Record& record : records) {
    surrogates += record.kind == Kind::kSurrogate;
    flagged += (record.flags & kFlagCaptureError) != 0;
  }
  EXPECT_EQ(surrogates, 40u) << "every object still gets its surrogate";
  EXPECT_EQ(flagged, 16u) << "only the reduces that ran say how they failed";
}

TEST_F(ExtensionWalkTest, AnInstanceDictThatHoldsAReducerIsNotAskedToReduce) {
  OwnedRef ns = RunPython(
      "ran = []\n"
      "class ReducedShadowed:\n"
      "    def __reduce__(self): return (ReducedShadowed, ())\n"
      "root = ReducedShadowed()\n"
      "root.__reduce__ = lambda: ran.append('instance reducer') or (ReducedShadowed, ())\n");
  auto records = Dump(Get(ns, "root"));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].kind, Kind::kSurrogate);
  EXPECT_EQ(PyList_GET_SIZE(Get(ns, "ran")), 0) << "the instance's own reducer ran";
}

// ---- the loader side ----

std::string AttrsBlob(std::initializer_list<std::pair<std::string, std::string>> attributes) {
  std::string blob;
  PutVarint(blob, attributes.size());
  for (const auto& [name, value] : attributes) {
    PutName(blob, name);
    blob += value;
  }
  return blob;
}

TEST(DecodeRecordTest, AnAttributeNamedTwiceKeepsTheFirstValueAndRefsAgreeWithIt) {
  std::string ref, atom, empty_items;
  PutRef(ref, 7);
  PutInt(atom, 140000000000);
  PutVarint(empty_items, 0);
  for (bool reference_last : {false, true}) {
    Record record;
    record.id = 1;
    record.kind = Kind::kSurrogate;
    record.items.bytes = empty_items;
    record.attrs.bytes = reference_last ? AttrsBlob({{"slot:__module__", atom}, {"slot:__module__", ref}})
                                        : AttrsBlob({{"slot:__module__", ref}, {"slot:__module__", atom}});
    auto decoded = DecodeRecord(record);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    PyObject* attrs = PyTuple_GET_ITEM(decoded->get(), 7);
    PyObject* refs = PyTuple_GET_ITEM(decoded->get(), 8);
    PyObject* value = PyDict_GetItemString(attrs, "slot:__module__");
    ASSERT_NE(value, nullptr);
    ASSERT_TRUE(PyList_Check(refs));
    // The first entry is the one attribute lookup finds (the MRO lists the most derived class first).
    if (!reference_last) {
      EXPECT_EQ(PyLong_AsLongLong(value), 7);
      ASSERT_EQ(PyList_GET_SIZE(refs), 1);
      EXPECT_EQ(PyUnicode_CompareWithASCIIString(PyList_GET_ITEM(refs, 0), "slot:__module__"), 0);
    } else {
      EXPECT_EQ(PyLong_AsLongLong(value), 140000000000);
      EXPECT_EQ(PyList_GET_SIZE(refs), 0) << "an atom would be looked up as a record id";
    }
  }
}

TEST(OneLineTest, AProblemIsTheFirstLineOfItsMessageAndBounded) {
  EXPECT_EQ(OneLine("get(): incompatible function arguments. The following argument types are supported:\n"
                    "    1. (self: Rebuilder, arg0: int) -> object\n\nInvoked with: None"),
            "get(): incompatible function arguments. The following argument types are supported:");
  EXPECT_EQ(OneLine("\n\n  second line first  \nthird"), "second line first");
  EXPECT_EQ(OneLine(""), "");
  EXPECT_EQ(OneLine(std::string(1000, 'x'), 20), std::string(17, 'x') + "...");
  // A cut never splits a UTF-8 character.
  std::string accents;
  for (int i = 0; i < 50; ++i) accents += "\xc3\xa9";
  std::string cut = OneLine(accents, 20);
  EXPECT_EQ(cut, std::string(accents.substr(0, 16)) + "...");
}

}  // namespace
}  // namespace pyheapdump
