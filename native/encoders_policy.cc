// Encoders for the objects a per-type policy handles (encoders_internal.h lists the other families): a reduce, a
// capture, or a surrogate; and the subclasses of the builtin families, which keep their contents beside the policy.
#include <Python.h>
#include <datetime.h>  // the layout of datetime objects; its C API capsule is not used (it would import datetime)

#include <string_view>

#include "encoders_internal.h"
#include "walker.h"

namespace pyheapdump {
namespace encoders_internal {
namespace {

void PutRepr(Walker& w, PyObject* obj) {
  OwnedRef repr = OwnedRef::Steal(PyObject_Repr(obj));
  if (!repr || !PyUnicode_Check(repr.get())) {
    w.RecordPythonError("repr failed");
    return;
  }
  Py_ssize_t length = PyUnicode_GET_LENGTH(repr.get());
  if (static_cast<uint64_t>(length) > w.limits().max_repr) {
    repr = OwnedRef::Steal(PyUnicode_Substring(repr.get(), 0, static_cast<Py_ssize_t>(w.limits().max_repr)));
    if (!repr) return PyErr_Clear();
  }
  if (OwnedRef redacted = RedactedStr(w, repr.get())) repr = std::move(redacted);
  SetStrData(w, repr.get());
  PyErr_Clear();
}

void PutDatetimeValue(Walker& w, PyObject* obj);

void EncodeSurrogate(Walker& w, PyObject* obj, const TypePolicy& policy, const char* reason) {
  w.SetKind(Kind::kSurrogate);
  w.PutAttrStr("reason", reason);
  EncodeInstanceState(w, obj);
  if (policy.capture) {
    OwnedRef facts = OwnedRef::Steal(PyObject_CallOneArg(policy.capture.get(), obj));
    if (facts) {
      w.PutAttr("facts", w.KeepAlive(std::move(facts)));
    } else {
      w.RecordPythonError("reading facts failed");
    }
  }
  if (policy.repr_ok) PutRepr(w, obj);
  PutDatetimeValue(w, obj);
}

// obj.__reduce_ex__(4), through the function found once for the type when the policy has it.
OwnedRef CallReduceEx(PyObject* obj, const TypePolicy& policy) {
  if (!policy.direct_reduce) return OwnedRef::Steal(PyObject_CallMethod(obj, "__reduce_ex__", "i", 4));
  OwnedRef protocol = OwnedRef::Steal(PyLong_FromLong(4));
  if (!protocol) return {};
  PyObject* args[] = {obj, protocol.get()};
  return OwnedRef::Steal(
      PyObject_Vectorcall(policy.direct_reduce.get(), args, policy.reduce_takes_protocol ? 2 : 1, nullptr));
}

OwnedRef BytesState(const unsigned char* data, Py_ssize_t size, int fold_byte, bool fold) {
  OwnedRef state = OwnedRef::Steal(PyBytes_FromStringAndSize(reinterpret_cast<const char*>(data), size));
  if (state && fold) PyBytes_AS_STRING(state.get())[fold_byte] |= static_cast<char>(0x80);
  return state;
}

// (state,) or (state, tzinfo), as datetime_getstate and time_getstate give it.
OwnedRef StateTuple(OwnedRef state, bool has_tzinfo, PyObject* tzinfo) {
  if (!state) return {};
  if (!has_tzinfo || tzinfo == Py_None) return OwnedRef::Steal(PyTuple_Pack(1, state.get()));
  return OwnedRef::Steal(PyTuple_Pack(2, state.get(), tzinfo));
}

// The arguments pickle makes a value of `family` (datetime, date, time or timedelta, the C types) from, read from the
// fields of obj, an instance of it or of a subclass, as their C methods read them (Modules/_datetimemodule.c).
OwnedRef DatetimeArgs(const Walker::ValueTypes& known, PyTypeObject* family, PyObject* obj) {
  if (family == known.datetime) {
    auto* dt = reinterpret_cast<PyDateTime_DateTime*>(obj);
    return StateTuple(BytesState(dt->data, _PyDateTime_DATETIME_DATASIZE, 2, dt->fold), dt->hastzinfo,
                      dt->hastzinfo ? dt->tzinfo : Py_None);
  }
  if (family == known.date) {
    return StateTuple(BytesState(reinterpret_cast<PyDateTime_Date*>(obj)->data, _PyDateTime_DATE_DATASIZE, 0, false),
                      false, Py_None);
  }
  if (family == known.time) {
    auto* t = reinterpret_cast<PyDateTime_Time*>(obj);
    return StateTuple(BytesState(t->data, _PyDateTime_TIME_DATASIZE, 0, t->fold), t->hastzinfo,
                      t->hastzinfo ? t->tzinfo : Py_None);
  }
  return OwnedRef::Steal(Py_BuildValue("iii", PyDateTime_DELTA_GET_DAYS(obj), PyDateTime_DELTA_GET_SECONDS(obj),
                                       PyDateTime_DELTA_GET_MICROSECONDS(obj)));
}

// The datetime type (datetime before date, which it derives from) that a subclass's instances hold the value of;
// null for an exact one, and for any other type.
PyTypeObject* DatetimeBaseOfSubclass(const Walker::ValueTypes& known, PyTypeObject* type) {
  for (PyTypeObject* family : {known.datetime, known.date, known.time, known.timedelta}) {
    if (family != nullptr && PyType_IsSubtype(type, family)) return type == family ? nullptr : family;
  }
  return nullptr;
}

// For an instance of a subclass of date, datetime, time or timedelta whose record does not give its value (an opaque
// surrogate; a reduce of the class's own, such as pandas' Timestamp): attribute `value`, the same value as an
// instance of the builtin, made by the builtin's C constructor from the object's fields. A loader makes the surrogate
// of such a class hold that value.
void PutDatetimeValue(Walker& w, PyObject* obj) {
  const Walker::ValueTypes& known = w.value_types();
  PyTypeObject* family = DatetimeBaseOfSubclass(known, Py_TYPE(obj));
  if (family == nullptr) return;
  OwnedRef args = DatetimeArgs(known, family, obj);
  OwnedRef value =
      args ? OwnedRef::Steal(PyObject_Call(reinterpret_cast<PyObject*>(family), args.get(), nullptr)) : OwnedRef();
  if (value) {
    w.PutAttr("value", w.KeepAlive(std::move(value)));
  } else {
    PyErr_Clear();  // out of memory: the surrogate goes without its value, and says so
  }
}

// obj.__reduce_ex__(4) of an exact datetime, date, time, timedelta or Decimal written in C, built from the object's
// fields as their C methods build it (Modules/_datetimemodule.c, Modules/_decimal/_decimal.c): the same tuple, so
// the same records, without an interpreter call per object. Empty when obj is none of them.
OwnedRef BuiltinReduce(Walker& w, PyObject* obj) {
  const Walker::ValueTypes& known = w.value_types();
  PyTypeObject* type = Py_TYPE(obj);
  OwnedRef args;
  if (type == known.datetime || type == known.date || type == known.time || type == known.timedelta) {
    args = DatetimeArgs(known, type, obj);
  } else if (type == known.decimal && type->tp_str) {
    OwnedRef text = OwnedRef::Steal(type->tp_str(obj));  // C code: the Decimal's own formatting
    if (text) args = OwnedRef::Steal(PyTuple_Pack(1, text.get()));
  } else {
    return {};
  }
  if (!args) return {};
  return OwnedRef::Steal(PyTuple_Pack(2, reinterpret_cast<PyObject*>(type), args.get()));
}

// An attribute that a member or getset descriptor of obj's type gives (C code), or empty: nothing else is asked.
OwnedRef CompiledAttribute(PyObject* obj, const char* name) {
  OwnedRef key = OwnedRef::Steal(PyUnicode_InternFromString(name));
  BorrowedRef descriptor(key ? _PyType_Lookup(Py_TYPE(obj), key.get()) : nullptr);
  OwnedRef value;
  if (descriptor &&
      (Py_IS_TYPE(descriptor.get(), &PyMemberDescr_Type) || Py_IS_TYPE(descriptor.get(), &PyGetSetDescr_Type))) {
    value = OwnedRef::Steal(
        Py_TYPE(descriptor.get())->tp_descr_get(descriptor.get(), obj, reinterpret_cast<PyObject*>(Py_TYPE(obj))));
  }
  PyErr_Clear();
  return value;
}

// Whether obj's own instance dict holds __reduce_ex__ or __reduce__: obj.__reduce_ex__(4) would call what it holds,
// which is the program's (a class's reducer written in C is what the policy vouched for, not this).
bool InstanceOverridesReduce(PyObject* obj) {
  OwnedRef dict = InstanceDict(obj);
  PyErr_Clear();
  if (!dict || !PyDict_Check(dict.get())) return false;
  bool found = PyDict_GetItemString(dict.get(), "__reduce_ex__") || PyDict_GetItemString(dict.get(), "__reduce__");
  PyErr_Clear();
  return found;
}

// Reduces that failed for every object of a type so far, before the type's reduce is no longer tried: a C type that
// refuses to be pickled (Cython's default for a class with a __cinit__) would raise once per object.
constexpr uint32_t kReduceFailuresBeforeGivingUp = 16;

// The UTC offset and zone name of a datetime in a zone that the loading machine may not have (a ZoneInfo key missing
// there, a zone library not installed), at dump time: attributes `utcoffset` (seconds) and `tzname` of its reduce
// record. Asked only of methods written in C (ZoneInfo's); a zone class's Python method is code the dump never runs.
void PutZoneOffset(Walker& w, PyObject* obj) {
  if (Py_TYPE(obj) != w.value_types().datetime) return;
  auto* dt = reinterpret_cast<PyDateTime_DateTime*>(obj);
  if (!dt->hastzinfo || dt->tzinfo == Py_None) return;
  PyTypeObject* zone_type = Py_TYPE(dt->tzinfo);
  if (zone_type->tp_name && std::string_view(zone_type->tp_name) == "datetime.timezone") return;  // loads as itself
  auto c_method = [zone_type](const char* name) -> PyObject* {
    OwnedRef key = OwnedRef::Steal(PyUnicode_InternFromString(name));
    PyObject* method = key ? _PyType_Lookup(zone_type, key.get()) : nullptr;  // borrowed
    PyErr_Clear();
    return method && Py_IS_TYPE(method, &PyMethodDescr_Type) ? method : nullptr;
  };
  PyObject* utcoffset = c_method("utcoffset");
  if (!utcoffset) return;
  // The descriptor called with the zone as self: no attribute lookup on the zone, which could be the program's.
  OwnedRef offset = OwnedRef::Steal(PyObject_CallFunctionObjArgs(utcoffset, dt->tzinfo, obj, nullptr));
  if (!offset || Py_TYPE(offset.get()) != w.value_types().timedelta) {
    PyErr_Clear();
    return;
  }
  if (PyDateTime_DELTA_GET_MICROSECONDS(offset.get()) != 0) return;
  w.PutAttrInt("utcoffset", static_cast<int64_t>(PyDateTime_DELTA_GET_DAYS(offset.get())) * 86400 +
                                PyDateTime_DELTA_GET_SECONDS(offset.get()));
  PyObject* tzname = c_method("tzname");
  OwnedRef name = tzname ? OwnedRef::Steal(PyObject_CallFunctionObjArgs(tzname, dt->tzinfo, obj, nullptr)) : OwnedRef();
  if (name && PyUnicode_CheckExact(name.get())) w.PutAttr("tzname", w.KeepAlive(std::move(name)));
  PyErr_Clear();
}

// A subclass of a datetime type whose reduce is `cls(state...)` gives its value in pickle's form; one reduced by a
// callable of its own (pandas' Timestamp) gets `value` besides.
void PutValueUnlessPickleForm(Walker& w, PyObject* obj, PyObject* callable) {
  if (callable != reinterpret_cast<PyObject*>(Py_TYPE(obj))) PutDatetimeValue(w, obj);
}

// A reduce tuple that is callable(*args) and nothing more, whose args tuple is exactly a tuple that only the reduce
// tuple holds (or the empty tuple, one object everywhere).
bool IsOnlyACall(PyObject* parts) {
  Py_ssize_t size = PyTuple_GET_SIZE(parts);
  for (Py_ssize_t i = 2; i < size && i < 5; ++i) {
    if (PyTuple_GET_ITEM(parts, i) != Py_None) return false;
  }
  PyObject* args = PyTuple_GET_ITEM(parts, 1);
  return PyTuple_CheckExact(args) && (Py_REFCNT(args) == 1 || PyTuple_GET_SIZE(args) == 0);
}

void EncodeReduce(Walker& w, PyObject* obj, const TypePolicy& policy) {
  // The surrogate that stands in when the reduce is not used: the policy's capture is a copyreg reducer, no facts.
  const TypePolicy opaque{Strategy::kSurrogate, {}, {}, policy.repr_ok};
  if (policy.reduce_successes == 0 && policy.reduce_failures >= kReduceFailuresBeforeGivingUp) {
    return EncodeSurrogate(w, obj, opaque, "reduce failed");
  }
  if (!policy.capture && !policy.direct_reduce && InstanceOverridesReduce(obj)) {
    return EncodeSurrogate(w, obj, opaque, "opaque");
  }
  // A reducer registered with copyreg (re.Pattern's, for one) comes from the policy; pickle prefers it too.
  OwnedRef reduced;
  if (policy.capture) {
    reduced = OwnedRef::Steal(PyObject_CallOneArg(policy.capture.get(), obj));
  } else {
    reduced = BuiltinReduce(w, obj);
    if (!reduced) {
      PyErr_Clear();  // a failed shortcut (out of memory) leaves the generic call to say what is wrong
      reduced = CallReduceEx(obj, policy);
    }
  }
  if (reduced && PyUnicode_Check(reduced.get())) {
    // pickle's "the global of this name" (Cython's functions give their qualified name): the object stands for
    // itself. A callable with a module becomes a function record, which a trusted load looks up by its name.
    ++policy.reduce_successes;
    OwnedRef module = CompiledAttribute(obj, "__module__");
    if (Py_TYPE(obj)->tp_call && module && PyUnicode_Check(module.get())) {
      w.SetKind(Kind::kFunction);
      w.PutAttr("builtin", Py_True);
      OwnedRef name = CompiledAttribute(obj, "__name__");
      BorrowedRef qualname = w.KeepAlive(std::move(reduced));
      PutFunctionIdentity(w, w.KeepAlive(std::move(module)).get(), qualname.get(),
                          (name && PyUnicode_Check(name.get()) ? w.KeepAlive(std::move(name)) : qualname).get());
      return;
    }
    EncodeSurrogate(w, obj, opaque, "opaque");
    w.PutAttr("global", w.KeepAlive(std::move(reduced)));
    return;
  }
  if (!reduced || !PyTuple_Check(reduced.get()) || PyTuple_GET_SIZE(reduced.get()) < 2) {
    ++policy.reduce_failures;
    if (reduced) {
      PyErr_Format(PyExc_TypeError, "__reduce_ex__ returned %.100s, not a tuple", Py_TYPE(reduced.get())->tp_name);
    }
    w.RecordPythonError("reduce failed");
    return EncodeSurrogate(w, obj, opaque, "reduce failed");
  }
  ++policy.reduce_successes;
  BorrowedRef parts = w.KeepAlive(std::move(reduced));
  if (IsOnlyACall(parts.get())) {
    // One record, the arguments inline: their tuple was made by the reduce and is held by nothing else, so it was
    // no object of the program's and needs no identity (most of a datetime's or a Decimal's records were these).
    w.SetKind(Kind::kCall);
    PyObject* args = PyTuple_GET_ITEM(parts.get(), 1);
    w.PutItem(BorrowedRef(PyTuple_GET_ITEM(parts.get(), 0)));
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); ++i) w.PutItem(BorrowedRef(PyTuple_GET_ITEM(args, i)));
    PutZoneOffset(w, obj);
    PutValueUnlessPickleForm(w, obj, PyTuple_GET_ITEM(parts.get(), 0));
    return;
  }
  w.SetKind(Kind::kReduce);
  Py_ssize_t size = PyTuple_GET_SIZE(parts.get());
  for (Py_ssize_t i = 0; i < 5; ++i) {
    BorrowedRef part(i < size ? PyTuple_GET_ITEM(parts.get(), i) : Py_None);
    if (i >= 3 && part.get() != Py_None) {
      // listitems and dictitems are iterators: store what they yield, as a list.
      OwnedRef items = OwnedRef::Steal(PySequence_List(part.get()));
      if (!items) {
        w.RecordPythonError("reduce items failed");
        part = BorrowedRef(Py_None);
      } else {
        part = w.KeepAlive(std::move(items));
      }
    }
    w.PutItem(part);
  }
  PutZoneOffset(w, obj);
  PutValueUnlessPickleForm(w, obj, PyTuple_GET_ITEM(parts.get(), 0));
}

void EncodeCaptured(Walker& w, PyObject* obj, const TypePolicy& policy) {
  OwnedRef state = OwnedRef::Steal(PyObject_CallOneArg(policy.capture.get(), obj));
  if (!state) {
    w.RecordPythonError("capture failed");
    return EncodeSurrogate(w, obj, TypePolicy{Strategy::kSurrogate, {}, {}, policy.repr_ok}, "capture failed");
  }
  w.SetKind(Kind::kCaptured);
  if (policy.capture_name) w.PutAttr("capture", policy.capture_name.get());
  w.PutAttr("state", w.KeepAlive(std::move(state)));
}

void EncodeByPolicy(Walker& w, PyObject* obj) {
  const TypePolicy& policy = w.PolicyFor(Py_TYPE(obj));
  switch (policy.strategy) {
    case Strategy::kInstance:
      return EncodeInstance(w, obj);
    case Strategy::kReduce:
      return EncodeReduce(w, obj, policy);
    case Strategy::kCapture:
      return EncodeCaptured(w, obj, policy);
    case Strategy::kSurrogate:
      return EncodeSurrogate(w, obj, policy, "opaque");
  }
}

}  // namespace

