// Encoders for instances (their __dict__ and slots), exceptions, classes, functions, methods, modules and code
// objects (encoders_internal.h lists the other families).
#include <Python.h>
#include <structmember.h>

#include <string>
#include <string_view>

#include "encoders_internal.h"
#include "walker.h"

namespace pyheapdump {
namespace encoders_internal {
namespace {

// A str's UTF-8, empty when it has none (lone surrogates). PyUnicode_AsUTF8AndSize would cache a UTF-8 copy inside a
// non-ASCII str, growing the program's object: such text is encoded into a temporary that this object holds.
class Utf8Text {
 public:
  explicit Utf8Text(PyObject* str) {
    if (PyUnicode_IS_ASCII(str)) {
      view_ = AsciiView(str);
      return;
    }
    temp_ = OwnedRef::Steal(PyUnicode_AsUTF8String(str));
    if (!temp_) {
      PyErr_Clear();
      return;
    }
    view_ = {PyBytes_AS_STRING(temp_.get()), static_cast<size_t>(PyBytes_GET_SIZE(temp_.get()))};
  }
  std::string_view view() const { return view_; }

 private:
  OwnedRef temp_;
  std::string_view view_;
};

void PutDictEntries(Walker& w, PyObject* dict, std::string_view prefix) {
  Py_ssize_t pos = 0;
  PyObject *key, *value;
  while (PyDict_Next(dict, &pos, &key, &value)) {
    if (!PyUnicode_Check(key)) continue;  // setattr only makes str keys; anything else was put there by hand
    w.PutAttr(prefix, Utf8Text(key).view(), value);
  }
}

// Slots are member descriptors that Python made for __slots__ names on heap types; read them as C does.
void PutSlots(Walker& w, PyObject* obj) {
  for (const SlotMember& slot : w.SlotMembers(Py_TYPE(obj))) {
    OwnedRef value = OwnedRef::Steal(PyMember_GetOne(reinterpret_cast<const char*>(obj), slot.member));
    if (!value) {
      PyErr_Clear();  // an unset slot
      continue;
    }
    w.PutAttr(slot.name, w.KeepAlive(std::move(value)));
  }
}

OwnedRef ClassModuleName(PyTypeObject* type) {
  if (IsHeapType(type)) {
    BorrowedRef module(PyDict_GetItemString(type->tp_dict, "__module__"));
    if (module && PyUnicode_Check(module.get())) return OwnedRef::Borrow(module);
    // An extension type whose instances have a __module__ member (Cython's functions) has that member's descriptor
    // there: its tp_name still says where it comes from.
    if (!IsClassStatementType(type) && type->tp_name && strrchr(type->tp_name, '.')) {
      return OwnedRef::Steal(PyUnicode_FromStringAndSize(type->tp_name, strrchr(type->tp_name, '.') - type->tp_name));
    }
    return OwnedRef::Steal(PyUnicode_FromString("builtins"));
  }
  const char* dot = strrchr(type->tp_name, '.');
  if (!dot) return OwnedRef::Steal(PyUnicode_FromString("builtins"));
  return OwnedRef::Steal(PyUnicode_FromStringAndSize(type->tp_name, dot - type->tp_name));
}

OwnedRef ClassQualname(PyTypeObject* type) {
  if (IsHeapType(type)) return OwnedRef::Borrow(reinterpret_cast<PyHeapTypeObject*>(type)->ht_qualname);
  const char* dot = strrchr(type->tp_name, '.');
  return OwnedRef::Steal(PyUnicode_FromString(dot ? dot + 1 : type->tp_name));
}

// Whether module.qualname names this very object in the running program, found by dict lookups only
// (a getattr could run a module's __getattr__ or a class property).
bool ImportableAs(PyObject* obj, PyObject* module_name, PyObject* qualname) {
  BorrowedRef modules(PySys_GetObject("modules"));
  if (!modules || !PyDict_Check(modules.get()) || !module_name || !qualname) return false;
  if (PyUnicode_CompareWithASCIIString(module_name, "__main__") == 0) return false;
  BorrowedRef module(PyDict_GetItemWithError(modules.get(), module_name));
  if (!module || !PyModule_Check(module.get())) {
    PyErr_Clear();
    return false;
  }
  // Borrowed from sys.modules, the module and the classes down the qualname: only dict lookups of str keys run
  // between here and the comparison, and they run no Python code that could drop them.
  PyObject* scope = PyModule_GetDict(module.get());
  OwnedRef dot = OwnedRef::Steal(PyUnicode_FromString("."));
  OwnedRef parts = OwnedRef::Steal(PyUnicode_Split(qualname, dot.get(), -1));
  if (!parts) {
    PyErr_Clear();
    return false;
  }
  BorrowedRef current;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts.get()); ++i) {
    if (!scope) return false;
    current = BorrowedRef(PyDict_GetItemWithError(scope, PyList_GET_ITEM(parts.get(), i)));
    if (!current) {
      PyErr_Clear();
      return false;
    }
    scope = PyType_Check(current.get()) ? reinterpret_cast<PyTypeObject*>(current.get())->tp_dict : nullptr;
  }
  return current.get() == obj;
}

}  // namespace

