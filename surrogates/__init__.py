"""The knowledge of object kinds: one module per family that pickle cannot handle.

Each module defines `SUPPORTS`, a tuple of `pyheapdump.typesupport.TypeSupport`: how that family is captured when
dumped and how it comes back when loaded. `base` holds the surrogate classes everything else falls back to.
"""
