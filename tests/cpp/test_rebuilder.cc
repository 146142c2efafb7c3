// The loader's core against an embedded interpreter: the bulk kinds are made without the handler, identity and cycles
// come back, and damaged or unusual records reach the handler's placeholders instead of failing the load.
#include <Python.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "chunk_reader.h"
#include "chunk_writer.h"
#include "rebuilder.h"

namespace pyheapdump {
namespace {

// A handler that makes nothing itself: it logs what the core asked and answers with tagged tuples, so a test sees
// exactly which records took the general path.
constexpr const char* kHandlerSource =
    "class Handler:\n"
    "    def __init__(self):\n"
    "        self.calls = []\n"
    "        self.instance_class = None\n"
    "        self.reduce_callable = None\n"
    "        self.made = {}\n"
    "        self.placeholder_class = None\n"
    "        self.cut_container_classes = {}\n"
    "    def make(self, oid, shell):\n"
    "        self.calls.append(('make', oid, shell))\n"
    "        return self.made.get(oid, ('made', oid))\n"
    "    def plain_surrogate_class(self, type_id):\n"
    "        self.calls.append(('instance_class', type_id))\n"
    "        return self.instance_class\n"
    "    def fast_reduce_callable(self, callable_id):\n"
    "        self.calls.append(('reduce_callable', callable_id))\n"
    "        return self.reduce_callable\n"
    "    def cut_class(self, reason, class_id):\n"
    "        self.calls.append(('cut_class', reason, class_id))\n"
    "        return self.placeholder_class\n"
    "    def cut_container_class(self, kind):\n"
    "        self.calls.append(('cut_container_class', kind))\n"
    "        return self.cut_container_classes.get(kind)\n"
    "    def cut(self, reason, class_id):\n"
    "        return ('cut', reason, class_id)\n"
    "    def lost(self, oid):\n"
    "        return ('lost', oid)\n"
    "    def made_of_itself(self, oid):\n"
    "        return ('itself', oid)\n"
    "class Plain:\n"
    "    pass\n"
    "class Placeholder:\n"
    "    pass\n"
    "class CutList(list):\n"
    "    pass\n"
    "class CutDict(dict):\n"
    "    pass\n"
    "class CutTuple(tuple):\n"
    "    pass\n"
    "handler = Handler()\n";

// Values as the walker writes them (format.h).
std::string Items(std::initializer_list<std::string> values) {
  std::string blob;
  PutVarint(blob, values.size());
  for (const std::string& value : values) blob += value;
  return blob;
}
std::string Ref(uint64_t id) {
  std::string out;
  PutRef(out, id);
  return out;
}
std::string Int(int64_t value) {
  std::string out;
  PutInt(out, value);
  return out;
}
std::string None() { return std::string(1, static_cast<char>(ValueTag::kNone)); }
std::string Cut(CutReason reason, uint64_t class_id) {
  std::string out;
  PutCut(out, reason, class_id);
  return out;
}
std::string Attrs(std::initializer_list<std::pair<std::string, std::string>> attributes) {
  std::string blob;
  PutVarint(blob, attributes.size());
  for (const auto& [name, value] : attributes) {
    PutName(blob, name);
    blob += value;
  }
  return blob;
}

Record MakeRecord(uint64_t id, Kind kind, std::string items = Items({}), std::string attrs = Attrs({}),
                  std::string data = "", uint64_t type_id = 0) {
  Record record;
  record.id = id;
  record.kind = kind;
  record.type_id = type_id;
  record.items.bytes = std::move(items);
  record.attrs.bytes = std::move(attrs);
  record.data.bytes = std::move(data);
  return record;
}

class RebuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "rebuilder_test_" + std::to_string(getpid()) + ".heapdump";
    namespace_ = OwnedRef::Steal(PyDict_New());
    PyDict_SetItemString(namespace_.get(), "__builtins__", PyEval_GetBuiltins());
    OwnedRef ran = OwnedRef::Steal(PyRun_String(kHandlerSource, Py_file_input, namespace_.get(), namespace_.get()));
    ASSERT_TRUE(ran) << "the test handler did not compile";
    handler_ = OwnedRef::Borrow(PyDict_GetItemString(namespace_.get(), "handler"));
    problems_ = OwnedRef::Steal(PyList_New(0));
  }
  void TearDown() override {
    if (core_) core_->Close();
    core_.reset();
    unlink(path_.c_str());
  }

