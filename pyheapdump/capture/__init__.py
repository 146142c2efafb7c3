"""Capturing dumps in a running program: options, caps and retention, the dump writer, `install` and its hooks, the
lazy patches of libraries imported later, `dump_on_error` and the logging handler."""
