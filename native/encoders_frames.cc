// Encoders for frames, tracebacks, generators (and coroutines, async generators) and cells, read through the
// interpreter's own C getters (encoders_internal.h lists the other families).
#include <Python.h>
#include <frameobject.h>

#include <string>
#include <string_view>

#include "encoders_internal.h"
#include "walker.h"

namespace pyheapdump {
namespace encoders_internal {
namespace {

// A snapshot of a frame's locals as a dict. On 3.13 an optimized frame's f_locals is a write-through proxy; the dump
// holds a plain copy. Before 3.13 it is the frame's own dict (module frames: the globals, identity kept).
OwnedRef FrameLocals(PyFrameObject* frame) {
  OwnedRef locals = OwnedRef::Steal(PyFrame_GetLocals(frame));
  if (!locals || PyDict_Check(locals.get())) return locals;
  OwnedRef copy = OwnedRef::Steal(PyDict_New());
  if (copy && PyDict_Merge(copy.get(), locals.get(), 1) == 0) return copy;
  return {};
}

}  // namespace

void EncodeFrame(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kFrame);
  auto* frame = reinterpret_cast<PyFrameObject*>(obj);
  OwnedRef code = OwnedRef::Steal(reinterpret_cast<PyObject*>(PyFrame_GetCode(frame)));
  w.PutAttr("code", w.KeepAlive(std::move(code)));
  w.PutAttrInt("lineno", PyFrame_GetLineNumber(frame));
  w.PutAttrInt("lasti", PyFrame_GetLasti(frame));
  OwnedRef globals = OwnedRef::Steal(PyFrame_GetGlobals(frame));
  if (globals) w.PutAttr("globals", w.KeepAlive(std::move(globals)));
  OwnedRef locals = FrameLocals(frame);
  if (locals) {
    w.PutAttr("locals", w.KeepAlive(std::move(locals)));
  } else {
    w.RecordPythonError("reading the frame's locals failed");
  }
  OwnedRef back = OwnedRef::Steal(reinterpret_cast<PyObject*>(PyFrame_GetBack(frame)));
  w.PutAttr("back", back ? w.KeepAlive(std::move(back)) : BorrowedRef(Py_None));
}

// The attribute getters of frames, tracebacks and generators are C code of the interpreter itself.
void PutBuiltinAttr(Walker& w, PyObject* obj, const char* attribute, std::string_view name) {
  OwnedRef value = OwnedRef::Steal(PyObject_GetAttrString(obj, attribute));
  if (!value) {
    PyErr_Clear();
    return;
  }
  w.PutAttr(name, w.KeepAlive(std::move(value)));
}

void EncodeTraceback(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kTraceback);
  PutBuiltinAttr(w, obj, "tb_frame", "frame");
  PutBuiltinAttr(w, obj, "tb_lineno", "lineno");
  PutBuiltinAttr(w, obj, "tb_lasti", "lasti");
  PutBuiltinAttr(w, obj, "tb_next", "next");
}

void EncodeGenerator(Walker& w, PyObject* obj, const char* kind, const char* prefix) {
  w.SetKind(Kind::kGenerator);
  w.PutAttrStr("kind", kind);
  std::string p = prefix;
  PutBuiltinAttr(w, obj, "__name__", "name");
  PutBuiltinAttr(w, obj, "__qualname__", "qualname");
  PutBuiltinAttr(w, obj, (p + "_code").c_str(), "code");
  PutBuiltinAttr(w, obj, (p + "_frame").c_str(), "frame");
  PutBuiltinAttr(w, obj, (p + "_running").c_str(), "running");
  PutBuiltinAttr(w, obj, (p + "_suspended").c_str(), "suspended");
  PutBuiltinAttr(w, obj, std::string_view(kind) == "generator" ? "gi_yieldfrom" : (p + "_await").c_str(), "await");
}

void EncodeCell(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kCell);
  BorrowedRef contents(PyCell_GET(obj));
  if (contents) w.PutItem(contents);
}

}  // namespace encoders_internal
}  // namespace pyheapdump
