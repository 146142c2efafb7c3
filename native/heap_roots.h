// Heap mode (save_dump(heap=True)): the roots besides the thread stacks. The objects the cycle collector tracks that
// the walk from the stacks did not reach (cycles waiting for collection, objects held only by C code) are walked from
// one more list, whose record id the summary names (heap.unreached); the analysis takes its items for roots.
#pragma once

#include <Python.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "pyref.h"
#include "walker.h"

namespace pyheapdump {

// A new list of the objects gc.get_objects() returns that `walker` did not reach, less those a reached object leads
// to through references (the walk shows each inside its holder, cut it there, or wrote its holder by reference, as
// a class with its methods) and less an unreached instance's own __dict__ (walked with its instance). The list itself
// is made afterwards, so it never lists itself. The walker must memoize every object (set_memo_everything) and have
// walked the roots; the caller holds the GIL with the collector disabled. Only tp_traverse runs: no Python code of the
// program. Errors: FailedPrecondition without the memo, OutOfMemory, or a pending Python exception (PythonErrorPending)
// when gc.get_objects() or a list append fails.
absl::StatusOr<OwnedRef> FindUnreached(const Walker& walker);

struct UnreachedRoots {
  uint64_t id = 0;     // the record id of the list of unreached objects
  uint64_t count = 0;  // how many objects that list holds
};

// FindUnreached, then walks the list it returns as one more root. Its errors, then the walk's (a write failure).
absl::StatusOr<UnreachedRoots> WalkUnreached(Walker& walker);

}  // namespace pyheapdump
