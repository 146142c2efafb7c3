"""A plain program that knows nothing of pyheapdump and crashes (PYHEAPDUMP_DIR makes it leave a dump)."""

import sys


def validate(config):
    required = ["host", "port"]
    missing = [key for key in required if key not in config]
    raise KeyError(f"missing settings: {missing}")


validate({"host": "db.internal", "argv": sys.argv[1:]})
