// Turns records read from a dump into the Python objects the loader (pyheapdump/_load.py) rebuilds from.
#pragma once

#include <Python.h>

#include "absl/status/statusor.h"
#include "format.h"
#include "pyref.h"

namespace pyheapdump {

// Returns the tuple (id, kind, type_id, flags, size, items, item_refs, attrs, attr_refs, data):
// - items: list of values; inline atoms are Python objects already;
// - item_refs: positions in items that hold a reference (an int: the record id) or a cut (a tuple (reason, class id));
// - attrs: dict name -> value, attr_refs: the names whose value is a reference or a cut;
// - data: str for STR records (UTF-8, surrogatepass), bytes otherwise.
// A malformed record is an InvalidArgument status; no Python error is left set.
absl::StatusOr<OwnedRef> DecodeRecord(const Record& record);

// One value of an items or attrs blob, as the rebuilder uses it: an inline atom, a reference to a record, or a cut.
struct DecodedValue {
  enum class Type : uint8_t { kAtom, kRef, kCut };
  Type type = Type::kAtom;
  OwnedRef atom;        // kAtom
  uint64_t id = 0;      // kRef: the record id; kCut: the class id
  uint64_t reason = 0;  // kCut
};

// Reads the next value at cursor; throws FormatError on malformed input or when Python runs out of memory.
// Without make_atoms an atom is only stepped over (its `atom` stays empty): enough to follow references.
DecodedValue ReadDecodedValue(Cursor& cursor, bool make_atoms = true);
// An attribute name as the records store it (UTF-8, surrogateescape); throws FormatError when it is not UTF-8.
OwnedRef DecodeAttributeName(std::string_view bytes);

}  // namespace pyheapdump