// ---- instances ----

OwnedRef InstanceDict(PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  if (type->tp_dictoffset == 0 && !(type->tp_flags & Py_TPFLAGS_MANAGED_DICT)) return {};
  // The generic getter reads the dict slot; it never calls a __getattr__ or a property.
  return OwnedRef::Steal(PyObject_GenericGetDict(obj, nullptr));
}

void EncodeInstanceState(Walker& w, PyObject* obj) {
  if (OwnedRef dict = InstanceDict(obj)) {
    if (PyDict_Check(dict.get())) PutDictEntries(w, dict.get(), "dict:");
  }
  PyErr_Clear();
  if (IsHeapType(Py_TYPE(obj))) PutSlots(w, obj);
}

void EncodeInstance(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kInstance);
  EncodeInstanceState(w, obj);
}

// ---- exceptions ----

void EncodeException(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kException);
  w.SetTypeOf(obj);
  auto* exception = reinterpret_cast<PyBaseExceptionObject*>(obj);
  if (exception->args && PyTuple_Check(exception->args)) {
    PutSequence(w, PyTuple_GET_SIZE(exception->args),
                [exception](Py_ssize_t i) { return PyTuple_GET_ITEM(exception->args, i); });
  }
  if (exception->dict && PyDict_Check(exception->dict)) PutDictEntries(w, exception->dict, "dict:");
  if (IsHeapType(Py_TYPE(obj))) PutSlots(w, obj);
  if (exception->cause) w.PutAttr("cause", exception->cause);
  if (exception->context) w.PutAttr("context", exception->context);
  w.PutAttr("suppress_context", exception->suppress_context ? Py_True : Py_False);
  if (exception->traceback) w.PutAttr("traceback", exception->traceback);
  if (PyObject_TypeCheck(obj, reinterpret_cast<PyTypeObject*>(PyExc_BaseExceptionGroup))) {
    auto* group = reinterpret_cast<PyBaseExceptionGroupObject*>(obj);
    if (group->excs) w.PutAttr("exceptions", group->excs);
  }
  if (PyObject_TypeCheck(obj, reinterpret_cast<PyTypeObject*>(PyExc_OSError))) {
    auto* os_error = reinterpret_cast<PyOSErrorObject*>(obj);
    if (os_error->filename) w.PutAttr("filename", os_error->filename);
    if (os_error->filename2) w.PutAttr("filename2", os_error->filename2);
  }
}

// ---- classes, functions, modules, code ----

void EncodeClass(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kClass);
  auto* type = reinterpret_cast<PyTypeObject*>(obj);
  OwnedRef module = ClassModuleName(type);
  OwnedRef qualname = ClassQualname(type);
  if (module) w.PutAttrExempt("module", w.KeepAlive(module));
  if (qualname) w.PutAttrExempt("qualname", w.KeepAlive(qualname));
  w.PutAttrStr("name",
               type->tp_name ? (strrchr(type->tp_name, '.') ? strrchr(type->tp_name, '.') + 1 : type->tp_name) : "");
  bool importable = ImportableAs(obj, module.get(), qualname.get());
  w.PutAttr("importable", importable ? Py_True : Py_False);
  if (type->tp_bases && PyTuple_Check(type->tp_bases)) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(type->tp_bases); ++i) w.PutItem(PyTuple_GET_ITEM(type->tp_bases, i));
  }
  // A class that cannot be imported where the dump is loaded travels with its own attributes.
  // Only classes written in Python: an extension type's dict holds its C methods, which name themselves.
  bool defined_in_python = IsClassStatementType(type);
  if (!importable && defined_in_python && type->tp_dict) {
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    std::string name;
    while (PyDict_Next(type->tp_dict, &pos, &key, &value)) {
      if (!PyUnicode_Check(key)) continue;
      Utf8Text key_utf8(key);
      std::string_view key_text = key_utf8.view();
      bool dunder =
          key_text.size() > 4 && key_text.substr(0, 2) == "__" && key_text.substr(key_text.size() - 2) == "__";
      if (dunder && key_text != "__doc__" && key_text != "__slots__") continue;
      if (Py_TYPE(value) == &PyMemberDescr_Type || Py_TYPE(value) == &PyGetSetDescr_Type) continue;
      name.assign("dict:");
      name += key_text;
      w.PutAttr(name, value);
    }
  } else if (defined_in_python && type->tp_dict && PyType_IsSubtype(type, &PyTuple_Type)) {
    // A namedtuple's _fields name its items: a loader without the class's module still needs them.
    BorrowedRef fields(PyDict_GetItemString(type->tp_dict, "_fields"));
    if (fields && PyTuple_Check(fields.get())) w.PutAttr("dict:_fields", fields);
  }
}

