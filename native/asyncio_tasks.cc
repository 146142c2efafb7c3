#include "asyncio_tasks.h"

#include <elf.h>
#include <link.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pyheapdump {
namespace {

// The layout of CPython's _Py_AsyncioModuleDebugOffsets (Modules/_asynciomodule.c, 3.14 and 3.15): 13 fields of 8
// bytes, in this order. A later CPython may append fields; the ones read here keep their place.
struct AsyncioDebugOffsets {
  uint64_t task_size, task_name, task_awaited_by, task_is_task, task_awaited_by_is_set, task_coro, task_node;
  uint64_t interp_size, interp_tasks_head;
  uint64_t thread_size, thread_running_loop, thread_running_task, thread_tasks_head;
};
static_assert(sizeof(AsyncioDebugOffsets) == 104, "the section's 3.14 size");

// CPython's struct llist_node (Include/internal/pycore_llist.h).
struct ListNode {
  ListNode* next;
  ListNode* prev;
};

constexpr char kSectionName[] = ".AsyncioDebug";
// More entries than this on one list means the walk went round a broken list, not through real tasks.
constexpr size_t kMaxTasksPerList = size_t{1} << 26;

struct LoadedObject {
  uintptr_t address = 0;  // an address inside the object, what we look for
  bool found = false;
  std::string path;
  uintptr_t load_bias = 0;
  std::vector<std::pair<uintptr_t, uintptr_t>> segments;  // [start, end) of each PT_LOAD, in memory
};

int FindObject(dl_phdr_info* info, size_t, void* data) {
  auto* wanted = static_cast<LoadedObject*>(data);
  std::vector<std::pair<uintptr_t, uintptr_t>> segments;
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
    if (phdr.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + phdr.p_vaddr;
    uintptr_t end = start + phdr.p_memsz;
    segments.emplace_back(start, end);
    if (wanted->address >= start && wanted->address < end) contains = true;
  }
  if (!contains) return 0;
  wanted->found = true;
  // The main program is listed with an empty name; its file is /proc/self/exe (argv[0] may be relative).
  wanted->path = (info->dlpi_name && info->dlpi_name[0]) ? info->dlpi_name : "/proc/self/exe";
  wanted->load_bias = info->dlpi_addr;
  wanted->segments = std::move(segments);
  return 1;
}

// The section's address (sh_addr, before relocation by the load bias) from the file's section headers, which
// are not mapped into memory.
absl::StatusOr<std::pair<uint64_t, uint64_t>> SectionAddress(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  Elf64_Ehdr header;
  if (!file.read(reinterpret_cast<char*>(&header), sizeof header) ||
      std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 || header.e_shstrndx >= header.e_shnum) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a 64-bit ELF file with section headers"));
  }
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  file.seekg(static_cast<std::streamoff>(header.e_shoff));
  if (!file.read(reinterpret_cast<char*>(sections.data()),
                 static_cast<std::streamsize>(sections.size() * sizeof(Elf64_Shdr)))) {
    return absl::DataLossError(absl::StrCat(path, ": truncated section headers"));
  }
  const Elf64_Shdr& names = sections[header.e_shstrndx];
  if (names.sh_size > (uint64_t{1} << 24)) return absl::DataLossError(absl::StrCat(path, ": huge section names"));
  std::string strings(names.sh_size, '\0');
  file.seekg(static_cast<std::streamoff>(names.sh_offset));
  if (!file.read(strings.data(), static_cast<std::streamsize>(strings.size()))) {
    return absl::DataLossError(absl::StrCat(path, ": truncated section names"));
  }
  for (const Elf64_Shdr& section : sections) {
    if (section.sh_name >= strings.size()) continue;
    if (std::strcmp(strings.c_str() + section.sh_name, kSectionName) == 0) {
      return std::make_pair(uint64_t{section.sh_addr}, uint64_t{section.sh_size});
    }
  }
  return absl::NotFoundError(absl::StrCat(path, " has no ", kSectionName, " section"));
}

absl::StatusOr<AsyncioDebugOffsets> LoadOffsets(PyTypeObject* task_type) {
  // The Task type's traverse function is code of the object (extension module, libpython or the executable)
  // that _asyncio was linked into, and so is the section.
  LoadedObject object;
  object.address = reinterpret_cast<uintptr_t>(task_type->tp_traverse);
  if (object.address == 0) return absl::FailedPreconditionError("_asyncio.Task has no traverse function");
  dl_iterate_phdr(FindObject, &object);
  if (!object.found) return absl::NotFoundError("no loaded object holds _asyncio's code");
  absl::StatusOr<std::pair<uint64_t, uint64_t>> section = SectionAddress(object.path);
  if (!section.ok()) return section.status();
  if (section->second < sizeof(AsyncioDebugOffsets)) {
    return absl::FailedPreconditionError(absl::StrCat(kSectionName, " is smaller than 3.14's"));
  }
  uintptr_t start = object.load_bias + section->first;
  bool mapped = false;
  for (const auto& [begin, end] : object.segments) {
    if (start >= begin && start + sizeof(AsyncioDebugOffsets) <= end) mapped = true;
  }
  if (!mapped) return absl::FailedPreconditionError(absl::StrCat(kSectionName, " is not in a loaded segment"));
  AsyncioDebugOffsets offsets;
  std::memcpy(&offsets, reinterpret_cast<const void*>(start), sizeof offsets);
  return offsets;
}

