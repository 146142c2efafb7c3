// The gtest main of the native test binary. The walker tests need a live interpreter, so one is started before any
// test runs and finalized after all of them; the format and chunk tests do not use it.
#define PY_SSIZE_T_CLEAN
#include <Python.h>  // first, as the C API asks
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  Py_InitializeEx(0);  // 0: leave signal handling to the test runner
  int result = RUN_ALL_TESTS();
  if (Py_FinalizeEx() < 0 && result == 0) result = 1;
  return result;
}
