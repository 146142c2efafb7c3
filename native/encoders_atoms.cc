// Encoders for the atoms: str, int (beyond what the walker writes inline), bytes and bytearray; each keeps its
// content up to max_str and passes it through redaction (encoders_internal.h lists the other families).
#include <Python.h>

#include <string_view>

#include "encoders_internal.h"
#include "walker.h"

namespace pyheapdump {
namespace encoders_internal {

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

}  // namespace encoders_internal
}  // namespace pyheapdump
