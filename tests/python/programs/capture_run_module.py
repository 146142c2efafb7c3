"""Run with `pyheapdump run -m capture_run_module ARGS`: fails with the arguments it was given."""

import sys


def main(arguments):
    first = arguments[0]
    raise RuntimeError(f"module failed with {first}")


if __name__ == "__main__":
    print(f"module argv0={sys.argv[0]} path0={sys.path[0]}", flush=True)
    main(sys.argv[1:])
