"""A program for `pyheapdump run`: reports how it was started, then behaves as argv[1] says.

argv[1]: "crash" (uncaught exception), "exit-N" (sys.exit(N)), "exit-text", "ok", "child" (a child Python
process that crashes; argv[2] is the child's program), "interrupt" (KeyboardInterrupt).
"""

import os
import subprocess
import sys

main_is_me = sys.modules["__main__"].__dict__ is globals()
print(f"name={__name__} argv={sys.argv[1:]} path0={sys.path[0]} main_is_me={main_is_me}", flush=True)
print(f"env_dir={os.environ.get('PYHEAPDUMP_DIR')}", flush=True)


class Settings:
    def __init__(self, mode):
        self.mode = mode
        self.retries = 3


def act(settings):
    mode = settings.mode
    if mode == "crash":
        raise ValueError(f"bad mode {mode}")
    if mode.startswith("exit-"):
        code = mode.removeprefix("exit-")
        sys.exit(int(code) if code.isdigit() else f"stopping: {code}")
    if mode == "interrupt":
        raise KeyboardInterrupt
    if mode == "child":
        completed = subprocess.run([sys.executable, sys.argv[2], "from-child"])
        print(f"child exit status {completed.returncode}", flush=True)
    return mode


act(Settings(sys.argv[1]))
