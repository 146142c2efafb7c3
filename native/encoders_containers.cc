// Encoders for the containers: list, tuple, dict (OrderedDict's order, defaultdict's factory), set, frozenset and
// deque; each keeps at most max_items entries (encoders_internal.h lists the other families).
#include <Python.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "encoders_internal.h"
#include "walker.h"

namespace pyheapdump {
namespace encoders_internal {
namespace {

void PutIterable(Walker& w, OwnedRef iterator, Py_ssize_t size_hint) {
  if (!iterator) return;
  uint64_t count = 0;
  while (OwnedRef item = OwnedRef::Steal(PyIter_Next(iterator.get()))) {
    if (count == w.limits().max_items) {
      w.AddFlags(kFlagTruncated);
      w.PutAttrInt("original_length", size_hint);
      w.NoteCut("max_items");
      break;
    }
    w.PutItem(w.KeepAlive(std::move(item)));
    ++count;
  }
}

void PutDictItems(Walker& w, PyObject* dict) {
  Py_ssize_t pos = 0, count = 0, size = PyDict_GET_SIZE(dict);
  PyObject *key, *value;
  while (PyDict_Next(dict, &pos, &key, &value)) {
    if (static_cast<uint64_t>(count) == w.limits().max_items) {
      w.AddFlags(kFlagTruncated);
      w.PutAttrInt("original_length", size);
      w.NoteCut("max_items");
      return;
    }
    w.PutItem(key);
    w.PutItem(value);
    ++count;
  }
}

// OrderedDict keeps its own order (move_to_end) apart from the dict's storage order: take the keys from
// OrderedDict's own iterator (C code, never a subclass's __iter__) and the values from the storage by identity,
// so no key's __hash__ or __eq__ runs.
void PutOrderedDictItems(Walker& w, PyObject* dict, PyTypeObject* ordered_dict_type) {
  absl::flat_hash_map<PyObject*, PyObject*> values;
  Py_ssize_t pos = 0;
  PyObject *key, *value;
  while (PyDict_Next(dict, &pos, &key, &value)) values.emplace(key, value);
  OwnedRef iterator = OwnedRef::Steal(ordered_dict_type->tp_iter(dict));
  if (!iterator) return;
  uint64_t count = 0;
  while (OwnedRef item = OwnedRef::Steal(PyIter_Next(iterator.get()))) {
    auto found = values.find(item.get());
    if (found == values.end()) continue;
    if (count == w.limits().max_items) {
      w.AddFlags(kFlagTruncated);
      w.PutAttrInt("original_length", PyDict_GET_SIZE(dict));
      w.NoteCut("max_items");
      break;
    }
    w.PutItem(found->first);
    w.PutItem(found->second);
    ++count;
  }
}

// Reads a C-level attribute through the descriptor that the base type defines (a member or getset written in C),
// bypassing any override in a subclass.
OwnedRef BaseAttribute(PyTypeObject* base, PyObject* obj, const char* name) {
  BorrowedRef descriptor(PyDict_GetItemString(base->tp_dict, name));
  if (!descriptor || !Py_TYPE(descriptor.get())->tp_descr_get) return {};
  return OwnedRef::Steal(
      Py_TYPE(descriptor.get())->tp_descr_get(descriptor.get(), obj, reinterpret_cast<PyObject*>(base)));
}

}  // namespace

void EncodeList(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kList);
  // A snapshot of the item pointers: the walker runs no code that could resize the list, but be safe anyway.
  PutSequence(w, PyList_GET_SIZE(obj),
              [obj](Py_ssize_t i) { return i < PyList_GET_SIZE(obj) ? PyList_GET_ITEM(obj, i) : Py_None; });
}

void EncodeTuple(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kTuple);
  PutSequence(w, PyTuple_GET_SIZE(obj), [obj](Py_ssize_t i) { return PyTuple_GET_ITEM(obj, i); });
}

void EncodeDict(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kDict);
  if (Py_IS_TYPE(obj, &PyDict_Type)) return PutDictItems(w, obj);  // most dicts: no subclass to look for
  PyTypeObject* ordered = w.ordered_dict_type();
  if (ordered && PyObject_TypeCheck(obj, ordered)) {
    PutOrderedDictItems(w, obj, ordered);
  } else {
    PutDictItems(w, obj);
  }
  PyTypeObject* defaultdict = w.defaultdict_type();
  if (defaultdict && PyObject_TypeCheck(obj, defaultdict)) {
    OwnedRef factory = BaseAttribute(defaultdict, obj, "default_factory");
    if (factory) w.PutAttr("default_factory", w.KeepAlive(std::move(factory)));
  }
}

void EncodeSet(Walker& w, PyObject* obj, Kind kind) {
  w.SetKind(kind);
  PyTypeObject* base = kind == Kind::kSet ? &PySet_Type : &PyFrozenSet_Type;
  PutIterable(w, OwnedRef::Steal(base->tp_iter(obj)), PySet_GET_SIZE(obj));
}

void EncodeDeque(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kDeque);
  PyTypeObject* deque = w.deque_type();
  OwnedRef maxlen = BaseAttribute(deque, obj, "maxlen");
  if (maxlen) w.PutAttr("maxlen", w.KeepAlive(std::move(maxlen)));
  PyErr_Clear();
  PutIterable(w, OwnedRef::Steal(deque->tp_iter(obj)), PyObject_Length(obj));
}

}  // namespace encoders_internal
}  // namespace pyheapdump