// The offsets are used to read raw memory: any that does not fit the structures it describes means the section
// is not what we think (another CPython's layout), so nothing is read.
absl::Status CheckOffsets(const AsyncioDebugOffsets& o, PyTypeObject* task_type) {
  constexpr uint64_t kNode = sizeof(ListNode);
  constexpr uint64_t kPointer = sizeof(void*);
  bool fits = o.task_size == static_cast<uint64_t>(task_type->tp_basicsize) &&
              o.task_node >= sizeof(PyObject) && o.task_node % kPointer == 0 && o.task_node + kNode <= o.task_size &&
              o.interp_tasks_head % kPointer == 0 && o.interp_tasks_head + kNode <= o.interp_size &&
              o.thread_size > sizeof(PyThreadState) && o.thread_size < (uint64_t{1} << 20) &&
              o.thread_tasks_head >= sizeof(PyThreadState) && o.thread_tasks_head % kPointer == 0 &&
              o.thread_tasks_head + kNode <= o.thread_size && o.thread_running_loop >= sizeof(PyThreadState) &&
              o.thread_running_loop + kPointer <= o.thread_size && o.thread_running_task >= sizeof(PyThreadState) &&
              o.thread_running_task + kPointer <= o.thread_size;
  if (!fits) return absl::FailedPreconditionError(absl::StrCat(kSectionName, " does not fit this interpreter"));
  return absl::OkStatus();
}

absl::Status CollectList(const ListNode* head, uint64_t node_offset, PyTypeObject* task_type,
                         std::vector<OwnedRef>& tasks) {
  if (head->next == nullptr) return absl::OkStatus();  // never initialized: no task was ever registered
  size_t count = 0;
  for (const ListNode* node = head->next; node != head; node = node->next) {
    if (node == nullptr || node->next == nullptr || node->next->prev != node || ++count > kMaxTasksPerList) {
      return absl::DataLossError("an asyncio task list is not a well-formed ring");
    }
    auto* task = reinterpret_cast<PyObject*>(reinterpret_cast<uintptr_t>(node) - node_offset);
    if (!PyObject_TypeCheck(task, task_type)) {
      return absl::DataLossError("an asyncio task list holds something that is not an _asyncio.Task");
    }
    tasks.push_back(OwnedRef::Borrow(task));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AsyncioTaskLists> ReadAsyncioTaskLists(PyObject* asyncio_module) {
#if PY_VERSION_HEX < 0x030E0000 || defined(Py_GIL_DISABLED)
  (void)asyncio_module;
  return absl::UnimplementedError("asyncio keeps C task lists from CPython 3.14 on, with the GIL");
#else
  // The module's dict, not getattr: a module-level __getattr__ is program code.
  PyObject* module_dict = PyModule_Check(asyncio_module) ? PyModule_GetDict(asyncio_module) : nullptr;
  PyObject* task_type_object = module_dict ? PyDict_GetItemString(module_dict, "Task") : nullptr;  // borrowed
  if (task_type_object == nullptr || !PyType_Check(task_type_object) ||
      std::strcmp(reinterpret_cast<PyTypeObject*>(task_type_object)->tp_name, "_asyncio.Task") != 0) {
    return absl::FailedPreconditionError("_asyncio.Task is not the C task type");
  }
  auto* task_type = reinterpret_cast<PyTypeObject*>(task_type_object);
  // Same module, same offsets: read the section once per process.
  static absl::StatusOr<AsyncioDebugOffsets> cached = absl::UnknownError("not read yet");
  static PyTypeObject* cached_for = nullptr;
  if (cached_for != task_type) {
    cached = LoadOffsets(task_type);
    if (cached.ok()) {
      absl::Status fits = CheckOffsets(*cached, task_type);
      if (!fits.ok()) cached = fits;
    }
    cached_for = task_type;
  }
  if (!cached.ok()) return cached.status();
  const AsyncioDebugOffsets& o = *cached;

  AsyncioTaskLists lists;
  PyInterpreterState* interp = PyThreadState_GetInterpreter(PyThreadState_Get());
  // Tasks outliving the thread that made them are moved to the interpreter's list when that thread state goes.
  auto* interp_head = reinterpret_cast<const ListNode*>(reinterpret_cast<const char*>(interp) + o.interp_tasks_head);
  absl::Status status = CollectList(interp_head, o.task_node, task_type, lists.tasks);
  for (PyThreadState* thread = PyInterpreterState_ThreadHead(interp); status.ok() && thread != nullptr;
       thread = PyThreadState_Next(thread)) {
    const char* base = reinterpret_cast<const char*>(thread);
    status = CollectList(reinterpret_cast<const ListNode*>(base + o.thread_tasks_head), o.task_node, task_type,
                         lists.tasks);
    PyObject* loop = *reinterpret_cast<PyObject* const*>(base + o.thread_running_loop);
    PyObject* task = *reinterpret_cast<PyObject* const*>(base + o.thread_running_task);
    if (loop != nullptr && task != nullptr) lists.running.emplace_back(OwnedRef::Borrow(loop), OwnedRef::Borrow(task));
  }
  if (!status.ok()) return status;
  return lists;
#endif
}

}  // namespace pyheapdump
