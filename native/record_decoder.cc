#include "record_decoder.h"

#include <string>

namespace pyheapdump {
namespace {

// Thrown inside this file only, when Python could not make an object (its MemoryError is set); Parse() makes it a
// status, as it does FormatError.
struct PythonOutOfMemory {};

void Check(bool ok) {
  if (!ok) throw PythonOutOfMemory();
}

DecodedValue ReadValue(Cursor& cursor, bool make_atoms) {
  RawValue raw = ReadRawValue(cursor);
  DecodedValue value;
  if (raw.tag == ValueTag::kRef) {
    value.type = DecodedValue::Type::kRef;
    value.id = raw.number;
  } else if (raw.tag == ValueTag::kCut) {
    value.type = DecodedValue::Type::kCut;
    value.reason = raw.number;
    value.id = raw.class_id;
  } else if (make_atoms || (raw.tag != ValueTag::kInt && raw.tag != ValueTag::kFloat)) {
    value.atom = AtomObject(raw);  // the singletons cost nothing to make
    Check(bool(value.atom));
  }
  return value;
}

// Runs a parse whose reads may throw: FormatError and PythonOutOfMemory become statuses here, so neither leaves
// this file.
template <class Body>
absl::Status Parse(Body&& body) {
  try {
    return body();
  } catch (const FormatError& error) {
    return absl::InvalidArgumentError(error.what());
  } catch (const PythonOutOfMemory&) {
    PyErr_Clear();
    return OutOfMemoryError("out of memory while decoding");
  }
}

// The status of a Python call that failed for memory: the callers of DecodeRecord expect no Python error set.
absl::Status TakeOutOfMemory() {
  PyErr_Clear();
  return OutOfMemoryError("out of memory while decoding");
}

// A decoded value as the loader's tuple holds it: an atom as it is, a reference as its id, a cut as (reason, id).
OwnedRef AsPython(DecodedValue&& value) {
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

absl::Status DecodeItems(std::string_view blob, OwnedRef* items, OwnedRef* refs) {
  *refs = OwnedRef::Steal(PyList_New(0));
  if (!*refs) return TakeOutOfMemory();
  return ParseItems(
      blob, /*make_atoms=*/true,
      [&](uint64_t count) {
        *items = OwnedRef::Steal(PyList_New(static_cast<Py_ssize_t>(count)));
        return *items ? absl::OkStatus() : TakeOutOfMemory();
      },
      [&](uint64_t i, DecodedValue&& decoded) {
        bool is_reference = decoded.type != DecodedValue::Type::kAtom;
        OwnedRef value = AsPython(std::move(decoded));
        if (!value) return TakeOutOfMemory();
        PyList_SET_ITEM(items->get(), static_cast<Py_ssize_t>(i), value.release());
        if (is_reference) {
          OwnedRef position = OwnedRef::Steal(PyLong_FromUnsignedLongLong(i));
          if (!position || PyList_Append(refs->get(), position.get()) != 0) return TakeOutOfMemory();
        }
        return absl::OkStatus();
      });
}

absl::Status DecodeAttrs(std::string_view blob, OwnedRef* attrs, OwnedRef* refs) {
  *attrs = OwnedRef::Steal(PyDict_New());
  *refs = OwnedRef::Steal(PyList_New(0));
  if (!*attrs || !*refs) return TakeOutOfMemory();
  return ParseAttrs(blob, /*make_atoms=*/true, [&](std::string_view name_bytes, DecodedValue&& decoded) {
    absl::StatusOr<OwnedRef> name = DecodeAttributeName(name_bytes);
    if (!name.ok()) return name.status();
    bool is_reference = decoded.type != DecodedValue::Type::kAtom;
    OwnedRef value = AsPython(std::move(decoded));
    if (!value) return TakeOutOfMemory();
    // A name twice in one record (a member descriptor that a Cython type and its base both define, listed once
    // per class of the MRO): the first entry is the one attribute lookup finds, and keeping it keeps the value and
    // its reference flag together (a later inline value must not replace a reference the refs list names).
    int known = PyDict_Contains(attrs->get(), name->get());
    if (known < 0) return TakeOutOfMemory();
    if (known) return absl::OkStatus();
    if (PyDict_SetItem(attrs->get(), name->get(), value.get()) != 0) return TakeOutOfMemory();
    if (is_reference && PyList_Append(refs->get(), name->get()) != 0) return TakeOutOfMemory();
    return absl::OkStatus();
  });
}

absl::StatusOr<OwnedRef> DecodeData(const StoredRecord& record) {
  std::string_view bytes = record.data;
  if (record.kind == Kind::kStr) {
    OwnedRef text = OwnedRef::Steal(PyUnicode_DecodeUTF8(bytes.data(), bytes.size(), "surrogatepass"));
    if (!text) {
      if (PyErr_ExceptionMatches(PyExc_MemoryError)) return TakeOutOfMemory();
      PyErr_Clear();
      return absl::InvalidArgumentError("string is not UTF-8");
    }
    return text;
  }
  OwnedRef data = OwnedRef::Steal(PyBytes_FromStringAndSize(bytes.data(), bytes.size()));
  if (!data) return TakeOutOfMemory();
  return data;
}

}  // namespace

absl::Status ParseItems(std::string_view blob, bool make_atoms, CountVisitor on_count, ItemVisitor on_item) {
  return Parse([&]() -> absl::Status {
    Cursor cursor(blob);
    uint64_t count = cursor.Count();
    if (absl::Status status = on_count(count); !status.ok()) return status;
    for (uint64_t i = 0; i < count; ++i) {
      if (absl::Status status = on_item(i, ReadValue(cursor, make_atoms)); !status.ok()) return status;
    }
    if (!cursor.AtEnd()) throw FormatError("trailing bytes after the items");
    return absl::OkStatus();
  });
}

absl::Status ParseItems(std::string_view blob, bool make_atoms, ItemVisitor on_item) {
  return ParseItems(blob, make_atoms, [](uint64_t) { return absl::OkStatus(); }, on_item);
}

absl::Status ParseAttrs(std::string_view blob, bool make_atoms, AttrVisitor on_attr) {
  return Parse([&]() -> absl::Status {
    Cursor cursor(blob);
    for (uint64_t count = cursor.Count(); count > 0; --count) {
      std::string_view name = cursor.Bytes(cursor.Varint());
      if (absl::Status status = on_attr(name, ReadValue(cursor, make_atoms)); !status.ok()) return status;
    }
    if (!cursor.AtEnd()) throw FormatError("trailing bytes after the attributes");
    return absl::OkStatus();
  });
}

absl::Status CheckItems(std::string_view blob) {
  if (blob == std::string_view("\0", 1)) return absl::OkStatus();  // none: most records hold no items or no attrs
  return Parse([&]() -> absl::Status {
    Cursor cursor(blob);
    for (uint64_t count = cursor.Count(); count > 0; --count) ReadRawValue(cursor);
    if (!cursor.AtEnd()) throw FormatError("trailing bytes after the items");
    return absl::OkStatus();
  });
}

absl::Status CheckAttrs(std::string_view blob) {
  if (blob == std::string_view("\0", 1)) return absl::OkStatus();
  return Parse([&]() -> absl::Status {
    Cursor cursor(blob);
    for (uint64_t count = cursor.Count(); count > 0; --count) {
      cursor.Bytes(cursor.Varint());  // the name
      ReadRawValue(cursor);
    }
    if (!cursor.AtEnd()) throw FormatError("trailing bytes after the attributes");
    return absl::OkStatus();
  });
}

absl::StatusOr<OwnedRef> DecodeAttributeName(std::string_view bytes) {
  OwnedRef name = OwnedRef::Steal(PyUnicode_DecodeUTF8(bytes.data(), bytes.size(), "surrogateescape"));
  if (!name) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) return TakeOutOfMemory();
    PyErr_Clear();
    return absl::InvalidArgumentError("attribute name is not UTF-8");
  }
  return name;
}