  // Writes the records as one dump and loads them into a new core.
  Rebuilder& Load(const std::vector<Record>& records) {
    auto writer = DumpFileWriter::Create(path_, WriterOptions{});
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->WriteHeader("{}").ok());
    for (const Record& record : records) EXPECT_TRUE((*writer)->AppendRecord(record).ok());
    EXPECT_TRUE((*writer)->Commit("{}").ok());
    auto reader = DumpFileReader::Open(path_);
    EXPECT_TRUE(reader.ok()) << reader.status();
    core_ = std::make_unique<Rebuilder>(handler_.borrow(), problems_.borrow());
    absl::Status status = core_->Load(**reader);
    EXPECT_TRUE(status.ok()) << status;
    return *core_;
  }

  // The object of a record, with every pending fill run, as the loader presents it.
  OwnedRef Finished(uint64_t oid) {
    absl::StatusOr<OwnedRef> obj = core_->Get(oid);
    EXPECT_TRUE(obj.ok()) << "Get(" << oid << ") raised";
    absl::Status drained = core_->Drain(/*hashing=*/true);
    EXPECT_TRUE(drained.ok()) << drained;
    if (PyErr_Occurred()) PyErr_Print();
    return obj.ok() ? *std::move(obj) : OwnedRef();
  }

  std::string Repr(PyObject* obj) {
    OwnedRef text = OwnedRef::Steal(PyObject_Repr(obj));
    return text ? PyUnicode_AsUTF8(text.get()) : "<repr failed>";
  }
  std::string HandlerCalls() { return Repr(PyObject_GetAttrString(handler_.get(), "calls")); }
  void SetHandlerAttribute(const char* name, const char* expression) {
    OwnedRef value = OwnedRef::Steal(PyRun_String(expression, Py_eval_input, namespace_.get(), namespace_.get()));
    ASSERT_TRUE(value) << expression;
    PyObject_SetAttrString(handler_.get(), name, value.get());
  }

  std::string path_;
  OwnedRef namespace_, handler_, problems_;
  std::unique_ptr<Rebuilder> core_;
};

TEST_F(RebuilderTest, SharedAndCyclicContainersComeBackSharedAndCyclicWithoutTheHandler) {
  // 1: [2, 2, 3]; 2: "shared"; 3: {"self": 3, "n": 7}; 4: "self"; 5: "n"
  Load({MakeRecord(1, Kind::kList, Items({Ref(2), Ref(2), Ref(3)})),
        MakeRecord(2, Kind::kStr, Items({}), Attrs({}), "shared"),
        MakeRecord(3, Kind::kDict, Items({Ref(4), Ref(3), Ref(5), Int(7)})),
        MakeRecord(4, Kind::kStr, Items({}), Attrs({}), "self"), MakeRecord(5, Kind::kStr, Items({}), Attrs({}), "n")});
  OwnedRef root = Finished(1);
  ASSERT_TRUE(PyList_Check(root.get()));
  ASSERT_EQ(PyList_GET_SIZE(root.get()), 3);
  EXPECT_EQ(PyList_GET_ITEM(root.get(), 0), PyList_GET_ITEM(root.get(), 1)) << "a shared str must be one object";
  PyObject* cyclic = PyList_GET_ITEM(root.get(), 2);
  EXPECT_EQ(Repr(cyclic), "{'self': {...}, 'n': 7}");
  EXPECT_EQ(PyDict_GetItemString(cyclic, "self"), cyclic) << "the dict must contain itself";
  EXPECT_EQ(HandlerCalls(), "[]") << "plain containers and str took the general path";
}

