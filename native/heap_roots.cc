#include "heap_roots.h"

#include <new>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "status.h"

namespace pyheapdump {
namespace {

// What the tp_traverse visits collect: the unreached candidates that something reached holds, directly or through
// other candidates. Only C runs.
struct HeldSearch {
  absl::flat_hash_set<PyObject*> candidates;
  absl::flat_hash_set<PyObject*> held;
  // Held candidates, and the holders the collector does not traverse, whose referents are not looked at yet.
  std::vector<PyObject*> to_visit;
  absl::flat_hash_set<PyObject*> untracked_seen;  // static types and code objects met so far
  bool only_dicts = false;                        // visiting an unreached instance: only its dict counts as held

  static int Visit(PyObject* referent, void* arg) {
    auto* self = static_cast<HeldSearch*>(arg);
    if (self->only_dicts) {
      if (PyDict_CheckExact(referent) && self->candidates.contains(referent)) self->held.insert(referent);
      return 0;
    }
    if (self->candidates.contains(referent)) {
      if (self->held.insert(referent).second) self->to_visit.push_back(referent);
    } else if ((IsStaticType(referent) || PyCode_Check(referent)) && self->untracked_seen.insert(referent).second) {
      self->to_visit.push_back(referent);
    }
    return 0;
  }
  // A type defined in C (str, datetime.timedelta, ...) is no object the collector tracks or traverses, yet its
  // __dict__, __mro__ and __bases__ hold tracked objects (method descriptors, tuples).
  static bool IsStaticType(PyObject* obj) {
    return PyType_Check(obj) && !(reinterpret_cast<PyTypeObject*>(obj)->tp_flags & Py_TPFLAGS_HEAPTYPE);
  }
  void VisitStaticType(PyTypeObject* type) {
#if PY_VERSION_HEX >= 0x030C0000
    // The dict of a builtin static type lives in the interpreter's state since 3.12: tp_dict may be null.
    OwnedRef dict = OwnedRef::Steal(PyType_GetDict(type));
#else
    OwnedRef dict = OwnedRef::Borrow(type->tp_dict);
#endif
    for (PyObject* part : {dict.get(), type->tp_mro, type->tp_bases}) {
      if (part) Visit(part, this);
    }
  }
  // A code object is not traversed by the collector (3.11) or not through its constants, names and variable names,
  // tuples it holds.
  void VisitCode(PyCodeObject* code) {
    for (PyObject* part : {code->co_consts, code->co_names, code->co_localsplusnames}) {
      if (part) Visit(part, this);
    }
  }
  // A type's subclass table (a dict of weak references) is not traversed either. Since 3.12 a builtin static type
  // keeps its table in the interpreter's state and tp_subclasses holds an index: read only a heap type's there.
  void VisitSubclasses(PyTypeObject* type) {
#if PY_VERSION_HEX >= 0x030C0000
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) return;
#endif
    auto* subclasses = static_cast<PyObject*>(type->tp_subclasses);
    if (subclasses && PyDict_CheckExact(subclasses)) Visit(subclasses, this);
  }
  // The values of a frame's locals (on 3.13+ read through the frame's proxy). False with an error set.
  bool VisitLocals(PyFrameObject* frame) {
    OwnedRef locals = OwnedRef::Steal(PyFrame_GetLocals(frame));
    if (!locals) return false;
    OwnedRef values =
        OwnedRef::Steal(PyDict_Check(locals.get()) ? PyDict_Values(locals.get()) : PyMapping_Values(locals.get()));
    if (!values) return false;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values.get()); ++i) Visit(PyList_GET_ITEM(values.get(), i), this);
    return true;
  }
  void Traverse(PyObject* holder) {
    if (PyType_Check(holder)) VisitSubclasses(reinterpret_cast<PyTypeObject*>(holder));
    if (IsStaticType(holder)) return VisitStaticType(reinterpret_cast<PyTypeObject*>(holder));
    if (PyCode_Check(holder)) return VisitCode(reinterpret_cast<PyCodeObject*>(holder));
    PyTypeObject* type = Py_TYPE(holder);
    if (PyObject_IS_GC(holder) && type->tp_traverse) type->tp_traverse(holder, &HeldSearch::Visit, this);
  }
  void TraverseHeld() {
    while (!to_visit.empty()) {
      PyObject* next = to_visit.back();
      to_visit.pop_back();
      Traverse(next);
    }
  }
  // A descriptor of a type defined in C (str.join, a slot wrapper, ...) lives in that type's __dict__: it is held
  // with the type, which may be one no module names (an iterator's type) and so not met by any traverse.
  void VisitOwnersOfDescriptors(PyObject* const* objects, Py_ssize_t size) {
    for (Py_ssize_t i = 0; i < size; ++i) {
      PyObject* obj = objects[i];
      PyTypeObject* type = Py_TYPE(obj);
      bool descriptor = type == &PyMethodDescr_Type || type == &PyClassMethodDescr_Type ||
                        type == &PyGetSetDescr_Type || type == &PyMemberDescr_Type || type == &PyWrapperDescr_Type;
      if (!descriptor || held.contains(obj) || !candidates.contains(obj)) continue;
      PyObject* owner = reinterpret_cast<PyObject*>(PyDescr_TYPE(obj));
      if (owner && IsStaticType(owner) && untracked_seen.insert(owner).second) to_visit.push_back(owner);
    }
    TraverseHeld();
  }
  // Since 3.12 the subclass table of a builtin static type (object's, int's, ...) is out of reach: a dict of int keys
  // whose values are all weak references to types is taken for one, and held (3.12+ only: before, VisitSubclasses
  // reads every type's table).
  bool HoldSubclassTables(PyObject* const* objects, Py_ssize_t size) {
    bool added = false;
    for (Py_ssize_t i = 0; i < size; ++i) {
      PyObject* obj = objects[i];
      if (!PyDict_CheckExact(obj) || PyDict_GET_SIZE(obj) == 0 || held.contains(obj) || !candidates.contains(obj)) {
        continue;
      }
      if (!IsSubclassTable(obj)) continue;
      held.insert(obj);
      to_visit.push_back(obj);
      added = true;
    }
    return added;
  }
  static bool IsSubclassTable(PyObject* dict) {
    Py_ssize_t position = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &position, &key, &value)) {
      if (!PyLong_CheckExact(key) || !PyWeakref_CheckRefExact(value)) return false;
      PyObject* referent = nullptr;
#if PY_VERSION_HEX >= 0x030D0000
      if (PyWeakref_GetRef(value, &referent) < 0) {
        PyErr_Clear();
        return false;
      }
      OwnedRef owned = OwnedRef::Steal(referent);
      if (referent && !PyType_Check(referent)) return false;
#else
      referent = PyWeakref_GET_OBJECT(value);
      if (referent != Py_None && !PyType_Check(referent)) return false;
#endif
    }
    return true;
  }
};

