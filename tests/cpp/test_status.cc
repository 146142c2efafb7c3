// The core's error convention (native/status.h): out of memory has a code of its own, which nothing else uses, so the
// bindings tell DumpMemoryError from a write or format error by the code alone.
#include <gtest/gtest.h>

#include <cerrno>

#include "status.h"

namespace pyheapdump {
namespace {

TEST(Status, OutOfMemoryIsResourceExhaustedAndNothingElseIs) {
  EXPECT_TRUE(IsOutOfMemory(OutOfMemoryError("out of memory while decoding")));
  EXPECT_TRUE(IsOutOfMemory(ErrnoStatus(ENOMEM, "cannot map the dump")));
  // absl gives these ENOMEM's code: a full disk or a process out of file descriptors is not out of memory.
  for (int error_number : {ENOSPC, EDQUOT, EMFILE, ENFILE}) {
    absl::Status status = ErrnoStatus(error_number, "cannot write");
    EXPECT_FALSE(IsOutOfMemory(status)) << error_number;
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << error_number;
  }
  EXPECT_FALSE(IsOutOfMemory(PythonErrorPending()));
  EXPECT_FALSE(IsOutOfMemory(absl::InvalidArgumentError("record 3: trailing bytes after the items")));
}

TEST(Status, ErrnoCodesOtherThanResourcesKeepAbslsMapping) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EACCES, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EISDIR, "x").message(), "x");
}

TEST(Status, APendingPythonErrorIsToldApartFromTheFileErrors) {
  EXPECT_TRUE(IsPythonErrorPending(PythonErrorPending()));
  EXPECT_FALSE(IsPythonErrorPending(OutOfMemoryError("x")));
  EXPECT_FALSE(IsPythonErrorPending(absl::DataLossError("x")));
  EXPECT_FALSE(IsPythonErrorPending(ErrnoStatus(EIO, "x")));
}

}  // namespace
}  // namespace pyheapdump
