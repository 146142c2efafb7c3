"""The dump itself cannot be written (the directory is a file): one line on stderr, the traceback still printed."""

import sys

import pyheapdump

pyheapdump.install(sys.argv[1])


def explode():
    fuse = "lit"
    raise RuntimeError(f"the original failure (fuse {fuse})")


explode()