TEST_F(RebuilderTest, TuplesOfAtomsAndStrAndReducesOfThemAreMadeWithoutTheHandler) {
  SetHandlerAttribute("reduce_callable", "int");
  // 1: [2, 4, 2]; 2: ("s", 7) reached from a list; 3: "s"; 4: reduce int("42") with its None slots; 5: ("42",);
  // 6: "42"; 7: the callable's class record
  Load({MakeRecord(1, Kind::kList, Items({Ref(2), Ref(4), Ref(2)})),
        MakeRecord(2, Kind::kTuple, Items({Ref(3), Int(7)})), MakeRecord(3, Kind::kStr, Items({}), Attrs({}), "s"),
        MakeRecord(4, Kind::kReduce, Items({Ref(7), Ref(5), None(), None(), None()})),
        MakeRecord(5, Kind::kTuple, Items({Ref(6)})), MakeRecord(6, Kind::kStr, Items({}), Attrs({}), "42"),
        MakeRecord(7, Kind::kClass)});
  OwnedRef root = Finished(1);
  ASSERT_EQ(Repr(root.get()), "[('s', 7), 42, ('s', 7)]");
  EXPECT_EQ(PyList_GET_ITEM(root.get(), 0), PyList_GET_ITEM(root.get(), 2)) << "one tuple, referenced twice";
  EXPECT_EQ(HandlerCalls(), "[('make', 7, False), ('reduce_callable', 7)]") << "only the callable needs the handler";
}

TEST_F(RebuilderTest, SmallDictsOfStrAndAtomsShareTheirStrAndLargerOrNestedDictsStillComeBack) {
  // 1: [3, 4, 6]; 2: "name"; 3: {"name": 2, "n": 7} twice over through 4: {"name": "name", "inner": 3};
  // 5: "inner"; 6: a dict of 20 entries, past the small dicts made whole
  std::string large;
  PutVarint(large, 40);
  for (int i = 0; i < 20; ++i) large += Int(i) + Ref(2);
  Load({MakeRecord(1, Kind::kList, Items({Ref(3), Ref(4), Ref(6)})),
        MakeRecord(2, Kind::kStr, Items({}), Attrs({}), "name"),
        MakeRecord(3, Kind::kDict, Items({Ref(2), Ref(2), Ref(7), Int(7)})),
        MakeRecord(4, Kind::kDict, Items({Ref(2), Ref(2), Ref(5), Ref(3)})),
        MakeRecord(5, Kind::kStr, Items({}), Attrs({}), "inner"), MakeRecord(6, Kind::kDict, large),
        MakeRecord(7, Kind::kStr, Items({}), Attrs({}), "n")});
  OwnedRef root = Finished(1);
  ASSERT_TRUE(PyList_Check(root.get()));
  PyObject* flat = PyList_GET_ITEM(root.get(), 0);
  PyObject* nested = PyList_GET_ITEM(root.get(), 1);
  EXPECT_EQ(Repr(flat), "{'name': 'name', 'n': 7}");
  EXPECT_EQ(Repr(nested), "{'name': 'name', 'inner': {'name': 'name', 'n': 7}}");
  EXPECT_EQ(PyDict_GetItemString(nested, "inner"), flat) << "the nested dict must be the same object";
  EXPECT_EQ(PyDict_GetItemString(flat, "name"), PyDict_GetItemString(nested, "name")) << "a shared str is one object";
  PyObject* big = PyList_GET_ITEM(root.get(), 2);
  ASSERT_TRUE(PyDict_Check(big));
  EXPECT_EQ(PyDict_Size(big), 20);
  OwnedRef nineteen = OwnedRef::Steal(PyLong_FromLong(19));
  EXPECT_EQ(PyDict_GetItem(big, nineteen.get()), PyDict_GetItemString(flat, "name"));
  EXPECT_EQ(HandlerCalls(), "[]");
}

