// The gtest main of the native test binary. The walker tests need a live interpreter, so one is started before any
// test runs and finalized after all of them; the format and chunk tests do not use it.
#define PY_SSIZE_T_CLEAN
#include <Python.h>  // first, as the C API asks
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;  // leave signal handling to the test runner
  config.parse_argv = 0;               // the arguments are gtest's
#ifdef PYHEAPDUMP_TEST_PYTHON_HOME
  // The interpreter the binary was built against, wherever it is installed (an interpreter copied to another prefix
  // such as /opt/cpython-X.Y does not find its standard library from the prefix compiled into its libpython);
  // PYTHONHOME still wins.
  if (std::getenv("PYTHONHOME") == nullptr) {
    PyStatus home = PyConfig_SetBytesString(&config, &config.home, PYHEAPDUMP_TEST_PYTHON_HOME);
    if (PyStatus_Exception(home)) Py_ExitStatusException(home);
  }
#endif
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);
  int result = RUN_ALL_TESTS();
  if (Py_FinalizeEx() < 0 && result == 0) result = 1;
  return result;
}