absl::StatusOr<OwnedRef> DecodeRecord(const StoredRecord& record, BorrowedRef data_object) {
  OwnedRef items, item_refs, attrs, attr_refs;
  absl::Status status = DecodeItems(record.items, &items, &item_refs);
  if (status.ok()) status = DecodeAttrs(record.attrs, &attrs, &attr_refs);
  absl::StatusOr<OwnedRef> data = !status.ok()  ? absl::StatusOr<OwnedRef>(status)
                                  : data_object ? OwnedRef::Borrow(data_object)
                                                : DecodeData(record);
  OwnedRef tuple;
  if (data.ok()) {
    tuple = OwnedRef::Steal(
        Py_BuildValue("(KBKIKOOOOO)", static_cast<unsigned long long>(record.id),
                      static_cast<unsigned char>(record.kind), static_cast<unsigned long long>(record.type_id),
                      static_cast<unsigned int>(record.flags), static_cast<unsigned long long>(record.size),
                      items.get(), item_refs.get(), attrs.get(), attr_refs.get(), data->get()));
    if (tuple) return tuple;
    status = TakeOutOfMemory();
  } else {
    status = data.status();
  }
  return absl::Status(status.code(), "record " + std::to_string(record.id) + ": " + std::string(status.message()));
}

absl::StatusOr<OwnedRef> ReleasedRecordTuple(uint64_t id, Kind kind) {
  OwnedRef type_id = kind == Kind::kCall ? OwnedRef::Borrow(Py_None) : OwnedRef::Steal(PyLong_FromLong(0));
  if (!type_id) return TakeOutOfMemory();
  OwnedRef tuple = OwnedRef::Steal(Py_BuildValue("(KBOIOO()O()O)", static_cast<unsigned long long>(id),
                                                 static_cast<unsigned char>(kind), type_id.get(), 0u, Py_None, Py_None,
                                                 Py_None, Py_None));
  if (!tuple) return TakeOutOfMemory();
  return tuple;
}

}  // namespace pyheapdump
