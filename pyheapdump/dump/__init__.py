"""Writing a dump: the roots (threads, frames, extra stacks), the dump policy per type, redaction, and `save_dump`,
which hands them to the C++ walker and writer."""