TEST_F(RebuilderTest, InstancesOfASurrogateClassGetTheirStateAndTheClassIsAskedForOnce) {
  SetHandlerAttribute("instance_class", "Plain");
  // 1: [2, 3]; 2, 3: instances of class record 9 with dict:x = 1/2 and dict:peer pointing at each other
  Load({MakeRecord(1, Kind::kList, Items({Ref(2), Ref(3)})),
        MakeRecord(2, Kind::kInstance, Items({}), Attrs({{"dict:x", Int(1)}, {"dict:peer", Ref(3)}}), "", 9),
        MakeRecord(3, Kind::kInstance, Items({}), Attrs({{"dict:x", Int(2)}, {"dict:peer", Ref(2)}}), "", 9),
        MakeRecord(9, Kind::kClass)});
  OwnedRef root = Finished(1);
  ASSERT_TRUE(PyList_Check(root.get()));
  PyObject* first = PyList_GET_ITEM(root.get(), 0);
  PyObject* second = PyList_GET_ITEM(root.get(), 1);
  EXPECT_EQ(Repr(reinterpret_cast<PyObject*>(Py_TYPE(first))), "<class 'Plain'>");
  OwnedRef state = OwnedRef::Steal(PyObject_GenericGetDict(first, nullptr));
  EXPECT_EQ(PyDict_GetItemString(state.get(), "peer"), second);
  EXPECT_EQ(Repr(PyDict_GetItemString(state.get(), "x")), "1");
  EXPECT_EQ(HandlerCalls(), "[('instance_class', 9)]");
}

TEST_F(RebuilderTest, ASafeReduceWithFinishedArgumentsIsCalledHereAndOthersGoToTheHandler) {
  SetHandlerAttribute("reduce_callable", "int");
  // 1: (2, 5); 2: reduce int("42"); 3: the callable's record; 4: ("42",); 5: reduce with a state: general path
  Load({MakeRecord(1, Kind::kTuple, Items({Ref(2), Ref(5)})), MakeRecord(2, Kind::kReduce, Items({Ref(3), Ref(4)})),
        MakeRecord(3, Kind::kClass), MakeRecord(4, Kind::kTuple, Items({Ref(6)})),
        MakeRecord(5, Kind::kReduce, Items({Ref(3), Ref(4), Int(1)})),
        MakeRecord(6, Kind::kStr, Items({}), Attrs({}), "42")});
  OwnedRef root = Finished(1);
  EXPECT_EQ(Repr(root.get()), "(42, ('made', 5))");
  EXPECT_EQ(HandlerCalls(), "[('make', 3, False), ('make', 5, False), ('reduce_callable', 3)]");
}

TEST_F(RebuilderTest, CutsAndMissingRecordsBecomeTheHandlersPlaceholders) {
  Load({MakeRecord(1, Kind::kList, Items({Cut(CutReason::kMaxObjects, 7), Ref(99), None()}))});
  OwnedRef root = Finished(1);
  EXPECT_EQ(Repr(root.get()), "[('cut', 1, 7), ('lost', 99), None]");
}

