#include "heap_roots.h"

#include <new>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "status.h"

namespace pyheapdump {
namespace {

// What the tp_traverse visits collect: the unreached candidates that some holder refers to. Only C runs.
struct HeldSearch {
  absl::flat_hash_set<PyObject*> candidates;
  absl::flat_hash_set<PyObject*> held;
  bool only_dicts = false;  // visiting an unreached instance: only its dict counts as held

  static int Visit(PyObject* referent, void* arg) {
    auto* self = static_cast<HeldSearch*>(arg);
    if (self->only_dicts && !PyDict_CheckExact(referent)) return 0;
    if (self->candidates.contains(referent)) self->held.insert(referent);
    return 0;
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
    // An object a reached one refers to is not unreached: the walk shows it inside its holder (an instance's
    // __dict__, which Python 3.12+ makes a separate object once read, is in the instance's record) or cut it.
    // Among the unreached, an instance's own dict is walked with the instance, not on its own.
    for (Py_ssize_t i = 0; i < size; ++i) {
      PyObject* holder = PyList_GET_ITEM(everything.get(), i);
      PyTypeObject* type = Py_TYPE(holder);
      if (!PyObject_IS_GC(holder) || !type->tp_traverse) continue;
      search.only_dicts = walker.IdOf(holder) == 0;
      if (search.only_dicts && !MayOwnInstanceDict(holder)) continue;
      type->tp_traverse(holder, &HeldSearch::Visit, &search);
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
