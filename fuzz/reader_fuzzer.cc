// libFuzzer target on the C++ reader, without Python: the framing (preamble, chunk headers, crc, zlib, footer, the
// resynchronising scan), cereal's record and source decoding, and the value encoding of every record's items and
// attrs read through format.h's Cursor, as docs/format.md describes them. Leak checking stays on: nothing here
// allocates outside the reader.
//
// Built and run by fuzz/run.sh; the Python-side decoding (record_decoder.cc) has its own target,
// fuzz/record_decoder_fuzzer.cc.
#include <cstddef>
#include <cstdint>

#include "format.h"
#include "fuzz_input.h"

namespace {

// Reads one value the way the format defines it; malformed input throws pyheapdump::FormatError.
void SkipValue(pyheapdump::Cursor& cursor) {
  uint8_t tag = cursor.Byte();
  switch (static_cast<pyheapdump::ValueTag>(tag)) {
    case pyheapdump::ValueTag::kRef:
    case pyheapdump::ValueTag::kInt:
      cursor.Varint();
      return;
    case pyheapdump::ValueTag::kFloat:
      cursor.Float();
      return;
    case pyheapdump::ValueTag::kCut:
      cursor.Varint();
      cursor.Varint();
      return;
    case pyheapdump::ValueTag::kNone:
    case pyheapdump::ValueTag::kFalse:
    case pyheapdump::ValueTag::kTrue:
    case pyheapdump::ValueTag::kEllipsis:
    case pyheapdump::ValueTag::kNotImplemented:
      return;
  }
  throw pyheapdump::FormatError("unknown value tag");
}

void DecodeValues(const pyheapdump::Record& record) {
  try {
    pyheapdump::Cursor items(record.items.bytes);
    for (uint64_t n = items.Count(); n > 0; --n) SkipValue(items);
    pyheapdump::Cursor attrs(record.attrs.bytes);
    for (uint64_t n = attrs.Count(); n > 0; --n) {
      attrs.Bytes(attrs.Varint());
      SkipValue(attrs);
    }
  } catch (const pyheapdump::FormatError&) {
    // A malformed record: the loader turns this into a warning. What matters here is that reading it was safe.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static pyheapdump_fuzz::MemoryFile file;
  pyheapdump_fuzz::ReadEverything(file.Hold(data, size), [](pyheapdump::Record&& record) { DecodeValues(record); });
  return 0;
}
