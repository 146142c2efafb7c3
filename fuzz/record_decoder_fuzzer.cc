// libFuzzer target on the reader and the record decoder together, with Python embedded as in the real loader: every
// record the reader delivers goes through DecodeRecord (native/record_decoder.cc), which builds the Python tuples
// pyheapdump/load/ rebuilds from. A decoder that leaves a Python error set, or returns a tuple of the wrong shape,
// aborts (a finding).
//
// The interpreter's own allocations are not leaks of ours, so run.sh runs this target with leak checking off.
#define PY_SSIZE_T_CLEAN
#include <Python.h>  // first, as the C API asks

#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "record_decoder.h"

namespace {

void DecodeOne(const pyheapdump::Record& record) {
  absl::StatusOr<pyheapdump::OwnedRef> decoded = pyheapdump::DecodeRecord(record);
  pyheapdump_fuzz::Require(!PyErr_Occurred(), "DecodeRecord leaves no Python error set");
  if (!decoded.ok()) {
    pyheapdump_fuzz::Require(!decoded.status().message().empty(), "a refused record says why");
    return;
  }
  PyObject* tuple = decoded->get();
  pyheapdump_fuzz::Require(tuple != nullptr && PyTuple_Check(tuple) && PyTuple_GET_SIZE(tuple) == 10,
                           "a decoded record is a 10-tuple");
  PyObject* items = PyTuple_GET_ITEM(tuple, 5);
  PyObject* item_refs = PyTuple_GET_ITEM(tuple, 6);
  pyheapdump_fuzz::Require(PyList_Check(items) && PyList_Check(item_refs), "items and item_refs are lists");
  // Every item was set (a list with a NULL slot would crash the loader), and every ref position is in range.
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); ++i) {
    pyheapdump_fuzz::Require(PyList_GET_ITEM(items, i) != nullptr, "every item of a decoded record is set");
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(item_refs); ++i) {
    Py_ssize_t position = PyLong_AsSsize_t(PyList_GET_ITEM(item_refs, i));
    pyheapdump_fuzz::Require(position >= 0 && position < PyList_GET_SIZE(items), "item_refs point inside items");
  }
  PyObject* attrs = PyTuple_GET_ITEM(tuple, 7);
  PyObject* attr_refs = PyTuple_GET_ITEM(tuple, 8);
  pyheapdump_fuzz::Require(PyDict_Check(attrs) && PyList_Check(attr_refs), "attrs is a dict, attr_refs a list");
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(attr_refs); ++i) {
    pyheapdump_fuzz::Require(PyDict_Contains(attrs, PyList_GET_ITEM(attr_refs, i)) == 1, "attr_refs name attrs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Py_InitializeEx(0);  // 0: libFuzzer handles the signals
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static pyheapdump_fuzz::MemoryFile file;
  pyheapdump_fuzz::ReadEverything(file.Hold(data, size), [](pyheapdump::Record&& record) { DecodeOne(record); });
  return 0;
}
