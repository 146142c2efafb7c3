"""Crashes inside an imported module and dumps there (integration/test_debugger.py: builtins in safe-mode pdb)."""

import sys

from builtins_app.accounts import Customer, close_account

import pyheapdump

try:
    close_account([Customer("ada@example.com"), Customer("bob@example.com")])
except LookupError:
    pyheapdump.save_dump(sys.argv[1])
