// The core's error convention: every function that can fail returns absl::Status or absl::StatusOr, and only
// native/bindings.cc turns a status into a Python exception. The codes the bindings tell apart:
//   kResourceExhausted  this process ran out of memory (nothing else uses the code: a full disk or no file
//                       descriptors left is kUnavailable), raised as DumpMemoryError or MemoryError;
//   kUnknown            a Python exception is pending (the C API set it, or Python code the core called raised it):
//                       the status carries no copy, the bindings raise the pending exception as it is;
//   kNotFound           no such dump file;
//   anything else       the file or the write failed, with the reason in the message.
// Below the core, format.h's decoding helpers throw FormatError, as the cereal archives they plug into must; the
// readers of the format (chunk_reader.cc, record_decoder.cc) catch it and return a status, so no FormatError leaves
// them.
// Plain C++: no Python, so the writer, the reader and their tests need no interpreter.
#pragma once

#include <cerrno>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pyheapdump {

// A status with a message allocates it; one without is kept inline. When there is no memory even for the message, the
// status goes without it rather than throw std::bad_alloc from the error path.
inline absl::Status StatusWithoutAllocating(absl::StatusCode code, absl::string_view message) {
  try {
    return absl::Status(code, message);
  } catch (const std::bad_alloc&) {
    return absl::Status(code, "");
  }
}

inline absl::Status OutOfMemoryError(absl::string_view message) {
  return StatusWithoutAllocating(absl::StatusCode::kResourceExhausted, message);
}
inline bool IsOutOfMemory(const absl::Status& status) { return absl::IsResourceExhausted(status); }

// A failed system call's errno as a status. absl gives ENOSPC, EDQUOT, EMFILE, ENFILE, ... the code of ENOMEM, and
// EIO and every errno it does not list kUnknown; here only ENOMEM says out of memory, and kUnknown stays reserved.
inline absl::Status ErrnoStatus(int error_number, absl::string_view message) {
  absl::StatusCode code = absl::ErrnoToStatusCode(error_number);
  if (code == absl::StatusCode::kResourceExhausted && error_number != ENOMEM) code = absl::StatusCode::kUnavailable;
  if (code == absl::StatusCode::kUnknown) code = absl::StatusCode::kInternal;
  return absl::Status(code, message);
}

inline absl::Status PythonErrorPending() {
  return StatusWithoutAllocating(absl::StatusCode::kUnknown, "a Python exception is pending");
}
inline bool IsPythonErrorPending(const absl::Status& status) { return absl::IsUnknown(status); }

}  // namespace pyheapdump
