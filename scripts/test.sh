#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the C++ core under GoogleTest (ctest), then pytest on each supported
# interpreter that the machine has (3.11, 3.12, 3.13). Usage: bash scripts/test.sh [pytest args...]
source "$(dirname "$0")/_setup.sh"
install_debian_packages

log "C++ core: GoogleTest"
python311=$(prepare_venv 3.11)
cmake -S "$ROOT" -B "$ROOT/build/ctest" -G Ninja -DPYHEAPDUMP_BUILD_TESTS=ON \
  -DPython_EXECUTABLE="$python311" -Dpybind11_DIR="$("$python311" -m pybind11 --cmakedir)" >/dev/null
ninja -C "$ROOT/build/ctest" -j2 native_tests >/dev/null
(cd "$ROOT/build/ctest" && PYTHONHOME="$("$python311" -c 'import sys; print(sys.base_prefix)')" \
  ctest --output-on-failure)

# Every interpreter is set up before any test runs: the cross-version tests load dumps written by the others.
status=0
pythons=()
for version in 3.11 3.12 3.13; do
  if python=$(prepare_venv "$version"); then
    pythons+=("$version=$python")
  else
    status=1
  fi
done
for entry in "${pythons[@]}"; do
  log "Python ${entry%%=*}: pytest"
  (cd "$ROOT" && "${entry#*=}" -m pytest "$@") || status=1
done
exit $status
