// Reads the items and attrs of records (the one parser of them, docs/format.md "Records"), and turns records into the
// Python objects the loader (pyheapdump/load/) rebuilds from.
#pragma once

#include <Python.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format.h"
#include "pyref.h"
#include "status.h"

namespace pyheapdump {

// One value as its bytes say it, before any Python object is made: reading it checks it, which is all the record
// checks need (CheckItems, CheckAttrs), and the loader's fast paths read values this way (no visitor, no
// DecodedValue). Throws FormatError on malformed bytes, which a record Load checked does not have.
struct RawValue {
  ValueTag tag;
  uint64_t number = 0;    // kRef: the id; kInt: the zigzagged int; kCut: the reason
  uint64_t class_id = 0;  // kCut
  double real = 0;        // kFloat
};

// Always inlined: once per item of every container, where a call (and its RawValue returned through memory) cost
// as much as the decoding.
__attribute__((always_inline)) inline RawValue ReadRawValue(Cursor& cursor) {
  uint8_t tag = cursor.Byte();
  RawValue raw{static_cast<ValueTag>(tag)};
  switch (raw.tag) {
    case ValueTag::kRef:
    case ValueTag::kInt:
      raw.number = cursor.Varint();
      return raw;
    case ValueTag::kFloat:
      raw.real = cursor.Float();
      return raw;
    case ValueTag::kCut:
      raw.number = cursor.Varint();
      raw.class_id = cursor.Varint();
      return raw;
    case ValueTag::kNone:
    case ValueTag::kFalse:
    case ValueTag::kTrue:
    case ValueTag::kEllipsis:
    case ValueTag::kNotImplemented:
      return raw;
  }
  throw FormatError("unknown value tag " + std::to_string(tag));
}

// The object of an atom (an int, a float, a singleton), a new reference; empty when it is not an atom, and empty
// with MemoryError set when Python has no memory for it. Inline: once per atom of every container.
inline OwnedRef AtomObject(const RawValue& raw) {
  switch (raw.tag) {
    case ValueTag::kInt:
      return OwnedRef::Steal(PyLong_FromLongLong(UnZigZag(raw.number)));
    case ValueTag::kFloat:
      return OwnedRef::Steal(PyFloat_FromDouble(raw.real));
    case ValueTag::kNone:
      return OwnedRef::Borrow(Py_None);
    case ValueTag::kFalse:
      return OwnedRef::Borrow(Py_False);
    case ValueTag::kTrue:
      return OwnedRef::Borrow(Py_True);
    case ValueTag::kEllipsis:
      return OwnedRef::Borrow(Py_Ellipsis);
    case ValueTag::kNotImplemented:
      return OwnedRef::Borrow(Py_NotImplemented);
    case ValueTag::kRef:
    case ValueTag::kCut:
      break;
  }
  return OwnedRef();
}

// One value of an items or attrs blob: an inline atom, a reference to a record, or a cut.
struct DecodedValue {
  enum class Type : uint8_t { kAtom, kRef, kCut };
  Type type = Type::kAtom;
  OwnedRef atom;        // kAtom
  uint64_t id = 0;      // kRef: the record id; kCut: the class id
  uint64_t reason = 0;  // kCut
};

// The parser of an items blob (a varint count, then that many values) and of an attrs blob (a count, then (name,
// value) pairs); nothing may follow. on_count gets the count before any value is read; on_item and on_attr get each
// value as it is read (a name is a view into the blob). Without make_atoms an atom is only stepped over (its `atom`
// stays empty, but for the singletons None, True, ...): enough to follow references.
// Errors: InvalidArgument for malformed input; OutOfMemoryError when Python cannot make an atom (its MemoryError is
// cleared); a visitor's error stops the parse and is returned as it is (with whatever Python error it left set).
using CountVisitor = absl::FunctionRef<absl::Status(uint64_t count)>;
using ItemVisitor = absl::FunctionRef<absl::Status(uint64_t index, DecodedValue&& value)>;
using AttrVisitor = absl::FunctionRef<absl::Status(std::string_view name, DecodedValue&& value)>;
absl::Status ParseItems(std::string_view blob, bool make_atoms, CountVisitor on_count, ItemVisitor on_item);
absl::Status ParseItems(std::string_view blob, bool make_atoms, ItemVisitor on_item);
absl::Status ParseAttrs(std::string_view blob, bool make_atoms, AttrVisitor on_attr);

// What ParseItems and ParseAttrs check, without visiting values: the same errors for the same input. (An attribute
// name needs no check: every byte string decodes as UTF-8 with surrogateescape.)
absl::Status CheckItems(std::string_view blob);
absl::Status CheckAttrs(std::string_view blob);

// An attribute name as the records store it (UTF-8, surrogateescape): InvalidArgument when it is not UTF-8,
// OutOfMemoryError; no Python error is left set.
absl::StatusOr<OwnedRef> DecodeAttributeName(std::string_view bytes);

// Returns the tuple (id, kind, type_id, flags, size, items, item_refs, attrs, attr_refs, data):
// - items: list of values; inline atoms are Python objects already;
// - item_refs: positions in items that hold a reference (an int: the record id) or a cut (a tuple (reason, class id));
// - attrs: dict name -> value, attr_refs: the names whose value is a reference or a cut;
// - data: str for STR records (UTF-8, surrogatepass), bytes otherwise.
// A malformed record is an InvalidArgument status, running out of memory an OutOfMemoryError; no Python error is
// left set. data_object, when given, is the data already made (the loader makes str and bytes as it reads them and
// keeps no second copy of their bytes).
absl::StatusOr<OwnedRef> DecodeRecord(const StoredRecord& record, BorrowedRef data_object = BorrowedRef());
// The tuple of a record the loader released once its object was finished (record_store.h): its id and kind, the
// type_id 0 of a plain container and None for a call's, no flags; None for its size, items, attrs and data, which
// nothing reads (reading them fails loudly rather than finding them empty), and no references.
absl::StatusOr<OwnedRef> ReleasedRecordTuple(uint64_t id, Kind kind);
inline absl::StatusOr<OwnedRef> DecodeRecord(const Record& record) { return DecodeRecord(StoredRecord::Of(record)); }

}  // namespace pyheapdump
