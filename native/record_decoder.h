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

}  // namespace pyheapdump
