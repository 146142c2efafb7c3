// References to Python objects: the type says who releases the reference. OwnedRef releases its own; BorrowedRef
// never does, and lives no longer than the reference it was lent from.
#pragma once

#include <Python.h>

#include <utility>

namespace pyheapdump {

// A reference that somebody else owns (a container, a type's dict, the interpreter, an OwnedRef held elsewhere): it
// is never released through this, and is good only while its owner keeps the object. The C API's borrowed results
// (PyList_GET_ITEM, PyDict_GetItem, _PyType_Lookup, ...) and the arguments of a call are borrowed. To keep the
// object beyond its owner, take an OwnedRef::Borrow of it.
// Where it is used: a borrowed reference that is held in a variable, returned, stored or passed through the core's
// interfaces (the bindings' arguments). A plain PyObject* parameter of an internal function (the object being
// encoded, say) is borrowed for the call, as everywhere in the C API. A raw PyObject* owns a reference only in the
// walker's memo and queue, which hold millions of them (walker.h says who releases each).
class BorrowedRef {
 public:
  BorrowedRef() = default;
  explicit BorrowedRef(PyObject* obj) : obj_(obj) {}

  PyObject* get() const { return obj_; }
  explicit operator bool() const { return obj_ != nullptr; }
  bool operator==(BorrowedRef other) const { return obj_ == other.obj_; }
  bool operator!=(BorrowedRef other) const { return obj_ != other.obj_; }

 private:
  PyObject* obj_ = nullptr;
};

// A strong reference that this object releases. Construct with Steal() for a new reference returned by the C API,
// or with Borrow() to take an extra reference to a borrowed one.
class OwnedRef {
 public:
  OwnedRef() = default;
  static OwnedRef Steal(PyObject* obj) { return OwnedRef(obj); }
  static OwnedRef Borrow(PyObject* obj) {
    Py_XINCREF(obj);
    return OwnedRef(obj);
  }
  static OwnedRef Borrow(BorrowedRef ref) { return Borrow(ref.get()); }
  OwnedRef(const OwnedRef& other) : obj_(other.obj_) { Py_XINCREF(obj_); }
  OwnedRef(OwnedRef&& other) noexcept : obj_(std::exchange(other.obj_, nullptr)) {}
  OwnedRef& operator=(OwnedRef other) noexcept {
    std::swap(obj_, other.obj_);
    return *this;
  }
  ~OwnedRef() { Py_XDECREF(obj_); }

  PyObject* get() const { return obj_; }
  // Lends the reference for as long as this OwnedRef keeps it (never longer: do not lend a temporary's).
  BorrowedRef borrow() const& { return BorrowedRef(obj_); }
  BorrowedRef borrow() const&& = delete;
  explicit operator bool() const { return obj_ != nullptr; }
  // Hands the reference to a C API call that steals it.
  PyObject* release() { return std::exchange(obj_, nullptr); }

 private:
  explicit OwnedRef(PyObject* obj) : obj_(obj) {}
  PyObject* obj_ = nullptr;
};

// Saves the pending Python exception and restores it on scope exit: the dumper may be called from an except block
// or an excepthook, and must leave the caller's error state as it found it.
class PyErrorStash {
 public:
  PyErrorStash() { PyErr_Fetch(&type_, &value_, &traceback_); }
  ~PyErrorStash() { PyErr_Restore(type_, value_, traceback_); }
  PyErrorStash(const PyErrorStash&) = delete;
  PyErrorStash& operator=(const PyErrorStash&) = delete;

 private:
  PyObject* type_ = nullptr;
  PyObject* value_ = nullptr;
  PyObject* traceback_ = nullptr;
};

}  // namespace pyheapdump
