// Helpers the GoogleTest suites share for running Python source in the embedded interpreter.
#ifndef PYHEAPDUMP_TESTS_CPP_PYTHON_TEST_SUPPORT_H_
#define PYHEAPDUMP_TESTS_CPP_PYTHON_TEST_SUPPORT_H_

#include <Python.h>
#include <gtest/gtest.h>

#include "pyref.h"

namespace pyheapdump {

// Runs Python source in a fresh namespace and returns that namespace; a failing source fails the test.
inline OwnedRef RunPython(const char* source) {
  OwnedRef globals = OwnedRef::Steal(PyDict_New());
  PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
  OwnedRef result = OwnedRef::Steal(PyRun_String(source, Py_file_input, globals.get(), globals.get()));
  if (!result) {
    PyErr_Print();
    ADD_FAILURE() << "python source failed";
  }
  return globals;
}

// A name of that namespace (borrowed; nullptr when absent).
inline PyObject* Get(const OwnedRef& globals, const char* name) {
  return PyDict_GetItemString(globals.get(), name);
}

}  // namespace pyheapdump

#endif  // PYHEAPDUMP_TESTS_CPP_PYTHON_TEST_SUPPORT_H_