TEST_F(RebuilderTest, EachCutValueIsANewPlaceholderOfAClassAskedForOnceAndItsContainerIsMarked) {
  SetHandlerAttribute("placeholder_class", "Placeholder");
  SetHandlerAttribute("cut_container_classes", "{7: CutList, 8: CutTuple, 9: CutDict}");
  // 1: [cut, cut, 2, 3]; 2: {cut: 1, cut: 2, "k": cut}; 3: (4, cut); 4: "k". Flagged CUT_ITEMS: marked containers.
  std::vector<Record> records = {
      MakeRecord(1, Kind::kList,
                 Items({Cut(CutReason::kMaxObjects, 7), Cut(CutReason::kMaxObjects, 7), Ref(2), Ref(3)})),
      MakeRecord(2, Kind::kDict,
                 Items({Cut(CutReason::kMaxObjects, 7), Int(1), Cut(CutReason::kMaxObjects, 7), Int(2), Ref(4),
                        Cut(CutReason::kMaxObjects, 7)})),
      MakeRecord(3, Kind::kTuple, Items({Ref(4), Cut(CutReason::kMaxObjects, 7)})),
      MakeRecord(4, Kind::kStr, Items({}), Attrs({}), "k")};
  for (Record& record : records) {
    if (record.kind != Kind::kStr) record.flags = kFlagCutItems;
  }
  Load(records);
  OwnedRef root = Finished(1);
  ASSERT_TRUE(PyList_Check(root.get()));
  EXPECT_EQ(Repr(reinterpret_cast<PyObject*>(Py_TYPE(root.get()))), "<class 'CutList'>");
  ASSERT_EQ(PyList_GET_SIZE(root.get()), 4);
  PyObject* first = PyList_GET_ITEM(root.get(), 0);
  PyObject* second = PyList_GET_ITEM(root.get(), 1);
  EXPECT_EQ(Repr(reinterpret_cast<PyObject*>(Py_TYPE(first))), "<class 'Placeholder'>");
  EXPECT_NE(first, second) << "two cut values must stay two objects";
  PyObject* dict = PyList_GET_ITEM(root.get(), 2);
  EXPECT_EQ(Repr(reinterpret_cast<PyObject*>(Py_TYPE(dict))), "<class 'CutDict'>");
  EXPECT_EQ(PyDict_Size(dict), 3) << "cut keys must not collapse into one";
  PyObject* tuple = PyList_GET_ITEM(root.get(), 3);
  EXPECT_EQ(Repr(reinterpret_cast<PyObject*>(Py_TYPE(tuple))), "<class 'CutTuple'>");
  EXPECT_EQ(PyTuple_GET_SIZE(tuple), 2);
  EXPECT_EQ(HandlerCalls(),
            "[('cut_container_class', 7), ('cut_class', 1, 7), ('cut_container_class', 9), ('cut_container_class', 8)]")
      << "each class is asked for once; no record took the general path";
}

TEST_F(RebuilderTest, ARecordThatDoesNotDecodeIsLeftOutWithAWarningAndTheRestLoads) {
  std::string trailing = Items({Int(1)}) + "junk";
  Load({MakeRecord(1, Kind::kList, Items({Ref(2), Ref(3)})), MakeRecord(2, Kind::kList, trailing),
        MakeRecord(3, Kind::kStr, Items({}), Attrs({}), std::string("\xff\xfe", 2))});
  ASSERT_EQ(core_->warnings().size(), 2u);
  EXPECT_EQ(core_->warnings()[0], "record 2: trailing bytes after the items");
  EXPECT_EQ(core_->warnings()[1], "record 3: string is not UTF-8");
  EXPECT_EQ(core_->record_count(), 1u);
  EXPECT_EQ(Repr(Finished(1).get()), "[('lost', 2), ('lost', 3)]");
}

TEST_F(RebuilderTest, SparseIdsFromAForgedFileStillResolve) {
  const uint64_t far = 1'000'000'000'000ull;
  Load({MakeRecord(1, Kind::kList, Items({Ref(far)})), MakeRecord(far, Kind::kStr, Items({}), Attrs({}), "far")});
  EXPECT_EQ(Repr(Finished(1).get()), "['far']");
}

TEST_F(RebuilderTest, AFillThatRaisesIsRecordedAsAProblemAndTheLoadGoesOn) {
  // 1: [2, 3]; 2: a set holding the list 3, which cannot be hashed
  Load({MakeRecord(1, Kind::kList, Items({Ref(2), Ref(3)})), MakeRecord(2, Kind::kSet, Items({Ref(3)})),
        MakeRecord(3, Kind::kList, Items({Int(5)}))});
  OwnedRef root = Finished(1);
  EXPECT_FALSE(PyErr_Occurred());
  EXPECT_EQ(Repr(root.get()), "[set(), [5]]");
  // 3.14 says more: "cannot use 'list' as a set element (unhashable type: 'list')"; 3.11-3.13 the part in brackets.
  const std::string problems = Repr(problems_.get());
  EXPECT_TRUE(absl::StartsWith(problems, "[\"object 2: filling it failed: TypeError: ")) << problems;
  EXPECT_TRUE(absl::StrContains(problems, "unhashable type: 'list'")) << problems;
}

