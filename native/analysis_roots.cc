// The heap analysis, roots (analysis_internal.h lists the other files): the super-root's edges, read from the root
// record (each thread's and extra stack's frames, the exception, the frame asked for, heap mode's modules and
// unreached objects), each labelled as a path's first step names it.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "analysis.h"
#include "analysis_internal.h"

namespace pyheapdump {

using namespace analysis_internal;

absl::Status HeapAnalysis::ResolveRoots(uint64_t root_id, uint64_t unreached_id, std::vector<uint32_t>& root_edges) {
  scaffold_.assign(node_count_, false);
  auto add_root = [&](uint64_t id, std::string first, std::string second) {
    uint32_t node = NodeOf(id);
    if (node == kNoNode) return;
    root_edges.push_back(node);
    root_nodes_.push_back(node);
    root_edge_of_node_.try_emplace(node, static_cast<uint32_t>(root_edge_labels_.size()));
    root_edge_labels_.emplace_back(std::move(first), std::move(second));
  };
  auto mark = [&](uint64_t id) {
    uint32_t node = NodeOf(id);
    if (node != kNoNode) scaffold_[node] = true;
  };
  // Decodes fetched records, skipping the malformed: the roots are only labels, never a reason to fail.
  auto decode_all = [&](absl::flat_hash_map<uint64_t, Record>& records) {
    absl::flat_hash_map<uint64_t, PlainRecord> out;
    for (auto& [id, record] : records) {
      try {
        out.emplace(id, Decode(record));
      } catch (const FormatError&) {
      }
    }
    return out;
  };
  // A dict record as key text -> value, for the dicts whose keys are strings.
  auto dict_fields = [&](absl::flat_hash_map<uint64_t, PlainRecord>& dicts)
      -> absl::StatusOr<absl::flat_hash_map<uint64_t, absl::flat_hash_map<std::string, PlainValue>>> {
    std::vector<uint64_t> keys;
    for (auto& [id, plain] : dicts) {
      for (size_t i = 0; i + 1 < plain.items.size(); i += 2) keys.push_back(RefOf(&plain.items[i]));
    }
    auto texts = FetchStrings(keys);
    if (!texts.ok()) return texts.status();
    absl::flat_hash_map<uint64_t, absl::flat_hash_map<std::string, PlainValue>> out;
    for (auto& [id, plain] : dicts) {
      auto& fields = out[id];
      for (size_t i = 0; i + 1 < plain.items.size(); i += 2) {
        auto it = texts->find(RefOf(&plain.items[i]));
        if (it != texts->end()) fields.emplace(it->second, plain.items[i + 1]);
      }
    }
    return out;
  };

  auto root_records = Fetch({root_id});
  if (!root_records.ok()) return root_records.status();
  auto root_plain = decode_all(*root_records);
  if (root_plain.empty()) {
    warnings_.push_back(absl::StrCat("the root record ", root_id, " is missing: every record counts as a root"));
    for (uint32_t v = 1; v < node_count_; ++v) add_root(IdOf(v), "record", "");
    return absl::OkStatus();
  }
  mark(root_id);
  auto root_fields = dict_fields(root_plain);
  if (!root_fields.ok()) return root_fields.status();
  auto& fields = (*root_fields)[root_id];
  auto field_ref = [](absl::flat_hash_map<std::string, PlainValue>& f, const char* name) {
    auto it = f.find(name);
    return it == f.end() ? uint64_t{0} : RefOf(&it->second);
  };
  // threads and extra_stacks: lists of dicts with kind, name and frames (outermost first).
  uint64_t lists[2] = {field_ref(fields, "threads"), field_ref(fields, "extra_stacks")};
  auto list_records = Fetch({lists[0], lists[1]});
  if (!list_records.ok()) return list_records.status();
  auto list_plain = decode_all(*list_records);
  std::vector<uint64_t> stack_ids;
  for (uint64_t list : lists) {
    mark(list);
    auto it = list_plain.find(list);
    if (it == list_plain.end()) continue;
    for (const PlainValue& item : it->second.items) {
      if (uint64_t id = RefOf(&item)) stack_ids.push_back(id);
    }
  }
  auto stack_records = Fetch(stack_ids);
  if (!stack_records.ok()) return stack_records.status();
  auto stack_plain = decode_all(*stack_records);
  auto stack_fields = dict_fields(stack_plain);
  if (!stack_fields.ok()) return stack_fields.status();
  std::vector<uint64_t> wanted;
  for (uint64_t id : stack_ids) {
    mark(id);
    auto& f = (*stack_fields)[id];
    for (const char* name : {"name", "kind", "frames"}) wanted.push_back(field_ref(f, name));
  }
  auto stack_parts = Fetch(wanted);
  if (!stack_parts.ok()) return stack_parts.status();
  // Frames: each frame's code, then the code's qualname.
  std::vector<uint64_t> frame_ids;
  struct Stack {
    std::string label;
    std::vector<uint64_t> frames;  // innermost first: a local of the running function is the path a user expects
  };
  std::vector<Stack> stacks;
  auto text_of = [&](uint64_t id) -> std::string {
    auto it = stack_parts->find(id);
    return it == stack_parts->end() || it->second.kind != Kind::kStr ? std::string() : it->second.data.bytes;
  };
  for (uint64_t id : stack_ids) {
    auto& f = (*stack_fields)[id];
    Stack stack;
    std::string kind = text_of(field_ref(f, "kind"));
    std::string name = text_of(field_ref(f, "name"));
    stack.label = absl::StrCat(kind.empty() ? "thread" : kind, " ", name.empty() ? "?" : name);
    uint64_t frames_list = field_ref(f, "frames");
    mark(frames_list);
    auto it = stack_parts->find(frames_list);
    if (it != stack_parts->end()) {
      try {
        PlainRecord plain = Decode(it->second);
        for (auto v = plain.items.rbegin(); v != plain.items.rend(); ++v) {
          if (uint64_t frame = RefOf(&*v)) {
            stack.frames.push_back(frame);
            frame_ids.push_back(frame);
          }
        }
      } catch (const FormatError&) {
      }
    }
    stacks.push_back(std::move(stack));
  }
  uint64_t exception = field_ref(fields, "exception");
  uint64_t asked_frame = field_ref(fields, "frame");
  if (asked_frame) frame_ids.push_back(asked_frame);
  auto frame_names = FrameNames(frame_ids);
  if (!frame_names.ok()) return frame_names.status();
  for (const Stack& stack : stacks) {
    for (uint64_t frame : stack.frames) {
      mark(frame);
      add_root(frame, stack.label, (*frame_names)[frame]);
    }
  }
  if (exception) add_root(exception, "exception", "");
  if (asked_frame) add_root(asked_frame, "frame", (*frame_names)[asked_frame]);
  // Heap mode (save_dump(heap=True)): every module's globals, by name, then what only the collector knew of.
  if (uint64_t modules = field_ref(fields, "modules")) {
    mark(modules);
    auto module_records = Fetch({modules});
    if (!module_records.ok()) return module_records.status();
    auto module_plain = decode_all(*module_records);
    auto module_fields = dict_fields(module_plain);
    if (!module_fields.ok()) return module_fields.status();
    std::vector<std::pair<std::string, uint64_t>> named;
    for (const auto& [name, value] : (*module_fields)[modules]) {
      if (uint64_t id = RefOf(&value)) named.emplace_back(name, id);
    }
    std::sort(named.begin(), named.end());
    for (const auto& [name, id] : named) {
      add_root(id, absl::StrCat("module ", name), "");
      uint32_t node = NodeOf(id);
      if (node != kNoNode) module_globals_.insert(node);
    }
  }
  if (unreached_id) {
    mark(unreached_id);
    auto unreached_records = Fetch({unreached_id});
    if (!unreached_records.ok()) return unreached_records.status();
    auto unreached_plain = decode_all(*unreached_records);
    auto it = unreached_plain.find(unreached_id);
    if (it != unreached_plain.end()) {
      for (const PlainValue& item : it->second.items) {
        if (uint64_t id = RefOf(&item)) add_root(id, "unreached (only the garbage collector knew of it)", "");
      }
    }
    add_root(unreached_id, "the dump's list of unreached objects", "");
  }
  add_root(root_id, "dump root", "");
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_map<uint64_t, std::string>> HeapAnalysis::FrameNames(
    const std::vector<uint64_t>& frames) {
  absl::flat_hash_map<uint64_t, std::string> out;
  auto frame_records = Fetch(frames);
  if (!frame_records.ok()) return frame_records.status();
  absl::flat_hash_map<uint64_t, uint64_t> code_of;
  std::vector<uint64_t> codes;
  for (auto& [id, record] : *frame_records) {
    try {
      if (uint64_t code = RefOf(Attr(Decode(record), "code"))) {
        code_of[id] = code;
        codes.push_back(code);
      }
    } catch (const FormatError&) {
    }
  }
  auto code_records = Fetch(codes);
  if (!code_records.ok()) return code_records.status();
  absl::flat_hash_map<uint64_t, uint64_t> name_of;
  std::vector<uint64_t> names;
  for (auto& [id, record] : *code_records) {
    try {
      PlainRecord plain = Decode(record);
      uint64_t name = RefOf(Attr(plain, "qualname"));
      if (!name) name = RefOf(Attr(plain, "name"));
      if (name) {
        name_of[id] = name;
        names.push_back(name);
      }
    } catch (const FormatError&) {
    }
  }
  auto texts = FetchStrings(names);
  if (!texts.ok()) return texts.status();
  for (uint64_t frame : frames) {
    std::string text = (*texts)[name_of[code_of[frame]]];
    out[frame] = absl::StrCat(text.empty() ? "?" : text, "()");
  }
  return out;
}

std::vector<HeapAnalysis::Root> HeapAnalysis::Roots() const {
  std::vector<Root> out;
  for (size_t i = 0; i < root_nodes_.size(); ++i) {
    out.push_back(Root{root_edge_labels_[i].first, root_edge_labels_[i].second, root_nodes_[i]});
  }
  return out;
}

}  // namespace pyheapdump
