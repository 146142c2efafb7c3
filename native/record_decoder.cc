#include "record_decoder.h"

#include <string>

namespace pyheapdump {
namespace {

void Check(bool ok) {
  if (!ok) throw FormatError("out of memory while decoding");
}

// Reads one value; for a reference or a cut, stores its marker and reports that the caller must note the position.
OwnedRef ReadValue(Cursor& cursor, bool& is_reference) {
  DecodedValue value = ReadDecodedValue(cursor);
  is_reference = value.type != DecodedValue::Type::kAtom;
  switch (value.type) {
    case DecodedValue::Type::kAtom:
      return std::move(value.atom);
    case DecodedValue::Type::kRef:
      return OwnedRef::Steal(PyLong_FromUnsignedLongLong(value.id));
    case DecodedValue::Type::kCut:
      return OwnedRef::Steal(Py_BuildValue("(KK)", static_cast<unsigned long long>(value.reason),
                                           static_cast<unsigned long long>(value.id)));
  }
  return OwnedRef();
}

OwnedRef DecodeItems(const std::string& blob, OwnedRef& refs) {
  Cursor cursor(blob);
  uint64_t count = cursor.Count();
  OwnedRef items = OwnedRef::Steal(PyList_New(static_cast<Py_ssize_t>(count)));
  refs = OwnedRef::Steal(PyList_New(0));
  Check(items && refs);
  for (uint64_t i = 0; i < count; ++i) {
    bool is_reference = false;
    OwnedRef value = ReadValue(cursor, is_reference);
    Check(bool(value));
    PyList_SET_ITEM(items.get(), static_cast<Py_ssize_t>(i), value.release());
    if (is_reference) {
      OwnedRef position = OwnedRef::Steal(PyLong_FromUnsignedLongLong(i));
      Check(position && PyList_Append(refs.get(), position.get()) == 0);
    }
  }
  if (!cursor.AtEnd()) throw FormatError("trailing bytes after the items");
  return items;
}

OwnedRef DecodeAttrs(const std::string& blob, OwnedRef& refs) {
  Cursor cursor(blob);
  uint64_t count = cursor.Count();
  OwnedRef attrs = OwnedRef::Steal(PyDict_New());
  refs = OwnedRef::Steal(PyList_New(0));
  Check(attrs && refs);
  for (uint64_t i = 0; i < count; ++i) {
    OwnedRef name = DecodeAttributeName(cursor.Bytes(cursor.Varint()));
    bool is_reference = false;
    OwnedRef value = ReadValue(cursor, is_reference);
    Check(bool(value));
    int repeated = PyDict_Contains(attrs.get(), name.get());
    Check(repeated >= 0);
    if (repeated) {
      // A name given twice (a damaged file, or a walker that named two members alike): the last value stands, and
      // refs must say whether that value is a reference, or the loader would look an atom up as a record id.
      for (Py_ssize_t j = PyList_GET_SIZE(refs.get()) - 1; j >= 0; --j) {
        int same = PyObject_RichCompareBool(PyList_GET_ITEM(refs.get(), j), name.get(), Py_EQ);
        Check(same >= 0);
        if (same) Check(PySequence_DelItem(refs.get(), j) == 0);
      }
    }
    Check(PyDict_SetItem(attrs.get(), name.get(), value.get()) == 0);
    if (is_reference) Check(PyList_Append(refs.get(), name.get()) == 0);
  }
  if (!cursor.AtEnd()) throw FormatError("trailing bytes after the attributes");
  return attrs;
}

OwnedRef DecodeData(const Record& record) {
  const std::string& bytes = record.data.bytes;
  if (record.kind == Kind::kStr) {
    OwnedRef text = OwnedRef::Steal(PyUnicode_DecodeUTF8(bytes.data(), bytes.size(), "surrogatepass"));
    if (!text) {
      PyErr_Clear();
      throw FormatError("string is not UTF-8");
    }
    return text;
  }
  return OwnedRef::Steal(PyBytes_FromStringAndSize(bytes.data(), bytes.size()));
}

}  // namespace

DecodedValue ReadDecodedValue(Cursor& cursor, bool make_atoms) {
  DecodedValue value;
  uint8_t tag = cursor.Byte();
  switch (static_cast<ValueTag>(tag)) {
    case ValueTag::kRef:
      value.type = DecodedValue::Type::kRef;
      value.id = cursor.Varint();
      return value;
    case ValueTag::kNone:
      value.atom = OwnedRef::Borrow(Py_None);
      return value;
    case ValueTag::kFalse:
      value.atom = OwnedRef::Borrow(Py_False);
      return value;
    case ValueTag::kTrue:
      value.atom = OwnedRef::Borrow(Py_True);
      return value;
    case ValueTag::kInt: {
      int64_t number = UnZigZag(cursor.Varint());
      if (make_atoms) {
        value.atom = OwnedRef::Steal(PyLong_FromLongLong(number));
        Check(bool(value.atom));
      }
      return value;
    }
    case ValueTag::kFloat: {
      double number = cursor.Float();
      if (make_atoms) {
        value.atom = OwnedRef::Steal(PyFloat_FromDouble(number));
        Check(bool(value.atom));
      }
      return value;
    }
    case ValueTag::kEllipsis:
      value.atom = OwnedRef::Borrow(Py_Ellipsis);
      return value;
    case ValueTag::kNotImplemented:
      value.atom = OwnedRef::Borrow(Py_NotImplemented);
      return value;
    case ValueTag::kCut:
      value.type = DecodedValue::Type::kCut;
      value.reason = cursor.Varint();
      value.id = cursor.Varint();
      return value;
  }
  throw FormatError("unknown value tag " + std::to_string(tag));
}

OwnedRef DecodeAttributeName(std::string_view bytes) {
  OwnedRef name = OwnedRef::Steal(PyUnicode_DecodeUTF8(bytes.data(), bytes.size(), "surrogateescape"));
  if (!name) {
    PyErr_Clear();
    throw FormatError("attribute name is not UTF-8");
  }
  return name;
}

absl::StatusOr<OwnedRef> DecodeRecord(const Record& record) {
  try {
    OwnedRef item_refs, attr_refs;
    OwnedRef items = DecodeItems(record.items.bytes, item_refs);
    OwnedRef attrs = DecodeAttrs(record.attrs.bytes, attr_refs);
    OwnedRef data = DecodeData(record);
    Check(bool(data));
    OwnedRef tuple = OwnedRef::Steal(
        Py_BuildValue("(KBKIKOOOOO)", static_cast<unsigned long long>(record.id),
                      static_cast<unsigned char>(record.kind), static_cast<unsigned long long>(record.type_id),
                      static_cast<unsigned int>(record.flags), static_cast<unsigned long long>(record.size),
                      items.get(), item_refs.get(), attrs.get(), attr_refs.get(), data.get()));
    Check(bool(tuple));
    return tuple;
  } catch (const FormatError& error) {
    PyErr_Clear();
    return absl::InvalidArgumentError("record " + std::to_string(record.id) + ": " + error.what());
  }
}

}  // namespace pyheapdump
