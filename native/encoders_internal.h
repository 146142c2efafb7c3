// Shared by the encoders' files, not part of the walker's interface (walker.h): what more than one object family
// uses, and each family's encoders, which encoders.cc dispatches to. One file per family:
//   encoders_atoms.cc       str, int (beyond the inline ones), bytes, bytearray
//   encoders_containers.cc  list, tuple, dict (and OrderedDict, defaultdict), set, frozenset, deque
//   encoders_classes.cc     instances, exceptions, classes, functions, methods, modules, code
//   encoders_frames.cc      frames, tracebacks, generators and coroutines, cells
//   encoders_policy.cc      objects handled by a per-type policy (reduce, capture, surrogate), builtin subclasses
#pragma once

#include <Python.h>

#include <algorithm>
#include <string_view>

#include "walker.h"

namespace pyheapdump {
namespace encoders_internal {

inline std::string_view AsciiView(PyObject* str) {
  return {static_cast<const char*>(PyUnicode_DATA(str)), static_cast<size_t>(PyUnicode_GET_LENGTH(str))};
}

inline bool IsHeapType(PyTypeObject* type) { return (type->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0; }

// ---- atoms (encoders_atoms.cc) ----

void SetStrData(Walker& w, PyObject* str);
OwnedRef RedactedStr(Walker& w, PyObject* str);
void EncodeStr(Walker& w, PyObject* obj);
void EncodeBuffer(Walker& w, PyObject* obj, Kind kind, const char* data, Py_ssize_t size);
void EncodeBigInt(Walker& w, PyObject* obj);

// ---- containers (encoders_containers.cc) ----

// Appends at most max_items elements of a sequence of borrowed items; records the cut.
template <class GetItem>
void PutSequence(Walker& w, Py_ssize_t size, GetItem get_item) {
  Py_ssize_t limit = std::min<uint64_t>(static_cast<uint64_t>(size), w.limits().max_items);
  for (Py_ssize_t i = 0; i < limit; ++i) w.PutItem(get_item(i));
  if (limit < size) {
    w.AddFlags(kFlagTruncated);
    w.PutAttrInt("original_length", size);
    w.NoteCut("max_items");
  }
}

void EncodeList(Walker& w, PyObject* obj);
void EncodeTuple(Walker& w, PyObject* obj);
void EncodeDict(Walker& w, PyObject* obj);
void EncodeSet(Walker& w, PyObject* obj, Kind kind);
void EncodeDeque(Walker& w, PyObject* obj);

// ---- instances, exceptions, classes, functions, modules, code (encoders_classes.cc) ----

OwnedRef InstanceDict(PyObject* obj);
// Instance state of a container subclass (its __dict__ and slots), beside the contents.
void EncodeInstanceState(Walker& w, PyObject* obj);
void EncodeInstance(Walker& w, PyObject* obj);
void EncodeException(Walker& w, PyObject* obj);
void EncodeClass(Walker& w, PyObject* obj);
void PutFunctionIdentity(Walker& w, PyObject* module, PyObject* qualname, PyObject* name);
void EncodeFunction(Walker& w, PyObject* obj);
void EncodeMethod(Walker& w, PyObject* obj);
void EncodeBuiltinFunction(Walker& w, PyObject* obj);
void EncodeModule(Walker& w, PyObject* obj);
void EncodeCode(Walker& w, PyObject* obj);

// ---- frames, tracebacks, generators, cells (encoders_frames.cc) ----

void EncodeFrame(Walker& w, PyObject* obj);
void PutBuiltinAttr(Walker& w, PyObject* obj, const char* attribute, std::string_view name);
void EncodeTraceback(Walker& w, PyObject* obj);
void EncodeGenerator(Walker& w, PyObject* obj, const char* kind, const char* prefix);
void EncodeCell(Walker& w, PyObject* obj);

// ---- objects handled by a per-type policy (encoders_policy.cc) ----

void EncodeBuiltinSubclassOrPolicy(Walker& w, PyObject* obj);

}  // namespace encoders_internal
}  // namespace pyheapdump