// Subclasses of the builtin families keep their contents and their instance state; the record names their class.
void EncodeBuiltinSubclassOrPolicy(Walker& w, PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  bool is_exact_builtin = !IsHeapType(type);
  PyTypeObject* deque = w.deque_type();
  if (PyLong_Check(obj) || PyFloat_Check(obj) || PyUnicode_Check(obj) || PyBytes_Check(obj)) {
    // An int/str subclass (IntEnum, StrEnum, ...) is a value with a class: let the policy pick (enums reduce).
    return EncodeByPolicy(w, obj);
  }
  if (PyList_Check(obj)) {
    EncodeList(w, obj);
  } else if (PyTuple_Check(obj)) {
    EncodeTuple(w, obj);
  } else if (PyDict_Check(obj)) {
    EncodeDict(w, obj);
  } else if (PyAnySet_Check(obj)) {
    EncodeSet(w, obj, PyFrozenSet_Check(obj) ? Kind::kFrozenSet : Kind::kSet);
  } else if (deque && PyObject_TypeCheck(obj, deque)) {
    EncodeDeque(w, obj);
  } else if (PyExceptionInstance_Check(obj)) {
    return EncodeException(w, obj);
  } else {
    return EncodeByPolicy(w, obj);
  }
  w.SetTypeOf(obj);
  if (!is_exact_builtin) EncodeInstanceState(w, obj);
}

}  // namespace encoders_internal
}  // namespace pyheapdump