void PutFunctionIdentity(Walker& w, PyObject* module, PyObject* qualname, PyObject* name) {
  if (module) w.PutAttr("module", module);
  if (qualname) w.PutAttr("qualname", qualname);
  if (name) w.PutAttr("name", name);
}

void EncodeFunction(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kFunction);
  auto* function = reinterpret_cast<PyFunctionObject*>(obj);
  PutFunctionIdentity(w, function->func_module, function->func_qualname, function->func_name);
  w.PutAttr("code", function->func_code);
  if (function->func_defaults) w.PutAttr("defaults", function->func_defaults);
  if (function->func_kwdefaults) w.PutAttr("kwdefaults", function->func_kwdefaults);
  if (function->func_closure) w.PutAttr("closure", function->func_closure);
}

void EncodeMethod(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kFunction);
  w.PutAttr("function", PyMethod_GET_FUNCTION(obj));
  w.PutAttr("self", PyMethod_GET_SELF(obj));
}

// Builtin functions and methods: identity only (module, qualname, bound self).
void EncodeBuiltinFunction(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kFunction);
  w.PutAttr("builtin", Py_True);
  auto* function = reinterpret_cast<PyCFunctionObject*>(obj);
  BorrowedRef self(function->m_self);  // the function owns both, and the walk keeps the function
  BorrowedRef module(function->m_module);
  if (module && PyModule_Check(module.get())) {
    OwnedRef module_name = OwnedRef::Steal(PyModule_GetNameObject(module.get()));
    if (module_name) w.PutAttr("module", w.KeepAlive(std::move(module_name)));
  } else if (module && PyUnicode_Check(module.get())) {
    w.PutAttr("module", module);
  }
  PyErr_Clear();
  OwnedRef qualname = OwnedRef::Steal(PyObject_GetAttrString(obj, "__qualname__"));  // builtin getset: C code
  if (qualname && PyUnicode_Check(qualname.get())) w.PutAttr("qualname", w.KeepAlive(std::move(qualname)));
  PyErr_Clear();
  w.PutAttrStr("name", function->m_ml && function->m_ml->ml_name ? function->m_ml->ml_name : "");
  if (self && !PyModule_Check(self.get())) w.PutAttr("self", self);
}

void EncodeModule(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kModule);
  OwnedRef name = OwnedRef::Steal(PyModule_GetNameObject(obj));
  if (name) w.PutAttr("name", w.KeepAlive(std::move(name)));
  PyErr_Clear();
  BorrowedRef dict(PyModule_GetDict(obj));
  BorrowedRef file(dict ? PyDict_GetItemString(dict.get(), "__file__") : nullptr);
  if (file && PyUnicode_Check(file.get())) w.PutAttr("file", file);
}

void EncodeCode(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kCode);
  auto* code = reinterpret_cast<PyCodeObject*>(obj);
  w.PutAttr("filename", code->co_filename);
  w.NoteFilename(code->co_filename);
  w.PutAttr("name", code->co_name);
  w.PutAttr("qualname", code->co_qualname);
  w.PutAttrInt("firstlineno", code->co_firstlineno);
  w.PutAttrInt("argcount", code->co_argcount);
  w.PutAttrInt("posonlyargcount", code->co_posonlyargcount);
  w.PutAttrInt("kwonlyargcount", code->co_kwonlyargcount);
  w.PutAttrInt("flags", code->co_flags);
  OwnedRef varnames = OwnedRef::Steal(PyCode_GetVarnames(code));
  if (varnames) w.PutAttr("varnames", w.KeepAlive(std::move(varnames)));
}

}  // namespace encoders_internal
}  // namespace pyheapdump
