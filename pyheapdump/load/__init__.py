"""Reading a dump: opening the file, the allow-lists of a safe load, and the Python half of rebuilding objects (the
handler the C++ rebuilder calls, construction and assembly) into a `HeapDump`."""
