// The asyncio tasks that CPython 3.14+ keeps only in C: per-thread (and per-interpreter) linked lists of
// _asyncio.Task objects, plus each thread's running loop and task. Read the way out-of-process debuggers do
// (`python -m asyncio ps`): with the offsets the _asyncio module publishes in its ".AsyncioDebug" ELF section.
#pragma once

#include <Python.h>

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "pyref.h"

namespace pyheapdump {

struct AsyncioTaskLists {
  // Every task on the interpreter's and its threads' lists: pending instances of _asyncio.Task and its subclasses.
  std::vector<OwnedRef> tasks;
  // (running loop, running task) of each thread that is inside a task step right now.
  std::vector<std::pair<OwnedRef, OwnedRef>> running;
};

// Reads the lists of the calling thread's interpreter. `asyncio_module` is the imported _asyncio module (needed to
// find which loaded object holds the offsets, and its Task type to check every list entry). The caller holds the
// GIL; nothing here runs Python code, so no other thread changes a list meanwhile. An error means the offsets are
// missing or do not fit this interpreter (then nothing was read).
absl::StatusOr<AsyncioTaskLists> ReadAsyncioTaskLists(PyObject* asyncio_module);

}  // namespace pyheapdump
