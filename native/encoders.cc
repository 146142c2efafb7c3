// Encoders per object family: each reads one object through the C API, without running user code, and fills the
// walker's current record (docs/format.md lists the kinds and their fields). This file holds the dispatch only; the
// families' encoders are in encoders_*.cc (encoders_internal.h lists them).
#include <Python.h>
#include <frameobject.h>

#include "encoders_internal.h"
#include "walker.h"

namespace pyheapdump {

using namespace encoders_internal;

void EncodeObjectFamily(Walker& w, PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  if (type == &PyUnicode_Type) return EncodeStr(w, obj);
  if (type == &PyLong_Type) return EncodeBigInt(w, obj);
  if (type == &PyList_Type) return EncodeList(w, obj);
  if (type == &PyDict_Type) return EncodeDict(w, obj);
  if (type == &PyTuple_Type) return EncodeTuple(w, obj);
  if (type == &PyBytes_Type) {
    return EncodeBuffer(w, obj, Kind::kBytes, PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
  }
  if (type == &PyByteArray_Type) {
    return EncodeBuffer(w, obj, Kind::kByteArray, PyByteArray_AS_STRING(obj), PyByteArray_GET_SIZE(obj));
  }
  if (type == &PySet_Type) return EncodeSet(w, obj, Kind::kSet);
  if (type == &PyFrozenSet_Type) return EncodeSet(w, obj, Kind::kFrozenSet);
  if (type == &PyComplex_Type) {
    w.SetKind(Kind::kComplex);
    OwnedRef real = OwnedRef::Steal(PyFloat_FromDouble(PyComplex_RealAsDouble(obj)));
    OwnedRef imag = OwnedRef::Steal(PyFloat_FromDouble(PyComplex_ImagAsDouble(obj)));
    w.PutAttr("real", w.KeepAlive(std::move(real)));
    w.PutAttr("imag", w.KeepAlive(std::move(imag)));
    return;
  }
  if (type == &PyRange_Type) {
    w.SetKind(Kind::kRange);
    PutBuiltinAttr(w, obj, "start", "start");
    PutBuiltinAttr(w, obj, "stop", "stop");
    PutBuiltinAttr(w, obj, "step", "step");
    return;
  }
  if (type == &PySlice_Type) {
    w.SetKind(Kind::kSlice);
    auto* slice = reinterpret_cast<PySliceObject*>(obj);
    w.PutItem(slice->start);
    w.PutItem(slice->stop);
    w.PutItem(slice->step);
    return;
  }
  if (type == &PyFunction_Type) return EncodeFunction(w, obj);
  if (type == &PyMethod_Type) return EncodeMethod(w, obj);
  // Only C types derive from builtin_function_or_method (it is no base type): a class needs no subtype walk.
  if (type == &PyCFunction_Type || (!IsHeapType(type) && PyCFunction_Check(obj))) return EncodeBuiltinFunction(w, obj);
  if (PyType_Check(obj)) return EncodeClass(w, obj);
  if (PyModule_CheckExact(obj)) return EncodeModule(w, obj);
  if (PyCode_Check(obj)) return EncodeCode(w, obj);
  if (PyFrame_Check(obj)) return EncodeFrame(w, obj);
  if (PyTraceBack_Check(obj)) return EncodeTraceback(w, obj);
  if (PyGen_CheckExact(obj)) return EncodeGenerator(w, obj, "generator", "gi");
  if (PyCoro_CheckExact(obj)) return EncodeGenerator(w, obj, "coroutine", "cr");
  if (PyAsyncGen_CheckExact(obj)) return EncodeGenerator(w, obj, "async_generator", "ag");
  if (PyCell_Check(obj)) return EncodeCell(w, obj);
  w.SetTypeOf(obj);
  EncodeBuiltinSubclassOrPolicy(w, obj);
}

}  // namespace pyheapdump