// Whether an unreached object can hold a __dict__ of its own: an instance of a type with a dict slot or a managed
// dict. A dict itself never counts as such a holder (a dict's values are the program's, not its own __dict__).
bool MayOwnInstanceDict(PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  if (PyDict_Check(obj)) return false;
  return type->tp_dictoffset != 0 || (type->tp_flags & Py_TPFLAGS_MANAGED_DICT);
}

}  // namespace

absl::StatusOr<OwnedRef> FindUnreached(const Walker& walker) {
  if (!walker.memo_everything()) {
    return absl::FailedPreconditionError("finding the unreached objects needs a walk that memoized every object");
  }
  OwnedRef gc = OwnedRef::Steal(PyImport_ImportModule("gc"));
  if (!gc) return PythonErrorPending();
  // gc.get_objects() leaves out the list it returns; the list of unreached objects is made only after it.
  OwnedRef everything = OwnedRef::Steal(PyObject_CallMethod(gc.get(), "get_objects", nullptr));
  if (!everything) return PythonErrorPending();
  if (!PyList_CheckExact(everything.get())) {
    PyErr_SetString(PyExc_TypeError, "gc.get_objects() did not return a list");
    return PythonErrorPending();
  }
  Py_ssize_t size = PyList_GET_SIZE(everything.get());
  HeldSearch search;
  try {
    for (Py_ssize_t i = 0; i < size; ++i) {
      PyObject* obj = PyList_GET_ITEM(everything.get(), i);
      if (walker.IdOf(obj) == 0) search.candidates.insert(obj);
    }
    // An object a reached one holds is not unreached, nor is what it holds in turn: the walk shows each inside its
    // holder or cut it, or it lives inside what the walk writes by reference (a class's methods in its __dict__, a
    // module's globals). Only what nothing reached leads to is left: cycles waiting for collection, objects held
    // only by C code.
    // So is what the walk made itself (reduce tuples) or was given (the policy and redaction callables) and what the
    // dumper's own frames hold: they are no part of the program.
    walker.ForEachReachedOrOwned([&search](PyObject* reached) {
      if (search.candidates.contains(reached)) search.held.insert(reached);  // the walk's own: not memoized
      search.Traverse(reached);
      search.TraverseHeld();
    });
    // The dumper's frames are those above the first frame the walk reached (the dumped one).
    OwnedRef frame = OwnedRef::Borrow(reinterpret_cast<PyObject*>(PyEval_GetFrame()));
    while (frame && walker.IdOf(frame.get()) == 0) {
      // A running frame's traverse visits no locals (the collector takes them for roots): visit them here.
      if (!search.VisitLocals(reinterpret_cast<PyFrameObject*>(frame.get()))) return PythonErrorPending();
      search.TraverseHeld();
      frame =
          OwnedRef::Steal(reinterpret_cast<PyObject*>(PyFrame_GetBack(reinterpret_cast<PyFrameObject*>(frame.get()))));
    }
    PyObject* const* objects = reinterpret_cast<PyListObject*>(everything.get())->ob_item;
    search.VisitOwnersOfDescriptors(objects, size);
#if PY_VERSION_HEX >= 0x030C0000
    if (search.HoldSubclassTables(objects, size)) search.TraverseHeld();
#endif
    // Among the unreached, an instance's own dict is walked with the instance, not on its own.
    search.only_dicts = true;
    for (Py_ssize_t i = 0; i < size; ++i) {
      PyObject* holder = PyList_GET_ITEM(everything.get(), i);
      if (search.candidates.contains(holder) && !search.held.contains(holder) && MayOwnInstanceDict(holder)) {
        search.Traverse(holder);
      }
    }
  } catch (const std::bad_alloc&) {
    return OutOfMemoryError("out of memory while finding the objects the walk did not reach");
  }
  OwnedRef unreached = OwnedRef::Steal(PyList_New(0));
  if (!unreached) return PythonErrorPending();
  for (Py_ssize_t i = 0; i < size; ++i) {
    PyObject* obj = PyList_GET_ITEM(everything.get(), i);
    if (search.candidates.contains(obj) && !search.held.contains(obj)) {
      if (PyList_Append(unreached.get(), obj) != 0) return PythonErrorPending();
    }
  }
  return unreached;
}

absl::StatusOr<UnreachedRoots> WalkUnreached(Walker& walker) {
  absl::StatusOr<OwnedRef> unreached = FindUnreached(walker);
  if (!unreached.ok()) return unreached.status();
  if (absl::Status walked = walker.Walk(unreached->borrow()); !walked.ok()) return walked;
  UnreachedRoots roots;
  roots.id = walker.IdOf(unreached->get());
  roots.count = static_cast<uint64_t>(PyList_GET_SIZE(unreached->get()));
  return roots;
}

}  // namespace pyheapdump
