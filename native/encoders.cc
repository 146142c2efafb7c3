// Encoders per object family: each reads one object through the C API, without running user code, and fills the
// walker's current record (docs/format.md lists the kinds and their fields).
#include <Python.h>
#include <datetime.h>  // the layout of datetime objects; its C API capsule is not used (it would import datetime)
#include <frameobject.h>
#include <structmember.h>

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "walker.h"

namespace pyheapdump {
namespace {

std::string_view AsciiView(PyObject* str) {
  return {static_cast<const char*>(PyUnicode_DATA(str)), static_cast<size_t>(PyUnicode_GET_LENGTH(str))};
}

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

bool IsHeapType(PyTypeObject* type) { return (type->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0; }

// ---- atoms ----

// Sets the record's data to a str's UTF-8 bytes; surrogatepass keeps lone surrogates, and encoding into a temporary
// avoids caching a UTF-8 copy inside the dumped str.
void SetStrData(Walker& w, PyObject* str) {
  if (PyUnicode_IS_ASCII(str)) return w.SetDataOf(str, AsciiView(str));
  OwnedRef utf8 = OwnedRef::Steal(PyUnicode_AsEncodedString(str, "utf-8", "surrogatepass"));
  if (!utf8) return;
  w.SetDataOf(utf8.get(), {PyBytes_AS_STRING(utf8.get()), static_cast<size_t>(PyBytes_GET_SIZE(utf8.get()))});
}

OwnedRef RedactedStr(Walker& w, PyObject* str) {
  if (PyUnicode_IS_ASCII(str)) return w.Redacted(str, AsciiView(str));
  OwnedRef utf8 = OwnedRef::Steal(PyUnicode_AsEncodedString(str, "utf-8", "surrogatepass"));
  if (!utf8) {
    PyErr_Clear();
    return {};
  }
  OwnedRef redacted =
      w.Redacted(str, {PyBytes_AS_STRING(utf8.get()), static_cast<size_t>(PyBytes_GET_SIZE(utf8.get()))});
  return redacted && PyUnicode_Check(redacted.get()) ? std::move(redacted) : OwnedRef();
}

void EncodeStr(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kStr);
  Py_ssize_t length = PyUnicode_GET_LENGTH(obj);
  OwnedRef kept = OwnedRef::Borrow(obj);
  if (static_cast<uint64_t>(length) > w.limits().max_str) {
    kept = OwnedRef::Steal(PyUnicode_Substring(obj, 0, static_cast<Py_ssize_t>(w.limits().max_str)));
    w.AddFlags(kFlagTruncated);
    w.PutAttrInt("original_length", length);
    w.NoteCut("max_str");
    if (!kept) return;
  }
  if (OwnedRef redacted = RedactedStr(w, kept.get())) kept = std::move(redacted);
  SetStrData(w, kept.get());
}

void EncodeBuffer(Walker& w, PyObject* obj, Kind kind, const char* data, Py_ssize_t size) {
  w.SetKind(kind);
  uint64_t kept = static_cast<uint64_t>(size);
  if (kept > w.limits().max_str) {
    kept = w.limits().max_str;
    w.AddFlags(kFlagTruncated);
    w.PutAttrInt("original_length", size);
    w.NoteCut("max_str");
  }
  std::string_view content(data, kept);
  OwnedRef as_bytes = kept == static_cast<uint64_t>(size) && PyBytes_CheckExact(obj)
                          ? OwnedRef::Borrow(obj)
                          : OwnedRef::Steal(PyBytes_FromStringAndSize(data, kept));
  OwnedRef redacted = as_bytes ? w.Redacted(as_bytes.get(), content) : OwnedRef();
  PyErr_Clear();
  if (redacted && PyBytes_Check(redacted.get())) {
    w.SetDataOf(redacted.get(),
                {PyBytes_AS_STRING(redacted.get()), static_cast<size_t>(PyBytes_GET_SIZE(redacted.get()))});
    return;
  }
  w.SetDataOf(as_bytes ? as_bytes.get() : obj, content);
}

void EncodeBigInt(Walker& w, PyObject* obj) {
  w.SetKind(Kind::kBigInt);
  // Base 16 is exempt from the int-to-str digit limit and is exact.
  OwnedRef hex = OwnedRef::Steal(PyNumber_ToBase(obj, 16));
  if (hex) w.SetDataOf(hex.get(), AsciiView(hex.get()));  // hex digits are ASCII
}

// ---- containers ----

// Instance state of a container subclass (its __dict__ and slots), beside the contents.
void EncodeInstanceState(Walker& w, PyObject* obj);

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

// ---- instances ----

OwnedRef InstanceDict(PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  if (type->tp_dictoffset == 0 && !(type->tp_flags & Py_TPFLAGS_MANAGED_DICT)) return {};
  // The generic getter reads the dict slot; it never calls a __getattr__ or a property.
  return OwnedRef::Steal(PyObject_GenericGetDict(obj, nullptr));
}

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

// ---- classes, functions, modules, code ----

OwnedRef ClassModuleName(PyTypeObject* type) {
  if (IsHeapType(type)) {
    BorrowedRef module(PyDict_GetItemString(type->tp_dict, "__module__"));
    if (module && PyUnicode_Check(module.get())) return OwnedRef::Borrow(module);
    // An extension type whose instances have a __module__ member (Cython's functions) has that member's descriptor
    // there: its tp_name still says where it comes from.
    if (!IsClassStatementType(type) && type->tp_name && strrchr(type->tp_name, '.')) {
      return OwnedRef::Steal(
          PyUnicode_FromStringAndSize(type->tp_name, strrchr(type->tp_name, '.') - type->tp_name));
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

// ---- frames, tracebacks, generators, cells ----

// A snapshot of a frame's locals as a dict. On 3.13 an optimized frame's f_locals is a write-through proxy; the dump
// holds a plain copy. Before 3.13 it is the frame's own dict (module frames: the globals, identity kept).
OwnedRef FrameLocals(PyFrameObject* frame) {
  OwnedRef locals = OwnedRef::Steal(PyFrame_GetLocals(frame));
  if (!locals || PyDict_Check(locals.get())) return locals;
  OwnedRef copy = OwnedRef::Steal(PyDict_New());
  if (copy && PyDict_Merge(copy.get(), locals.get(), 1) == 0) return copy;
  return {};
}

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

// ---- objects handled by a per-type policy ----

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

// obj.__reduce_ex__(4) of an exact datetime, date, time, timedelta or Decimal written in C, built from the object's
// fields as their C methods build it (Modules/_datetimemodule.c, Modules/_decimal/_decimal.c): the same tuple, so
// the same records, without an interpreter call per object. Empty when obj is none of them.
OwnedRef BuiltinReduce(Walker& w, PyObject* obj) {
  const Walker::ValueTypes& known = w.value_types();
  PyTypeObject* type = Py_TYPE(obj);
  OwnedRef args;
  if (type == known.datetime) {
    auto* dt = reinterpret_cast<PyDateTime_DateTime*>(obj);
    args = StateTuple(BytesState(dt->data, _PyDateTime_DATETIME_DATASIZE, 2, dt->fold), dt->hastzinfo,
                      dt->hastzinfo ? dt->tzinfo : Py_None);
  } else if (type == known.date) {
    args = StateTuple(BytesState(reinterpret_cast<PyDateTime_Date*>(obj)->data, _PyDateTime_DATE_DATASIZE, 0, false),
                      false, Py_None);
  } else if (type == known.time) {
    auto* t = reinterpret_cast<PyDateTime_Time*>(obj);
    args = StateTuple(BytesState(t->data, _PyDateTime_TIME_DATASIZE, 0, t->fold), t->hastzinfo,
                      t->hastzinfo ? t->tzinfo : Py_None);
  } else if (type == known.timedelta) {
    args = OwnedRef::Steal(Py_BuildValue("iii", PyDateTime_DELTA_GET_DAYS(obj), PyDateTime_DELTA_GET_SECONDS(obj),
                                         PyDateTime_DELTA_GET_MICROSECONDS(obj)));
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
  w.SetKind(Kind::kReduce);
  BorrowedRef parts = w.KeepAlive(std::move(reduced));
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

}  // namespace

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
