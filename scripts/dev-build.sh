#!/usr/bin/env bash
# Builds the native module in place for one interpreter (default: python3), so the tree imports as the package:
#   bash scripts/dev-build.sh [/path/to/python]
# The module is built under build/dev-<version> and linked into pyheapdump/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-python3}
tag=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
build="$root/build/dev-$tag"
"$python" -m pip show pybind11 >/dev/null 2>&1 || "$python" -m pip install -q pybind11
cmake -S "$root" -B "$build" -G Ninja -DPython_EXECUTABLE="$(command -v "$python")" \
  -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" >/dev/null
ninja -C "$build" -j2 _native >/dev/null
so=$(ls "$build"/_native*.so)
ln -sf "$so" "$root/pyheapdump/$(basename "$so")"
echo "built $(basename "$so")"