TEST_F(RebuilderTest, ADictOrSetWhoseFillFailsPartWayIsLeftEmptyNotHalfFilled) {
  // Their first items go in before the list 4, an unhashable key, is reached. 1: [2, 3, 4]; 2: {1: 10, [5]: 20};
  // 3: {7, [5]}; 4: [5]
  Load({MakeRecord(1, Kind::kList, Items({Ref(2), Ref(3), Ref(4)})),
        MakeRecord(2, Kind::kDict, Items({Int(1), Int(10), Ref(4), Int(20)})),
        MakeRecord(3, Kind::kSet, Items({Int(7), Ref(4)})), MakeRecord(4, Kind::kList, Items({Int(5)}))});
  OwnedRef root = Finished(1);
  EXPECT_FALSE(PyErr_Occurred());
  EXPECT_EQ(Repr(root.get()), "[{}, set(), [5]]");
  const std::string problems = Repr(problems_.get());
  EXPECT_TRUE(absl::StrContains(problems, "object 2: filling it failed: TypeError: ")) << problems;
  EXPECT_TRUE(absl::StrContains(problems, "object 3: filling it failed: TypeError: ")) << problems;
}

TEST_F(RebuilderTest, AbandoningAfterMemoryRanOutEmptiesTheContainersItMadeAndLeavesTheHandlersObjectsAlone) {
  // A MemoryError's caller may still hold the root, which holds the whole half-made heap: abandoning the load must
  // free it anyway. 1: [2, 3, 4, 5]; 2: {"k": 6}; 3: {6}; 4: [7]; 5: made by the handler (a real list of its own)
  SetHandlerAttribute("made", "{5: ['the handler', 'owns this']}");
  Load({MakeRecord(1, Kind::kList, Items({Ref(2), Ref(3), Ref(4), Ref(5)})),
        MakeRecord(2, Kind::kDict, Items({Ref(8), Ref(6)})), MakeRecord(3, Kind::kSet, Items({Ref(6)})),
        MakeRecord(4, Kind::kList, Items({Ref(7)})), MakeRecord(5, Kind::kInstance, Items({}), Attrs({}), "", 9),
        MakeRecord(6, Kind::kStr, Items({}), Attrs({}), "v"), MakeRecord(7, Kind::kStr, Items({}), Attrs({}), "w"),
        MakeRecord(8, Kind::kStr, Items({}), Attrs({}), "k"), MakeRecord(9, Kind::kClass)});
  OwnedRef root = Finished(1);
  ASSERT_EQ(Repr(root.get()), "[{'k': 'v'}, {'v'}, ['w'], ['the handler', 'owns this']]");
  OwnedRef dict = OwnedRef::Borrow(PyList_GET_ITEM(root.get(), 0));
  OwnedRef set = OwnedRef::Borrow(PyList_GET_ITEM(root.get(), 1));
  OwnedRef inner = OwnedRef::Borrow(PyList_GET_ITEM(root.get(), 2));
  OwnedRef handlers = OwnedRef::Borrow(PyList_GET_ITEM(root.get(), 3));

  // First a nested call gives up (a frame below may be filling a container: nothing is emptied yet), then the
  // outermost one.
  PyErr_NoMemory();
  core_->Abandon(/*empty_containers=*/false);
  ASSERT_TRUE(PyErr_ExceptionMatches(PyExc_MemoryError)) << "abandoning keeps the MemoryError that caused it";
  PyErr_Clear();
  EXPECT_EQ(Repr(root.get()), "[{'k': 'v'}, {'v'}, ['w'], ['the handler', 'owns this']]");
  PyErr_NoMemory();
  core_->Abandon(/*empty_containers=*/true);
  ASSERT_TRUE(PyErr_ExceptionMatches(PyExc_MemoryError));
  PyErr_Clear();
  EXPECT_EQ(Repr(root.get()), "[]");
  EXPECT_EQ(Repr(dict.get()), "{}");
  EXPECT_EQ(Repr(set.get()), "set()");
  EXPECT_EQ(Repr(inner.get()), "[]");
  EXPECT_EQ(Repr(handlers.get()), "['the handler', 'owns this']") << "not the core's to empty";
  EXPECT_FALSE(core_->Get(1).ok()) << "an abandoned load makes nothing more";
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_MemoryError));
  PyErr_Clear();
}

}  // namespace
}  // namespace pyheapdump
